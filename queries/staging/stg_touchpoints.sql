{{ config(materialized='incremental', unique_key='touchpoint_id', incremental_strategy='delete+insert') }}
-- Current state of each touchpoint. A duplicate delivery has a new _seq and the same
-- payload, so it collapses here.
-- Latest change per key by max(_seq) and a join back (see the README). On an
-- incremental run only the files landed since the last run are read, and `_op = 'd'`
-- deletes the key (README, "Incremental runs").

with latest as (
    select
        touchpoint_id,
        max(_seq) as latest_seq
    from {{ changes(source('raw', 'touchpoints')) }}
    group by touchpoint_id
)

select
    landed.touchpoint_id,
    landed.customer_id,
    landed.campaign_id,
    landed.channel,
    landed.touched_at,
    landed.device,
    landed.landing_page,
    landed._op
from latest
inner join {{ changes(source('raw', 'touchpoints')) }} as landed
    on landed.touchpoint_id = latest.touchpoint_id
    and landed._seq = latest.latest_seq
