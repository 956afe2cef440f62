{{ config(materialized='table') }}
-- Conversions (Σ credit) and attributed revenue per order date, channel and model.
-- The sums run in DECIMAL(38, 12), which adds exactly: a float sum would depend on
-- the order rows arrive in, and the same input must give the same mart.

select
    order_date,
    channel,
    model,
    cast(sum(cast(credit as decimal(38, 12))) as double) as conversions,
    cast(sum(cast(attributed_revenue as decimal(38, 12))) as double) as attributed_revenue
from {{ ref('fct_attribution') }}
group by order_date, channel, model
