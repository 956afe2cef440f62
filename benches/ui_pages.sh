#!/usr/bin/env bash
# How fast stride serve's pages show their data on the demo lake (scale 1, 30 days,
# as `stride demo --faults 0.01` makes it: a quarantine to show), in headless
# Chromium: per page, the milliseconds from navigation start to the page's data on
# screen, median of REPEATS loads (pages alternate). With SHOTS, the screenshots of every page (wide and narrow) are saved
# there too (the README's pictures come from `benches/ui_pages.sh 5 docs/screenshots`).
#   benches/ui_pages.sh [REPEATS] [SHOTS]   (defaults: 5, none)
# Needs Debian's chromium and chromium-driver (the test command installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/measure.sh
. benches/measure.sh
repeats="${1:-5}"
shots="${2:-}"
build_stride
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "needs /usr/bin/chromium and /usr/bin/chromedriver: apt-get install chromium chromium-driver" >&2
    exit 1
fi
venv="$CARGO_TARGET_DIR/bench-selenium-venv"
if ! "$venv/bin/python" -c 'import selenium' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check selenium==4.51.0
fi
work="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
export RUST_LOG=stride=warn
export STRIDE_DUCKDB="$work/stride.duckdb"
"$stride" --lake "$work/lake" demo --faults 0.01 > /dev/null
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$stride" --lake "$work/lake" serve --bind "127.0.0.1:$port" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/api/health" > /dev/null && break
    sleep 0.1
done
base="http://127.0.0.1:$port"
if [ -n "$shots" ]; then
    mkdir -p "$shots"
    "$venv/bin/python" tests/common/pages.py tour "$base" "$shots" > /dev/null
    rm -f "$shots/chromedriver.log"
    echo "screenshots in $shots"
fi
"$venv/bin/python" tests/common/pages.py measure "$base" "$work" "$repeats" | python3 -c '
import json, statistics, sys
times = json.load(sys.stdin)["ready_ms"]
print("page          median ms     min     max   (data on screen, from navigation start)")
for page, ms in times.items():
    print(f"{page:<12} {statistics.median(ms):>10.0f} {min(ms):>7.0f} {max(ms):>7.0f}")
'
