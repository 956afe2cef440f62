{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert', publish=true) }}
-- One row per current (not deleted) order, whatever its status.
--
-- Incremental: the orders that changed, and those that became or stopped being
-- their customer's first order, are rewritten; a deleted order gets `_op = 'd'`.

with
{% if is_incremental() %}
affected_orders as (
    select order_id from {{ changes(ref('int_order_revenue')) }}
    union
    select first_order_id as order_id
    from {{ changes(ref('int_customer_acquisition')) }}
    where first_order_id is not null
),
{% endif %}

orders as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.order_date,
        orders.status,
        orders.item_count,
        orders.gross_revenue,
        orders.discount_amount,
        orders.net_revenue,
        orders.shipping_amount,
        orders.is_eligible,
        acquisition.first_order_id is not null as is_first_order
    from {{ ref('int_order_revenue') }} as orders
    left join {{ ref('int_customer_acquisition') }} as acquisition
        on acquisition.first_order_id = orders.order_id
    {% if is_incremental() %}
    where orders.order_id in (select order_id from affected_orders)
    {% endif %}
)

{% if is_incremental() %}
select
    affected_orders.order_id,
    orders.* exclude (order_id),
    case when orders.order_id is null then 'd' else 'u' end as _op
from affected_orders
left join orders on orders.order_id = affected_orders.order_id
{% else %}
select * from orders
{% endif %}
