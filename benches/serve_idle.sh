#!/usr/bin/env bash
# What an idle `stride serve` costs: CPU seconds and resident memory over a window
# with no run, on the demo lake (30 days, scale 1, already run), three ways: API
# only; with the sensor (--watch, a look every 30 s); with the sensor every second
# and a schedule every minute (busier than any real deployment).
#
#   benches/serve_idle.sh [SECONDS]      # default 120
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/measure.sh
build_stride
window="${1:-120}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export STRIDE_DUCKDB="$work/stride.duckdb"
"$stride" --lake "$work/lake" demo > /dev/null 2>&1

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

idle() {
    local label="$1"; shift
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$stride" --lake "$work/lake" serve --bind "127.0.0.1:$port" "$@" 2> "$work/serve.log" &
    local pid=$!
    until curl -sf "http://127.0.0.1:$port/api/health" > /dev/null; do sleep 0.2; done
    sleep 5 # past start-up
    local before after rss hz
    hz="$(getconf CLK_TCK)"
    before="$(ticks "$pid")"
    sleep "$window"
    after="$(ticks "$pid")"
    rss="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
    kill -TERM "$pid"
    wait "$pid"
    awk -v l="$label" -v t="$((after - before))" -v hz="$hz" -v w="$window" -v rss="$rss" \
        'BEGIN { printf "%-52s CPU %6.2f s in %d s (%.3f%% of a core), RSS %5.1f MiB\n", l, t / hz, w, 100 * t / hz / w, rss / 1024 }'
}

idle "API only"
idle "--watch (a look every 30 s)" --watch
idle "--watch-interval 1, --schedule every minute" --watch --watch-interval 1 --schedule "* * * * *"
