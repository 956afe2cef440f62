{{ config(materialized='view') }}
-- The credit of each touchpoint of each eligible order under the five attribution
-- models of SPEC section 3. An order without touchpoints is credited wholly to
-- `direct` under every model. Only credits above 0 are kept.

with eligible_orders as (
    select order_id
    from {{ ref('int_order_revenue') }}
    where is_eligible
),

touches as (
    select touches.*
    from {{ ref('int_order_touches') }} as touches
    inner join eligible_orders on eligible_orders.order_id = touches.order_id
),

first_touch as (
    select order_id, 'first_touch' as model, touchpoint_id, channel, campaign_id, 1.0 as credit
    from touches
    where touch_position = 1
),

last_touch as (
    select order_id, 'last_touch' as model, touchpoint_id, channel, campaign_id, 1.0 as credit
    from touches
    where touch_position = touch_count
),

linear as (
    select
        order_id, 'linear' as model, touchpoint_id, channel, campaign_id,
        1.0 / touch_count as credit
    from touches
),

time_decay as (
    select
        order_id, 'time_decay' as model, touchpoint_id, channel, campaign_id,
        decay_weight / decay_weight_total as credit
    from touches
),

position_based as (
    select
        order_id, 'position_based' as model, touchpoint_id, channel, campaign_id,
        case
            when touch_count = 1 then 1.0
            when touch_count = 2 then 0.5
            when touch_position = 1 or touch_position = touch_count then 0.4
            else 0.2 / (touch_count - 2)
        end as credit
    from touches
),

untouched_orders as (
    select eligible_orders.order_id
    from eligible_orders
    where not exists (
        select 1 from touches where touches.order_id = eligible_orders.order_id
    )
),

direct as (
    select
        untouched_orders.order_id,
        models.model,
        cast(null as bigint) as touchpoint_id,
        'direct' as channel,
        cast(null as bigint) as campaign_id,
        1.0 as credit
    from untouched_orders
    cross join (
        values ('first_touch'), ('last_touch'), ('linear'), ('time_decay'), ('position_based')
    ) as models (model)
),

credits as (
    select * from first_touch
    union all select * from last_touch
    union all select * from linear
    union all select * from time_decay
    union all select * from position_based
    union all select * from direct
)

select order_id, model, touchpoint_id, channel, campaign_id, credit
from credits
where credit > 0
