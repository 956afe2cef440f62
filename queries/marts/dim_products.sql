{{ config(materialized='table', publish=true) }}
-- One row per current product.

select
    product_id,
    sku,
    product_name,
    category,
    subcategory,
    gender,
    list_price,
    launched_on
from {{ ref('stg_products') }}
