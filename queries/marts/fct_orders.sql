{{ config(materialized='table') }}
-- One row per current (not deleted) order, whatever its status.

select
    orders.order_id,
    orders.customer_id,
    orders.ordered_at,
    orders.order_date,
    orders.status,
    orders.item_count,
    orders.gross_revenue,
    orders.discount_amount,
    orders.net_revenue,
    orders.shipping_amount,
    orders.is_eligible,
    acquisition.first_order_id is not null as is_first_order
from {{ ref('int_order_revenue') }} as orders
left join {{ ref('int_customer_acquisition') }} as acquisition
    on acquisition.first_order_id = orders.order_id
