{{ config(materialized='incremental', unique_key='touchpoint_id') }}
-- Current state of each touchpoint. Duplicate deliveries share the key and collapse here.

with changes as (
    select
        touchpoint_id,
        customer_id,
        campaign_id,
        channel,
        touched_at,
        device,
        landing_page,
        _op,
        row_number() over (partition by touchpoint_id order by _seq desc) as change_rank
    from {{ source('raw', 'touchpoints') }}
)

select
    touchpoint_id,
    customer_id,
    campaign_id,
    channel,
    touched_at,
    device,
    landing_page
from changes
where change_rank = 1 and _op <> 'd'
