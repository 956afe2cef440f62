-- Customers, lifetime revenue and average lifetime revenue per acquisition channel.

select
    acquisition_channel,
    customers,
    lifetime_revenue,
    round(avg_lifetime_revenue, 2) as avg_lifetime_revenue
from {{ ref('mart_acquisition_ltv') }}
order by avg_lifetime_revenue desc
