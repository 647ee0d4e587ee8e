//! One quantized layer on int8 data through the core: the weight, bias and multiplier
//! derivations the core model builder uses, then the core kernel. This is what both the QAT
//! forward and the trainer-side evaluation run, so it must match the interpreter op for op.

use exactq_core::arith::multiplier::{add_multipliers, conv_per_channel_multipliers, requantize_multiplier};
use exactq_core::arith::quantize::{dequantize_slice, quantize_bias, quantize_slice, quantize_weight_symmetric};
use exactq_core::arith::{activation_range, FloatScales, Profile, QuantizedMultiplier, Requant};
use exactq_core::kernels::{self, Padding, Shape4};
use rayon::prelude::*;

use crate::nn::graph::{Conv2dSpec, Pool2dSpec};
use crate::nn::params::ParamStore;

use super::lsq::Layout;
use super::qmodel::{Fused, QLayer, QOp, QuantModel};
use super::QuantError;

fn core_err(what: impl Into<String>) -> impl FnOnce(exactq_core::Error) -> QuantError {
    let what = what.into();
    move |e| QuantError::Core { what, reason: e.to_string() }
}

/// Symmetric int8 weights for given per-channel scales: `max(quantize(w, s_c, 0), -127)`
/// (core's [`quantize_weight_symmetric`]; -128 is excluded as the TFLite weight spec requires).
/// `layout` says which scale each element uses. Runs at every fine-tuning step; the AVX2 clone
/// vectorises the loop (same bits: the core function has no float → int `as`).
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
pub fn quantize_weights(w: &[f32], scales: &[f32], layout: Layout) -> Vec<i8> {
    let mut q = vec![0i8; w.len()];
    layout.map_with_scales(w, scales, &mut q, quantize_weight_symmetric);
    q
}

/// How a conv's weights (OHWI, or depthwise `[1,kh,kw,oc]`) share the per-output-channel scales.
pub fn conv_layout(spec: &Conv2dSpec) -> Layout {
    if spec.is_depthwise() {
        Layout::Interleaved(spec.out_c)
    } else {
        Layout::Blocks(spec.kh * spec.kw * (spec.in_c / spec.groups.max(1)))
    }
}

/// The integer constants of a weighted layer for the current float parameters and scales.
pub struct LayerConstants {
    pub weights: Vec<i8>,
    pub bias: Option<Vec<i32>>,
    pub weight_scales: Vec<f32>,
}

/// Weights and bias of a conv or linear layer, quantized by the core.
pub fn layer_constants(model: &QuantModel, params: &ParamStore, layer: &QLayer) -> Result<LayerConstants, QuantError> {
    let (node, has_bias, layout) = match &layer.op {
        QOp::Conv { node, spec, .. } => (node, spec.bias, conv_layout(spec)),
        QOp::Linear { node, spec, .. } => (node, spec.bias, Layout::Blocks(spec.in_f)),
        _ => return Err(QuantError::Invalid(format!("layer `{}` has no weights", layer.name))),
    };
    let weight_scales = model.weight_scales(&layer.name)?.to_vec();
    let w = &params.get(&format!("{node}.weight"))?.data;
    let weights = quantize_weights(w, &weight_scales, layout);
    let bias = if has_bias {
        let b = &params.get(&format!("{node}.bias"))?.data;
        let (s_in, _) = model.tensor_quant(layer.inputs[0])?;
        let mut q = vec![0i32; b.len()];
        quantize_bias(b, s_in, &weight_scales, &mut q).map_err(core_err(format!("bias of `{}`", layer.name)))?;
        Some(q)
    } else {
        None
    };
    Ok(LayerConstants { weights, bias, weight_scales })
}

/// A layer's output rescale, owned, in the model's profile, built from the same f32 scales the
/// exported blob stores so it is what the interpreter builds at load (`core::model::ops`):
/// - `tflite-double` / `tflite-single`: the TFLite multipliers the core derives
///   (`conv_per_channel_multipliers`, `requantize_multiplier` for MEAN);
/// - `float-requant`: the core's f32 factors `s_in · s_w[c] / s_out` (conv, depthwise, fully
///   connected) or `s_in · 1 / s_out` (MEAN), applied by the core's float requantization. The
///   TFLite multipliers are derived too (as the model builder stores them in the blob), so a
///   scale the builder would refuse is refused here as well.
pub struct Rescale {
    profile: Profile,
    multipliers: Vec<QuantizedMultiplier>,
    s_in: f32,
    per_channel: Vec<f32>,
    s_out: f32,
}

impl Rescale {
    /// Conv, depthwise or fully connected with per-output-channel weight scales.
    pub fn conv(profile: Profile, s_in: f32, weight_scales: &[f32], s_out: f32) -> Result<Rescale, exactq_core::Error> {
        let mut multipliers = vec![QuantizedMultiplier::ZERO; weight_scales.len()];
        conv_per_channel_multipliers(s_in, weight_scales, s_out, profile, &mut multipliers)?;
        Ok(Rescale { profile, multipliers, s_in, per_channel: weight_scales.to_vec(), s_out })
    }

    /// MEAN over height and width (the kernel folds in the element count).
    pub fn mean(profile: Profile, s_in: f32, s_out: f32) -> Result<Rescale, exactq_core::Error> {
        let m = requantize_multiplier(s_in, s_out, profile)?;
        Ok(Rescale { profile, multipliers: vec![m], s_in, per_channel: vec![1.0], s_out })
    }

    /// The core's view of it.
    pub fn requant(&self) -> Requant<'_> {
        if self.profile.is_float() {
            Requant::float(FloatScales { numerator: self.s_in, per_channel: &self.per_channel, denominator: self.s_out })
        } else {
            Requant::per_channel(self.profile, &self.multipliers)
        }
    }
}

fn shape4(batch: usize, s: &[usize]) -> Shape4 {
    Shape4::new(batch, s[0], s[1], s[2])
}

fn padding(p: crate::nn::graph::Padding) -> Padding {
    Padding::new(p.top, p.left, p.bottom, p.right)
}

fn pool_output(p: &Pool2dSpec, shape: &[usize]) -> [usize; 2] {
    let o = |i: usize, k: usize, s: usize, a: usize, b: usize| (i + a + b - k) / s + 1;
    [o(shape[0], p.kh, p.stride_h, p.padding.top, p.padding.bottom), o(shape[1], p.kw, p.stride_w, p.padding.left, p.padding.right)]
}

/// Runs `layer` on a batch of int8 inputs (one slice per input tensor) and returns its int8
/// output. `constants` must come from [`layer_constants`] for weighted layers.
pub fn run_layer(
    model: &QuantModel,
    layer: &QLayer,
    batch: usize,
    inputs: &[&[i8]],
    constants: Option<&LayerConstants>,
) -> Result<Vec<i8>, QuantError> {
    let profile = model.profile.core();
    let in_t = &model.tensors[layer.inputs[0]];
    let out_t = &model.tensors[layer.output];
    let (s_in, zp_in) = model.tensor_quant(layer.inputs[0])?;
    let (s_out, zp_out) = model.tensor_quant(layer.output)?;
    let out_len = batch * out_t.shape.iter().product::<usize>();
    let mut out = vec![0i8; out_len];
    let err = core_err(format!("layer `{}`", layer.name));
    let act = |f: Fused| activation_range(f.core(), s_out, zp_out);
    let need = || constants.ok_or_else(|| QuantError::Invalid(format!("layer `{}` needs its constants", layer.name)));
    match &layer.op {
        QOp::Conv { spec, act: f, .. } => {
            let c = need()?;
            let rescale = Rescale::conv(profile, s_in, &c.weight_scales, s_out).map_err(core_err(format!("multipliers of `{}`", layer.name)))?;
            let requant = rescale.requant();
            let activation = act(*f).map_err(core_err(format!("activation of `{}`", layer.name)))?;
            if spec.is_depthwise() {
                let params = |n| kernels::DepthwiseConv2dParams {
                    input: shape4(n, &in_t.shape),
                    filter: Shape4::new(1, spec.kh, spec.kw, spec.out_c),
                    output: shape4(n, &out_t.shape),
                    depth_multiplier: spec.out_c / spec.in_c,
                    stride_h: spec.stride_h,
                    stride_w: spec.stride_w,
                    dilation_h: spec.dilation_h,
                    dilation_w: spec.dilation_w,
                    padding: padding(spec.padding),
                    input_zero_point: zp_in,
                    output_zero_point: zp_out,
                    activation,
                };
                by_sample_groups(batch, inputs[0], &mut out, |n, x, y| {
                    let p = params(n);
                    let mut scratch = vec![0i32; p.scratch_len()];
                    kernels::depthwise_conv2d(&p, &requant, x, &c.weights, c.bias.as_deref(), y, &mut scratch)
                })
                .map_err(err)?;
            } else {
                let params = |n| kernels::Conv2dParams {
                    input: shape4(n, &in_t.shape),
                    filter: Shape4::new(spec.out_c, spec.kh, spec.kw, spec.in_c / spec.groups.max(1)),
                    output: shape4(n, &out_t.shape),
                    stride_h: spec.stride_h,
                    stride_w: spec.stride_w,
                    dilation_h: spec.dilation_h,
                    dilation_w: spec.dilation_w,
                    padding: padding(spec.padding),
                    input_zero_point: zp_in,
                    output_zero_point: zp_out,
                    activation,
                };
                by_sample_groups(batch, inputs[0], &mut out, |n, x, y| {
                    let p = params(n);
                    let mut scratch = vec![0i16; p.scratch_len()];
                    kernels::conv2d(&p, &requant, x, &c.weights, c.bias.as_deref(), y, &mut scratch)
                })
                .map_err(err)?;
            }
        }
        QOp::Linear { spec, act: f, .. } => {
            let c = need()?;
            let rescale = Rescale::conv(profile, s_in, &c.weight_scales, s_out).map_err(core_err(format!("multipliers of `{}`", layer.name)))?;
            let requant = rescale.requant();
            let activation = act(*f).map_err(core_err(format!("activation of `{}`", layer.name)))?;
            let params = |n| kernels::FullyConnectedParams {
                batches: n,
                input_depth: spec.in_f,
                output_depth: spec.out_f,
                input_zero_point: zp_in,
                weights_zero_point: 0,
                output_zero_point: zp_out,
                activation,
            };
            by_sample_groups(batch, inputs[0], &mut out, |n, x, y| {
                let p = params(n);
                let mut scratch = vec![0i16; p.scratch_len()];
                kernels::fully_connected(&p, &requant, x, &c.weights, c.bias.as_deref(), y, &mut scratch)
            })
            .map_err(err)?;
        }
        QOp::Add { act: f } => {
            let (s2, zp2) = model.tensor_quant(layer.inputs[1])?;
            let p = kernels::AddParams {
                len: out_len,
                input1_zero_point: zp_in,
                input2_zero_point: zp2,
                output_zero_point: zp_out,
                multipliers: add_multipliers(s_in, s2, s_out, profile).map_err(core_err(format!("multipliers of `{}`", layer.name)))?,
                profile,
                activation: act(*f).map_err(core_err(format!("activation of `{}`", layer.name)))?,
            };
            let scales = kernels::AddScales { input1: s_in, input2: s2, output: s_out };
            if inputs[0].len() != out_len || inputs[1].len() != out_len {
                return Err(QuantError::Invalid(format!("layer `{}`: inputs of {} and {} values for an output of {out_len}", layer.name, inputs[0].len(), inputs[1].len())));
            }
            by_element_chunks(&mut out, |at, y| {
                let (a, b) = (&inputs[0][at..at + y.len()], &inputs[1][at..at + y.len()]);
                let p = kernels::AddParams { len: y.len(), ..p };
                if profile.is_float() {
                    // ONNX Runtime's QLinearAdd, as the device interpreter runs it (core `add_float`).
                    kernels::add_float(&p, &scales, a, b, y)
                } else {
                    kernels::add(&p, a, b, y)
                }
            })
            .map_err(err)?;
        }
        QOp::MaxPool(spec) | QOp::AvgPool(spec) => {
            let [oh, ow] = pool_output(spec, &in_t.shape);
            // Pools keep the input quantization; no fused clamp beyond int8.
            let activation = activation_range(Fused::None.core(), s_in, zp_in).map_err(core_err(format!("activation of `{}`", layer.name)))?;
            let (input, output) = (shape4(batch, &in_t.shape), Shape4::new(batch, oh, ow, in_t.shape[2]));
            if matches!(layer.op, QOp::MaxPool(_)) {
                let p = kernels::MaxPool2dParams {
                    input,
                    output,
                    filter_h: spec.kh,
                    filter_w: spec.kw,
                    stride_h: spec.stride_h,
                    stride_w: spec.stride_w,
                    padding: padding(spec.padding),
                    activation,
                };
                kernels::max_pool2d(&p, inputs[0], &mut out).map_err(err)?;
            } else {
                let p = kernels::AvgPool2dParams {
                    input,
                    output,
                    filter_h: spec.kh,
                    filter_w: spec.kw,
                    stride_h: spec.stride_h,
                    stride_w: spec.stride_w,
                    padding: padding(spec.padding),
                    activation,
                };
                kernels::avg_pool2d(&p, inputs[0], &mut out).map_err(err)?;
            }
        }
        QOp::Mean => {
            let rescale = Rescale::mean(profile, s_in, s_out).map_err(core_err(format!("multiplier of `{}`", layer.name)))?;
            let p = kernels::MeanParams { input: shape4(batch, &in_t.shape), input_zero_point: zp_in, output_zero_point: zp_out };
            let mut scratch = vec![0i32; p.scratch_len()];
            kernels::mean_hw(&p, &rescale.requant(), inputs[0], &mut out, &mut scratch).map_err(err)?;
        }
        QOp::Reshape => out.copy_from_slice(inputs[0]),
    }
    Ok(out)
}

/// Runs a per-sample kernel over `batch` samples as a few calls on groups of whole samples, in
/// parallel (rayon's pool). Samples are independent in these kernels, so the bytes are those
/// of one call over the whole batch; the core's kernels themselves stay single-threaded.
/// Each group gets at least `MIN_WORK_PER_TASK` (input × output elements per sample, the
/// multiply-accumulates of a dense layer and more than a conv's), so tiny layers stay one call.
fn by_sample_groups(
    batch: usize,
    input: &[i8],
    out: &mut [i8],
    kernel: impl Fn(usize, &[i8], &mut [i8]) -> Result<(), exactq_core::Error> + Sync,
) -> Result<(), exactq_core::Error> {
    // Smaller tasks cost about as much to hand to another thread as to run (ecg-ae's dense
    // layers, ~0.3 M per batch of 32, stay on the calling thread).
    const MIN_WORK_PER_TASK: usize = 1 << 20;
    let (in_len, out_len) = (input.len() / batch.max(1), out.len() / batch.max(1));
    let work = (in_len * out_len).max(1);
    let groups = rayon::current_num_threads().min(batch).min((batch * work).div_ceil(MIN_WORK_PER_TASK)).max(1);
    if groups == 1 || in_len == 0 || out_len == 0 {
        return kernel(batch, input, out);
    }
    let per = batch.div_ceil(groups);
    out.par_chunks_mut(per * out_len)
        .zip(input.par_chunks(per * in_len))
        .try_for_each(|(y, x)| kernel(y.len() / out_len, x, y))
}

/// Runs an elementwise kernel over `out` as calls on fixed chunks, in parallel when there are
/// several (rayon's pool); `kernel(at, chunk)` writes `out[at..at + chunk.len()]`. Each element
/// depends only on the inputs at its own index, so the bytes are those of one call.
fn by_element_chunks<T: Send>(out: &mut [T], kernel: impl Fn(usize, &mut [T]) -> Result<(), exactq_core::Error> + Sync) -> Result<(), exactq_core::Error> {
    // Below two chunks (ecg-ae's and digits' tensors) a hand-off costs more than it saves.
    const CHUNK: usize = 1 << 15;
    if out.len() < 2 * CHUNK || rayon::current_num_threads() == 1 {
        return kernel(0, out);
    }
    out.par_chunks_mut(CHUNK).enumerate().try_for_each(|(i, y)| kernel(i * CHUNK, y))
}

/// Quantizes network input data with the input tensor's parameters (core QUANTIZE).
pub fn quantize_input(model: &QuantModel, x: &[f32]) -> Result<Vec<i8>, QuantError> {
    let (s, zp) = model.tensor_quant(0)?;
    let mut q = vec![0i8; x.len()];
    by_element_chunks(&mut q, |at, q| quantize_slice(&x[at..at + q.len()], s, zp, q)).map_err(core_err("input quantization"))?;
    Ok(q)
}

/// Dequantizes tensor `t`'s int8 values (core DEQUANTIZE). An int8 tensor has 256 possible
/// values: the core dequantizes each once, into a table, and the tensor is looked up in it
/// (the same floats, without an f64 product per value).
pub fn dequantize(model: &QuantModel, t: usize, q: &[i8]) -> Result<Vec<f32>, QuantError> {
    let (s, zp) = model.tensor_quant(t)?;
    let levels: [i8; 256] = std::array::from_fn(|i| (i as i32 - 128) as i8);
    let mut table = [0.0f32; 256];
    dequantize_slice(&levels, s, zp, &mut table).map_err(core_err(format!("dequantizing `{}`", model.tensors[t].name)))?;
    let mut y = vec![0.0f32; q.len()];
    by_element_chunks(&mut y, |at, y| {
        for (y, &v) in y.iter_mut().zip(&q[at..]) {
            *y = table[(i32::from(v) + 128) as usize];
        }
        Ok(())
    })
    .map_err(core_err("dequantizing"))?;
    Ok(y)
}
