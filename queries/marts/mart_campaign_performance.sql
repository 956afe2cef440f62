{{ config(materialized='table', publish=true) }}
-- Every current campaign under every attribution model: its spend over all its
-- current ad_spend rows, and the conversions and revenue credited to its touchpoints
-- (exact DECIMAL sums from int_attribution_daily).
-- roas = attributed_revenue / spend (null when spend = 0);
-- cpa = spend / conversions (null when conversions = 0).

with spend as (
    select
        campaign_id,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks
    from {{ ref('stg_ad_spend') }}
    group by campaign_id
),

credited as (
    select
        campaign_id,
        model,
        cast(sum(conversions) as double) as conversions,
        cast(sum(attributed_revenue) as double) as attributed_revenue
    from {{ ref('int_attribution_daily') }}
    where campaign_id is not null
    group by campaign_id, model
),

performance as (
    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.channel,
        models.model,
        cast(coalesce(spend.spend, 0) as decimal(18, 2)) as spend,
        coalesce(spend.impressions, 0) as impressions,
        coalesce(spend.clicks, 0) as clicks,
        coalesce(credited.conversions, 0.0) as conversions,
        coalesce(credited.attributed_revenue, 0.0) as attributed_revenue
    from {{ ref('dim_campaigns') }} as campaigns
    cross join {{ ref('int_attribution_models') }} as models
    left join spend on spend.campaign_id = campaigns.campaign_id
    left join credited
        on credited.campaign_id = campaigns.campaign_id
        and credited.model = models.model
)

select
    campaign_id,
    campaign_name,
    channel,
    model,
    spend,
    impressions,
    clicks,
    conversions,
    attributed_revenue,
    case when spend = 0 then null else attributed_revenue / cast(spend as double) end as roas,
    case when conversions = 0 then null else cast(spend as double) / conversions end as cpa
from performance
