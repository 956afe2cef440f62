{{ config(materialized='incremental', unique_key=['order_id', 'line_number']) }}
-- Current lines of each order.
-- Latest change per key by max(_seq) and a join back (see the README). On an
-- incremental run only the files landed since the last run are read, and `_op = 'd'`
-- deletes the key (README, "Incremental runs").

with latest as (
    select
        order_id,
        line_number,
        max(_seq) as latest_seq
    from {{ changes(source('raw', 'order_items')) }}
    group by order_id, line_number
)

select
    landed.order_id,
    landed.line_number,
    landed.product_id,
    landed.quantity,
    landed.unit_price,
    landed.discount_amount,
    landed._op
from latest
inner join {{ changes(source('raw', 'order_items')) }} as landed
    on landed.order_id = latest.order_id
    and landed.line_number = latest.line_number
    and landed._seq = latest.latest_seq
