//! The exact quantized forward used for fine-tuning, plugged into the float graph as a
//! [`NodeForward`] hook.
//!
//! Every layer's value is the dequantized int8 tensor the core computes (see [`super::kernels`]),
//! so the loss sees exactly what the device will output. When the pass records gradients, the
//! layer also builds its float surrogate on the tape, `v = layer(x̂, ŵ, b)` with
//! `ŵ = s_w · q(w / s_w)`, and replaces the surrogate's value by the exact output through a
//! quantizer op whose backward is STE + LSQ ([`super::lsq`]): gradients reach the weights,
//! biases, weight scales and activation scales, while the value stays bit-exact.

use std::collections::BTreeMap;
use std::sync::Arc;

use exactq_core::arith::quantize::dequantize_i8;

use crate::nn::graph::{Node, Op};
use crate::nn::params::ParamStore;
use crate::nn::tape::{Gradients, Var};
use crate::nn::{ops, ForwardCtx, NnError, NodeForward};

use super::kernels::{conv_layout, dequantize, layer_constants, quantize_input, run_layer};
use super::lsq::{self, Bounds, Layout};
use super::qmodel::{QOp, QuantModel};
use super::QuantError;

fn nn(e: QuantError) -> NnError {
    NnError::Unsupported(e.to_string())
}

/// The hook. One instance serves one forward pass.
pub struct ExactForward<'m> {
    pub model: &'m QuantModel,
    /// int8 values of each tensor for the current batch.
    int8: Vec<Option<Vec<i8>>>,
    /// The value standing for each learned scale in this pass.
    scale_vars: BTreeMap<String, Var>,
}

impl<'m> ExactForward<'m> {
    pub fn new(model: &'m QuantModel) -> Self {
        ExactForward { model, int8: vec![None; model.tensors.len()], scale_vars: BTreeMap::new() }
    }

    /// int8 values of tensor `t` from the last pass.
    pub fn tensor_int8(&self, t: usize) -> Option<&[i8]> {
        self.int8.get(t).and_then(|v| v.as_deref())
    }

    /// The network output's int8 values from the last pass.
    pub fn output_int8(&self) -> Option<&[i8]> {
        self.tensor_int8(self.model.output)
    }

    fn scale_var(&mut self, ctx: &mut ForwardCtx<'_>, name: &str) -> Result<Var, NnError> {
        if let Some(v) = self.scale_vars.get(name) {
            return Ok(v.clone());
        }
        let p = self.model.scales.get(name)?;
        let v = ctx.tape.var(p.data.clone(), p.shape.clone())?;
        self.scale_vars.insert(name.to_string(), v.clone());
        Ok(v)
    }

    /// Gradients of the learned scales, in the order of `model.scales` (zeros when unused).
    pub fn scale_grads(&self, grads: &mut Gradients) -> Vec<Vec<f32>> {
        self.model
            .scales
            .params
            .iter()
            .map(|p| match self.scale_vars.get(&p.name) {
                Some(v) => grads.of(v),
                None => vec![0.0; p.data.len()],
            })
            .collect()
    }

    /// Replaces the surrogate `v`'s value by the exact output `y` of tensor `t`, with the
    /// activation quantizer's STE + LSQ backward (or plain identity for a shared quantizer).
    fn exact_output(&mut self, ctx: &mut ForwardCtx<'_>, t: usize, v: &Var, y: Vec<f32>, bounds: Bounds, own_scale: bool) -> Result<Var, NnError> {
        let shape = v.shape().to_vec();
        if !own_scale {
            return ctx.tape.custom_op_owned(&[v], y, shape, Box::new(|dy| vec![Some(dy)]));
        }
        let q = &self.model.quantizers[self.model.tensors[t].quantizer];
        let s = self.scale_var(ctx, &format!("{}.scale", q.name))?;
        let scale = s.shared();
        let features: usize = self.model.tensors[t].shape.iter().product();
        let g = lsq::grad_scaling(features, bounds);
        // The backward keeps the surrogate's and the exact output's buffers (no copies).
        let x = v.shared();
        let y = Arc::new(y);
        let y_keep = Arc::clone(&y);
        ctx.tape.custom_op_arc(
            &[v, &s],
            y,
            shape,
            Box::new(move |dy| {
                let (dx, ds) = lsq::backward_in_place(&x, &y_keep, dy, &scale, Layout::Blocks(x.len()), bounds, g);
                vec![Some(dx), Some(ds)]
            }),
        )
    }

    /// `ŵ = s_w · q(w / s_w)` with the STE + LSQ backward to `w` and `s_w`.
    fn fake_quant_weights(&mut self, ctx: &mut ForwardCtx<'_>, layer: &str, node: &str, q: &[i8], layout: Layout) -> Result<Var, NnError> {
        let w = ctx.param(&format!("{node}.weight"))?;
        let s = self.scale_var(ctx, &format!("{layer}.weight_scale"))?;
        let scales = s.shared();
        let mut w_hat = vec![0.0f32; q.len()];
        layout.map_with_scales(q, &scales, &mut w_hat, |v, s| dequantize_i8(v, s, 0));
        let per_channel = w.len() / scales.len().max(1);
        let g = lsq::grad_scaling(per_channel, Bounds::WEIGHT);
        let wv = w.shared();
        let w_hat = Arc::new(w_hat);
        let keep = Arc::clone(&w_hat);
        let shape = w.shape().to_vec();
        ctx.tape.custom_op_arc(
            &[&w, &s],
            w_hat,
            shape,
            Box::new(move |dy| {
                let (dw, ds) = lsq::backward_in_place(&wv, &keep, dy, &scales, layout, Bounds::WEIGHT, g);
                vec![Some(dw), Some(ds)]
            }),
        )
    }
}

impl NodeForward for ExactForward<'_> {
    fn forward(&mut self, ctx: &mut ForwardCtx<'_>, index: usize, node: &Node, inputs: &[Var]) -> Result<Option<Var>, NnError> {
        let model = self.model;
        let recording = ctx.tape.is_recording();
        let t = model.node_tensor[index];
        let Some(li) = model.node_layer[index] else {
            if index != 0 {
                // A fused activation: the clamp already happened in the producing layer.
                return Ok(Some(inputs[0].clone()));
            }
            let x = &inputs[0];
            let data = x.to_vec();
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(NnError::Unsupported(format!("non-finite input value {} at index {i}", data[i])));
            }
            let q = quantize_input(model, &data).map_err(nn)?;
            let y = dequantize(model, 0, &q).map_err(nn)?;
            self.int8[0] = Some(q);
            let (_, zp) = model.tensor_quant(0).map_err(nn)?;
            let out = if recording {
                self.exact_output(ctx, 0, x, y, Bounds { qmin: -128, qmax: 127, zero_point: zp }, true)?
            } else {
                ctx.tape.var(y, x.shape().to_vec())?
            };
            return Ok(Some(out));
        };
        let layer = &model.layers[li];
        let batch = inputs[0].shape()[0];
        let consts = match layer.op {
            QOp::Conv { .. } | QOp::Linear { .. } => Some(layer_constants(model, ctx.params, layer).map_err(nn)?),
            _ => None,
        };
        let int_inputs: Vec<&[i8]> = layer
            .inputs
            .iter()
            .map(|&i| self.int8[i].as_deref().ok_or_else(|| NnError::Graph(format!("tensor {i} not computed before `{}`", layer.name))))
            .collect::<Result<_, _>>()?;
        let q = run_layer(model, layer, batch, &int_inputs, consts.as_ref()).map_err(nn)?;
        let y = dequantize(model, t, &q).map_err(nn)?;
        let mut out_shape = vec![batch];
        out_shape.extend(&model.tensors[t].shape);
        self.int8[t] = Some(q);
        if !recording {
            return Ok(Some(ctx.tape.var(y, out_shape)?));
        }
        let (_, zp) = model.tensor_quant(t).map_err(nn)?;
        let act_bounds = |f: super::qmodel::Fused| -> Result<Bounds, NnError> {
            let (s, zp) = model.tensor_quant(t).map_err(nn)?;
            let r = exactq_core::arith::activation_range(f.core(), s, zp).map_err(|e| NnError::Unsupported(e.to_string()))?;
            Ok(Bounds { qmin: r.min, qmax: r.max, zero_point: zp })
        };
        let out = match &layer.op {
            QOp::Conv { node: n, spec, act } => {
                let c = consts.as_ref().expect("weighted layer");
                let w_hat = self.fake_quant_weights(ctx, &layer.name, n, &c.weights, conv_layout(spec))?;
                let b = if spec.bias { Some(ctx.param(&format!("{n}.bias"))?) } else { None };
                let v = ops::conv2d::conv2d(ctx.tape, &inputs[0], &w_hat, b.as_ref(), spec)?;
                self.exact_output(ctx, t, &v, y, act_bounds(*act)?, true)?
            }
            QOp::Linear { node: n, spec, act } => {
                let c = consts.as_ref().expect("weighted layer");
                let in_f = spec.in_f;
                let w_hat = self.fake_quant_weights(ctx, &layer.name, n, &c.weights, Layout::Blocks(in_f))?;
                let b = if spec.bias { Some(ctx.param(&format!("{n}.bias"))?) } else { None };
                let x = inputs[0].reshaped(vec![batch, in_f])?;
                let v = ops::linear::linear(ctx.tape, &x, &w_hat, b.as_ref(), spec)?;
                self.exact_output(ctx, t, &v, y, act_bounds(*act)?, true)?
            }
            QOp::Add { act } => {
                let v = ops::add::add(ctx.tape, &inputs[0], &inputs[1])?;
                self.exact_output(ctx, t, &v, y, act_bounds(*act)?, true)?
            }
            QOp::Mean => {
                let v = ops::pool::global_avg_pool(ctx.tape, &inputs[0])?;
                self.exact_output(ctx, t, &v, y, Bounds { qmin: -128, qmax: 127, zero_point: zp }, true)?
            }
            QOp::MaxPool(p) => {
                let v = ops::pool::max_pool2d(ctx.tape, &inputs[0], p)?;
                self.exact_output(ctx, t, &v, y, Bounds::WEIGHT, false)?
            }
            QOp::AvgPool(p) => {
                let v = ops::pool::avg_pool2d(ctx.tape, &inputs[0], p)?;
                self.exact_output(ctx, t, &v, y, Bounds::WEIGHT, false)?
            }
            QOp::Reshape => inputs[0].reshaped(out_shape)?,
        };
        debug_assert!(!matches!(node.op, Op::BatchNorm(_)));
        Ok(Some(out))
    }
}

/// Runs the integer network alone (no float graph, no tape) on a batch of `batch` samples and
/// returns every tensor's int8 values. This is the trainer's own device-equivalent path.
pub fn forward_int8_all(model: &QuantModel, params: &ParamStore, x: &[f32], batch: usize) -> Result<Vec<Vec<i8>>, QuantError> {
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(QuantError::NonFinite(format!("input data at index {i}")));
    }
    let mut int8: Vec<Vec<i8>> = vec![Vec::new(); model.tensors.len()];
    int8[0] = quantize_input(model, x)?;
    for layer in &model.layers {
        let consts = match layer.op {
            QOp::Conv { .. } | QOp::Linear { .. } => Some(layer_constants(model, params, layer)?),
            _ => None,
        };
        let ins: Vec<&[i8]> = layer.inputs.iter().map(|&i| int8[i].as_slice()).collect();
        let out = run_layer(model, layer, batch, &ins, consts.as_ref())?;
        int8[layer.output] = out;
    }
    Ok(int8)
}

/// [`forward_int8_all`], keeping only the network output.
pub fn forward_int8(model: &QuantModel, params: &ParamStore, x: &[f32], batch: usize) -> Result<Vec<i8>, QuantError> {
    let mut all = forward_int8_all(model, params, x, batch)?;
    Ok(std::mem::take(&mut all[model.output]))
}
