{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='delete+insert') }}
-- Current lines of each order: per (order_id, line_number), the change with the
-- greatest _seq, unless it deletes the line.
-- Latest change per key by max(_seq) and a join back (see the README).
--
-- Incremental: only the files landed since the last run are read. Rows are replaced
-- a whole order at a time (delete+insert on order_id), so the result carries every
-- current line of each order with a changed line: the landed ones, and the stored
-- ones no landed change replaces. A line whose latest change is `d` is left out; an
-- order left with no line is a deletion (`_op = 'd'`).

with latest as (
    select
        order_id,
        line_number,
        max(_seq) as latest_seq
    from {{ changes(source('raw', 'order_items')) }}
    group by order_id, line_number
),

landed_lines as (
    select
        landed.order_id,
        landed.line_number,
        landed.product_id,
        landed.quantity,
        landed.unit_price,
        landed.discount_amount,
        landed._op
    from latest
    inner join {{ changes(source('raw', 'order_items')) }} as landed
        on landed.order_id = latest.order_id
        and landed.line_number = latest.line_number
        and landed._seq = latest.latest_seq
)

{% if is_incremental() %}
, kept_lines as (
    select
        stored.order_id,
        stored.line_number,
        stored.product_id,
        stored.quantity,
        stored.unit_price,
        stored.discount_amount,
        'u' as _op
    from {{ this }} as stored
    where stored.order_id in (select order_id from landed_lines)
    and not exists (
        select 1
        from landed_lines
        where landed_lines.order_id = stored.order_id
        and landed_lines.line_number = stored.line_number
    )
)

select * from landed_lines
union all
select * from kept_lines
{% else %}
select * from landed_lines
{% endif %}
