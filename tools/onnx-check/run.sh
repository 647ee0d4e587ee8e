#!/usr/bin/env bash
# ONNX interop checks (docs/onnx.md). Uses a cached venv (.venv-onnx/, created on first use
# from PyPI with onnx, onnxruntime, openvino).
#
#   tools/onnx-check/run.sh zoo [OUT_DIR]   export every zoo model (random weights, PTQ) and
#                                           run onnx.checker on each export
#   tools/onnx-check/run.sh check MODEL.exq DATASET [SAMPLES]
#                                           export, run in ONNX Runtime and OpenVINO over the
#                                           test set, print accuracy and int8 mismatches
#   tools/onnx-check/run.sh tflite [OUT_DIR] [NAME...]
#                                           import TFLite fixtures (default: the standalone PAD,
#                                           RELU, RELU6 ones), export them and their first op
#                                           alone, print int8 mismatches vs exactq on each
#                                           input set (fixture samples, random, exhaustive);
#                                           fails when an op alone differs at all, or a whole
#                                           fixture by more than 1 (its conv rounds once in
#                                           float in ORT, twice in TFLite) or the RELU tie case
#                                           by more than 1 (QuantizeLinear: ties to even)
# Exit 0 with a printed "skipped" when PyPI is unreachable and the venv does not exist yet.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
set +e
py="$("$here/venv.sh")"
rc=$?
set -e
if [ $rc -eq 3 ]; then
  echo "onnx-check: skipped (PyPI unreachable, no cached venv)"
  exit 0
elif [ $rc -ne 0 ]; then
  exit $rc
fi
case "${1:-}" in
  zoo)
    out="${2:-target/onnx-zoo}"
    cargo run -q -p exactq-trainer --example onnx_blobs -- zoo "$out"
    "$py" "$here/check.py" checker "$out"/*.onnx
    ;;
  check)
    blob="$2"; dataset="$3"; samples="${4:-}"
    out="target/onnx-check/$(basename "$blob" .exq)"
    mkdir -p "$out"
    cargo run -q --release -p exactq-trainer --bin exactq -- export "$blob" --format onnx --force -o "$out/model.onnx" \
      --dataset "$dataset" --npy-dir "$out" ${samples:+--samples "$samples"}
    "$py" "$here/check.py" run "$out/model.onnx" "$out"
    ;;
  tflite)
    out="${2:-target/onnx-tflite}"
    cargo run -q --release -p exactq-trainer --example onnx_blobs -- tflite trainer/tests/fixtures/tflite "$out" "${@:3}"
    "$py" "$here/check.py" checker "$out"/*.onnx
    # <stem>.<set>.inputs.npy and <stem>.<set>.exactq.npy run through <stem>.onnx.
    for x in "$out"/*.inputs.npy; do
      base="${x%.inputs.npy}"
      model="${base%.*}"
      case "$(basename "$model")" in
        relu_tie-op) max=1 ;;
        *-op) max=0 ;;
        *) max=1 ;;
      esac
      "$py" "$here/check.py" random "$model.onnx" "$base.exactq.npy" "$x" "$max"
    done
    ;;
  *)
    sed -n 2,15p "$0"; exit 2 ;;
esac
