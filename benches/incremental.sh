#!/usr/bin/env bash
# An incremental run that adds one day to a DAYS-day lake, next to a full refresh of
# the same lake.
#   benches/incremental.sh [SCALE] [DAYS] [REPEATS]      (defaults: 1 30 3)
# Builds a DAYS-day lake with one full run, lands day DAYS+1, then times REPEATS
# incremental runs (each on a fresh copy of that state) and REPEATS
# `run --full-refresh` on the same DAYS+1-day lake, under /usr/bin/time -v.
# Runs use --no-sync: the DuckDB publish is timed by benches/publish.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/measure.sh
. benches/measure.sh
scale="${1:-1}"
days="${2:-30}"
repeats="${3:-3}"
build_stride
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export RUST_LOG=stride=warn

"$stride" --lake "$work/base" generate --days "$days" --scale "$scale"
"$stride" --lake "$work/base" run --no-sync
"$stride" --lake "$work/base" generate --days 1
echo "scale $scale: $days days loaded, day $((days + 1)) landed"
for i in $(seq "$repeats"); do
    rm -rf "$work/lake"
    cp -r "$work/base" "$work/lake"
    measure "incremental run adding day $((days + 1)) (#$i)" "$stride" --lake "$work/lake" run --no-sync
done
for i in $(seq "$repeats"); do
    measure "run --full-refresh, $((days + 1)) days (#$i)" "$stride" --lake "$work/lake" run --full-refresh --no-sync
done
