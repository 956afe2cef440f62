{{ config(materialized='incremental', unique_key='customer_id', incremental_strategy='delete+insert') }}
{% from 'macros/changed_keys.sql' import changed_keys %}
-- Each customer's first order (their earliest current order of any status, by
-- ordered_at then order_id) and acquisition channel: the first_touch channel of that
-- order, or `direct` when it has no touchpoint.
--
-- Incremental: recomputed for the customers with an order that appeared,
-- disappeared or moved, or whose touches changed; a customer left without orders
-- gets `_op = 'd'`.

with
{% if is_incremental() %}
moved_orders as (
    {{ changed_keys(changes(ref('int_order_revenue')), 'order_id', ['customer_id', 'ordered_at']) }}
),

affected_customers as (
    select changed.customer_id
    from {{ changes(ref('int_order_revenue')) }} as changed
    where changed.order_id in (select order_id from moved_orders)
    union
    select orders.customer_id
    from {{ ref('int_order_revenue') }} as orders
    where orders.order_id in (
        select order_id from {{ changes(ref('int_order_touches')) }}
    )
),
{% endif %}

ranked_orders as (
    select
        customer_id,
        order_id,
        ordered_at,
        row_number() over (partition by customer_id order by ordered_at, order_id) as order_rank
    from {{ ref('int_order_revenue') }}
    {% if is_incremental() %}
    where customer_id in (select customer_id from affected_customers)
    {% endif %}
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
),

acquisition as (
    select
        first_orders.customer_id,
        first_orders.first_order_id,
        first_orders.first_order_at,
        coalesce(first_touches.channel, 'direct') as acquisition_channel
    from first_orders
    left join first_touches on first_touches.order_id = first_orders.first_order_id
)

{% if is_incremental() %}
select
    affected_customers.customer_id,
    acquisition.* exclude (customer_id),
    case when acquisition.customer_id is null then 'd' else 'u' end as _op
from affected_customers
left join acquisition on acquisition.customer_id = affected_customers.customer_id
{% else %}
select * from acquisition
{% endif %}
