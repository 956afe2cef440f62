#!/usr/bin/env bash
# `run --full-refresh` of one lake in this process, then on a cluster of this
# binary's roles on loopback (a scheduler and 1, then 2 executors), alternated
# REPEATS times; wall time and peak memory of the client (the `stride run`), and
# what each model's query fetched from the cluster (rows, MiB of Arrow).
#   benches/cluster.sh LAKE [REPEATS]           (default 2; LAKE: an existing lake)
# On one machine the executors share its cores with the client: this measures the
# cluster's overhead, not a speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/measure.sh
. benches/measure.sh
lake="$1"
repeats="${2:-2}"
build_stride
work="$(mktemp -d)"
pids=()
stop_roles() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'stop_roles; rm -rf "$work"' EXIT
export RUST_LOG=stride=info

start_cluster() { # start_cluster EXECUTORS
    "$stride" cluster scheduler --bind 127.0.0.1:50150 2> "$work/scheduler.log" &
    pids+=($!)
    sleep 1
    for i in $(seq 1 "$1"); do
        "$stride" cluster executor --scheduler 127.0.0.1:50150 --bind "127.0.0.1:$((50150 + i))" \
            --vcores 2 --memory 6GiB --work-dir "$work/executor-$i" 2> "$work/executor-$i.log" &
        pids+=($!)
    done
    sleep 2
}

for round in $(seq 1 "$repeats"); do
    echo "round $round"
    measure "local: run --full-refresh" "$stride" --lake "$lake" run --full-refresh --no-sync
    for executors in 1 2; do
        start_cluster "$executors"
        MEASURE_SHOW='[a-z_]*: [0-9]* rows, [0-9.]* MiB fetched from the cluster in [0-9.]*s' \
            measure "cluster, $executors executor(s): run --full-refresh" \
            "$stride" --lake "$lake" run --full-refresh --no-sync --cluster df://127.0.0.1:50150
        stop_roles
        rm -rf "$work"/executor-*
    done
done
