-- Customers, lifetime revenue and average lifetime revenue per acquisition channel.
-- Plain SQL on the marts: `stride query` runs it on DataFusion or (--engine duckdb) on
-- the published file, and it pastes as is into a Metabase native question.

select
    acquisition_channel,
    customers,
    lifetime_revenue,
    round(avg_lifetime_revenue, 2) as avg_lifetime_revenue
from mart_acquisition_ltv
order by avg_lifetime_revenue desc
