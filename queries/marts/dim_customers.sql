{{ config(materialized='incremental', unique_key='customer_id', incremental_strategy='delete+insert', publish=true) }}
-- One row per current (not deleted) customer, with their first order, acquisition
-- channel and lifetime figures over eligible orders. Customers without an order have
-- null first_order_at and acquisition_channel and zero lifetime figures.
--
-- Incremental: recomputed for the customers whose row, acquisition or orders
-- changed; an erased customer gets `_op = 'd'`.

with
{% if is_incremental() %}
affected_customers as (
    select customer_id from {{ changes(ref('stg_customers')) }}
    union
    select customer_id from {{ changes(ref('int_customer_acquisition')) }}
    union
    select customer_id from {{ changes(ref('int_order_revenue')) }}
),
{% endif %}

lifetime as (
    select
        customer_id,
        count(*) as lifetime_orders,
        sum(net_revenue) as lifetime_revenue
    from {{ ref('int_order_revenue') }}
    where is_eligible
    {% if is_incremental() %}
    and customer_id in (select customer_id from affected_customers)
    {% endif %}
    group by customer_id
),

customers as (
    select
        customers.customer_id,
        customers.email,
        customers.first_name,
        customers.last_name,
        customers.country,
        customers.city,
        customers.loyalty_tier,
        customers.signup_at,
        acquisition.first_order_at,
        acquisition.acquisition_channel,
        coalesce(lifetime.lifetime_orders, 0) as lifetime_orders,
        cast(coalesce(lifetime.lifetime_revenue, 0) as decimal(18, 2)) as lifetime_revenue
    from {{ ref('stg_customers') }} as customers
    left join {{ ref('int_customer_acquisition') }} as acquisition
        on acquisition.customer_id = customers.customer_id
    left join lifetime on lifetime.customer_id = customers.customer_id
    {% if is_incremental() %}
    where customers.customer_id in (select customer_id from affected_customers)
    {% endif %}
)

{% if is_incremental() %}
select
    affected_customers.customer_id,
    customers.* exclude (customer_id),
    case when customers.customer_id is null then 'd' else 'u' end as _op
from affected_customers
left join customers on customers.customer_id = affected_customers.customer_id
{% else %}
select * from customers
{% endif %}
