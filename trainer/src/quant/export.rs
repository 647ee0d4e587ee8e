//! The integer network as a device model: every layer through the core's model builder, with
//! exactly the int8 weights, int32 biases and scales the exact forward uses.

use exactq_core::model::builder::{MemoryReport, ModelBuilder, OutQuant, WeightQuant};
use exactq_core::model::{TensorIndex, Window};

use crate::nn::params::ParamStore;

use super::kernels::layer_constants;
use super::qmodel::{QOp, QuantModel};
use super::QuantError;

fn core_err(what: String) -> impl FnOnce(exactq_core::Error) -> QuantError {
    move |e| QuantError::Core { what, reason: e.to_string() }
}

fn window(stride_h: usize, stride_w: usize, dilation_h: usize, dilation_w: usize, p: crate::nn::graph::Padding) -> Result<Window, QuantError> {
    let u = |v: usize| u16::try_from(v).map_err(|_| QuantError::Unsupported(format!("window value {v} exceeds u16")));
    let mut w = Window::stride(u(stride_h)?);
    w.stride_w = u(stride_w)?;
    w.dilation_h = u(dilation_h)?;
    w.dilation_w = u(dilation_w)?;
    Ok(w.with_padding(exactq_core::kernels::Padding::new(p.top, p.left, p.bottom, p.right)))
}

/// Describes the network to a core model builder (batch 1).
pub fn builder(model: &QuantModel, params: &ParamStore) -> Result<ModelBuilder, QuantError> {
    let mut b = ModelBuilder::new(model.profile.core());
    let mut ids: Vec<Option<TensorIndex>> = vec![None; model.tensors.len()];
    let with_batch = |s: &[usize]| -> Vec<usize> { std::iter::once(1).chain(s.iter().copied()).collect() };
    let (s0, zp0) = model.tensor_quant(0)?;
    ids[0] = Some(b.input(&with_batch(&model.tensors[0].shape), s0, zp0).map_err(core_err("input".into()))?);
    for layer in &model.layers {
        let err = || core_err(format!("layer `{}`", layer.name));
        let input = ids[layer.inputs[0]].ok_or_else(|| QuantError::Invalid(format!("input of `{}` not built", layer.name)))?;
        let (s_out, zp_out) = model.tensor_quant(layer.output)?;
        let out = OutQuant::new(s_out, zp_out);
        let (s_in, _) = model.tensor_quant(layer.inputs[0])?;
        let id = match &layer.op {
            QOp::Conv { spec: s, act, .. } => {
                let c = layer_constants(model, params, layer)?;
                let depthwise = s.is_depthwise();
                let axis = if depthwise { 3 } else { 0 };
                let w = b
                    .constant_i8(&s.weight_shape(), &c.weights, WeightQuant::PerChannel { axis, scales: &c.weight_scales })
                    .map_err(err())?;
                let bias = match &c.bias {
                    Some(q) => {
                        let scales: Vec<f32> = c.weight_scales.iter().map(|sw| s_in * sw).collect();
                        Some(b.constant_i32(&[s.out_c], q, WeightQuant::PerChannel { axis: 0, scales: &scales }).map_err(err())?)
                    }
                    None => None,
                };
                let win = window(s.stride_h, s.stride_w, s.dilation_h, s.dilation_w, s.padding)?;
                if depthwise {
                    let mult = u16::try_from(s.out_c / s.in_c).map_err(|_| QuantError::Unsupported("depth multiplier".into()))?;
                    b.depthwise_conv2d(input, w, bias, mult, win, act.core(), out).map_err(err())?
                } else {
                    b.conv2d(input, w, bias, win, act.core(), out).map_err(err())?
                }
            }
            QOp::Linear { spec, act, .. } => {
                let c = layer_constants(model, params, layer)?;
                let w = b
                    .constant_i8(&[spec.out_f, spec.in_f], &c.weights, WeightQuant::PerChannel { axis: 0, scales: &c.weight_scales })
                    .map_err(err())?;
                let bias = match &c.bias {
                    Some(q) => {
                        let scales: Vec<f32> = c.weight_scales.iter().map(|sw| s_in * sw).collect();
                        Some(b.constant_i32(&[spec.out_f], q, WeightQuant::PerChannel { axis: 0, scales: &scales }).map_err(err())?)
                    }
                    None => None,
                };
                b.fully_connected(input, w, bias, act.core(), out).map_err(err())?
            }
            QOp::Add { act } => {
                let other = ids[layer.inputs[1]].ok_or_else(|| QuantError::Invalid(format!("input of `{}` not built", layer.name)))?;
                b.add(input, other, act.core(), out).map_err(err())?
            }
            QOp::MaxPool(p) | QOp::AvgPool(p) => {
                let u = |v: usize| u16::try_from(v).map_err(|_| QuantError::Unsupported(format!("pool size {v}")));
                let win = window(p.stride_h, p.stride_w, 1, 1, p.padding)?;
                let none = exactq_core::arith::Activation::None;
                if matches!(layer.op, QOp::MaxPool(_)) {
                    b.max_pool2d(input, u(p.kh)?, u(p.kw)?, win, none).map_err(err())?
                } else {
                    b.average_pool2d(input, u(p.kh)?, u(p.kw)?, win, none).map_err(err())?
                }
            }
            QOp::Mean => b.global_average_pool(input, out).map_err(err())?,
            QOp::Reshape => b.reshape(input, &with_batch(&model.tensors[layer.output].shape)).map_err(err())?,
        };
        ids[layer.output] = Some(id);
    }
    let output = ids[model.output].ok_or_else(|| QuantError::Invalid("output not built".into()))?;
    b.set_output(output);
    Ok(b)
}

/// The bare model (payload of a `MODL` section) and the arena figures.
pub fn model_payload(model: &QuantModel, params: &ParamStore) -> Result<(Vec<u8>, MemoryReport), QuantError> {
    let b = builder(model, params)?;
    let (_, report) = b.plan().map_err(core_err("planning the arena".into()))?;
    Ok((b.build_model().map_err(core_err("building the model".into()))?, report))
}

/// A slim device blob (a container holding one `MODL` section).
pub fn device_blob(model: &QuantModel, params: &ParamStore) -> Result<Vec<u8>, QuantError> {
    builder(model, params)?.build().map_err(core_err("building the blob".into()))
}

/// The blob as C source: `const unsigned char <name>[]` aligned to 16 bytes.
pub fn c_array(blob: &[u8], name: &str) -> String {
    let mut s = format!("/* exactq device model, {} bytes */\n#include <stdint.h>\n__attribute__((aligned(16))) const uint8_t {name}[{}] = {{\n", blob.len(), blob.len());
    for chunk in blob.chunks(16) {
        s.push_str("  ");
        for byte in chunk {
            s.push_str(&format!("0x{byte:02x},"));
        }
        s.push('\n');
    }
    s.push_str(&format!("}};\nconst uint32_t {name}_len = {};\n", blob.len()));
    s
}

/// The blob as a Rust array for toolchains without `include_bytes!`.
pub fn rust_array(blob: &[u8], name: &str) -> String {
    let mut s = format!("/// exactq device model, {} bytes (16-aligned).\n#[repr(C, align(16))]\npub struct Aligned<const N: usize>(pub [u8; N]);\npub static {}: Aligned<{}> = Aligned([\n", blob.len(), name.to_uppercase(), blob.len());
    for chunk in blob.chunks(16) {
        s.push_str("    ");
        for byte in chunk {
            s.push_str(&format!("0x{byte:02x}, "));
        }
        s.push('\n');
    }
    s.push_str("]);\n");
    s
}
