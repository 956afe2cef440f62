{{ config(materialized='incremental', unique_key='touchpoint_id') }}
-- Current state of each touchpoint. A duplicate delivery has a new _seq and the same
-- payload, so it collapses here.
-- Latest change per key by max(_seq) and a join back (see the README).

with latest as (
    select
        touchpoint_id,
        max(_seq) as latest_seq
    from {{ source('raw', 'touchpoints') }}
    group by touchpoint_id
)

select
    changes.touchpoint_id,
    changes.customer_id,
    changes.campaign_id,
    changes.channel,
    changes.touched_at,
    changes.device,
    changes.landing_page
from latest
inner join {{ source('raw', 'touchpoints') }} as changes
    on changes.touchpoint_id = latest.touchpoint_id
    and changes._seq = latest.latest_seq
where changes._op <> 'd'
