{{ config(materialized='incremental', unique_key='customer_id') }}
-- Current state of each customer: their change with the greatest _seq, unless it
-- deletes them (an erasure request).
-- Latest change per key by max(_seq) and a join back (see the README).

with latest as (
    select
        customer_id,
        max(_seq) as latest_seq
    from {{ source('raw', 'customers') }}
    group by customer_id
)

select
    changes.customer_id,
    changes.email,
    changes.first_name,
    changes.last_name,
    changes.country,
    changes.city,
    changes.loyalty_tier,
    changes.signup_at
from latest
inner join {{ source('raw', 'customers') }} as changes
    on changes.customer_id = latest.customer_id
    and changes._seq = latest.latest_seq
where changes._op <> 'd'
