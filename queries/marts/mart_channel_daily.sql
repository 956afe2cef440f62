{{ config(materialized='table', publish=true) }}
-- Conversions (Σ credit) and attributed revenue per order date, channel and model.
-- The sums run in DECIMAL(38, 12), which adds exactly: a float sum would depend on
-- the order rows arrive in, and the same input must give the same mart. They start
-- from int_attribution_daily's exact per-campaign sums, so this reads a small table.

select
    order_date,
    channel,
    model,
    cast(sum(conversions) as double) as conversions,
    cast(sum(attributed_revenue) as double) as attributed_revenue
from {{ ref('int_attribution_daily') }}
group by order_date, channel, model
