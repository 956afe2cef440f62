{{ config(materialized='table') }}
-- One row per current (not deleted) customer, with their first order, acquisition
-- channel and lifetime figures over eligible orders. Customers without an order have
-- null first_order_at and acquisition_channel and zero lifetime figures.

with lifetime as (
    select
        customer_id,
        count(*) as lifetime_orders,
        sum(net_revenue) as lifetime_revenue
    from {{ ref('int_order_revenue') }}
    where is_eligible
    group by customer_id
)

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
