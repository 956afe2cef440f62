{{ config(materialized='incremental', unique_key=['order_id', 'line_number']) }}
-- Current lines of each order.
-- The latest change per key is found with max(_seq) and a join back, which DataFusion
-- runs as hash aggregation and hash join (several times faster than row_number(),
-- which sorts the whole change log). `latest` comes first because DataFusion builds
-- its hash table from the left side of a join.

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
