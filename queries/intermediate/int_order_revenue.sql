{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert') }}
-- Every current order with its revenue from its current lines, and whether it earns
-- attribution credit. gross = Σ quantity × unit_price, net = gross − Σ discount_amount;
-- shipping is not revenue. An order without lines has zeros. Money is DECIMAL(18, 2).
--
-- Incremental: the orders whose row or lines changed are recomputed; an order
-- that no longer exists gets `_op = 'd'`.

with
{% if is_incremental() %}
changed_orders as (
    select order_id from {{ changes(ref('stg_orders')) }}
    union
    select order_id from {{ changes(ref('stg_order_items')) }}
),
{% endif %}

line_totals as (
    select
        order_id,
        sum(quantity) as item_count,
        sum(quantity * unit_price) as gross_revenue,
        sum(discount_amount) as discount_amount
    from {{ ref('stg_order_items') }}
    {% if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {% endif %}
    group by order_id
),

revenue as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        cast(orders.ordered_at as date) as order_date,
        orders.status,
        coalesce(line_totals.item_count, 0) as item_count,
        cast(coalesce(line_totals.gross_revenue, 0) as decimal(18, 2)) as gross_revenue,
        cast(coalesce(line_totals.discount_amount, 0) as decimal(18, 2)) as discount_amount,
        cast(
            coalesce(line_totals.gross_revenue, 0) - coalesce(line_totals.discount_amount, 0)
            as decimal(18, 2)
        ) as net_revenue,
        cast(orders.shipping_amount as decimal(18, 2)) as shipping_amount,
        coalesce(orders.status in ('placed', 'shipped', 'delivered'), false) as is_eligible
    from {{ ref('stg_orders') }} as orders
    left join line_totals on line_totals.order_id = orders.order_id
    {% if is_incremental() %}
    where orders.order_id in (select order_id from changed_orders)
    {% endif %}
)

{% if is_incremental() %}
select
    changed_orders.order_id,
    revenue.* exclude (order_id),
    case when revenue.order_id is null then 'd' else 'u' end as _op
from changed_orders
left join revenue on revenue.order_id = changed_orders.order_id
{% else %}
select * from revenue
{% endif %}
