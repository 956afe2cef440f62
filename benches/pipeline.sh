#!/usr/bin/env bash
# Wall time and peak memory of `stride generate` and `stride run` (which ends by
# publishing the marts to DuckDB) on a fresh lake.
#   benches/pipeline.sh [SCALE] [DAYS]      (defaults: 1 30)
# Builds the release binary, then runs each step under /usr/bin/time -v.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/measure.sh
. benches/measure.sh
scale="${1:-1}"
days="${2:-30}"
build_stride
lake="$(mktemp -d)/lake"
trap 'rm -rf "$(dirname "$lake")"' EXIT
export STRIDE_DUCKDB="$(dirname "$lake")/stride.duckdb"

measure "generate $days days, scale $scale" "$stride" --lake "$lake" generate --days "$days" --scale "$scale"
echo "raw size: $(du -sh "$lake/raw" | cut -f1)"
measure "run (full build)" "$stride" --lake "$lake" run
echo "warehouse size: $(du -sh "$lake/warehouse" | cut -f1)"
echo "DuckDB file size: $(du -sh "$STRIDE_DUCKDB" | cut -f1)"
