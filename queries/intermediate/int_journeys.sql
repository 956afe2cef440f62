{{ config(materialized='view') }}
-- Every customer journey of SPEC 3a, what the data-driven models learn from: the
-- orders' journeys (int_order_journeys: converting when the order is eligible) and
-- the unconverted ones (int_unconverted_journeys). Kept in two tables so that a run
-- replaces an order's journey when its touches change, and a customer's unconverted
-- journeys when their touchpoints or orders do.

select
    customer_id,
    order_id,
    started_at,
    ended_at,
    end_date,
    path,
    touches,
    converts,
    conversion_value
from {{ ref('int_order_journeys') }}
union all
select
    customer_id,
    cast(null as bigint) as order_id,
    started_at,
    ended_at,
    end_date,
    path,
    touches,
    false as converts,
    cast(0 as decimal(18, 2)) as conversion_value
from {{ ref('int_unconverted_journeys') }}
