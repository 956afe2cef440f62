-- Attributed revenue by channel over the last 30 order dates, one column per model.
-- Plain SQL on the marts: `stride query` runs it on DataFusion or (--engine duckdb) on
-- the published file, and it pastes as is into a Metabase native question.

with last_month as (
    select *
    from mart_channel_daily
    where order_date > (select max(order_date) from mart_channel_daily) - interval '30 days'
)

select
    channel,
    round(sum(case when model = 'first_touch' then attributed_revenue else 0 end), 2) as first_touch,
    round(sum(case when model = 'last_touch' then attributed_revenue else 0 end), 2) as last_touch,
    round(sum(case when model = 'linear' then attributed_revenue else 0 end), 2) as linear,
    round(sum(case when model = 'time_decay' then attributed_revenue else 0 end), 2) as time_decay,
    round(sum(case when model = 'position_based' then attributed_revenue else 0 end), 2) as position_based
from last_month
group by channel
order by linear desc
