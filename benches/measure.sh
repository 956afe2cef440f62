# build_stride: builds the release binary into the shared build folder and sets
# $stride to it; with STRIDE_BIN set, uses that binary instead (to compare builds).
build_stride() {
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stride/target}"
    if [ -n "${STRIDE_BIN:-}" ]; then
        stride="$STRIDE_BIN"
        return
    fi
    cargo build --release --quiet
    stride="$CARGO_TARGET_DIR/release/stride"
}

# measure LABEL COMMAND...: runs COMMAND under /usr/bin/time -v and prints its wall
# time and peak resident memory, then, with MEASURE_SHOW set, the parts of its
# stderr that pattern (grep -o) matches. Sourced by the benchmark scripts.
measure() {
    local label="$1"; shift
    local log
    log="$(mktemp)"
    /usr/bin/time -v "$@" 2> "$log" > /dev/null || { cat "$log"; exit 1; }
    local wall rss
    wall="$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}')"
    rss="$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')"
    printf '%-44s wall %-10s peak RSS %6d MiB\n' "$label" "$wall" "$((rss / 1024))"
    if [ -n "${MEASURE_SHOW:-}" ]; then
        grep -o "$MEASURE_SHOW" "$log" | sed 's/^/    /' || true
    fi
    rm -f "$log"
}
