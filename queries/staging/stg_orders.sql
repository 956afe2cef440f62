{{ config(materialized='incremental', unique_key='order_id') }}
-- Current state of each order: its latest status, unless the order was deleted.
-- Latest change per key by max(_seq) and a join back (see the README).

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
