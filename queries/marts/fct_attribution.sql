{{ config(materialized='table') }}
-- One row per eligible order × attribution model × credited touchpoint
-- (touchpoint_id null for `direct`). attributed_revenue = credit × net_revenue.

select
    credits.order_id,
    orders.order_date,
    credits.model,
    credits.touchpoint_id,
    credits.channel,
    credits.campaign_id,
    credits.credit,
    credits.credit * cast(orders.net_revenue as double) as attributed_revenue
-- The orders first: DataFusion builds its hash table from the left side of a join.
from {{ ref('int_order_revenue') }} as orders
inner join {{ ref('int_attribution_credits') }} as credits on credits.order_id = orders.order_id
