{{ config(materialized='table', publish=true) }}
-- Lifetime value per acquisition channel, over current customers with at least one order.

select
    acquisition_channel,
    count(*) as customers,
    cast(sum(lifetime_revenue) as decimal(18, 2)) as lifetime_revenue,
    cast(sum(lifetime_revenue) as double) / count(*) as avg_lifetime_revenue
from {{ ref('dim_customers') }}
where first_order_at is not null
group by acquisition_channel
