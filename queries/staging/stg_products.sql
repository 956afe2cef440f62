{{ config(materialized='incremental', unique_key='product_id') }}
-- Current state of each product: the change with the greatest _seq, unless it deletes it.

with changes as (
    select
        product_id,
        sku,
        product_name,
        category,
        subcategory,
        gender,
        list_price,
        launched_on,
        _op,
        row_number() over (partition by product_id order by _seq desc) as change_rank
    from {{ source('raw', 'products') }}
)

select
    product_id,
    sku,
    product_name,
    category,
    subcategory,
    gender,
    list_price,
    launched_on
from changes
where change_rank = 1 and _op <> 'd'
