{{ config(materialized='incremental', unique_key=['campaign_id', 'spend_date']) }}
-- Current figures of each campaign day: a later change restates the day.
-- Latest change per key by max(_seq) and a join back (see the README).

with latest as (
    select
        campaign_id,
        spend_date,
        max(_seq) as latest_seq
    from {{ source('raw', 'ad_spend') }}
    group by campaign_id, spend_date
)

select
    changes.campaign_id,
    changes.spend_date,
    changes.impressions,
    changes.clicks,
    changes.spend
from latest
inner join {{ source('raw', 'ad_spend') }} as changes
    on changes.campaign_id = latest.campaign_id
    and changes.spend_date = latest.spend_date
    and changes._seq = latest.latest_seq
where changes._op <> 'd'
