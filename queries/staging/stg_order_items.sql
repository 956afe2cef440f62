{{ config(materialized='incremental', unique_key=['order_id', 'line_number']) }}
-- Current lines of each order.
-- Latest change per key by max(_seq) and a join back (see the README).

with latest as (
    select
        order_id,
        line_number,
        max(_seq) as latest_seq
    from {{ source('raw', 'order_items') }}
    group by order_id, line_number
)

select
    changes.order_id,
    changes.line_number,
    changes.product_id,
    changes.quantity,
    changes.unit_price,
    changes.discount_amount
from latest
inner join {{ source('raw', 'order_items') }} as changes
    on changes.order_id = latest.order_id
    and changes.line_number = latest.line_number
    and changes._seq = latest.latest_seq
where changes._op <> 'd'
