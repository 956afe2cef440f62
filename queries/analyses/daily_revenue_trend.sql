-- Net revenue and attributed revenue per day (linear model), for a trend chart.
-- Plain SQL on the marts: `stride query` runs it on DataFusion or (--engine duckdb) on
-- the published file, and it pastes as is into a Metabase native question.

with orders_per_day as (
    select order_date, count(*) as orders, sum(net_revenue) as net_revenue
    from fct_orders
    where is_eligible
    group by order_date
),

attributed_per_day as (
    select order_date, sum(attributed_revenue) as attributed_revenue
    from mart_channel_daily
    where model = 'linear'
    group by order_date
)

select
    orders_per_day.order_date,
    orders_per_day.orders,
    orders_per_day.net_revenue,
    round(attributed_per_day.attributed_revenue, 2) as attributed_revenue_linear
from orders_per_day
left join attributed_per_day on attributed_per_day.order_date = orders_per_day.order_date
order by orders_per_day.order_date
