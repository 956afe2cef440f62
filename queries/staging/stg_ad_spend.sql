{{ config(materialized='incremental', unique_key=['campaign_id', 'spend_date']) }}
-- Current figures of each campaign day: a later change restates the day.

with changes as (
    select
        campaign_id,
        spend_date,
        impressions,
        clicks,
        spend,
        _op,
        row_number() over (partition by campaign_id, spend_date order by _seq desc) as change_rank
    from {{ source('raw', 'ad_spend') }}
)

select
    campaign_id,
    spend_date,
    impressions,
    clicks,
    spend
from changes
where change_rank = 1 and _op <> 'd'
