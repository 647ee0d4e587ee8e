#!/bin/sh
# Alternates PyTorch and exactq resnet8 training steps, back to back, ROUNDS times, so both
# see the same machine load. Each line printed is one timed run (samples/s wall, CPU-s/step).
#
#   tools/torch-anchor/side_by_side.sh [ROUNDS] [STEPS] [EXACTQ_BIN...]
#
# PYTHON (default python3) must have torch; EXACTQ_BIN defaults to the release build of the
# `train_steps` example (cargo build --release -p exactq-trainer --example train_steps).
# Several binaries may be given (e.g. before and after a change); each runs once per round.
# THREADS (default 2) sets both sides' thread count.
set -eu
threads=${THREADS:-2}
rounds=${1:-3}
steps=${2:-10}
shift 2 2>/dev/null || shift $#
here=$(dirname "$0")
[ $# -gt 0 ] || set -- "$here/../../target/release/examples/train_steps"
r=1
while [ "$r" -le "$rounds" ]; do
    echo "round $r"
    "${PYTHON:-python3}" "$here/resnet8_epoch.py" "$steps" 2 "$threads" 2>/dev/null
    for bin in "$@"; do
        printf '%s: ' "$(basename "$bin")"
        "$bin" "$steps" 2 "$threads"
    done
    r=$((r + 1))
done
