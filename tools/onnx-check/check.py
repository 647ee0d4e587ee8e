#!/usr/bin/env python3
"""Runs exactq's ONNX exports in ONNX Runtime and OpenVINO.

  check.py checker FILE.onnx...          onnx.checker.check_model (full check) on every file
  check.py run FILE.onnx NPY_DIR         accuracy and int8 mismatches vs exactq's interpreter
  check.py random FILE.onnx EXQ_OUT.npy INPUTS.npy [MAX_DIFF]
                                         (used by `run.sh tflite`) mismatches on given inputs;
                                         exit 1 when an output differs by more than MAX_DIFF

NPY_DIR holds what `exactq export MODEL --format onnx --dataset ... --npy-dir` writes: inputs.npy (int8 NHWC,
quantized by the core exactly as the device sees them), labels.npy, exactq.npy (the core
interpreter's int8 outputs).
"""
import sys

import numpy as np


def check(paths):
    import onnx

    for p in paths:
        m = onnx.load(p)
        onnx.checker.check_model(m, full_check=True)
        print(f"onnx.checker: {p}: ok (opset {m.opset_import[0].version}, {len(m.graph.node)} nodes)")


def run_ort(path, x, batch=256):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(None, {"input": x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def run_openvino(path, x, batch=256):
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(ov.convert_model(path), "CPU", {"INFERENCE_NUM_THREADS": 1})
    out = compiled.output(0)
    return np.concatenate([compiled(x[i:i + batch])[out] for i in range(0, len(x), batch)])


def report(name, y, ref, labels):
    y = y.reshape(ref.shape).astype(np.int32)
    diff = np.abs(y - ref.astype(np.int32))
    line = f"{name:>12}: {int((diff != 0).sum())} of {diff.size} int8 outputs differ from exactq (max |diff| {int(diff.max())})"
    if labels is not None:
        acc = float((y.reshape(len(labels), -1).argmax(1) == labels).mean() * 100)
        line += f", accuracy {acc:.2f}%"
    print(line)
    return int(diff.max())


def run(path, npy_dir):
    x = np.load(f"{npy_dir}/inputs.npy")
    labels = np.load(f"{npy_dir}/labels.npy")
    ref = np.load(f"{npy_dir}/exactq.npy")
    exq_acc = float((ref.reshape(len(labels), -1).argmax(1) == labels).mean() * 100)
    print(f"{path}: {len(x)} samples; exactq INT8 accuracy {exq_acc:.2f}%")
    report("onnxruntime", run_ort(path, x), ref, labels)
    report("openvino", run_openvino(path, x), ref, labels)


def main(argv):
    if len(argv) >= 2 and argv[0] == "checker":
        check(argv[1:])
    elif len(argv) == 3 and argv[0] == "run":
        run(argv[1], argv[2])
    elif len(argv) in (4, 5) and argv[0] == "random":
        x, ref = np.load(argv[3]), np.load(argv[2])
        print(f"{argv[1]} on {argv[3]} ({len(x)} samples)")
        worst = max(report("onnxruntime", run_ort(argv[1], x), ref, None), report("openvino", run_openvino(argv[1], x), ref, None))
        if len(argv) == 5 and worst > int(argv[4]):
            print(f"FAIL: {argv[1]}: an output differs by {worst}, more than {argv[4]}")
            return 1
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
