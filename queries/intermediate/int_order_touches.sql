{{ config(materialized='table') }}
-- The touchpoints of every current order (any status): the customer's current
-- touchpoints with ordered_at − 30 days <= touched_at <= ordered_at, both ends included,
-- numbered in (touched_at, touchpoint_id) order.
-- decay_weight = 2^(−Δ / 7 days) with Δ = ordered_at − touched_at to the microsecond.
-- Per-order totals (n, Σ weights) are left to int_attribution_credits: a window over
-- the whole partition here would make DataFusion hold each partition in one batch,
-- which more than doubles the time to write this table.

with windowed as (
    select
        orders.order_id,
        touches.touchpoint_id,
        touches.channel,
        touches.campaign_id,
        touches.touched_at,
        power(
            2.0,
            -(cast(orders.ordered_at as bigint) - cast(touches.touched_at as bigint))
                / 604800000000.0
        ) as decay_weight
    from {{ ref('int_order_revenue') }} as orders
    inner join {{ ref('stg_touchpoints') }} as touches
        on touches.customer_id = orders.customer_id
        and touches.touched_at >= orders.ordered_at - interval '30 days'
        and touches.touched_at <= orders.ordered_at
)

select
    order_id,
    touchpoint_id,
    channel,
    campaign_id,
    touched_at,
    row_number() over (
        partition by order_id order by touched_at, touchpoint_id
    ) as touch_position,
    decay_weight
from windowed
