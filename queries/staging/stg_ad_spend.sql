{{ config(materialized='incremental', unique_key=['campaign_id', 'spend_date']) }}
-- Current figures of each campaign day: a later change restates the day.
-- Latest change per key by max(_seq) and a join back (see the README). On an
-- incremental run only the files landed since the last run are read, and `_op = 'd'`
-- deletes the key (README, "Incremental runs").

with latest as (
    select
        campaign_id,
        spend_date,
        max(_seq) as latest_seq
    from {{ changes(source('raw', 'ad_spend')) }}
    group by campaign_id, spend_date
)

select
    landed.campaign_id,
    landed.spend_date,
    landed.impressions,
    landed.clicks,
    landed.spend,
    landed._op
from latest
inner join {{ changes(source('raw', 'ad_spend')) }} as landed
    on landed.campaign_id = latest.campaign_id
    and landed.spend_date = latest.spend_date
    and landed._seq = latest.latest_seq
