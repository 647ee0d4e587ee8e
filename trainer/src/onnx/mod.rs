//! ONNX export: a core model blob (device blob, checkpoint or bare model) → an ONNX
//! `ModelProto` (opset 13) in QDQ form, for ONNX Runtime and OpenVINO. See `docs/onnx.md`.
//!
//! The graph is read back through `exactq_core::model::load`, so only what the core accepts is
//! exported. Every int8 activation of the blob is a uint8 ONNX value (`q + 128`, zero point
//! `zp + 128`: the form ONNX Runtime fuses into its integer QLinear kernels on x86); an op becomes
//! `DequantizeLinear` of its inputs, the float op, the fused activation as `Relu`/`Clip`, and
//! `QuantizeLinear` to its output's scale and zero point (two exceptions that keep the blob's
//! integers: PAD pads the uint8 value itself, RELU6 quantizes with its *input's* parameters, as
//! TFLite Micro ignores the output's). Weights are int8 initializers with
//! per-channel scales on axis 0, biases int32 initializers with their own `DequantizeLinear`.
//! ONNX is NCHW where the blob is NHWC: the graph input and output stay NHWC (so the same
//! bytes feed both runtimes): `Transpose` nodes convert the layout at the edges and around
//! reshapes of 4-D tensors, a `DequantizeLinear → QuantizeLinear` pair converts int8 ↔ uint8.

pub mod proto;

use anyhow::{bail, Context, Result};
use exactq_core::model::{self, aligned::AlignedBytes, DType, OpDesc, Quantization, Storage, TensorDesc, TensorIndex, Window};

use proto::{Attr, DataType, Dim, Message};

/// The opset the exporter targets (per-axis QuantizeLinear/DequantizeLinear need 13).
pub const OPSET: i64 = 13;
/// ONNX IR version written (IR 8 goes with opsets up to 17 and is read by every current runtime).
pub const IR_VERSION: i64 = 8;

/// Exports the model inside `blob` as ONNX bytes.
pub fn export_model(blob: &[u8]) -> Result<Vec<u8>> {
    let aligned = AlignedBytes::copy_from(blob);
    let model = model::load(aligned.as_slice()).map_err(|e| anyhow::anyhow!("the blob is not a valid exactq model: {e}"))?;
    let mut w = Writer { model: &model, nodes: Vec::new(), inits: Vec::new(), dequantized: Default::default(), counter: 0 };
    w.write_graph()
}

struct Writer<'a, 'm> {
    model: &'a model::Model<'m>,
    nodes: Vec<Message>,
    inits: Vec<Message>,
    /// Names of tensors already dequantized (`t{i}_f`).
    dequantized: std::collections::HashSet<TensorIndex>,
    counter: usize,
}

fn name(i: TensorIndex) -> String {
    format!("t{i}")
}

fn le_bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn dims_i64(t: &TensorDesc) -> Vec<i64> {
    t.shape.iter().map(|&d| i64::from(d)).collect()
}

const NHWC_TO_NCHW: [i64; 4] = [0, 3, 1, 2];
const NCHW_TO_NHWC: [i64; 4] = [0, 2, 3, 1];

impl Writer<'_, '_> {
    fn tensor(&self, i: TensorIndex) -> Result<&TensorDesc> {
        self.model.tensor(i).with_context(|| format!("tensor {i} is missing"))
    }

    fn fresh(&mut self, stem: &str) -> String {
        self.counter += 1;
        format!("{stem}_{}", self.counter)
    }

    fn add_node(&mut self, op_type: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) {
        let node_name = self.fresh(op_type);
        self.nodes.push(proto::node(op_type, &node_name, inputs, outputs, attrs));
    }

    fn scalar_f32(&mut self, stem: &str, v: f32) -> String {
        let n = self.fresh(stem);
        self.inits.push(proto::tensor(&n, DataType::Float, &[], &v.to_le_bytes()));
        n
    }

    fn scalar_i8(&mut self, stem: &str, v: i32) -> String {
        let n = self.fresh(stem);
        self.inits.push(proto::tensor(&n, DataType::Int8, &[], &[v as i8 as u8]));
        n
    }

    /// The uint8 zero point of an activation whose int8 zero point is `zp` (`zp + 128`: inside
    /// the graph activations are uint8, see the module documentation).
    fn zero_point_u8(&mut self, zp: i32) -> String {
        let n = self.fresh("zero_point");
        self.inits.push(proto::tensor(&n, DataType::Uint8, &[], &[(zp + 128) as u8]));
        n
    }

    /// `(scale, uint8 zero point)` initializers of activation `i`.
    fn act_params(&mut self, i: TensorIndex) -> Result<(String, String)> {
        let (s, zp) = self.act_quant(i)?;
        Ok((self.scalar_f32("scale", s), self.zero_point_u8(zp)))
    }

    fn ints_i64(&mut self, stem: &str, vs: &[i64]) -> String {
        let n = self.fresh(stem);
        let raw: Vec<u8> = vs.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.inits.push(proto::tensor(&n, DataType::Int64, &[vs.len() as i64], &raw));
        n
    }

    /// Per-tensor (scale, zero point) of an activation.
    fn act_quant(&self, i: TensorIndex) -> Result<(f32, i32)> {
        match self.tensor(i)?.quantization {
            Quantization::PerTensor { scale, zero_point } => Ok((scale, zero_point)),
            Quantization::PerChannel { .. } => bail!("activation tensor {i} is quantized per channel; ONNX QDQ activations are per tensor"),
        }
    }

    /// The float (dequantized) value of activation `i`, created once.
    fn float_of(&mut self, i: TensorIndex) -> Result<String> {
        let f = format!("{}_f", name(i));
        if self.dequantized.insert(i) {
            let (s, zp) = self.act_params(i)?;
            self.add_node("DequantizeLinear", &[&name(i), &s, &zp], &[&f], &[]);
        }
        Ok(f)
    }

    /// `QuantizeLinear(x_float) → t{out}` after the fused activation clamp.
    fn quantize_into(&mut self, x: &str, out: TensorIndex, act_min: i32, act_max: i32) -> Result<()> {
        let (s, zp) = self.act_quant(out)?;
        let x = self.activation(x, s, zp, act_min, act_max);
        self.quantize_with(&x, out, &name(out))
    }

    /// `QuantizeLinear(x_float) → out_name` with the scale and zero point of activation `q`.
    fn quantize_with(&mut self, x: &str, q: TensorIndex, out_name: &str) -> Result<()> {
        let (sn, zpn) = self.act_params(q)?;
        self.add_node("QuantizeLinear", &[x, &sn, &zpn], &[out_name], &[]);
        Ok(())
    }

    /// The fused activation `[act_min, act_max]` (int8 bounds) as a float op before the
    /// output quantize: nothing for the full range, `Relu` when the lower bound is the zero
    /// point, otherwise `Clip` at the dequantized bounds (which quantize back to the bounds).
    fn activation(&mut self, x: &str, s: f32, zp: i32, act_min: i32, act_max: i32) -> String {
        let full_low = act_min <= -128;
        let full_high = act_max >= 127;
        if full_low && full_high {
            return x.to_string();
        }
        if act_min == zp && full_high {
            let y = self.fresh("act");
            self.add_node("Relu", &[x], &[&y], &[]);
            y
        } else {
            self.clip(x, s, zp, (!full_low).then_some(act_min), (!full_high).then_some(act_max))
        }
    }

    /// `Clip` of the float `x` at the dequantized int8 bounds (`s · (bound − zp)` in f32, the
    /// product `DequantizeLinear` forms, so a clipped value quantizes back to the bound exactly);
    /// `None` leaves that side open.
    fn clip(&mut self, x: &str, s: f32, zp: i32, lo: Option<i32>, hi: Option<i32>) -> String {
        let lo = lo.map_or_else(String::new, |b| self.scalar_f32("clip_min", s * (b - zp) as f32));
        let hi = hi.map_or_else(String::new, |b| self.scalar_f32("clip_max", s * (b - zp) as f32));
        let y = self.fresh("act");
        self.add_node("Clip", &[x, &lo, &hi], &[&y], &[]);
        y
    }

    /// A constant int8 weight tensor as an initializer plus its `DequantizeLinear`; the data
    /// is permuted by `reorder` into ONNX layout `dims`; per-channel scales on axis 0.
    fn weight(&mut self, i: TensorIndex, dims: &[i64], data: Vec<i8>, scales: Vec<f32>) -> Result<String> {
        let n = name(i);
        self.inits.push(proto::tensor(&n, DataType::Int8, dims, &data.iter().map(|&v| v as u8).collect::<Vec<_>>()));
        self.dequantize_constant(&n, &scales, DataType::Int8)
    }

    fn dequantize_constant(&mut self, n: &str, scales: &[f32], dtype: DataType) -> Result<String> {
        let f = format!("{n}_f");
        let s = self.fresh("scale");
        let zp = self.fresh("zero_point");
        let (dims, zp_raw): (Vec<i64>, Vec<u8>) = if scales.len() == 1 {
            (vec![], if dtype == DataType::Int8 { vec![0] } else { vec![0; 4] })
        } else {
            (vec![scales.len() as i64], vec![0; scales.len() * if dtype == DataType::Int8 { 1 } else { 4 }])
        };
        self.inits.push(proto::tensor(&s, DataType::Float, &dims, &le_bytes_f32(scales)));
        self.inits.push(proto::tensor(&zp, dtype, &dims, &zp_raw));
        let attrs = if scales.len() == 1 { vec![] } else { vec![("axis", Attr::Int(0))] };
        self.add_node("DequantizeLinear", &[n, &s, &zp], &[&f], &attrs);
        Ok(f)
    }

    /// The scales of a constant tensor (one for per tensor).
    fn scales(&self, i: TensorIndex) -> Result<Vec<f32>> {
        Ok(match self.tensor(i)?.quantization {
            Quantization::PerTensor { scale, .. } => vec![scale],
            Quantization::PerChannel { scales, .. } => self.model.channel_scales(scales).with_context(|| format!("scales of tensor {i}"))?.to_vec(),
        })
    }

    fn bias(&mut self, b: Option<TensorIndex>) -> Result<Option<String>> {
        let Some(b) = b else { return Ok(None) };
        let data = self.model.constant_i32(b).with_context(|| format!("bias tensor {b} is not an int32 constant"))?;
        let n = name(b);
        let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.inits.push(proto::tensor(&n, DataType::Int32, &[data.len() as i64], &raw));
        let scales = self.scales(b)?;
        Ok(Some(self.dequantize_constant(&n, &scales, DataType::Int32)?))
    }

    fn conv_attrs(w: &Window, kh: i64, kw: i64, group: i64) -> Vec<(&'static str, Attr)> {
        let p = w.padding;
        vec![
            ("kernel_shape", Attr::Ints(vec![kh, kw])),
            ("strides", Attr::Ints(vec![w.stride_h.into(), w.stride_w.into()])),
            ("dilations", Attr::Ints(vec![w.dilation_h.into(), w.dilation_w.into()])),
            ("pads", Attr::Ints(vec![p.top as i64, p.left as i64, p.bottom as i64, p.right as i64])),
            ("group", Attr::Int(group)),
        ]
    }

    fn pool_attrs(w: &Window, kh: u16, kw: u16) -> Vec<(&'static str, Attr)> {
        let p = w.padding;
        vec![
            ("kernel_shape", Attr::Ints(vec![kh.into(), kw.into()])),
            ("strides", Attr::Ints(vec![w.stride_h.into(), w.stride_w.into()])),
            ("pads", Attr::Ints(vec![p.top as i64, p.left as i64, p.bottom as i64, p.right as i64])),
        ]
    }

    /// The int8 value of `i` reshaped to `shape` (NHWC semantics): 4-D values are NCHW in the
    /// ONNX graph, so they go through NHWC before the reshape, and a 4-D result goes back.
    fn reshape_int8(&mut self, input: TensorIndex, out_name: &str, shape: &[u32]) -> Result<()> {
        let mut x = name(input);
        if self.tensor(input)?.shape.len() == 4 {
            let y = self.fresh("nhwc");
            self.add_node("Transpose", &[&x], &[&y], &[("perm", Attr::Ints(NCHW_TO_NHWC.to_vec()))]);
            x = y;
        }
        // The batch stays symbolic: -1 takes the rest.
        let mut target: Vec<i64> = shape.iter().map(|&d| i64::from(d)).collect();
        target[0] = -1;
        let shape_name = self.ints_i64("shape", &target);
        if shape.len() == 4 {
            let y = self.fresh("reshaped");
            self.add_node("Reshape", &[&x, &shape_name], &[&y], &[]);
            self.add_node("Transpose", &[&y], &[out_name], &[("perm", Attr::Ints(NHWC_TO_NCHW.to_vec()))]);
        } else {
            self.add_node("Reshape", &[&x, &shape_name], &[out_name], &[]);
        }
        Ok(())
    }

    fn write_op(&mut self, index: usize, op: &OpDesc) -> Result<()> {
        match op {
            OpDesc::Conv2d(d) => {
                let ft = self.tensor(d.filter)?.clone();
                let [o, kh, kw, i] = shape4(&ft)?;
                let data = self.model.constant_i8(d.filter).context("conv filter data")?;
                // OHWI → OIHW.
                let mut oihw = vec![0i8; data.len()];
                for (oc, kh_, kw_, ic) in iter4(o, kh, kw, i) {
                    oihw[((oc * i + ic) * kh + kh_) * kw + kw_] = data[((oc * kh + kh_) * kw + kw_) * i + ic];
                }
                let in_c = shape4(self.tensor(d.input)?)?[3];
                let group = (in_c / i) as i64;
                let w = self.weight(d.filter, &[o as i64, i as i64, kh as i64, kw as i64], oihw, self.scales(d.filter)?)?;
                let x = self.float_of(d.input)?;
                let b = self.bias(d.bias)?;
                let y = self.fresh("conv");
                let mut inputs = vec![x.as_str(), w.as_str()];
                if let Some(b) = &b {
                    inputs.push(b);
                }
                self.add_node("Conv", &inputs, &[&y], &Self::conv_attrs(&d.window, kh as i64, kw as i64, group));
                self.quantize_into(&y, d.output, d.activation.min, d.activation.max)
            }
            OpDesc::DepthwiseConv2d(d) => {
                let ft = self.tensor(d.filter)?.clone();
                let [_, kh, kw, c] = shape4(&ft)?;
                let data = self.model.constant_i8(d.filter).context("depthwise filter data")?;
                // [1, kh, kw, C·m] → [C·m, 1, kh, kw]: output channel oc reads input oc / m.
                let mut out = vec![0i8; data.len()];
                for (_, kh_, kw_, oc) in iter4(1, kh, kw, c) {
                    out[(oc * kh + kh_) * kw + kw_] = data[(kh_ * kw + kw_) * c + oc];
                }
                let in_c = shape4(self.tensor(d.input)?)?[3];
                let w = self.weight(d.filter, &[c as i64, 1, kh as i64, kw as i64], out, self.scales(d.filter)?)?;
                let x = self.float_of(d.input)?;
                let b = self.bias(d.bias)?;
                let y = self.fresh("depthwise");
                let mut inputs = vec![x.as_str(), w.as_str()];
                if let Some(b) = &b {
                    inputs.push(b);
                }
                self.add_node("Conv", &inputs, &[&y], &Self::conv_attrs(&d.window, kh as i64, kw as i64, in_c as i64));
                self.quantize_into(&y, d.output, d.activation.min, d.activation.max)
            }
            OpDesc::FullyConnected(d) => {
                let wt = self.tensor(d.weights)?.clone();
                let [out_d, in_d] = match wt.shape.as_slice() {
                    [o, i] => [*o as usize, *i as usize],
                    _ => bail!("op {index} (fully_connected): weights are not 2-D"),
                };
                let data = self.model.constant_i8(d.weights).context("fully connected weights")?.to_vec();
                let w = self.weight(d.weights, &[out_d as i64, in_d as i64], data, self.scales(d.weights)?)?;
                // Gemm wants [batches, in]: flatten anything else first (NHWC order).
                let input_t = self.tensor(d.input)?.clone();
                let x = if input_t.shape.len() == 2 {
                    self.float_of(d.input)?
                } else {
                    let flat = self.fresh("flat");
                    self.reshape_int8(d.input, &flat, &[1, in_d as u32])?;
                    let (sn, zpn) = self.act_params(d.input)?;
                    let f = format!("{flat}_f");
                    self.add_node("DequantizeLinear", &[&flat, &sn, &zpn], &[&f], &[]);
                    f
                };
                let b = self.bias(d.bias)?;
                let y = self.fresh("gemm");
                let mut inputs = vec![x.as_str(), w.as_str()];
                if let Some(b) = &b {
                    inputs.push(b);
                }
                self.add_node("Gemm", &inputs, &[&y], &[("transB", Attr::Int(1))]);
                let out_t = self.tensor(d.output)?.clone();
                if out_t.shape.len() == 2 {
                    self.quantize_into(&y, d.output, d.activation.min, d.activation.max)
                } else {
                    bail!("op {index} (fully_connected): output of rank {} is not exported (only [batches, out])", out_t.shape.len())
                }
            }
            OpDesc::Add(d) => self.binary("Add", d.input1, d.input2, d.output, d.activation.min, d.activation.max),
            OpDesc::Mul(d) => self.binary("Mul", d.input1, d.input2, d.output, d.activation.min, d.activation.max),
            OpDesc::AveragePool2d(d) => {
                let x = self.float_of(d.input)?;
                let y = self.fresh("avgpool");
                let mut attrs = Self::pool_attrs(&d.window, d.filter_h, d.filter_w);
                // TFLite divides by the number of taps inside the image.
                attrs.push(("count_include_pad", Attr::Int(0)));
                self.add_node("AveragePool", &[&x], &[&y], &attrs);
                self.quantize_into(&y, d.output, d.activation.min, d.activation.max)
            }
            OpDesc::MaxPool2d(d) => {
                let x = self.float_of(d.input)?;
                let y = self.fresh("maxpool");
                self.add_node("MaxPool", &[&x], &[&y], &Self::pool_attrs(&d.window, d.filter_h, d.filter_w));
                self.quantize_into(&y, d.output, d.activation.min, d.activation.max)
            }
            OpDesc::GlobalAveragePool(d) => {
                let x = self.float_of(d.input)?;
                let y = self.fresh("gap");
                self.add_node("GlobalAveragePool", &[&x], &[&y], &[]);
                let out_t = self.tensor(d.output)?.clone();
                if out_t.shape.len() == 4 {
                    self.quantize_into(&y, d.output, -128, 127)
                } else {
                    // [n, c]: quantize [n, c, 1, 1], then flatten the int8 value.
                    let q = self.fresh("gap_q");
                    self.quantize_with(&y, d.output, &q)?;
                    self.add_node("Flatten", &[&q], &[&name(d.output)], &[("axis", Attr::Int(1))]);
                    Ok(())
                }
            }
            OpDesc::Softmax(d) => {
                let input_t = self.tensor(d.input)?.clone();
                let (s_in, _) = self.act_quant(d.input)?;
                // The blob keeps beta only inside the input multiplier: beta · s_in · 2^26 ≈
                // multiplier · 2^(shift − 31) (TFLite, 5 integer bits).
                let m = d.multiplier.input;
                let beta = f64::from(m.multiplier) * 2f64.powi(m.shift - 31) / (f64::from(s_in) * 2f64.powi(26));
                let mut x = self.float_of(d.input)?;
                if (beta - 1.0).abs() > 1e-3 {
                    let b = self.scalar_f32("beta", beta as f32);
                    let y = self.fresh("beta_x");
                    self.add_node("Mul", &[&x, &b], &[&y], &[]);
                    x = y;
                }
                let axis = if input_t.shape.len() == 4 { 1 } else { -1 };
                let y = self.fresh("softmax");
                self.add_node("Softmax", &[&x], &[&y], &[("axis", Attr::Int(axis))]);
                self.quantize_into(&y, d.output, -128, 127)
            }
            OpDesc::Reshape(d) => {
                let shape = self.tensor(d.output)?.shape.clone();
                self.reshape_int8(d.input, &name(d.output), &shape)
            }
            OpDesc::Requantize(d) => {
                let x = self.float_of(d.input)?;
                self.quantize_into(&x, d.output, -128, 127)
            }
            // Standalone PAD, RELU and RELU6 come from TFLite imports (the zoo fuses activations).
            OpDesc::Pad(d) => {
                // The blob copies the int8 values and fills the border with `pad_value` (the
                // output zero point; the loader requires equal input and output quantization):
                // the same integers on the uint8 value, no DequantizeLinear/QuantizeLinear.
                if d.before[0] != 0 || d.after[0] != 0 {
                    bail!("op {index} (pad): padding the batch dimension is not exported (the ONNX batch dimension is symbolic)");
                }
                // ONNX `pads`: every axis's begin, then every axis's end, in the graph's NCHW order.
                let nchw = |p: [u16; 4]| NHWC_TO_NCHW.map(|k| i64::from(p[k as usize]));
                let pads = self.ints_i64("pads", &[nchw(d.before), nchw(d.after)].concat());
                let value = self.zero_point_u8(i32::from(d.pad_value));
                self.add_node("Pad", &[&name(d.input), &pads, &value], &[&name(d.output)], &[]);
                Ok(())
            }
            OpDesc::Relu(d) => {
                // The core's clamp `[max(−128, zp_out), 127]` after the rescale is what
                // `QuantizeLinear` to the output gives a non-negative value.
                let x = self.float_of(d.input)?;
                let y = self.fresh("relu");
                self.add_node("Relu", &[&x], &[&y], &[]);
                self.quantize_into(&y, d.output, -128, 127)
            }
            OpDesc::Relu6(d) => {
                // TFLM clamps the int8 values to `[zp_in, q_in(6)]` and keeps them, whatever
                // quantization the output declares. So: Clip at those bounds in the input's
                // units and QuantizeLinear with the *input's* scale and zero point (integer
                // exact); t{output} then holds the blob's integers, and its readers dequantize
                // them with the output's parameters, as the blob's readers do.
                let (s, zp) = self.act_quant(d.input)?;
                let x = self.float_of(d.input)?;
                let y = self.clip(&x, s, zp, Some(d.bounds.min), Some(d.bounds.max));
                self.quantize_with(&y, d.input, &name(d.output))
            }
        }
    }

    fn binary(&mut self, op_type: &str, a: TensorIndex, b: TensorIndex, out: TensorIndex, act_min: i32, act_max: i32) -> Result<()> {
        let (fa, fb) = (self.float_of(a)?, self.float_of(b)?);
        let y = self.fresh(&op_type.to_lowercase());
        self.add_node(op_type, &[&fa, &fb], &[&y], &[]);
        self.quantize_into(&y, out, act_min, act_max)
    }

    /// `y = QuantizeLinear(DequantizeLinear(x))` with the quantization of activation `i`, from
    /// int8 to uint8 (`to_u8`) or back: `x ± 128` exactly (`(q − zp)·s / s` rounds back to
    /// `q − zp` in f32 for `|q − zp| ≤ 255`).
    fn change_signedness(&mut self, x: &str, i: TensorIndex, to_u8: bool, y: &str) -> Result<()> {
        let (s, zp) = self.act_quant(i)?;
        let s = self.scalar_f32("scale", s);
        let (zp_s8, zp_u8) = (self.scalar_i8("zero_point", zp), self.zero_point_u8(zp));
        let (from, to) = if to_u8 { (zp_s8, zp_u8) } else { (zp_u8, zp_s8) };
        let f = self.fresh("edge_f");
        self.add_node("DequantizeLinear", &[x, &s, &from], &[&f], &[]);
        self.add_node("QuantizeLinear", &[&f, &s, &to], &[y], &[]);
        Ok(())
    }

    fn write_graph(&mut self) -> Result<Vec<u8>> {
        let g = self.model.graph().clone();
        let input_t = self.tensor(g.input)?.clone();
        let output_t = self.tensor(g.output)?.clone();
        for t in [&input_t, &output_t] {
            if t.dtype != DType::Int8 || !matches!(t.storage, Storage::Arena { .. }) {
                bail!("graph input/output must be int8 activations");
            }
        }
        // Graph input `input`: int8 NHWC; 4-D becomes NCHW, then uint8 t{input}.
        let input_s8 = self.fresh("input_s8");
        if input_t.shape.len() == 4 {
            self.add_node("Transpose", &["input"], &[&input_s8], &[("perm", Attr::Ints(NHWC_TO_NCHW.to_vec()))]);
        } else {
            self.add_node("Identity", &["input"], &[&input_s8], &[]);
        }
        self.change_signedness(&input_s8, g.input, true, &name(g.input))?;
        for (k, entry) in g.ops.iter().enumerate() {
            self.write_op(k, &entry.op).with_context(|| format!("exporting op {k} ({})", entry.op.name()))?;
        }
        let output_s8 = self.fresh("output_s8");
        self.change_signedness(&name(g.output), g.output, false, &output_s8)?;
        if output_t.shape.len() == 4 {
            self.add_node("Transpose", &[&output_s8], &["output"], &[("perm", Attr::Ints(NCHW_TO_NHWC.to_vec()))]);
        } else {
            self.add_node("Identity", &[&output_s8], &["output"], &[]);
        }
        let dims = |t: &TensorDesc| -> Vec<Dim> {
            dims_i64(t).into_iter().enumerate().map(|(k, d)| if k == 0 { Dim::Param("batch") } else { Dim::Value(d) }).collect()
        };
        let inputs = [proto::value_info("input", DataType::Int8, &dims(&input_t))];
        let outputs = [proto::value_info("output", DataType::Int8, &dims(&output_t))];
        let graph = proto::graph("exactq", &self.nodes, &self.inits, &inputs, &outputs);
        Ok(proto::model(IR_VERSION, OPSET, env!("CARGO_PKG_VERSION"), &graph))
    }
}

fn shape4(t: &TensorDesc) -> Result<[usize; 4]> {
    match t.shape.as_slice() {
        [a, b, c, d] => Ok([*a as usize, *b as usize, *c as usize, *d as usize]),
        _ => bail!("expected a 4-D tensor, got shape {:?}", t.shape.as_slice()),
    }
}

fn iter4(a: usize, b: usize, c: usize, d: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    (0..a).flat_map(move |i| (0..b).flat_map(move |j| (0..c).flat_map(move |k| (0..d).map(move |l| (i, j, k, l)))))
}

/// The same model under the `float-requant` profile: the graph and constant data are kept and
/// only the profile byte changes. Valid from `tflite-single` (and `float-requant` itself)
/// because those derive identical stored multipliers (single rounding's shift cap and softmax
/// cap); a `tflite-double` blob must be rebuilt instead (its softmax multiplier may differ).
pub fn float_requant_blob(blob: &[u8]) -> Result<Vec<u8>> {
    use exactq_core::arith::Profile;
    let aligned = AlignedBytes::copy_from(blob);
    let model = model::load(aligned.as_slice()).map_err(|e| anyhow::anyhow!("the blob is not a valid exactq model: {e}"))?;
    match model.profile() {
        Profile::TfliteSingle | Profile::FloatRequant => {}
        other => bail!("a {other} blob cannot be retargeted to float-requant; quantize it with tflite-single"),
    }
    let payload = model::builder::encode_model(Profile::FloatRequant, model.graph(), model.data())
        .map_err(|e| anyhow::anyhow!("encoding the model: {e}"))?;
    let mut w = model::container::ContainerWriter::new();
    w.section(*b"MODL", &payload).map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = w.finish().map_err(|e| anyhow::anyhow!("{e}"))?;
    // The result must load (and validate) like any blob.
    model::load(AlignedBytes::copy_from(&out).as_slice()).map_err(|e| anyhow::anyhow!("retargeted blob rejected: {e}"))?;
    Ok(out)
}
