{{ config(materialized='incremental', unique_key=['order_date', 'channel', 'campaign_key', 'model']) }}
-- Credit and attributed revenue per order date × channel × campaign × model, summed
-- exactly in DECIMAL(38, 12): the marts that aggregate fct_attribution read this
-- small table instead of every attribution row.
-- campaign_key is campaign_id, or -1 for the unpaid channels and `direct`, so the
-- key has no null.
--
-- Incremental: the sums are kept up to date with what fct_attribution changed, a
-- removed row subtracted, an added row added. Decimal addition is exact, so the sums
-- are the ones a rebuild computes; a group left with no row is deleted.

{% if is_incremental() %}
with signed as (
    select
        order_date,
        channel,
        coalesce(campaign_id, -1) as campaign_key,
        campaign_id,
        model,
        case when _change_type in ('delete', 'update_preimage') then -1 else 1 end as row_sign,
        cast(credit as decimal(38, 12)) as credit,
        cast(attributed_revenue as decimal(38, 12)) as attributed_revenue
    from {{ changes(ref('fct_attribution')) }}
),

deltas as (
    select
        order_date,
        channel,
        campaign_key,
        max(campaign_id) as campaign_id,
        model,
        sum(case when row_sign < 0 then -credit else credit end) as conversions,
        sum(case when row_sign < 0 then -attributed_revenue else attributed_revenue end)
            as attributed_revenue,
        sum(row_sign) as credited_rows
    from signed
    group by order_date, channel, campaign_key, model
)

select
    deltas.order_date,
    deltas.channel,
    deltas.campaign_key,
    deltas.campaign_id,
    deltas.model,
    cast(coalesce(stored.conversions, 0) + deltas.conversions as decimal(38, 12))
        as conversions,
    cast(coalesce(stored.attributed_revenue, 0) + deltas.attributed_revenue as decimal(38, 12))
        as attributed_revenue,
    coalesce(stored.credited_rows, 0) + deltas.credited_rows as credited_rows,
    case when coalesce(stored.credited_rows, 0) + deltas.credited_rows = 0 then 'd' else 'u' end
        as _op
from deltas
left join {{ this }} as stored
    on stored.order_date = deltas.order_date
    and stored.channel = deltas.channel
    and stored.campaign_key = deltas.campaign_key
    and stored.model = deltas.model
{% else %}
select
    order_date,
    channel,
    coalesce(campaign_id, -1) as campaign_key,
    max(campaign_id) as campaign_id,
    model,
    cast(sum(cast(credit as decimal(38, 12))) as decimal(38, 12)) as conversions,
    cast(sum(cast(attributed_revenue as decimal(38, 12))) as decimal(38, 12)) as attributed_revenue,
    count(*) as credited_rows
from {{ ref('fct_attribution') }}
group by order_date, channel, coalesce(campaign_id, -1), model
{% endif %}
