{{ config(materialized='table', publish=true) }}
{% set window_days = var('dda_window_days', 90) %}
{% if window_days is not integer or window_days < 1 %}
{{ exceptions.raise_compiler_error("dda_window_days must be a whole number of days, at least 1, not " ~ window_days) }}
{% endif %}
-- What each channel earns under the data-driven models (SPEC 3a), learnt from the
-- journeys (int_journeys) that end in the window: `markov` (the removal effect)
-- and `shapley` (the Shapley value of the chain's conversion probability), both
-- solved exactly by data_driven_attribution().
-- - Horizon H: the latest ordered_at or touched_at of the current orders and
--   touchpoints. Window: the {{ window_days }} UTC days ending on H's date
--   (project variable `dda_window_days`, default 90).
-- - An unconverted journey that ended less than 30 days before H may still convert:
--   it is left out until it closes.
-- - conversions and attributed_revenue split the window's converting journeys and
--   their value by share; spend is the channel's ad spend in the window.

with horizon as (
    select max(latest) as horizon
    from (
        select max(ordered_at) as latest from {{ ref('int_order_revenue') }}
        union all
        select max(touched_at) as latest from {{ ref('stg_touchpoints') }}
    ) as events
),

bounds as (
    select
        horizon,
        cast(horizon as date) - interval '{{ window_days - 1 }} days' as window_start,
        cast(horizon as date) as window_end
    from horizon
),

window_journeys as (
    select journeys.path, journeys.converts, journeys.conversion_value
    from {{ ref('int_journeys') }} as journeys
    cross join bounds
    where journeys.end_date between bounds.window_start and bounds.window_end
        and (journeys.order_id is not null or journeys.ended_at <= bounds.horizon - interval '30 days')
),

-- One entry per model and channel; a path is its channels joined by ' > '.
solved as (
    select unnest(data_driven_attribution(path, converts)) as effect
    from window_journeys
),

effects as (
    select
        effect['model'] as model,
        effect['channel'] as channel,
        effect['journeys'] as journeys,
        effect['removal_effect'] as removal_effect,
        effect['share'] as share
    from solved
),

converted as (
    select
        count(*) as journeys,
        sum(conversion_value) as conversion_value
    from window_journeys
    where converts
),

spend as (
    select campaigns.channel, sum(ad_spend.spend) as spend
    from {{ ref('stg_ad_spend') }} as ad_spend
    inner join {{ ref('stg_campaigns') }} as campaigns
        on campaigns.campaign_id = ad_spend.campaign_id
    cross join bounds
    where ad_spend.spend_date between bounds.window_start and bounds.window_end
    group by campaigns.channel
),

credited as (
    select
        cast(bounds.window_start as date) as window_start,
        bounds.window_end,
        effects.model,
        effects.channel,
        effects.journeys,
        effects.removal_effect,
        effects.share,
        effects.share * cast(coalesce(converted.journeys, 0) as double) as conversions,
        effects.share * cast(coalesce(converted.conversion_value, 0) as double) as attributed_revenue,
        cast(coalesce(spend.spend, 0) as decimal(18, 2)) as spend
    from effects
    cross join bounds
    cross join converted
    left join spend on spend.channel = effects.channel
)

select
    window_start,
    window_end,
    model,
    channel,
    journeys,
    removal_effect,
    share,
    conversions,
    attributed_revenue,
    spend,
    case when spend = 0 then null else attributed_revenue / cast(spend as double) end as roas
from credited
