{{ config(materialized='incremental', unique_key='product_id') }}
-- Current state of each product: its change with the greatest _seq, unless it deletes it.
-- Latest change per key by max(_seq) and a join back (see the README).

with latest as (
    select
        product_id,
        max(_seq) as latest_seq
    from {{ source('raw', 'products') }}
    group by product_id
)

select
    changes.product_id,
    changes.sku,
    changes.product_name,
    changes.category,
    changes.subcategory,
    changes.gender,
    changes.list_price,
    changes.launched_on
from latest
inner join {{ source('raw', 'products') }} as changes
    on changes.product_id = latest.product_id
    and changes._seq = latest.latest_seq
where changes._op <> 'd'
