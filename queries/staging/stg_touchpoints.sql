{{ config(materialized='incremental', unique_key='touchpoint_id') }}
-- Current state of each touchpoint. A duplicate delivery has a new _seq and the same
-- payload, so it collapses here.
-- The latest change per key is found with max(_seq) and a join back, which DataFusion
-- runs as hash aggregation and hash join (several times faster than row_number(),
-- which sorts the whole change log). `latest` comes first because DataFusion builds
-- its hash table from the left side of a join.

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
