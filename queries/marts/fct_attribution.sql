{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert', publish=true) }}
{% from 'macros/changed_keys.sql' import changed_keys %}
{% from 'macros/attribution_models.sql' import credit_columns, credit_of %}
-- One row per eligible order × attribution model × credited touchpoint
-- (touchpoint_id null for `direct`), under the five models of SPEC section 3.
-- An order without touchpoints is credited wholly to `direct` under every model.
-- Only credits above 0 are kept. attributed_revenue = credit × net_revenue.
--
-- Each touch gets its five credits in one pass (touch_credits), then one row per
-- model (touch_rows): reading the touches once, not once per model.
--
-- Incremental: an order's rows change only when its touches change or its
-- eligibility, net revenue or date change; those orders' rows are replaced (an order
-- that stopped being eligible keeps none).

with
{% if is_incremental() %}
credited_orders as (
    {{ changed_keys(changes(ref('int_order_revenue')), 'order_id', ['is_eligible', 'net_revenue', 'order_date']) }}
),

affected_orders as (
    select order_id from credited_orders
    union
    select order_id from {{ changes(ref('int_order_touches')) }}
),

-- On an incremental run the affected orders are few: each is read with its touches
-- in one pass (a left join keeps an order without touches, n = 0), and the
-- per-order totals come from window functions over that small input, so
-- int_order_touches is scanned once.
eligible_orders as (
    select order_id, order_date, net_revenue
    from {{ ref('int_order_revenue') }}
    where is_eligible
    and order_id in (select order_id from affected_orders)
),

order_touches as (
    select
        eligible_orders.order_id,
        eligible_orders.order_date,
        eligible_orders.net_revenue,
        touches.touchpoint_id,
        touches.channel,
        touches.campaign_id,
        touches.touch_position,
        touches.decay_weight,
        count(touches.touchpoint_id) over (partition by eligible_orders.order_id)
            as touch_count,
        cast(
            sum(cast(touches.decay_weight as decimal(38, 18)))
                over (partition by eligible_orders.order_id)
            as double
        ) as decay_weight_total
    from eligible_orders
    left join {{ ref('int_order_touches') }} as touches
        on touches.order_id = eligible_orders.order_id
),

touch_credits as (
    select
        order_id,
        order_date,
        net_revenue,
        touchpoint_id,
        coalesce(channel, 'direct') as channel,
        campaign_id,
        -- n = 0 (direct): the whole order under every model.
        {{ credit_columns(direct_when='touch_count = 0') }}
    from order_touches
),

credits as (
    select
        touch_credits.order_id,
        touch_credits.order_date,
        touch_credits.net_revenue,
        models.model,
        touch_credits.touchpoint_id,
        touch_credits.channel,
        touch_credits.campaign_id,
        {{ credit_of('models.model', 'touch_credits') }} as credit
    from {{ ref('int_attribution_models') }} as models
    cross join touch_credits
),

attributed as (
    select
        order_id,
        order_date,
        model,
        touchpoint_id,
        channel,
        campaign_id,
        credit,
        credit * cast(net_revenue as double) as attributed_revenue
    from credits
    where credit > 0
)
{% else %}
-- A full rebuild: per-order totals by aggregate and join (a window over the whole
-- input would hand the Delta writer one batch per order partition, much slower).
eligible_orders as (
    select order_id, order_date, net_revenue
    from {{ ref('int_order_revenue') }}
    where is_eligible
),

eligible_touches as (
    select touches.*
    from eligible_orders
    inner join {{ ref('int_order_touches') }} as touches
        on touches.order_id = eligible_orders.order_id
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
        {{ credit_columns() }}
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
        {{ credit_of('models.model', 'touch_credits') }} as credit
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
),

attributed as (
    select
        credits.order_id,
        eligible_orders.order_date,
        credits.model,
        credits.touchpoint_id,
        credits.channel,
        credits.campaign_id,
        credits.credit,
        credits.credit * cast(eligible_orders.net_revenue as double) as attributed_revenue
    -- The orders first: DataFusion builds its hash table from the left side of a join.
    from eligible_orders
    inner join credits on credits.order_id = eligible_orders.order_id
    where credits.credit > 0
)
{% endif %}

{% if is_incremental() %}
select
    affected_orders.order_id,
    attributed.* exclude (order_id),
    case when attributed.order_id is null then 'd' else 'u' end as _op
from affected_orders
left join attributed on attributed.order_id = affected_orders.order_id
{% else %}
select * from attributed
{% endif %}
