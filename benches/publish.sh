#!/usr/bin/env bash
# The time to publish every mart to the DuckDB file (`stride sync`).
#   benches/publish.sh [SCALE] [DAYS] [REPEATS]      (defaults: 1 30 3)
# Builds a DAYS-day lake with one `run --no-sync`, then times REPEATS `stride sync`
# into a new DuckDB file each (every mart written whole, and the file of views), and
# one `stride sync` more onto the last (every mart served already: its files are
# linked into the new publish), under /usr/bin/time -v, and prints the size of a
# publish and the rows published.
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
export STRIDE_DUCKDB="$work/stride.duckdb"

"$stride" --lake "$work/lake" generate --days "$days" --scale "$scale"
"$stride" --lake "$work/lake" run --no-sync
echo "scale $scale, $days days: marts committed"
for i in $(seq "$repeats"); do
    rm -rf "$STRIDE_DUCKDB" "$STRIDE_DUCKDB.publishes"
    measure "sync, every mart whole (#$i)" "$stride" --lake "$work/lake" sync
done
measure "sync, every mart served already" "$stride" --lake "$work/lake" sync
echo "DuckDB file: $(du -h "$STRIDE_DUCKDB" | cut -f1)," \
    "one publish: $(du -sh "$(readlink -f "$STRIDE_DUCKDB.publishes/current")" | cut -f1)"
"$stride" query --engine duckdb --format csv \
    "select sum(row_count) as rows_published from _stride_sync"
