//! The bridge from format ops to `crate::kernels`: builds each kernel's params struct from the
//! graph (at load, to validate; at invoke, to run) and calls the kernel.

use super::error::{DataField, ModelError};
use super::format::*;
use super::invoke::ArenaView;
use super::load::{byte_len, element_count, Model};
use crate::arith::Requant;
use crate::error::Error;
use crate::kernels::{self, Shape4};

/// The kernel params of one op and the constants it reads, borrowed from the blob.
pub(crate) enum Prepared<'m> {
    Conv2d { params: kernels::Conv2dParams, input: TensorIndex, filter: &'m [i8], bias: Option<&'m [i32]>, rescale: &'m [QuantizedMultiplier], factors: Factors<'m> },
    DepthwiseConv2d { params: kernels::DepthwiseConv2dParams, input: TensorIndex, filter: &'m [i8], bias: Option<&'m [i32]>, rescale: &'m [QuantizedMultiplier], factors: Factors<'m> },
    FullyConnected { params: kernels::FullyConnectedParams, input: TensorIndex, weights: &'m [i8], bias: Option<&'m [i32]>, rescale: &'m [QuantizedMultiplier], factors: Factors<'m> },
    /// `scales`: input 1, input 2, output (used by `float-requant` only).
    Add { params: kernels::AddParams, input1: TensorIndex, input2: TensorIndex, scales: (f32, f32, f32) },
    Mul { params: kernels::MulParams, input1: TensorIndex, input2: TensorIndex, rescale: QuantizedMultiplier, factors: Factors<'m> },
    AveragePool2d { params: kernels::AvgPool2dParams, input: TensorIndex },
    MaxPool2d { params: kernels::MaxPool2dParams, input: TensorIndex },
    Mean { params: kernels::MeanParams, input: TensorIndex, rescale: QuantizedMultiplier, factors: Factors<'m> },
    /// `input_scale`: beta · s_in, used by `float-requant` only.
    Softmax { params: kernels::SoftmaxParams, input: TensorIndex, input_scale: f32 },
    Reshape { input: TensorIndex },
    Requantize { params: kernels::RequantizeParams, input: TensorIndex, rescale: QuantizedMultiplier, factors: Factors<'m> },
    Pad { params: kernels::PadParams, input: TensorIndex },
    Relu { params: kernels::ReluParams, input: TensorIndex, rescale: QuantizedMultiplier },
    Relu6 { params: kernels::Relu6Params, input: TensorIndex },
}

/// The tensor scales a `float-requant` rescale is formed from (`numerator · per_channel[c] /
/// denominator`, see `arith::requantize::FloatScales`): read from the tensors at load, only
/// copied here; the f32 arithmetic happens in the core's `float-requant` code.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "float-requant"), allow(dead_code))]
pub(crate) struct Factors<'m> {
    numerator: f32,
    /// The weights' per-channel scales (borrowed from the blob); empty: use `single`.
    per_channel: &'m [f32],
    single: f32,
    denominator: f32,
}

impl<'m> Factors<'m> {
    fn new(numerator: f32, per_channel: &'m [f32], single: f32, denominator: f32) -> Self {
        Factors { numerator, per_channel, single, denominator }
    }

    /// `numerator · weight_scale[c] / denominator` with the weight tensor's scales.
    fn with_weights(model: &Model<'m>, op: u16, numerator: f32, weights: &TensorDesc, denominator: f32) -> Result<Self, Error> {
        match weights.quantization {
            Quantization::PerTensor { scale, .. } => Ok(Factors::new(numerator, &[], scale, denominator)),
            Quantization::PerChannel { scales, .. } => {
                let s = super::load::check_data_array::<f32>(model.data(), scales, op, DataField::ChannelScales)?;
                Ok(Factors::new(numerator, s, 0.0, denominator))
            }
        }
    }
}

/// The kernel's rescale: the TFLite multipliers in a fixed-point profile, the f32 factors in
/// `float-requant` (a build without that feature never gets here: `prepare` refuses the model).
fn requant<'x>(profile: Profile, fixed: &'x [QuantizedMultiplier], factors: &'x Factors<'_>) -> Requant<'x> {
    #[cfg(feature = "float-requant")]
    if profile.is_float() {
        let per_channel = if factors.per_channel.is_empty() { core::slice::from_ref(&factors.single) } else { factors.per_channel };
        return Requant::float(crate::arith::FloatScales { numerator: factors.numerator, per_channel, denominator: factors.denominator });
    }
    let _ = factors;
    Requant::per_channel(profile, fixed)
}

fn per_tensor_scale(t: &TensorDesc, op: u16) -> Result<f32, Error> {
    match t.quantization {
        Quantization::PerTensor { scale, .. } => Ok(scale),
        Quantization::PerChannel { .. } => Err(ModelError::BadQuantization { tensor_or_op: op }.into()),
    }
}

/// Maps a kernel's own parameter check onto the op that failed it.
fn kernel_rejects(op: u16, e: Error) -> Error {
    match e {
        Error::ShapeMismatch | Error::ZeroSized | Error::BufferTooSmall | Error::SizeOverflow => {
            ModelError::ShapeMismatch { op }.into()
        }
        Error::ZeroPointOutOfRange
        | Error::ShiftOutOfRange
        | Error::MultiplierOutOfRange
        | Error::InvalidScale
        | Error::ChannelCountMismatch => ModelError::BadQuantization { tensor_or_op: op }.into(),
        Error::Model(m) => m.into(),
        _ => ModelError::BadOpParams { op }.into(),
    }
}

fn tensor<'g>(model: &'g Model<'_>, op: u16, index: TensorIndex) -> Result<&'g TensorDesc, Error> {
    model.tensor(index).ok_or(ModelError::TensorIndexOutOfRange { op, tensor: index }.into())
}

fn shape4(t: &TensorDesc, op: u16) -> Result<Shape4, Error> {
    match t.shape.as_slice() {
        [n, h, w, c] => Ok(Shape4::new(*n as usize, *h as usize, *w as usize, *c as usize)),
        _ => Err(ModelError::ShapeMismatch { op }.into()),
    }
}

fn zero_point(t: &TensorDesc) -> i32 {
    match t.quantization {
        Quantization::PerTensor { zero_point, .. } | Quantization::PerChannel { zero_point, .. } => zero_point,
    }
}

fn const_i8<'m>(model: &Model<'m>, op: u16, index: TensorIndex) -> Result<&'m [i8], Error> {
    model.constant_i8(index).ok_or(ModelError::WrongDtype { tensor: index }.into()).and_then(|s| {
        if tensor(model, op, index)?.dtype == DType::Int8 { Ok(s) } else { Err(ModelError::WrongDtype { tensor: index }.into()) }
    })
}

fn const_i32<'m>(model: &Model<'m>, index: TensorIndex) -> Result<&'m [i32], Error> {
    model.constant_i32(index).ok_or(ModelError::WrongDtype { tensor: index }.into())
}

fn rescale_array<'m>(model: &Model<'m>, op: u16, r: DataRef) -> Result<&'m [QuantizedMultiplier], Error> {
    super::load::check_data_array::<QuantizedMultiplier>(model.data(), r, op, DataField::ChannelRescale)
}

fn elements(t: &TensorDesc, op: u16) -> Result<usize, Error> {
    element_count(t).ok_or(ModelError::ShapeMismatch { op }.into())
}

/// beta · s_in for the float-requant softmax. The blob keeps beta only inside the multiplier:
/// beta · s_in · 2^26 ≈ m · 2^(shift − 31); beta within 1e-3 of 1 is taken as exactly 1 (the
/// scale is then `s_in` itself, as ONNX Runtime uses it).
#[cfg(feature = "float-requant")]
fn softmax_input_scale(s_in: f32, m: QuantizedMultiplier) -> f32 {
    let beta = libm::ldexp(f64::from(m.multiplier), m.shift - 31 - 26) / f64::from(s_in);
    if (beta - 1.0).abs() <= 1e-3 { s_in } else { (f64::from(s_in) * beta) as f32 }
}

/// Builds the kernel call of `desc` (op number `op`) and runs the kernel's own checks.
pub(crate) fn prepare<'m>(model: &Model<'m>, op: u16, desc: &OpDesc) -> Result<Prepared<'m>, Error> {
    let profile = model.profile();
    if profile.is_float() && !cfg!(feature = "float-requant") {
        return Err(ModelError::KernelUnavailable { op }.into());
    }
    let t = |i: TensorIndex| tensor(model, op, i);
    let rejects = |e: Error| kernel_rejects(op, e);
    let scale = |i: TensorIndex| per_tensor_scale(t(i)?, op);
    let prepared = match desc {
        OpDesc::Conv2d(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            let w = d.window;
            let params = kernels::Conv2dParams {
                input: shape4(input, op)?,
                filter: shape4(t(d.filter)?, op)?,
                output: shape4(output, op)?,
                stride_h: w.stride_h.into(),
                stride_w: w.stride_w.into(),
                dilation_h: w.dilation_h.into(),
                dilation_w: w.dilation_w.into(),
                padding: w.padding,
                input_zero_point: zero_point(input),
                output_zero_point: zero_point(output),
                activation: d.activation,
            };
            params.validate().map_err(rejects)?;
            let bias = d.bias.map(|b| const_i32(model, b)).transpose()?;
            let factors = Factors::with_weights(model, op, scale(d.input)?, t(d.filter)?, scale(d.output)?)?;
            Prepared::Conv2d { params, input: d.input, filter: const_i8(model, op, d.filter)?, bias, rescale: rescale_array(model, op, d.rescale)?, factors }
        }
        OpDesc::DepthwiseConv2d(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            let w = d.window;
            let params = kernels::DepthwiseConv2dParams {
                input: shape4(input, op)?,
                filter: shape4(t(d.filter)?, op)?,
                output: shape4(output, op)?,
                depth_multiplier: d.depth_multiplier.into(),
                stride_h: w.stride_h.into(),
                stride_w: w.stride_w.into(),
                dilation_h: w.dilation_h.into(),
                dilation_w: w.dilation_w.into(),
                padding: w.padding,
                input_zero_point: zero_point(input),
                output_zero_point: zero_point(output),
                activation: d.activation,
            };
            params.validate().map_err(rejects)?;
            let bias = d.bias.map(|b| const_i32(model, b)).transpose()?;
            let factors = Factors::with_weights(model, op, scale(d.input)?, t(d.filter)?, scale(d.output)?)?;
            Prepared::DepthwiseConv2d { params, input: d.input, filter: const_i8(model, op, d.filter)?, bias, rescale: rescale_array(model, op, d.rescale)?, factors }
        }
        OpDesc::FullyConnected(d) => {
            let (input, weights, output) = (t(d.input)?, t(d.weights)?, t(d.output)?);
            let (output_depth, input_depth) = match weights.shape.as_slice() {
                [o, i] => (*o as usize, *i as usize),
                _ => return Err(ModelError::ShapeMismatch { op }.into()),
            };
            let in_elements = elements(input, op)?;
            let batches = in_elements.checked_div(input_depth).unwrap_or(0);
            let shape_ok = input_depth > 0
                && in_elements % input_depth == 0
                && output.shape.last().map(|&d| d as usize) == Some(output_depth)
                && batches.checked_mul(output_depth) == Some(elements(output, op)?);
            if !shape_ok {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            let params = kernels::FullyConnectedParams {
                batches,
                input_depth,
                output_depth,
                input_zero_point: zero_point(input),
                weights_zero_point: zero_point(weights),
                output_zero_point: zero_point(output),
                activation: d.activation,
            };
            params.validate().map_err(rejects)?;
            let bias = d.bias.map(|b| const_i32(model, b)).transpose()?;
            let factors = Factors::with_weights(model, op, scale(d.input)?, t(d.weights)?, scale(d.output)?)?;
            Prepared::FullyConnected { params, input: d.input, weights: const_i8(model, op, d.weights)?, bias, rescale: rescale_array(model, op, d.rescale)?, factors }
        }
        OpDesc::Add(d) => {
            let (a, b, out) = (t(d.input1)?, t(d.input2)?, t(d.output)?);
            if a.shape != b.shape || a.shape != out.shape {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            let params = kernels::AddParams {
                len: elements(out, op)?,
                input1_zero_point: zero_point(a),
                input2_zero_point: zero_point(b),
                output_zero_point: zero_point(out),
                multipliers: d.multipliers,
                profile,
                activation: d.activation,
            };
            params.validate().map_err(rejects)?;
            // Read only by float-requant: a fixed-point device build does no float work here.
            #[cfg(feature = "float-requant")]
            let scales = (scale(d.input1)?, scale(d.input2)?, scale(d.output)?);
            #[cfg(not(feature = "float-requant"))]
            let scales = (0.0, 0.0, 0.0);
            Prepared::Add { params, input1: d.input1, input2: d.input2, scales }
        }
        OpDesc::Mul(d) => {
            let (a, b, out) = (t(d.input1)?, t(d.input2)?, t(d.output)?);
            if a.shape != b.shape || a.shape != out.shape {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            let params = kernels::MulParams {
                len: elements(out, op)?,
                input1_zero_point: zero_point(a),
                input2_zero_point: zero_point(b),
                output_zero_point: zero_point(out),
                activation: d.activation,
            };
            params.validate().map_err(rejects)?;
            let factors = Factors::new(scale(d.input1)?, &[], scale(d.input2)?, scale(d.output)?);
            requant(profile, core::slice::from_ref(&d.rescale), &factors).validate(1).map_err(rejects)?;
            Prepared::Mul { params, input1: d.input1, input2: d.input2, rescale: d.rescale, factors }
        }
        OpDesc::AveragePool2d(d) => {
            let params = kernels::AvgPool2dParams {
                input: shape4(t(d.input)?, op)?,
                output: shape4(t(d.output)?, op)?,
                filter_h: d.filter_h.into(),
                filter_w: d.filter_w.into(),
                stride_h: d.window.stride_h.into(),
                stride_w: d.window.stride_w.into(),
                padding: d.window.padding,
                activation: d.activation,
            };
            pool_window_ok(&d.window, op)?;
            params.validate().map_err(rejects)?;
            Prepared::AveragePool2d { params, input: d.input }
        }
        OpDesc::MaxPool2d(d) => {
            let params = kernels::MaxPool2dParams {
                input: shape4(t(d.input)?, op)?,
                output: shape4(t(d.output)?, op)?,
                filter_h: d.filter_h.into(),
                filter_w: d.filter_w.into(),
                stride_h: d.window.stride_h.into(),
                stride_w: d.window.stride_w.into(),
                padding: d.window.padding,
                activation: d.activation,
            };
            pool_window_ok(&d.window, op)?;
            params.validate().map_err(rejects)?;
            Prepared::MaxPool2d { params, input: d.input }
        }
        OpDesc::GlobalAveragePool(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            let params = kernels::MeanParams {
                input: shape4(input, op)?,
                input_zero_point: zero_point(input),
                output_zero_point: zero_point(output),
            };
            let out = params.output();
            let out_ok = match output.shape.as_slice() {
                [n, 1, 1, c] | [n, c] => *n as usize == out.n && *c as usize == out.c,
                _ => false,
            };
            if !out_ok {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            params.validate().map_err(rejects)?;
            let factors = Factors::new(scale(d.input)?, &[], 1.0, scale(d.output)?);
            requant(profile, core::slice::from_ref(&d.rescale), &factors).validate(1).map_err(rejects)?;
            Prepared::Mean { params, input: d.input, rescale: d.rescale, factors }
        }
        OpDesc::Softmax(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            if input.shape != output.shape {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            let depth = output.shape.last().map_or(0, |&d| d as usize);
            let rows = elements(output, op)?.checked_div(depth).unwrap_or(0);
            let params = kernels::SoftmaxParams { rows, depth, multiplier: d.multiplier, profile };
            params.validate().map_err(rejects)?;
            #[cfg(feature = "float-requant")]
            let input_scale = softmax_input_scale(scale(d.input)?, d.multiplier.input);
            #[cfg(not(feature = "float-requant"))]
            let input_scale = 0.0;
            Prepared::Softmax { params, input: d.input, input_scale }
        }
        OpDesc::Reshape(d) => {
            if element_count(t(d.input)?) != element_count(t(d.output)?) {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            Prepared::Reshape { input: d.input }
        }
        OpDesc::Requantize(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            if input.shape != output.shape {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            let params = kernels::RequantizeParams {
                len: elements(output, op)?,
                input_zero_point: zero_point(input),
                output_zero_point: zero_point(output),
            };
            params.validate().map_err(rejects)?;
            let factors = Factors::new(scale(d.input)?, &[], 1.0, scale(d.output)?);
            requant(profile, core::slice::from_ref(&d.rescale), &factors).validate(1).map_err(rejects)?;
            Prepared::Requantize { params, input: d.input, rescale: d.rescale, factors }
        }
        OpDesc::Pad(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            let params = kernels::PadParams {
                input: shape4(input, op)?,
                before: d.before.map(usize::from),
                after: d.after.map(usize::from),
                pad_value: d.pad_value,
            };
            params.validate().map_err(rejects)?;
            if params.output().map_err(rejects)? != shape4(output, op)? {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            Prepared::Pad { params, input: d.input }
        }
        OpDesc::Relu(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            if input.shape != output.shape {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            let params = kernels::ReluParams {
                len: elements(output, op)?,
                input_zero_point: zero_point(input),
                output_zero_point: zero_point(output),
                activation: d.activation,
            };
            params.validate().map_err(rejects)?;
            Requant::per_tensor(profile, &d.rescale).validate(1).map_err(rejects)?;
            Prepared::Relu { params, input: d.input, rescale: d.rescale }
        }
        OpDesc::Relu6(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            if input.shape != output.shape {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            let params = kernels::Relu6Params { len: elements(output, op)?, bounds: d.bounds };
            params.validate().map_err(rejects)?;
            Prepared::Relu6 { params, input: d.input }
        }
    };
    // Per-channel rescales and biases: one per output channel.
    match &prepared {
        Prepared::Conv2d { params, rescale, bias, factors, .. } => check_channels(profile, rescale, factors, *bias, params.output.c, op)?,
        Prepared::DepthwiseConv2d { params, rescale, bias, factors, .. } => check_channels(profile, rescale, factors, *bias, params.output.c, op)?,
        Prepared::FullyConnected { params, rescale, bias, factors, .. } => check_channels(profile, rescale, factors, *bias, params.output_depth, op)?,
        _ => {}
    }
    Ok(prepared)
}

fn check_channels(profile: Profile, rescale: &[QuantizedMultiplier], factors: &Factors<'_>, bias: Option<&[i32]>, channels: usize, op: u16) -> Result<(), Error> {
    if bias.is_some_and(|b| b.len() != channels) {
        return Err(ModelError::ShapeMismatch { op }.into());
    }
    if rescale.len() != channels {
        return Err(ModelError::BadQuantization { tensor_or_op: op }.into());
    }
    // The stored multipliers stay valid TFLite multipliers in every profile (the loader checks
    // them against the scales), then the profile's own rescale is checked.
    let fixed_profile = if profile.is_float() { Profile::TfliteSingle } else { profile };
    Requant::per_channel(fixed_profile, rescale).validate(channels).map_err(|e| kernel_rejects(op, e))?;
    requant(profile, rescale, factors).validate(channels).map_err(|e| kernel_rejects(op, e))
}

fn pool_window_ok(w: &Window, op: u16) -> Result<(), Error> {
    if w.dilation_h != 1 || w.dilation_w != 1 {
        return Err(ModelError::BadOpParams { op }.into());
    }
    Ok(())
}

/// True when this build has a kernel for the op (every op of format version 1).
pub(crate) fn available(_op: &OpDesc) -> bool {
    true
}

/// Scratch bytes the op's kernel needs.
pub(crate) fn scratch_bytes(prepared: &Prepared<'_>) -> usize {
    let (elements, size) = match prepared {
        Prepared::Conv2d { params, .. } => (params.scratch_len(), core::mem::size_of::<i16>()),
        Prepared::DepthwiseConv2d { params, .. } => (params.scratch_len(), core::mem::size_of::<i32>()),
        Prepared::FullyConnected { params, .. } => (params.scratch_len(), core::mem::size_of::<i16>()),
        Prepared::Mean { params, .. } => (params.scratch_len(), core::mem::size_of::<i32>()),
        Prepared::Add { params, .. } => (params.scratch_len(), 1),
        Prepared::Mul { params, .. } => (params.scratch_len(), 1),
        Prepared::AveragePool2d { params, .. } => (params.scratch_len(), 1),
        Prepared::MaxPool2d { params, .. } => (params.scratch_len(), 1),
        Prepared::Softmax { params, .. } => (params.scratch_len(), 1),
        Prepared::Requantize { params, .. } => (params.scratch_len(), 1),
        Prepared::Reshape { .. } => (0, 1),
        Prepared::Pad { params, .. } => (params.scratch_len(), 1),
        Prepared::Relu { params, .. } => (params.scratch_len(), 1),
        Prepared::Relu6 { params, .. } => (params.scratch_len(), 1),
    };
    elements.saturating_mul(size)
}

/// An activation operand, read from the arena.
fn activation<'x>(model: &Model<'_>, view: &ArenaView<'x>, index: TensorIndex) -> Result<&'x [i8], Error> {
    let bad = || Error::from(ModelError::WrongStorage { tensor: index });
    let t = model.tensor(index).ok_or_else(bad)?;
    match t.storage {
        Storage::Arena { offset } => {
            let len = byte_len(t).ok_or_else(bad)?;
            view.get(offset as usize, len).map(bytemuck::cast_slice).ok_or_else(bad)
        }
        Storage::Constant { .. } => Err(bad()),
    }
}

fn typed_scratch<T: bytemuck::Pod>(scratch: &mut [u8]) -> Result<&mut [T], Error> {
    let whole = scratch.len() - scratch.len() % core::mem::size_of::<T>();
    let bytes = scratch.get_mut(..whole).unwrap_or(&mut []);
    bytemuck::try_cast_slice_mut(bytes).map_err(|_| ModelError::MisalignedArena.into())
}

/// Runs one op: inputs from `view` and the blob's constants, result into `out`.
pub(crate) fn run(model: &Model<'_>, op: u16, entry: &OpEntry, view: &ArenaView<'_>, out: &mut [i8], scratch: &mut [u8]) -> Result<(), Error> {
    let profile = model.profile();
    let input = |i: TensorIndex| activation(model, view, i);
    match prepare(model, op, &entry.op)? {
        Prepared::Conv2d { params, input: x, filter, bias, rescale, factors } => {
            let requant = requant(profile, rescale, &factors);
            kernels::conv2d(&params, &requant, input(x)?, filter, bias, out, typed_scratch(scratch)?)
        }
        Prepared::DepthwiseConv2d { params, input: x, filter, bias, rescale, factors } => {
            let requant = requant(profile, rescale, &factors);
            kernels::depthwise_conv2d(&params, &requant, input(x)?, filter, bias, out, typed_scratch(scratch)?)
        }
        Prepared::FullyConnected { params, input: x, weights, bias, rescale, factors } => {
            let requant = requant(profile, rescale, &factors);
            kernels::fully_connected(&params, &requant, input(x)?, weights, bias, out, typed_scratch(scratch)?)
        }
        Prepared::Add { params, input1, input2, scales } => {
            #[cfg(feature = "float-requant")]
            if profile.is_float() {
                let scales = kernels::AddScales { input1: scales.0, input2: scales.1, output: scales.2 };
                return kernels::add_float(&params, &scales, input(input1)?, input(input2)?, out);
            }
            let _ = scales;
            kernels::add(&params, input(input1)?, input(input2)?, out)
        }
        Prepared::Mul { params, input1, input2, rescale, factors } => {
            kernels::mul(&params, &requant(profile, core::slice::from_ref(&rescale), &factors), input(input1)?, input(input2)?, out)
        }
        Prepared::AveragePool2d { params, input: x } => kernels::avg_pool2d(&params, input(x)?, out),
        Prepared::MaxPool2d { params, input: x } => kernels::max_pool2d(&params, input(x)?, out),
        Prepared::Mean { params, input: x, rescale, factors } => {
            kernels::mean_hw(&params, &requant(profile, core::slice::from_ref(&rescale), &factors), input(x)?, out, typed_scratch(scratch)?)
        }
        Prepared::Softmax { params, input: x, input_scale } => {
            #[cfg(feature = "float-requant")]
            if profile.is_float() {
                return kernels::softmax_float(&params, input_scale, input(x)?, out);
            }
            let _ = input_scale;
            kernels::softmax(&params, input(x)?, out)
        }
        Prepared::Reshape { input: x } => {
            let x = input(x)?;
            if x.len() != out.len() {
                return Err(ModelError::ShapeMismatch { op }.into());
            }
            out.copy_from_slice(x);
            Ok(())
        }
        Prepared::Requantize { params, input: x, rescale, factors } => {
            kernels::requantize(&params, &requant(profile, core::slice::from_ref(&rescale), &factors), input(x)?, out)
        }
        Prepared::Pad { params, input: x } => kernels::pad(&params, input(x)?, out),
        Prepared::Relu { params, input: x, rescale } => {
            kernels::relu(&params, &Requant::per_tensor(profile, &rescale), input(x)?, out)
        }
        Prepared::Relu6 { params, input: x } => kernels::relu6(&params, input(x)?, out),
    }
}
