#!/usr/bin/env bash
# Runs every test of the project. This is the README's test command and what CI runs.
# Each stage prints what it checks; the script stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${EXACTQ_SHARED:-../shared}"

# dfdx allocates fresh buffers every step; keep freed pages (see docs/performance.md).
# Property tests explore a fixed sequence here, so a CI verdict is reproducible; run
# `cargo test` without it (or with another seed) to explore further. Failures found that
# way are kept in the *.proptest-regressions files and replayed first on every run.
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261128}"
export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=8589934592 MALLOC_TOP_PAD_=536870912

echo "== core builds for Cortex-M4F and Cortex-M0 (no FPU)"
cargo build -q -p exactq-core --target thumbv7em-none-eabihf
cargo build -q -p exactq-core --target thumbv6m-none-eabi

echo "== TFLite import: 42 committed fixtures imported and run == TFLite Micro, byte for byte; hostile files refused"
# A few seconds once built; the same tests run again below as part of the workspace.
cargo test -q -p exactq-trainer --test tflite_parity --test tflite_hostile --test cli_import

echo "== unit, property and integration tests"
# Includes the trainer's stage (trainer/tests: FD gradient checks, digits-cnn >= 97 %, exact
# resume, same-seed bytes, kill -9 mid-checkpoint, bad input; ~20 s after the build).
cargo test --workspace

echo "== core kernels without std: the SSE2 / portable inner products (the workspace run above uses AVX2 where present)"
cargo test -q -p exactq-core --test kernels

echo "== golden kernel vectors (CMSIS-NN, qvec/1) through the core"
if [ -d "$SHARED/vectors/cmsis-nn" ]; then
  # The test profile reuses what `cargo test --workspace` just built.
  cargo run -q --profile test --bin exactq -- check-vectors "$SHARED"/vectors/cmsis-nn/*.json
else
  echo "skipped: $SHARED/vectors/cmsis-nn is absent"
fi

echo "== firmware: the core on QEMU Cortex-M4 (mps2-an386), byte-for-byte parity with the host"
cargo firmware-test

echo "== docs/guide.md: every command of the guide, run as written (digits, ~40 s)"
scripts/check-guide.sh

echo "== ONNX export of every zoo model passes onnx.checker (cached venv .venv-onnx/; ~1-2 min warm)"
tools/onnx-check/run.sh zoo

echo "== ONNX export of TFLite-imported PAD / RELU / RELU6 in ONNX Runtime and OpenVINO: each op alone equal to exactq on every input, whole fixtures within 1 (~30 s)"
tools/onnx-check/run.sh tflite
