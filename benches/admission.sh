#!/usr/bin/env bash
# The admission property test (tests/admission.rs) over many more seeded cases than
# the suite runs: random change streams of raw.customers, landed in random file
# splits and runs, checked against the reference after every run.
#   benches/admission.sh [CASES]        (default 2000; the suite runs 300)
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-2000}"
export STRIDE_ADMISSION_CASES="$cases"
/usr/bin/time -f "admission: $cases cases in %e s (peak %M KiB)" \
    cargo test --release --test admission -- --test-threads 2
