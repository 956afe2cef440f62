-- The ten campaigns with the best return on ad spend under linear attribution.
-- Plain SQL on the marts: `stride query` runs it on DataFusion or (--engine duckdb) on
-- the published file, and it pastes as is into a Metabase native question.

select
    campaign_id,
    campaign_name,
    channel,
    spend,
    round(attributed_revenue, 2) as attributed_revenue,
    round(roas, 2) as roas,
    round(cpa, 2) as cpa
from mart_campaign_performance
where model = 'linear' and roas is not null
order by roas desc, campaign_id
limit 10
