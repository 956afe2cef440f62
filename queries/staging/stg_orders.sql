{{ config(materialized='incremental', unique_key='order_id') }}
-- Current state of each order: its latest status, unless the order was deleted.

with changes as (
    select
        order_id,
        customer_id,
        ordered_at,
        status,
        shipping_amount,
        _op,
        row_number() over (partition by order_id order by _seq desc) as change_rank
    from {{ source('raw', 'orders') }}
)

select
    order_id,
    customer_id,
    ordered_at,
    status,
    shipping_amount
from changes
where change_rank = 1 and _op <> 'd'
