-- Each channel's share of the converting journeys' credit over the data-driven
-- window: last touch beside the data-driven models (Markov removal effect, Shapley
-- value), with the return on ad spend under each. A channel that opens journeys
-- others close earns under the data-driven models where last touch gives it little.
-- Plain SQL on the marts: `stride query` runs it on DataFusion or (--engine duckdb) on
-- the published file, and it pastes as is into a Metabase native question.

with data_driven as (
    select
        channel,
        max(case when model = 'markov' then share end) as markov_share,
        max(case when model = 'shapley' then share end) as shapley_share,
        max(case when model = 'markov' then roas end) as markov_roas,
        max(case when model = 'shapley' then roas end) as shapley_roas,
        max(spend) as spend
    from mart_channel_data_driven
    group by channel
),

data_window as (
    select min(window_start) as window_start, max(window_end) as window_end
    from mart_channel_data_driven
),

last_touch as (
    select daily.channel, sum(daily.conversions) as conversions, sum(daily.attributed_revenue) as revenue
    from mart_channel_daily as daily
    inner join data_window
        on daily.order_date between data_window.window_start and data_window.window_end
    where daily.model = 'last_touch' and daily.channel <> 'direct'
    group by daily.channel
)

select
    data_driven.channel,
    round(coalesce(last_touch.conversions, 0) / nullif(sum(coalesce(last_touch.conversions, 0)) over (), 0), 4)
        as last_touch_share,
    round(data_driven.markov_share, 4) as markov_share,
    round(data_driven.shapley_share, 4) as shapley_share,
    round(case when data_driven.spend = 0 then null else coalesce(last_touch.revenue, 0) / data_driven.spend end, 2)
        as last_touch_roas,
    round(data_driven.markov_roas, 2) as markov_roas,
    round(data_driven.shapley_roas, 2) as shapley_roas
from data_driven
left join last_touch on last_touch.channel = data_driven.channel
order by markov_share desc, data_driven.channel
