#!/usr/bin/env bash
# What a late file costs: a DAYS+1-day lake is run with day DAYS held back (every
# table's folder of that day), then that day lands late and the incremental run that
# applies it is timed (REPEATS times, each on a fresh copy of that state), next to
# the incremental run of an in-order day DAYS+1 on a DAYS-day lake.
#   benches/late.sh [SCALE] [DAYS] [REPEATS]      (defaults: 1 30 3)
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

late_day="$(date -u -d "2026-01-01 + $((days - 1)) days" +%F)"
"$stride" --lake "$work/late" generate --days "$((days + 1))" --scale "$scale"
cp -r "$work/late" "$work/ordered"
mkdir -p "$work/held"
for folder in "$work"/late/raw/*/batch_date="$late_day"; do
    table="$(basename "$(dirname "$folder")")"
    mv "$folder" "$work/held/$table"
done
"$stride" --lake "$work/late" run --no-sync
for held in "$work"/held/*; do
    mv "$held" "$work/late/raw/$(basename "$held")/batch_date=$late_day"
done
# The in-order comparison: days 1..DAYS run, day DAYS+1 new.
last_day="$(date -u -d "2026-01-01 + $days days" +%F)"
mkdir -p "$work/next"
for folder in "$work"/ordered/raw/*/batch_date="$last_day"; do
    mv "$folder" "$work/next/$(basename "$(dirname "$folder")")"
done
"$stride" --lake "$work/ordered" run --no-sync
for next in "$work"/next/*; do
    mv "$next" "$work/ordered/raw/$(basename "$next")/batch_date=$last_day"
done
echo "scale $scale: day $late_day landed after days up to $last_day were run"
for i in $(seq "$repeats"); do
    rm -rf "$work/lake"
    cp -r "$work/late" "$work/lake"
    measure "incremental run, late day $late_day (#$i)" "$stride" --lake "$work/lake" run --no-sync
    rm -rf "$work/lake"
    cp -r "$work/ordered" "$work/lake"
    measure "incremental run, in-order day $last_day (#$i)" "$stride" --lake "$work/lake" run --no-sync
done
