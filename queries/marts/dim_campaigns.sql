{{ config(materialized='table', publish=true) }}
-- One row per current campaign.

select
    campaign_id,
    campaign_name,
    channel,
    start_date,
    end_date,
    daily_budget
from {{ ref('stg_campaigns') }}
