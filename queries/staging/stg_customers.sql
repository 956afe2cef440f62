{{ config(materialized='incremental', unique_key='customer_id') }}
-- Current state of each customer: the change with the greatest _seq, unless it deletes them.

with changes as (
    select
        customer_id,
        email,
        first_name,
        last_name,
        country,
        city,
        loyalty_tier,
        signup_at,
        _op,
        row_number() over (partition by customer_id order by _seq desc) as change_rank
    from {{ source('raw', 'customers') }}
)

select
    customer_id,
    email,
    first_name,
    last_name,
    country,
    city,
    loyalty_tier,
    signup_at
from changes
where change_rank = 1 and _op <> 'd'
