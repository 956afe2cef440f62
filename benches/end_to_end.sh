#!/usr/bin/env bash
# stride end to end, next to its yardsticks, in one run:
#  1. one new day run incrementally with its publish, and `run --full-refresh` with
#     its publish, of the same lake (REPEATS times each, alternated, each on a fresh
#     copy of the state with the day landed), with the bytes each read and wrote;
#  2. DuckDB computing the same models from the same data: `stride bench --suite
#     pipeline` (DataFusion and DuckDB on the same Arrow inputs, DuckDB's load of
#     those inputs timed apart).
#   benches/end_to_end.sh [SCALE] [DAYS] [REPEATS]      (defaults: 1 30 3)
# With STRIDE_BENCH_S3=1 the lake is s3://lake/bench on an s3s-fs server on loopback
# (the tests' server, installed into the build folder on first use); step 2 is then
# left out (it reads through the lake as on local disk), as it is with
# STRIDE_BENCH_ENGINES=0 (at scale 10 both engines together need more than 24 GB).
# With STRIDE_BENCH_LATENCY_MS=N as well, stride reaches that server through
# benches/latency_proxy.py, which holds each request N ms: a network's round trip
# (MinIO on a LAN ~1 ms, S3 10-30 ms).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/measure.sh
. benches/measure.sh
scale="${1:-1}"
days="${2:-30}"
repeats="${3:-3}"
build_stride
work="$(mktemp -d)"
server=""
proxy=""
cleanup() {
    if [ -n "$proxy" ]; then kill "$proxy" 2>/dev/null || true; fi
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
export RUST_LOG=stride=info
export STRIDE_DUCKDB="$work/stride.duckdb"

# The state the runs start from: the lake (a folder, or the folder behind the
# bucket), the DuckDB file and its publishes, at fixed paths.
if [ "${STRIDE_BENCH_S3:-0}" = 1 ]; then
    s3s="$CARGO_TARGET_DIR/tmp/s3s-fs/bin/s3s-fs"
    if [ ! -x "$s3s" ]; then
        env -u CARGO_TARGET_DIR cargo install --locked --quiet --features binary \
            --root "$CARGO_TARGET_DIR/tmp/s3s-fs" \
            --target-dir "$CARGO_TARGET_DIR/tmp/s3s-fs/build" s3s-fs@0.14.1
    fi
    mkdir -p "$work/served/lake"
    port=$((20000 + RANDOM % 20000))
    "$s3s" --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench-secret \
        "$work/served" > /dev/null 2>&1 &
    server=$!
    sleep 1
    latency="${STRIDE_BENCH_LATENCY_MS:-0}"
    if [ "$latency" != 0 ]; then
        python3 benches/latency_proxy.py "$((port + 1))" "$port" "$latency" &
        proxy=$!
        sleep 1
        port=$((port + 1))
        echo "S3 requests delayed by $latency ms each (benches/latency_proxy.py)"
    fi
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true
    export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
    lake="s3://lake/bench"
    state=("$work/served/lake" "$work/stride.duckdb" "$work/stride.duckdb.publishes")
else
    lake="$work/lake"
    state=("$work/lake" "$work/stride.duckdb" "$work/stride.duckdb.publishes")
fi
save() { for path in "${state[@]}"; do rm -rf "$path.saved"; cp -a "$path" "$path.saved"; done; }
restore() { for path in "${state[@]}"; do rm -rf "$path"; cp -a "$path.saved" "$path"; done; }

# run LABEL ARGS...: measures one `stride run` and prints its lake traffic line.
run() {
    local label="$1"; shift
    MEASURE_SHOW='lake traffic.*' measure "$label" "$stride" --lake "$lake" run "$@"
}

"$stride" --lake "$lake" generate --days "$days" --scale "$scale"
run "first run, $days days (publish included)"
"$stride" --lake "$lake" generate --days 1
save
echo "scale $scale: $days days run and published, day $((days + 1)) landed"
for i in $(seq "$repeats"); do
    restore
    run "incremental day + publish (#$i)"
    restore
    run "run --full-refresh + publish (#$i)" --full-refresh
done

if [ "${STRIDE_BENCH_S3:-0}" != 1 ] && [ "${STRIDE_BENCH_ENGINES:-1}" != 0 ]; then
    restore
    "$stride" --lake "$lake" run > /dev/null 2>&1
    "$stride" --lake "$lake" bench --suite pipeline --iterations "$repeats" 2>&1 | grep -v '^\s*$'
fi
