{{ config(materialized='incremental', unique_key='customer_id', incremental_strategy='delete+insert') }}
-- Every customer journey (SPEC 3a), what the data-driven models learn from.
-- - An order with touchpoints in its 30-day window (int_order_touches) is a
--   journey ending at its ordered_at; it converts when the order is eligible, worth
--   its net revenue.
-- - A touchpoint in no order's window is unconverted. A customer's unconverted
--   touchpoints, in (touched_at, touchpoint_id) order, are cut into journeys where
--   two neighbours lie more than 30 days apart; such a journey ends at its last
--   touch and does not convert.
-- - Consecutive repeats of a channel merge into one (`email > email > display` is
--   `email > display`); repeats apart stay.
-- Whether a journey is still open (it ended less than 30 days before the horizon)
-- and whether it falls in the window depend on the whole lake's latest event, so
-- every journey is kept here and the mart chooses.
--
-- Incremental: a customer's journeys change only when one of their touchpoints or
-- orders changes (old and new images, so a row that moved to another customer
-- counts for both). Those customers' journeys are replaced; one left with none gets
-- `_op = 'd'`.

with
{% if is_incremental() %}
affected_customers as (
    select customer_id from {{ changes(ref('stg_touchpoints')) }}
    union
    select customer_id from {{ changes(ref('int_order_revenue')) }}
),
{% endif %}

orders as (
    select order_id, customer_id, ordered_at, is_eligible, net_revenue
    from {{ ref('int_order_revenue') }}
    {% if is_incremental() %}
    where customer_id in (select customer_id from affected_customers)
    {% endif %}
),

order_touches as (
    select
        touches.order_id,
        touches.touchpoint_id,
        touches.channel,
        touches.touched_at,
        touches.touch_position
    from {{ ref('int_order_touches') }} as touches
    {% if is_incremental() %}
    where touches.order_id in (select order_id from orders)
    {% endif %}
),

-- Order journeys: the order's touches with consecutive repeats merged.
order_steps as (
    select
        order_id,
        channel,
        touch_position,
        touched_at,
        lag(channel) over (partition by order_id order by touch_position) as previous_channel
    from order_touches
),

order_journeys as (
    select
        orders.customer_id,
        orders.order_id,
        min(steps.touched_at) as started_at,
        orders.ordered_at as ended_at,
        array_to_string(
            array_agg(steps.channel order by steps.touch_position)
                filter (where steps.previous_channel is null or steps.previous_channel <> steps.channel),
            ' > '
        ) as path,
        count(*) as touches,
        orders.is_eligible as converts,
        case when orders.is_eligible then orders.net_revenue else cast(0 as decimal(18, 2)) end
            as conversion_value
    from order_steps as steps
    inner join orders on orders.order_id = steps.order_id
    group by orders.customer_id, orders.order_id, orders.ordered_at, orders.is_eligible, orders.net_revenue
),

-- Unconverted touchpoints: current, of the customers at hand, in no order's window.
unconverted as (
    select touches.touchpoint_id, touches.customer_id, touches.channel, touches.touched_at
    from {{ ref('stg_touchpoints') }} as touches
    where not exists (
        select 1 from order_touches where order_touches.touchpoint_id = touches.touchpoint_id
    )
    {% if is_incremental() %}
    and touches.customer_id in (select customer_id from affected_customers)
    {% endif %}
),

-- A journey starts at a customer's first unconverted touch and after every gap of
-- more than 30 days (exactly 30 days apart stays one journey).
gaps as (
    select
        touchpoint_id,
        customer_id,
        channel,
        touched_at,
        case
            when touched_at > lag(touched_at) over (
                partition by customer_id order by touched_at, touchpoint_id
            ) + interval '30 days' then 1
            when lag(touched_at) over (
                partition by customer_id order by touched_at, touchpoint_id
            ) is null then 1
            else 0
        end as starts_journey
    from unconverted
),

numbered as (
    select
        touchpoint_id,
        customer_id,
        channel,
        touched_at,
        sum(starts_journey) over (
            partition by customer_id order by touched_at, touchpoint_id
            rows between unbounded preceding and current row
        ) as journey_number
    from gaps
),

unconverted_steps as (
    select
        customer_id,
        journey_number,
        touchpoint_id,
        channel,
        touched_at,
        lag(channel) over (
            partition by customer_id, journey_number order by touched_at, touchpoint_id
        ) as previous_channel
    from numbered
),

unconverted_journeys as (
    select
        customer_id,
        cast(null as bigint) as order_id,
        min(touched_at) as started_at,
        max(touched_at) as ended_at,
        array_to_string(
            array_agg(channel order by touched_at, touchpoint_id)
                filter (where previous_channel is null or previous_channel <> channel),
            ' > '
        ) as path,
        count(*) as touches,
        false as converts,
        cast(0 as decimal(18, 2)) as conversion_value
    from unconverted_steps
    group by customer_id, journey_number
),

journeys as (
    select * from order_journeys
    union all
    select * from unconverted_journeys
)

{% if is_incremental() %}
select
    affected_customers.customer_id,
    journeys.order_id,
    journeys.started_at,
    journeys.ended_at,
    cast(journeys.ended_at as date) as end_date,
    journeys.path,
    journeys.touches,
    journeys.converts,
    journeys.conversion_value,
    case when journeys.customer_id is null then 'd' else 'u' end as _op
from affected_customers
left join journeys on journeys.customer_id = affected_customers.customer_id
{% else %}
select
    customer_id,
    order_id,
    started_at,
    ended_at,
    cast(ended_at as date) as end_date,
    path,
    touches,
    converts,
    conversion_value
from journeys
{% endif %}
