#!/usr/bin/env bash
# Wall time and peak memory of `stride generate` and `stride run` on a fresh lake.
#   benches/pipeline.sh [SCALE] [DAYS]      (defaults: 1 30)
# Builds the release binary, then runs each step under /usr/bin/time -v.
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-1}"
days="${2:-30}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stride/target}"
cargo build --release --quiet
stride="$CARGO_TARGET_DIR/release/stride"
lake="$(mktemp -d)/lake"
trap 'rm -rf "$(dirname "$lake")"' EXIT

measure() {
    local label="$1"; shift
    local log
    log="$(mktemp)"
    /usr/bin/time -v "$@" 2> "$log" > /dev/null || { cat "$log"; exit 1; }
    local wall rss
    wall="$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}')"
    rss="$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')"
    printf '%-32s wall %-10s peak RSS %6d MiB\n' "$label" "$wall" "$((rss / 1024))"
    rm -f "$log"
}

measure "generate $days days, scale $scale" "$stride" --lake "$lake" generate --days "$days" --scale "$scale"
echo "raw size: $(du -sh "$lake/raw" | cut -f1)"
measure "run (full build)" "$stride" --lake "$lake" run
echo "warehouse size: $(du -sh "$lake/warehouse" | cut -f1)"
