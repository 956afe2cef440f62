#!/usr/bin/env bash
# What the served form costs DuckDB readers: the saved analyses (queries/analyses/)
# and a few dashboard questions over the largest mart, on the served file (views over
# the publish's Parquet files) against the same marts as native DuckDB tables, in
# DuckDB 1.5.3 (the release Metabase's driver bundles).
#   benches/serving.sh [SCALE] [DAYS] [REPEATS] [CHANGED_DAYS]   (defaults: 1 30 20 0)
# With CHANGED_DAYS > 0, that many more days are landed and run one by one after the
# first run, so the keyed marts are served as their base and changes (as after
# incremental runs) rather than whole.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/measure.sh
. benches/measure.sh
scale="${1:-1}"
days="${2:-30}"
repeats="${3:-20}"
changed_days="${4:-0}"
build_stride
venv="$CARGO_TARGET_DIR/bench-duckdb-venv"
if ! "$venv/bin/python" -c 'import duckdb, pytz' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check duckdb==1.5.3 pytz
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export RUST_LOG=stride=warn
export STRIDE_DUCKDB="$work/stride.duckdb"

"$stride" --lake "$work/lake" generate --days "$days" --scale "$scale"
measure "run (scale $scale, $days days, publish included)" "$stride" --lake "$work/lake" run
measure "sync (publish only)" "$stride" --lake "$work/lake" sync
for day in $(seq "$changed_days"); do
    "$stride" --lake "$work/lake" generate --days 1
    measure "incremental run of a new day (#$day, publish of changes included)" \
        "$stride" --lake "$work/lake" run
done
echo "publish folder: $(du -sh "$(readlink -f "$work/stride.duckdb.publishes/current")" | cut -f1)"

# Questions a dashboard asks of fct_attribution, the largest mart.
mkdir "$work/questions"
cat > "$work/questions/attribution_by_channel_and_model.sql" <<'SQL'
select channel, model, count(*) as rows, sum(credit) as conversions,
       sum(attributed_revenue) as revenue
from fct_attribution group by channel, model order by channel, model
SQL
cat > "$work/questions/attribution_one_week_linear.sql" <<'SQL'
select order_date, channel, sum(attributed_revenue) as revenue
from fct_attribution
where model = 'linear'
  and order_date > (select max(order_date) from fct_attribution) - interval '7 days'
group by order_date, channel order by order_date, channel
SQL
cat > "$work/questions/orders_of_one_customer.sql" <<'SQL'
select * from fct_orders where customer_id = 1234 order by ordered_at
SQL
"$venv/bin/python" benches/serving_queries.py "$STRIDE_DUCKDB" "$work/native.duckdb" "$repeats" \
    queries/analyses/*.sql "$work"/questions/*.sql
