{{ config(materialized='incremental', unique_key='campaign_id') }}
-- Current state of each campaign: the change with the greatest _seq, unless it deletes it.

with changes as (
    select
        campaign_id,
        campaign_name,
        channel,
        start_date,
        end_date,
        daily_budget,
        _op,
        row_number() over (partition by campaign_id order by _seq desc) as change_rank
    from {{ source('raw', 'campaigns') }}
)

select
    campaign_id,
    campaign_name,
    channel,
    start_date,
    end_date,
    daily_budget
from changes
where change_rank = 1 and _op <> 'd'
