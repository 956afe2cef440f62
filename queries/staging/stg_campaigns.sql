{{ config(materialized='incremental', unique_key='campaign_id') }}
-- Current state of each campaign: its change with the greatest _seq, unless it deletes it.
-- Latest change per key by max(_seq) and a join back (see the README).

with latest as (
    select
        campaign_id,
        max(_seq) as latest_seq
    from {{ source('raw', 'campaigns') }}
    group by campaign_id
)

select
    changes.campaign_id,
    changes.campaign_name,
    changes.channel,
    changes.start_date,
    changes.end_date,
    changes.daily_budget
from latest
inner join {{ source('raw', 'campaigns') }} as changes
    on changes.campaign_id = latest.campaign_id
    and changes._seq = latest.latest_seq
where changes._op <> 'd'
