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
from {{ ref('int_attribution_credits') }} as credits
inner join {{ ref('int_order_revenue') }} as orders on orders.order_id = credits.order_id
