{{ config(materialized='view') }}
-- The credit of each touchpoint of each eligible order under the five attribution
-- models of SPEC section 3. An order without touchpoints is credited wholly to
-- `direct` under every model. Only credits above 0 are kept.
--
-- Each touch gets its five credits in one pass (touch_credits), then one row per
-- model (touch_rows): reading the touches once, not once per model.

with eligible_orders as (
    select order_id
    from {{ ref('int_order_revenue') }}
    where is_eligible
),

eligible_touches as (
    select touches.*
    from {{ ref('int_order_touches') }} as touches
    inner join eligible_orders on eligible_orders.order_id = touches.order_id
),

order_totals as (
    select
        order_id,
        count(*) as touch_count,
        -- An exact DECIMAL sum, so the total (and every time_decay credit) is the same
        -- whatever order the rows are added in.
        cast(sum(cast(decay_weight as decimal(38, 18))) as double) as decay_weight_total
    from eligible_touches
    group by order_id
),

touch_credits as (
    select
        eligible_touches.order_id,
        eligible_touches.touchpoint_id,
        eligible_touches.channel,
        eligible_touches.campaign_id,
        case when touch_position = 1 then 1.0 else 0.0 end as first_touch,
        case when touch_position = touch_count then 1.0 else 0.0 end as last_touch,
        1.0 / touch_count as linear,
        decay_weight / decay_weight_total as time_decay,
        case
            when touch_count = 1 then 1.0
            when touch_count = 2 then 0.5
            when touch_position = 1 or touch_position = touch_count then 0.4
            else 0.2 / (touch_count - 2)
        end as position_based
    -- The smaller input first: DataFusion builds its hash table from the left side.
    from order_totals
    inner join eligible_touches on eligible_touches.order_id = order_totals.order_id
),

touch_rows as (
    select
        touch_credits.order_id,
        models.model,
        touch_credits.touchpoint_id,
        touch_credits.channel,
        touch_credits.campaign_id,
        case models.model
            when 'first_touch' then touch_credits.first_touch
            when 'last_touch' then touch_credits.last_touch
            when 'linear' then touch_credits.linear
            when 'time_decay' then touch_credits.time_decay
            when 'position_based' then touch_credits.position_based
        end as credit
    from {{ ref('int_attribution_models') }} as models
    cross join touch_credits
),

direct_rows as (
    select
        eligible_orders.order_id,
        models.model,
        cast(null as bigint) as touchpoint_id,
        'direct' as channel,
        cast(null as bigint) as campaign_id,
        1.0 as credit
    from {{ ref('int_attribution_models') }} as models
    cross join eligible_orders
    where not exists (
        select 1
        from {{ ref('int_order_touches') }} as touches
        where touches.order_id = eligible_orders.order_id
    )
),

credits as (
    select * from touch_rows
    union all
    select * from direct_rows
)

select order_id, model, touchpoint_id, channel, campaign_id, credit
from credits
where credit > 0
