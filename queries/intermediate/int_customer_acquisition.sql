{{ config(materialized='table') }}
-- Each customer's first order (their earliest current order of any status, by
-- ordered_at then order_id) and acquisition channel: the first_touch channel of that
-- order, or `direct` when it has no touchpoint.

with ranked_orders as (
    select
        customer_id,
        order_id,
        ordered_at,
        row_number() over (partition by customer_id order by ordered_at, order_id) as order_rank
    from {{ ref('int_order_revenue') }}
),

first_orders as (
    select
        customer_id,
        order_id as first_order_id,
        ordered_at as first_order_at
    from ranked_orders
    where order_rank = 1
),

first_touches as (
    select
        order_id,
        channel
    from {{ ref('int_order_touches') }}
    where touch_position = 1
)

select
    first_orders.customer_id,
    first_orders.first_order_id,
    first_orders.first_order_at,
    coalesce(first_touches.channel, 'direct') as acquisition_channel
from first_orders
left join first_touches on first_touches.order_id = first_orders.first_order_id
