{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert') }}
-- Current state of each order: its latest status, unless the order was deleted.
-- Latest change per key by max(_seq) and a join back (see the README). On an
-- incremental run only the files landed since the last run are read, and `_op = 'd'`
-- deletes the key (README, "Incremental runs").

with latest as (
    select
        order_id,
        max(_seq) as latest_seq
    from {{ changes(source('raw', 'orders')) }}
    group by order_id
)

select
    landed.order_id,
    landed.customer_id,
    landed.ordered_at,
    landed.status,
    landed.shipping_amount,
    landed._op
from latest
inner join {{ changes(source('raw', 'orders')) }} as landed
    on landed.order_id = latest.order_id
    and landed._seq = latest.latest_seq
