{{ config(materialized='incremental', unique_key='customer_id', incremental_strategy='delete+insert') }}
-- Current state of each customer: their change with the greatest _seq, unless it
-- deletes them (an erasure request).
-- Latest change per key by max(_seq) and a join back (see the README). On an
-- incremental run only the files landed since the last run are read, and `_op = 'd'`
-- deletes the key (README, "Incremental runs").

with latest as (
    select
        customer_id,
        max(_seq) as latest_seq
    from {{ changes(source('raw', 'customers')) }}
    group by customer_id
)

select
    landed.customer_id,
    landed.email,
    landed.first_name,
    landed.last_name,
    landed.country,
    landed.city,
    landed.loyalty_tier,
    landed.signup_at,
    landed._op
from latest
inner join {{ changes(source('raw', 'customers')) }} as landed
    on landed.customer_id = latest.customer_id
    and landed._seq = latest.latest_seq
