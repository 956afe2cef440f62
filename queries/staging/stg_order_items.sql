{{ config(materialized='incremental', unique_key=['order_id', 'line_number']) }}
-- Current lines of each order.

with changes as (
    select
        order_id,
        line_number,
        product_id,
        quantity,
        unit_price,
        discount_amount,
        _op,
        row_number() over (partition by order_id, line_number order by _seq desc) as change_rank
    from {{ source('raw', 'order_items') }}
)

select
    order_id,
    line_number,
    product_id,
    quantity,
    unit_price,
    discount_amount
from changes
where change_rank = 1 and _op <> 'd'
