{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert') }}
-- DuckDB's text of int_order_touches.sql, for `stride bench` only (stride runs the
-- other): DuckDB cannot cast a timestamp to bigint, so microseconds come from epoch_us.
{% from 'macros/changed_keys.sql' import changed_keys %}
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
moved_orders as (
    {{ changed_keys(changes(ref('int_order_revenue')), 'order_id', ['customer_id', 'ordered_at']) }}
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
            -(epoch_us(orders.ordered_at) - epoch_us(touches.touched_at))
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
    numbered.* exclude (order_id),
    case when numbered.order_id is null then 'd' else 'u' end as _op
from affected_orders
left join numbered on numbered.order_id = affected_orders.order_id
{% else %}
select * from numbered
{% endif %}
