#!/usr/bin/env bash
# What the data contracts cost: the first run of a DAYS-day lake (every landed file
# checked, every mart result checked before its commit) with the shipped contracts
# and with an empty contracts folder (`--contracts`: schema checks only, no rules),
# then `stride test` on the built lake, and the first run of the same lake
# generated with `--faults 0.01`.
#   benches/contracts.sh [SCALE] [DAYS] [REPEATS]      (defaults: 1 30 3)
# Runs use --no-sync (the DuckDB publish is timed by benches/publish.sh).
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
mkdir "$work/no-contracts"

"$stride" --lake "$work/base" generate --days "$days" --scale "$scale"
"$stride" --lake "$work/faulty" generate --days "$days" --scale "$scale" --faults 0.01
for i in $(seq "$repeats"); do
    rm -rf "$work/lake" && cp -r "$work/base" "$work/lake"
    measure "first run, shipped contracts (#$i)" "$stride" --lake "$work/lake" run --no-sync
done
for i in $(seq "$repeats"); do
    rm -rf "$work/lake" && cp -r "$work/base" "$work/lake"
    measure "first run, no contracts (#$i)" "$stride" --contracts "$work/no-contracts" --lake "$work/lake" run --no-sync
done
for i in $(seq "$repeats"); do
    rm -rf "$work/lake" && cp -r "$work/faulty" "$work/lake"
    measure "first run, --faults 0.01 (#$i)" "$stride" --lake "$work/lake" run --no-sync
done
for i in $(seq "$repeats"); do
    measure "stride test (#$i)" "$stride" --lake "$work/lake" test --format csv
done
