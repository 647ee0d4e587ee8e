#!/usr/bin/env python3
"""Builds full-INT8 .tflite fixtures and records what TensorFlow Lite Micro computes for them.

Every fixture is a small model converted with the TFLite converter (full integer quantization,
int8 activations, per-channel int8 weights unless a fixture asks for per-tensor), run on seeded
random int8 inputs in TFLite Micro's Python interpreter (reference kernels). The Rust test
`trainer/tests/tflite_parity.rs` imports each model, runs it on the core interpreter and
compares the int8 outputs byte for byte.

Output (default `trainer/tests/fixtures/tflite/`):
  <name>.tflite        the converted model
  <name>.in.bin        int8 input samples, concatenated (the int8 tensor the first integer op reads)
  <name>.out.bin       TFLM's int8 outputs for them, concatenated (the int8 tensor before any
                       edge DEQUANTIZE)
  manifest.json        one entry per fixture: files, shapes, sample count, ops, TFLM arena

Models whose edges are float (QUANTIZE at the input, DEQUANTIZE at the output) are run with
float inputs that quantize exactly to the stored int8 samples; the int8 tensors on both sides of
the edge ops are read back from TFLM itself (kPreserveAllTensors) so the fixture never relies on
a re-implementation of QUANTIZE/DEQUANTIZE in this script.

Usage (see README.md next to this file):
  python generate.py [--out DIR] [--seed N] [--only NAME_PREFIX]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tflite_micro.python.tflite_micro import runtime as tflm  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "trainer" / "tests" / "fixtures" / "tflite"
SAMPLES_PER_FIXTURE = 4
REPRESENTATIVE_BATCHES = 32
ACTIVATIONS = ("none", "relu", "relu6")


@dataclass
class Fixture:
    """A float model (a tf.function of one input) and how to convert it."""

    name: str
    input_shape: list[int]
    fn: Callable
    description: str
    float_edges: bool = False
    per_tensor_dense: bool = False
    input_range: tuple[float, float] = (-1.0, 1.0)
    samples: int = SAMPLES_PER_FIXTURE
    record_arena: bool = False
    notes: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Small float building blocks (weights are seeded constants that the converter quantizes).


def activation(x, kind: str):
    if kind == "relu":
        return tf.nn.relu(x)
    if kind == "relu6":
        return tf.nn.relu6(x)
    return x


def conv_weights(rng, kh, kw, cin, cout):
    scale = 1.0 / np.sqrt(kh * kw * cin)
    w = rng.normal(0.0, scale, (kh, kw, cin, cout)).astype(np.float32)
    b = rng.normal(0.0, 0.1, (cout,)).astype(np.float32)
    return tf.constant(w), tf.constant(b)


def depthwise_weights(rng, kh, kw, cin, mult):
    scale = 1.0 / np.sqrt(kh * kw)
    w = rng.normal(0.0, scale, (kh, kw, cin, mult)).astype(np.float32)
    b = rng.normal(0.0, 0.1, (cin * mult,)).astype(np.float32)
    return tf.constant(w), tf.constant(b)


def dense_weights(rng, n_in, n_out):
    w = rng.normal(0.0, 1.0 / np.sqrt(n_in), (n_in, n_out)).astype(np.float32)
    b = rng.normal(0.0, 0.1, (n_out,)).astype(np.float32)
    return tf.constant(w), tf.constant(b)


def conv(x, w, b, strides, padding, act="none", dilations=1):
    return activation(tf.nn.conv2d(x, w, strides, padding, dilations=dilations) + b, act)


# --------------------------------------------------------------------------------------------
# Fixture families. Each takes a seeded RNG and an index and returns one Fixture.


def fx_conv(rng, i):
    h, w_ = int(rng.integers(5, 13)), int(rng.integers(5, 13))
    cin, cout = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    kh, kw = int(rng.choice([1, 2, 3, 5])), int(rng.choice([1, 3, 5]))
    sh, sw = int(rng.choice([1, 2, 3])), int(rng.choice([1, 2]))
    padding = str(rng.choice(["SAME", "VALID"]))
    act = ACTIVATIONS[i % 3]
    dil = 2 if i == 3 else 1
    if dil > 1:
        sh = sw = 1  # TensorFlow's conv2d does not accept dilation together with strides
    kh, kw = min(kh, h), min(kw, w_)
    wt, b = conv_weights(rng, kh, kw, cin, cout)

    def fn(x):
        return conv(x, wt, b, [sh, sw], padding, act, dilations=dil)

    return Fixture(
        f"conv2d_{i}", [1, h, w_, cin], fn,
        f"CONV_2D {kh}x{kw}, stride {sh}x{sw}, dilation {dil}, {padding}, {cin}->{cout}, fused {act}",
    )


def fx_depthwise(rng, i):
    h, w_ = int(rng.integers(5, 13)), int(rng.integers(5, 13))
    cin, mult = int(rng.integers(1, 9)), int(rng.choice([1, 1, 2, 3]))
    k = int(rng.choice([1, 3, 5]))
    s = int(rng.choice([1, 2]))
    padding = str(rng.choice(["SAME", "VALID"]))
    act = ACTIVATIONS[(i + 1) % 3]
    k = min(k, h, w_)
    wt, b = depthwise_weights(rng, k, k, cin, mult)

    def fn(x):
        y = tf.nn.depthwise_conv2d(x, wt, [1, s, s, 1], padding) + b
        return activation(y, act)

    return Fixture(
        f"depthwise_conv2d_{i}", [1, h, w_, cin], fn,
        f"DEPTHWISE_CONV_2D {k}x{k}, stride {s}, {padding}, {cin}x{mult}, fused {act}",
    )


def fx_fully_connected(rng, i):
    n_in, n_out = int(rng.integers(4, 65)), int(rng.integers(2, 17))
    act = ACTIVATIONS[i % 3]
    per_tensor = i % 2 == 1
    wt, b = dense_weights(rng, n_in, n_out)

    def fn(x):
        return activation(tf.matmul(x, wt) + b, act)

    return Fixture(
        f"fully_connected_{i}", [1, n_in], fn,
        f"FULLY_CONNECTED {n_in}->{n_out}, {'per-tensor' if per_tensor else 'per-channel'} weights, fused {act}",
        per_tensor_dense=per_tensor,
    )


def two_branches(rng, shape):
    """Two 1x1 convolutions of the same input: two int8 tensors of one shape with their own scales."""
    cin = shape[-1]
    cout = int(rng.integers(1, 9))
    wa, ba = conv_weights(rng, 1, 1, cin, cout)
    wb, bb = conv_weights(rng, 1, 1, cin, cout)
    return (wa, ba), (wb, bb)


def fx_add(rng, i):
    h, w_, c = int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 9))
    (wa, ba), (wb, bb) = two_branches(rng, [1, h, w_, c])
    act = ACTIVATIONS[i % 3]
    gain = float(rng.uniform(0.2, 3.0))  # unequal branch scales exercise both ADD input rescales

    def fn(x):
        a = conv(x, wa, ba, 1, "VALID")
        b = conv(x, wb * gain, bb, 1, "VALID")
        return activation(a + b, act)

    return Fixture(f"add_{i}", [1, h, w_, c], fn, f"CONV_2D x2 then ADD, fused {act}")


def fx_mul(rng, i):
    h, w_, c = int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 9))
    (wa, ba), (wb, bb) = two_branches(rng, [1, h, w_, c])
    act = ACTIVATIONS[(i + 2) % 3]

    def fn(x):
        a = conv(x, wa, ba, 1, "VALID")
        b = conv(x, wb, bb, 1, "VALID")
        return activation(a * b, act)

    return Fixture(f"mul_{i}", [1, h, w_, c], fn, f"CONV_2D x2 then MUL, fused {act}")


def fx_pool(rng, i, kind):
    h, w_, c = int(rng.integers(4, 14)), int(rng.integers(4, 14)), int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    padding = str(rng.choice(["SAME", "VALID"]))
    kh, kw = min(kh, h), min(kw, w_)
    pool = tf.nn.avg_pool2d if kind == "avg" else tf.nn.max_pool2d
    op = "AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D"

    def fn(x):
        return pool(x, [kh, kw], [sh, sw], padding)

    return Fixture(
        f"{kind}_pool2d_{i}", [1, h, w_, c], fn,
        f"{op} {kh}x{kw}, stride {sh}x{sw}, {padding}",
    )


def fx_mean(rng, i):
    h, w_, c = int(rng.integers(2, 10)), int(rng.integers(2, 10)), int(rng.integers(1, 17))
    keepdims = i % 2 == 0
    # A conv in front gives MEAN an input scale different from its output scale.
    wt, b = conv_weights(rng, 1, 1, c, c)

    def fn(x):
        y = conv(x, wt, b, 1, "VALID")
        return tf.reduce_mean(y, axis=[1, 2], keepdims=keepdims)

    return Fixture(
        f"mean_{i}", [1, h, w_, c], fn, f"CONV_2D then MEAN over H,W (keepdims={keepdims})",
    )


def fx_softmax(rng, i):
    n = int(rng.integers(2, 33))
    lo, hi = [(-1.0, 1.0), (-8.0, 8.0), (-30.0, 5.0)][i % 3]

    def fn(x):
        return tf.nn.softmax(x)

    return Fixture(f"softmax_{i}", [1, n], fn, f"SOFTMAX over {n} classes", input_range=(lo, hi))


def fx_reshape_fc_softmax(rng, i):
    h, w_, c = int(rng.integers(2, 7)), int(rng.integers(2, 7)), int(rng.integers(1, 5))
    n_out = int(rng.integers(2, 11))
    wc, bc = conv_weights(rng, 3, 3, c, 4)
    wd, bd = dense_weights(rng, h * w_ * 4, n_out)

    def fn(x):
        y = conv(x, wc, bc, 1, "SAME", "relu")
        y = tf.reshape(y, [1, -1])
        return tf.nn.softmax(tf.matmul(y, wd) + bd)

    return Fixture(
        f"reshape_fc_softmax_{i}", [1, h, w_, c], fn,
        "CONV_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX",
        per_tensor_dense=i % 2 == 0,
    )


def fx_relu(rng, i, kind):
    h, w_, c = int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 9))
    lo, hi = [(-1.0, 1.0), (-4.0, 9.0)][i % 2]
    wt, b = conv_weights(rng, 1, 1, c, c)
    fn_act = tf.nn.relu if kind == "relu" else tf.nn.relu6

    def fn(x):
        # Nothing in front to fuse into: the activation stays a standalone op.
        return conv(fn_act(x), wt, b, 1, "VALID")

    op = "RELU" if kind == "relu" else "RELU6"
    return Fixture(f"{kind}_{i}", [1, h, w_, c], fn, f"standalone {op} then CONV_2D", input_range=(lo, hi))


def fx_pad(rng, i):
    h, w_, c = int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 9))
    pads = [[0, 0]] + [[int(rng.integers(0, 3)), int(rng.integers(0, 3))] for _ in range(2)] + [[0, 0]]
    wt, b = conv_weights(rng, 3, 3, c, int(rng.integers(1, 6)))

    def fn(x):
        return conv(tf.pad(x, pads), wt, b, 1, "VALID", "relu")

    return Fixture(f"pad_{i}", [1, h, w_, c], fn, f"PAD {pads[1:3]} then CONV_2D VALID")


def fx_float_edges(rng, i):
    h, w_, c = int(rng.integers(3, 9)), int(rng.integers(3, 9)), int(rng.integers(1, 5))
    wt, b = conv_weights(rng, 3, 3, c, 6)
    wd, bd = dense_weights(rng, 6, 5)

    def fn(x):
        y = conv(x, wt, b, [2, 2], "SAME", "relu6")
        y = tf.reduce_mean(y, axis=[1, 2])
        return tf.nn.softmax(tf.matmul(y, wd) + bd)

    return Fixture(
        f"float_edges_{i}", [1, h, w_, c], fn,
        "QUANTIZE, CONV_2D, MEAN, FULLY_CONNECTED, SOFTMAX, DEQUANTIZE (float model edges)",
        float_edges=True,
    )


def fx_dw_separable(rng, i):
    h, w_, c = int(rng.integers(6, 12)), int(rng.integers(6, 12)), int(rng.integers(2, 6))
    wd, bd = depthwise_weights(rng, 3, 3, c, 1)
    wp, bp = conv_weights(rng, 1, 1, c, 8)
    wf, bf = dense_weights(rng, 8, 4)

    def fn(x):
        y = activation(tf.nn.depthwise_conv2d(x, wd, [1, 2, 2, 1], "SAME") + bd, "relu6")
        y = conv(y, wp, bp, 1, "VALID", "relu6")
        y = tf.nn.max_pool2d(y, 2, 2, "SAME")
        y = tf.nn.avg_pool2d(y, [y.shape[1], y.shape[2]], 1, "VALID")
        y = tf.reshape(y, [1, 8])
        return tf.matmul(y, wf) + bf

    return Fixture(
        f"separable_net_{i}", [1, h, w_, c], fn,
        "DEPTHWISE_CONV_2D, CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED",
    )


def fx_resnet8(rng):
    """ResNet-8 in the MLPerf Tiny style, for 28x28x1 inputs: 16/32/64 filters, residual adds."""
    stem_w, stem_b = conv_weights(rng, 3, 3, 1, 16)
    blocks = []
    cin = 16
    for cout, stride in [(16, 1), (32, 2), (64, 2)]:
        c1 = conv_weights(rng, 3, 3, cin, cout)
        c2 = conv_weights(rng, 3, 3, cout, cout)
        shortcut = conv_weights(rng, 1, 1, cin, cout) if (stride != 1 or cin != cout) else None
        blocks.append((c1, c2, shortcut, stride))
        cin = cout
    wd, bd = dense_weights(rng, 64, 10)

    def fn(x):
        y = conv(x, stem_w, stem_b, 1, "SAME", "relu")
        for (w1, b1), (w2, b2), shortcut, stride in blocks:
            z = conv(y, w1, b1, stride, "SAME", "relu")
            z = conv(z, w2, b2, 1, "SAME")
            skip = y if shortcut is None else conv(y, shortcut[0], shortcut[1], stride, "VALID")
            y = tf.nn.relu(z + skip)
        y = tf.nn.avg_pool2d(y, [7, 7], 7, "VALID")
        y = tf.reshape(y, [1, 64])
        return tf.nn.softmax(tf.matmul(y, wd) + bd)

    return Fixture(
        "resnet8", [1, 28, 28, 1], fn,
        "ResNet-8 (MLPerf Tiny style) for 28x28x1: 16/32/64 filters, residual ADDs, AVERAGE_POOL_2D, FC, SOFTMAX",
        input_range=(0.0, 1.0), samples=3, record_arena=True,
    )


def all_fixtures(seed: int) -> list[Fixture]:
    fixtures = []

    def family(make, count, *args):
        for i in range(count):
            rng = np.random.default_rng([seed, len(fixtures)])
            fixtures.append(make(rng, i, *args))

    family(fx_conv, 5)
    family(fx_depthwise, 4)
    family(fx_fully_connected, 4)
    family(fx_add, 3)
    family(fx_mul, 3)
    family(fx_pool, 3, "avg")
    family(fx_pool, 3, "max")
    family(fx_mean, 2)
    family(fx_softmax, 3)
    family(fx_reshape_fc_softmax, 2)
    family(fx_relu, 2, "relu")
    family(fx_relu, 2, "relu6")
    family(fx_pad, 2)
    family(fx_float_edges, 2)
    family(fx_dw_separable, 1)
    fixtures.append(fx_resnet8(np.random.default_rng([seed, len(fixtures)])))
    return fixtures


# --------------------------------------------------------------------------------------------
# Models the importer must refuse, each with the words its error must contain. They come from
# the real converter so the refusals are tested on what users actually have.


@dataclass
class Rejected:
    name: str
    input_shape: list
    fn: Callable
    expect: str
    description: str
    mode: str = "int8"  # "int8", "float" (no quantization) or "int16x8"


def rejected_models(seed: int) -> list[Rejected]:
    rng = np.random.default_rng([seed, 999])
    wd, bd = dense_weights(rng, 8, 4)
    wc, bc = conv_weights(rng, 3, 3, 2, 3)
    return [
        Rejected("dynamic_batch", [None, 8], lambda x: tf.matmul(x, wd) + bd, "dynamic shape",
                 "FULLY_CONNECTED with a dynamic batch dimension"),
        Rejected("float_model", [1, 6, 6, 2], lambda x: conv(x, wc, bc, 1, "SAME", "relu"), "full-integer",
                 "CONV_2D left in float32 (converted without quantization)", mode="float"),
        Rejected("int16_activations", [1, 6, 6, 2], lambda x: conv(x, wc, bc, 1, "SAME", "relu"), "int16",
                 "CONV_2D with 16x8 quantization (int16 activations)", mode="int16x8"),
        Rejected("unsupported_tanh", [1, 8], lambda x: tf.math.tanh(tf.matmul(x, wd) + bd), "TANH",
                 "FULLY_CONNECTED then TANH (no core kernel)"),
    ]


def convert_rejected(r: Rejected, rng) -> bytes:
    fn = tf.function(r.fn, input_signature=[tf.TensorSpec(r.input_shape, tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    if r.mode != "float":
        shape = [d or 1 for d in r.input_shape]

        def representative():
            for _ in range(REPRESENTATIVE_BATCHES):
                yield [rng.uniform(-1, 1, shape).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        if r.mode == "int16x8":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
            converter.inference_input_type = tf.int16
            converter.inference_output_type = tf.int16
        else:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter.convert()


# --------------------------------------------------------------------------------------------
# Conversion and TFLM execution.


def convert(fx: Fixture, rng) -> bytes:
    fn = tf.function(fx.fn, input_signature=[tf.TensorSpec(fx.input_shape, tf.float32)])
    lo, hi = fx.input_range

    def representative():
        for _ in range(REPRESENTATIVE_BATCHES):
            yield [rng.uniform(lo, hi, fx.input_shape).astype(np.float32)]

    concrete = fn.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not fx.float_edges:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if fx.per_tensor_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return converter.convert()


def graph_summary(model: bytes):
    """Op names in execution order, plus the edge tensors of the int8 part of the graph."""
    interp = tf.lite.Interpreter(model_content=model)
    ops = interp._get_ops_details()
    names = [op["op_name"] for op in ops]
    graph_in = interp.get_input_details()[0]["index"]
    graph_out = interp.get_output_details()[0]["index"]
    int8_in, int8_out = graph_in, graph_out
    if names and names[0] == "QUANTIZE" and int(ops[0]["inputs"][0]) == graph_in:
        int8_in = int(ops[0]["outputs"][0])
    if names and names[-1] == "DEQUANTIZE" and int(ops[-1]["outputs"][0]) == graph_out:
        int8_out = int(ops[-1]["inputs"][0])
    details = {t["index"]: t for t in interp.get_tensor_details()}
    return names, details, int8_in, int8_out


def tflm_arena_used_bytes(interp) -> dict:
    """TFLM's RecordingMicroAllocator prints its totals on stderr; capture them at the fd level.

    `total` is `MicroInterpreter::arena_used_bytes()`; `head` is the non-persistent part (the
    planned activations and kernel scratch buffers), `tail` the persistent part (interpreter
    structures, eval tensors, quantization and op data)."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    figures = {}
    for line in text.splitlines():
        for part in ("total", "head", "tail"):
            if f"Arena allocation {part}" in line:
                figures[part] = int(line.split(part)[1].split()[0])
    if set(figures) != {"total", "head", "tail"}:
        raise RuntimeError(f"TFLM did not report its arena usage:\n{text}")
    return figures


def run_tflm(fx: Fixture, model: bytes, rng):
    names, details, int8_in, int8_out = graph_summary(model)
    in_detail, out_detail = details[int8_in], details[int8_out]
    if in_detail["dtype"] != np.int8 or out_detail["dtype"] != np.int8:
        raise RuntimeError(f"{fx.name}: edge tensors are not int8 ({in_detail['dtype']}, {out_detail['dtype']})")
    in_scale = float(in_detail["quantization_parameters"]["scales"][0])
    in_zp = int(in_detail["quantization_parameters"]["zero_points"][0])

    config = tflm.InterpreterConfig.kPreserveAllTensors if fx.float_edges else tflm.InterpreterConfig.kAllocationRecording
    interp = tflm.Interpreter.from_bytes(model, arena_size=512 * 1024, intrepreter_config=config)
    inputs, outputs = [], []
    for _ in range(fx.samples):
        q = rng.integers(-128, 128, fx.input_shape, dtype=np.int64).astype(np.int8)
        if fx.float_edges:
            # A float that TFLM's QUANTIZE maps back onto q; checked below against TFLM's tensor.
            x = (in_scale * (q.astype(np.float64) - in_zp)).astype(np.float32)
            interp.set_input(x, 0)
        else:
            interp.set_input(q, 0)
        interp.invoke()
        if fx.float_edges:
            seen_in = np.asarray(interp.GetTensor(int8_in, 0)["tensor_data"]).reshape(q.shape)
            if not np.array_equal(seen_in, q):
                raise RuntimeError(f"{fx.name}: TFLM's QUANTIZE did not reproduce the int8 sample")
            y = np.asarray(interp.GetTensor(int8_out, 0)["tensor_data"]).astype(np.int8)
        else:
            y = np.asarray(interp.get_output(0))
        if y.dtype != np.int8:
            raise RuntimeError(f"{fx.name}: TFLM output is {y.dtype}, expected int8")
        inputs.append(q.reshape(-1))
        outputs.append(y.reshape(-1).copy())
        interp.reset()
    arena = None
    if fx.record_arena:
        # A fresh interpreter with allocation recording: one invoke, then the recorded totals.
        rec = tflm.Interpreter.from_bytes(model, arena_size=512 * 1024)
        rec.set_input(inputs[0].reshape(fx.input_shape), 0)
        rec.invoke()
        arena = tflm_arena_used_bytes(rec)
    return names, in_detail, out_detail, np.concatenate(inputs), np.concatenate(outputs), arena


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--only", default="", help="generate only fixtures whose name starts with this")
    args = parser.parse_args()

    tf.random.set_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    entries = {}
    if args.only and manifest_path.exists():
        entries = {e["name"]: e for e in json.loads(manifest_path.read_text())["fixtures"]}

    for index, fx in enumerate(all_fixtures(args.seed)):
        if not fx.name.startswith(args.only):
            continue
        rng = np.random.default_rng([args.seed, 1_000_000 + index])
        model = convert(fx, rng)
        names, in_detail, out_detail, inputs, outputs, arena = run_tflm(fx, model, rng)
        (args.out / f"{fx.name}.tflite").write_bytes(model)
        (args.out / f"{fx.name}.in.bin").write_bytes(inputs.tobytes())
        (args.out / f"{fx.name}.out.bin").write_bytes(outputs.tobytes())
        entry = {
            "name": fx.name,
            "description": fx.description,
            "model": f"{fx.name}.tflite",
            "input": f"{fx.name}.in.bin",
            "expected_output": f"{fx.name}.out.bin",
            "samples": fx.samples,
            "input_shape": [int(d) for d in in_detail["shape"]],
            "output_shape": [int(d) for d in out_detail["shape"]],
            "ops": names,
            "float_edges": fx.float_edges,
        }
        if arena is not None:
            entry["tflm_arena_used_bytes"] = arena["total"]
            entry["tflm_arena_head_bytes"] = arena["head"]
            entry["tflm_arena_tail_bytes"] = arena["tail"]
        entries[fx.name] = entry
        print(f"{fx.name:24s} {len(model):7d} B  {' '.join(names)}" + (f"  arena {arena} B" if arena else ""))

    rejected = []
    for r in rejected_models(args.seed):
        model = convert_rejected(r, np.random.default_rng([args.seed, 2_000_000 + len(rejected)]))
        (args.out / f"{r.name}.tflite").write_bytes(model)
        names, _, _, _ = graph_summary(model)
        rejected.append({"name": r.name, "model": f"{r.name}.tflite", "description": r.description,
                         "ops": names, "error_contains": r.expect})
        print(f"{r.name:24s} {len(model):7d} B  {' '.join(names)}  (must be refused: {r.expect})")

    manifest = {
        "format": "exactq-tflite-fixtures/1",
        "generator": "tools/tflite-fixtures/generate.py",
        "seed": args.seed,
        "tensorflow": tf.__version__,
        "tflite_micro": _tflm_version(),
        "fixtures": sorted(entries.values(), key=lambda e: e["name"]),
        "rejected": rejected,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


def _tflm_version() -> str:
    try:
        from importlib.metadata import version

        return version("tflite-micro")
    except Exception:  # pragma: no cover - metadata missing only in odd installs
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
