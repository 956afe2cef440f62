{{ config(materialized='incremental', unique_key='product_id', incremental_strategy='delete+insert') }}
-- Current state of each product: its change with the greatest _seq, unless it deletes it.
-- Latest change per key by max(_seq) and a join back (see the README). On an
-- incremental run only the files landed since the last run are read, and `_op = 'd'`
-- deletes the key (README, "Incremental runs").

with latest as (
    select
        product_id,
        max(_seq) as latest_seq
    from {{ changes(source('raw', 'products')) }}
    group by product_id
)

select
    landed.product_id,
    landed.sku,
    landed.product_name,
    landed.category,
    landed.subcategory,
    landed.gender,
    landed.list_price,
    landed.launched_on,
    landed._op
from latest
inner join {{ changes(source('raw', 'products')) }} as landed
    on landed.product_id = latest.product_id
    and landed._seq = latest.latest_seq
