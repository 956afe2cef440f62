{{ config(materialized='incremental', unique_key='customer_id', incremental_strategy='delete+insert') }}
{% from 'macros/journeys.sql' import merged_path %}
-- The journeys that do not convert, besides the orders' (SPEC 3a): a current
-- touchpoint in no current order's 30-day window (whatever the order's status: it
-- is not in int_order_touches) is unconverted. A customer's unconverted
-- touchpoints, in (touched_at, touchpoint_id) order, are cut into journeys where two
-- neighbours lie more than 30 days apart (exactly 30 days stays one journey); such
-- a journey ends at its last touch. Consecutive repeats of a channel merge into one.
-- Whether a journey is still open (it ended less than 30 days before the horizon)
-- depends on the whole lake's latest event, so every journey is kept here and the
-- mart chooses.
--
-- Incremental: a customer's unconverted touchpoints change only when one of their
-- touchpoints or orders changes (old and new images, so a row that moved to another
-- customer counts for both). Those customers' journeys are replaced; one left with
-- none gets `_op = 'd'`.

with
{% if is_incremental() %}
affected_customers as (
    select customer_id from {{ changes(ref('stg_touchpoints')) }}
    union
    select customer_id from {{ changes(ref('int_order_revenue')) }}
),
{% endif %}

unconverted as (
    select touches.touchpoint_id, touches.customer_id, touches.channel, touches.touched_at
    from {{ ref('stg_touchpoints') }} as touches
    where not exists (
        select 1 from {{ ref('int_order_touches') }} as in_window
        where in_window.touchpoint_id = touches.touchpoint_id
    )
    {% if is_incremental() %}
    and touches.customer_id in (select customer_id from affected_customers)
    {% endif %}
),

-- A journey starts at a customer's first unconverted touch and after every gap of
-- more than 30 days.
gaps as (
    select
        touchpoint_id,
        customer_id,
        channel,
        touched_at,
        case
            when lag(touched_at) over (
                partition by customer_id order by touched_at, touchpoint_id
            ) is null then 1
            when touched_at > lag(touched_at) over (
                partition by customer_id order by touched_at, touchpoint_id
            ) + interval '30 days' then 1
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

steps as (
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

journeys as (
    select
        customer_id,
        min(touched_at) as started_at,
        max(touched_at) as ended_at,
        cast(max(touched_at) as date) as end_date,
        {{ merged_path('channel', 'previous_channel', 'touched_at, touchpoint_id') }} as path,
        count(*) as touches
    from steps
    group by customer_id, journey_number
)

{% if is_incremental() %}
select
    affected_customers.customer_id,
    journeys.* exclude (customer_id),
    case when journeys.customer_id is null then 'd' else 'u' end as _op
from affected_customers
left join journeys on journeys.customer_id = affected_customers.customer_id
where affected_customers.customer_id is not null
{% else %}
select * from journeys
{% endif %}
