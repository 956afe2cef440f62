{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert') }}
{% from 'macros/journeys.sql' import merged_path %}
-- The journey of every current order with touchpoints in its 30-day window (SPEC 3a):
-- its path is the channels of those touchpoints (int_order_touches) in
-- (touched_at, touchpoint_id) order, consecutive repeats of a channel merged into
-- one (`email > email > display` is `email > display`; repeats apart stay). It ends
-- at the order's ordered_at and converts when the order is eligible, worth its net
-- revenue. An order without touchpoints makes no journey.
--
-- Incremental: an order's journey changes when its touches change or the order
-- itself does (status, revenue, time); those orders' journeys are replaced, and an
-- order left without touches or gone gets `_op = 'd'`.

with
{% if is_incremental() %}
affected_orders as (
    select order_id from {{ changes(ref('int_order_touches')) }}
    union
    select order_id from {{ changes(ref('int_order_revenue')) }}
),
{% endif %}

steps as (
    select
        order_id,
        channel,
        touch_position,
        touched_at,
        lag(channel) over (partition by order_id order by touch_position) as previous_channel
    from {{ ref('int_order_touches') }}
    {% if is_incremental() %}
    where order_id in (select order_id from affected_orders)
    {% endif %}
),

-- Grouped by the order alone, so the aggregate follows the window's order.
paths as (
    select
        order_id,
        min(touched_at) as started_at,
        {{ merged_path('channel', 'previous_channel', 'touch_position') }} as path,
        count(*) as touches
    from steps
    group by order_id
),

journeys as (
    select
        orders.order_id,
        orders.customer_id,
        paths.started_at,
        orders.ordered_at as ended_at,
        cast(orders.ordered_at as date) as end_date,
        paths.path,
        paths.touches,
        orders.is_eligible as converts,
        case when orders.is_eligible then orders.net_revenue else cast(0 as decimal(18, 2)) end
            as conversion_value
    from paths
    inner join {{ ref('int_order_revenue') }} as orders on orders.order_id = paths.order_id
)

{% if is_incremental() %}
select
    affected_orders.order_id,
    journeys.* exclude (order_id),
    case when journeys.order_id is null then 'd' else 'u' end as _op
from affected_orders
left join journeys on journeys.order_id = affected_orders.order_id
{% else %}
select * from journeys
{% endif %}
