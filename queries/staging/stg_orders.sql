{{ config(materialized='incremental', unique_key='order_id') }}
-- Current state of each order: its latest status, unless the order was deleted.
-- The latest change per key is found with max(_seq) and a join back, which DataFusion
-- runs as hash aggregation and hash join (several times faster than row_number(),
-- which sorts the whole change log). `latest` comes first because DataFusion builds
-- its hash table from the left side of a join.

with latest as (
    select
        order_id,
        max(_seq) as latest_seq
    from {{ source('raw', 'orders') }}
    group by order_id
)

select
    changes.order_id,
    changes.customer_id,
    changes.ordered_at,
    changes.status,
    changes.shipping_amount
from latest
inner join {{ source('raw', 'orders') }} as changes
    on changes.order_id = latest.order_id
    and changes._seq = latest.latest_seq
where changes._op <> 'd'
