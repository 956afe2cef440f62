{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert') }}
-- The touchpoints of every current order (any status): the customer's current
-- touchpoints with ordered_at − 30 days <= touched_at <= ordered_at, both ends included,
-- numbered in (touched_at, touchpoint_id) order.
-- decay_weight = 2^(−Δ / 7 days) with Δ = ordered_at − touched_at to the microsecond.
-- Per-order totals (n, Σ weights) are left to fct_attribution: a window over the
-- whole partition here would make DataFusion hold each partition in one batch, which
-- more than doubles the time to write this table.
--
-- Incremental: an order's touches change when the order appears, disappears or
-- moves (customer, ordered_at), or when a touchpoint of its customer inside its
-- window changes. Both the old and the new image of a changed touchpoint count, so
-- a touchpoint moved out of a window leaves it too. Those orders' rows are replaced;
-- whatever the lateness, nothing outside them can change.

with
{% if is_incremental() %}
order_images as (
    select
        images.*,
        min(images._commit_version) over (partition by images.order_id) as first_version,
        max(images._commit_version) over (partition by images.order_id) as last_version
    from {{ changes(ref('int_order_revenue')) }} as images
),

moved_orders as (
    select images.order_id
    from order_images as images
    group by images.order_id
    -- New (no image before its first change), gone (no image after its last), or
    -- changed in a column this model reads.
    having
        max(case when images._commit_version = images.first_version
            and images._change_type in ('delete', 'update_preimage') then 1 else 0 end) = 0
        or max(case when images._commit_version = images.last_version
            and images._change_type in ('insert', 'update_postimage') then 1 else 0 end) = 0
        or count(distinct images.customer_id) > 1
        or count(distinct images.ordered_at) > 1
),

changed_touches as (
    select distinct customer_id, touched_at
    from {{ changes(ref('stg_touchpoints')) }}
),

touched_orders as (
    select orders.order_id
    from changed_touches
    inner join {{ ref('int_order_revenue') }} as orders
        on orders.customer_id = changed_touches.customer_id
        and orders.ordered_at >= changed_touches.touched_at
        and orders.ordered_at <= changed_touches.touched_at + interval '30 days'
),

affected_orders as (
    select order_id from moved_orders
    union
    select order_id from touched_orders
),
{% endif %}

orders as (
    select order_id, customer_id, ordered_at
    from {{ ref('int_order_revenue') }}
    {% if is_incremental() %}
    where order_id in (select order_id from affected_orders)
    {% endif %}
),

windowed as (
    select
        orders.order_id,
        touches.touchpoint_id,
        touches.channel,
        touches.campaign_id,
        touches.touched_at,
        power(
            2.0,
            -(cast(orders.ordered_at as bigint) - cast(touches.touched_at as bigint))
                / 604800000000.0
        ) as decay_weight
    from orders
    inner join {{ ref('stg_touchpoints') }} as touches
        on touches.customer_id = orders.customer_id
        and touches.touched_at >= orders.ordered_at - interval '30 days'
        and touches.touched_at <= orders.ordered_at
),

numbered as (
    select
        order_id,
        touchpoint_id,
        channel,
        campaign_id,
        touched_at,
        row_number() over (
            partition by order_id order by touched_at, touchpoint_id
        ) as touch_position,
        decay_weight
    from windowed
)

{% if is_incremental() %}
select
    affected_orders.order_id,
    numbered.touchpoint_id,
    numbered.channel,
    numbered.campaign_id,
    numbered.touched_at,
    numbered.touch_position,
    numbered.decay_weight,
    case when numbered.order_id is null then 'd' else 'u' end as _op
from affected_orders
left join numbered on numbered.order_id = affected_orders.order_id
{% else %}
select * from numbered
{% endif %}
