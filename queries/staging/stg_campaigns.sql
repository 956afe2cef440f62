{{ config(materialized='incremental', unique_key='campaign_id', incremental_strategy='delete+insert') }}
-- Current state of each campaign: its change with the greatest _seq, unless it deletes it.
-- Latest change per key by max(_seq) and a join back (see the README). On an
-- incremental run only the files landed since the last run are read, and `_op = 'd'`
-- deletes the key (README, "Incremental runs").

with latest as (
    select
        campaign_id,
        max(_seq) as latest_seq
    from {{ changes(source('raw', 'campaigns')) }}
    group by campaign_id
)

select
    landed.campaign_id,
    landed.campaign_name,
    landed.channel,
    landed.start_date,
    landed.end_date,
    landed.daily_budget,
    landed._op
from latest
inner join {{ changes(source('raw', 'campaigns')) }} as landed
    on landed.campaign_id = latest.campaign_id
    and landed._seq = latest.latest_seq
