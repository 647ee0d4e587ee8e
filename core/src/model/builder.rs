//! Model builder (host side): the trainer, the firmware tests and the TFLite importer describe
//! a quantized network with it and get a blob `load` accepts.
//!
//! ```
//! # use exactq_core::model::builder::{ModelBuilder, WeightQuant, OutQuant};
//! # use exactq_core::model::{load, invoke, Window, aligned::AlignedBytes};
//! # use exactq_core::arith::{Activation, Profile};
//! let mut b = ModelBuilder::new(Profile::TfliteDouble);
//! let x = b.input(&[1, 8, 8, 1], 1.0 / 255.0, -128)?;
//! let w_scales = [0.01f32; 4];
//! let w = b.constant_i8(&[4, 3, 3, 1], &[1; 36], WeightQuant::PerChannel { axis: 0, scales: &w_scales })?;
//! let bias_scales: Vec<f32> = w_scales.iter().map(|s| s / 255.0).collect();
//! let bias = b.constant_i32(&[4], &[0; 4], WeightQuant::PerChannel { axis: 0, scales: &bias_scales })?;
//! let window = b.same_padding(x, 3, 3, Window::stride(1))?;
//! // The output tensor is created with the shape the window gives; the (multiplier, shift)
//! // per channel is derived from the scales exactly as TFLite does.
//! let y = b.conv2d(x, w, Some(bias), window, Activation::Relu, OutQuant::new(0.02, -128))?;
//! b.set_output(y);
//! let blob = AlignedBytes::copy_from(&b.build()?); // a container with one MODL section
//! let model = load(&blob)?;
//! let mut arena = AlignedBytes::zeroed(model.arena_size());
//! let mut out = vec![0i8; model.output_len()];
//! invoke(&model, &[0; 64], &mut arena, &mut out)?;
//! # Ok::<(), exactq_core::Error>(())
//! ```
//! `build` plans the arena, encodes the graph and then runs [`load`](super::load) on the result,
//! so a blob the builder returns is one the device accepts.

use alloc::vec::Vec;

use super::aligned::AlignedBytes;
use super::container::{align16, ContainerWriter, CRC32, MODEL_TAG};
use super::error::ModelError;
use super::format::*;
use super::load::{byte_len, element_count, Model};
use super::ops;
use crate::arith::multiplier::{
    add_multipliers, conv_per_channel_multipliers, fully_connected_per_tensor_multiplier, mul_multiplier,
    relu_multiplier, requantize_multiplier, softmax_multiplier,
};
use crate::arith::{activation_range, Activation};
use crate::kernels::{self, Padding, Shape4};
use super::planner::{self, Buffer};
use super::validate::LiveIntervals;
use crate::error::Error;

/// How a constant's integers map to reals (weights and biases: zero point 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightQuant<'s> {
    /// One scale for the whole tensor.
    #[allow(missing_docs)]
    PerTensor { scale: f32 },
    /// One scale per index of dimension `axis` (0 for conv/FC weights and biases, 3 for depthwise).
    #[allow(missing_docs)]
    PerChannel { axis: u8, scales: &'s [f32] },
}

/// Scale and zero point of an op's output activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutQuant {
    /// Real value of one integer step.
    pub scale: f32,
    /// Integer that represents real 0, in [-128, 127].
    pub zero_point: i32,
}

impl OutQuant {
    /// Scale and zero point.
    pub const fn new(scale: f32, zero_point: i32) -> Self {
        OutQuant { scale, zero_point }
    }
}

/// Arena figures of a planned model (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryReport {
    /// The arena the planner asks for (activations and kernel scratch).
    pub arena_size: usize,
    /// Every activation tensor added up, as if none shared memory.
    pub tensor_bytes_total: usize,
    /// The largest sum of two tensors live at the same time.
    pub largest_live_pair: usize,
    /// The most bytes (tensors and scratch) live at once: a lower bound for any plan.
    pub peak_live_bytes: usize,
    /// Kernel scratch of the op that needs most.
    pub largest_scratch: usize,
}

/// Collects tensors, constants and ops; `build` produces the blob.
#[derive(Debug, Clone)]
pub struct ModelBuilder {
    profile: Profile,
    tensors: Vec<TensorDesc>,
    ops: Vec<OpDesc>,
    data: Vec<u8>,
    input: Option<TensorIndex>,
    output: Option<TensorIndex>,
}

fn shape_of(dims: &[usize]) -> Result<heapless::Vec<u32, MAX_RANK>, Error> {
    let mut shape = heapless::Vec::new();
    for &d in dims {
        let d = u32::try_from(d).map_err(|_| ModelError::ShapeOverflow { tensor: u16::MAX })?;
        shape.push(d).map_err(|_| ModelError::BadRank { tensor: u16::MAX })?;
    }
    Ok(shape)
}

impl ModelBuilder {
    /// An empty model for the arithmetic `profile`.
    pub fn new(profile: Profile) -> Self {
        ModelBuilder { profile, tensors: Vec::new(), ops: Vec::new(), data: Vec::new(), input: None, output: None }
    }

    /// The arithmetic profile multipliers are derived for.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The tensor table so far.
    pub fn tensors(&self) -> &[TensorDesc] {
        &self.tensors
    }

    /// The ops so far.
    pub fn ops(&self) -> &[OpDesc] {
        &self.ops
    }

    /// The data section so far.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    fn push_tensor(&mut self, tensor: TensorDesc) -> Result<TensorIndex, Error> {
        let index = self.tensors.len();
        if index >= MAX_TENSORS {
            return Err(ModelError::TooManyTensors.into());
        }
        self.tensors.push(tensor);
        Ok(index as TensorIndex)
    }

    /// Appends bytes to the data section at a 16-aligned offset; returns the offset.
    fn push_data(&mut self, bytes: &[u8]) -> Result<u32, Error> {
        let offset = align16(self.data.len()).ok_or(ModelError::ContainerTooLarge)?;
        self.data.resize(offset, 0);
        self.data.extend_from_slice(bytes);
        u32::try_from(offset).map_err(|_| ModelError::ContainerTooLarge.into())
    }

    fn push_f32_array(&mut self, values: &[f32]) -> Result<DataRef, Error> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let len = u32::try_from(values.len()).map_err(|_| ModelError::ContainerTooLarge)?;
        Ok(DataRef { offset: self.push_data(&bytes)?, len })
    }

    fn quantization(&mut self, quant: WeightQuant<'_>) -> Result<Quantization, Error> {
        Ok(match quant {
            WeightQuant::PerTensor { scale } => Quantization::PerTensor { scale, zero_point: 0 },
            WeightQuant::PerChannel { axis, scales } => {
                Quantization::PerChannel { axis, scales: self.push_f32_array(scales)?, zero_point: 0 }
            }
        })
    }

    /// An int8 activation tensor (placed in the arena by the planner).
    pub fn activation(&mut self, shape: &[usize], scale: f32, zero_point: i32) -> Result<TensorIndex, Error> {
        self.push_tensor(TensorDesc {
            dtype: DType::Int8,
            shape: shape_of(shape)?,
            storage: Storage::Arena { offset: 0 },
            quantization: Quantization::PerTensor { scale, zero_point },
        })
    }

    /// An activation that is also the graph input.
    pub fn input(&mut self, shape: &[usize], scale: f32, zero_point: i32) -> Result<TensorIndex, Error> {
        let t = self.activation(shape, scale, zero_point)?;
        self.input = Some(t);
        Ok(t)
    }

    /// Makes `tensor` the graph input.
    pub fn set_input(&mut self, tensor: TensorIndex) {
        self.input = Some(tensor);
    }

    /// Makes `tensor` the graph output.
    pub fn set_output(&mut self, tensor: TensorIndex) {
        self.output = Some(tensor);
    }

    fn constant(&mut self, dtype: DType, shape: &[usize], bytes: &[u8], quant: WeightQuant<'_>) -> Result<TensorIndex, Error> {
        let shape = shape_of(shape)?;
        let elements = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d as usize));
        if elements.and_then(|e| e.checked_mul(dtype.size())) != Some(bytes.len()) {
            return Err(ModelError::ShapeMismatch { op: u16::MAX }.into());
        }
        let offset = self.push_data(bytes)?;
        let quantization = self.quantization(quant)?;
        self.push_tensor(TensorDesc { dtype, shape, storage: Storage::Constant { offset }, quantization })
    }

    /// An int8 constant (weights), stored in the data section and borrowed at run time.
    pub fn constant_i8(&mut self, shape: &[usize], values: &[i8], quant: WeightQuant<'_>) -> Result<TensorIndex, Error> {
        self.constant(DType::Int8, shape, bytemuck::cast_slice(values), quant)
    }

    /// An int32 constant (bias), stored little-endian.
    pub fn constant_i32(&mut self, shape: &[usize], values: &[i32], quant: WeightQuant<'_>) -> Result<TensorIndex, Error> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(DType::Int32, shape, &bytes, quant)
    }

    /// Writes per-channel (multiplier, shift) pairs to the data section.
    pub fn rescale_array(&mut self, pairs: &[QuantizedMultiplier]) -> Result<DataRef, Error> {
        let bytes: Vec<u8> =
            pairs.iter().flat_map(|r| r.multiplier.to_le_bytes().into_iter().chain(r.shift.to_le_bytes())).collect();
        let len = u32::try_from(pairs.len()).map_err(|_| ModelError::ContainerTooLarge)?;
        Ok(DataRef { offset: self.push_data(&bytes)?, len })
    }

    /// Appends an op as it is (its rescale arrays already written with [`Self::rescale_array`]).
    pub fn push_op(&mut self, op: OpDesc) -> Result<usize, Error> {
        if self.ops.len() >= MAX_OPS {
            return Err(ModelError::TooManyOps.into());
        }
        self.ops.push(op);
        Ok(self.ops.len() - 1)
    }

    // ------------------------------------------------------------ ops with derived parameters

    fn desc(&self, t: TensorIndex) -> Result<&TensorDesc, Error> {
        self.tensors.get(usize::from(t)).ok_or(ModelError::TensorIndexOutOfRange { op: self.ops.len() as u16, tensor: t }.into())
    }

    fn act_quant(&self, t: TensorIndex) -> Result<(f32, i32), Error> {
        match self.desc(t)?.quantization {
            Quantization::PerTensor { scale, zero_point } => Ok((scale, zero_point)),
            Quantization::PerChannel { .. } => Err(ModelError::BadQuantization { tensor_or_op: t }.into()),
        }
    }

    fn shape4(&self, t: TensorIndex) -> Result<Shape4, Error> {
        match self.desc(t)?.shape.as_slice() {
            [n, h, w, c] => Ok(Shape4::new(*n as usize, *h as usize, *w as usize, *c as usize)),
            _ => Err(ModelError::ShapeMismatch { op: self.ops.len() as u16 }.into()),
        }
    }

    /// The weight scales of a constant: one per channel, or the per-tensor one once.
    fn weight_scales(&self, t: TensorIndex) -> Result<Vec<f32>, Error> {
        match self.desc(t)?.quantization {
            Quantization::PerTensor { scale, .. } => Ok(alloc::vec![scale]),
            Quantization::PerChannel { scales, .. } => {
                let bytes = super::load::slice(&self.data, scales.offset as usize, scales.len as usize * 4)
                    .ok_or(ModelError::DataOutOfRange { tensor_or_op: t, field: super::error::DataField::ChannelScales })?;
                Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
            }
        }
    }

    fn activation_clamp(&self, activation: Activation, out: OutQuant) -> Result<ActivationRange, Error> {
        activation_range(activation, out.scale, out.zero_point)
    }

    /// `window` with TFLite SAME padding for a `filter_h × filter_w` filter over `input`.
    pub fn same_padding(&self, input: TensorIndex, filter_h: usize, filter_w: usize, window: Window) -> Result<Window, Error> {
        let s = self.shape4(input)?;
        let (top, bottom) = Padding::same_1d(s.h, filter_h, window.stride_h.into(), window.dilation_h.into())?;
        let (left, right) = Padding::same_1d(s.w, filter_w, window.stride_w.into(), window.dilation_w.into())?;
        Ok(window.with_padding(Padding::new(top, left, bottom, right)))
    }

    /// CONV_2D with multipliers `s_in·s_w[c]/s_out` (TFLite `PopulateConvolutionQuantizationParams`);
    /// creates and returns the output tensor.
    pub fn conv2d(
        &mut self,
        input: TensorIndex,
        filter: TensorIndex,
        bias: Option<TensorIndex>,
        window: Window,
        activation: Activation,
        out: OutQuant,
    ) -> Result<TensorIndex, Error> {
        let (in_shape, filter_shape) = (self.shape4(input)?, self.shape4(filter)?);
        let mut params = kernels::Conv2dParams {
            input: in_shape,
            filter: filter_shape,
            output: Shape4::default(),
            stride_h: window.stride_h.into(),
            stride_w: window.stride_w.into(),
            dilation_h: window.dilation_h.into(),
            dilation_w: window.dilation_w.into(),
            padding: window.padding,
            input_zero_point: 0,
            output_zero_point: 0,
            activation: ActivationRange::FULL,
        };
        params.output = params.expected_output()?;
        let rescale = self.channel_rescale(input, filter, params.output.c, out)?;
        let activation = self.activation_clamp(activation, out)?;
        let output = self.activation(&params.output.dims(), out.scale, out.zero_point)?;
        self.push_op(OpDesc::Conv2d(Conv2dDesc { input, filter, bias, output, window, activation, rescale }))?;
        Ok(output)
    }

    /// DEPTHWISE_CONV_2D (filter `[1, kh, kw, in_c·depth_multiplier]`, per-channel axis 3).
    #[allow(clippy::too_many_arguments)]
    pub fn depthwise_conv2d(
        &mut self,
        input: TensorIndex,
        filter: TensorIndex,
        bias: Option<TensorIndex>,
        depth_multiplier: u16,
        window: Window,
        activation: Activation,
        out: OutQuant,
    ) -> Result<TensorIndex, Error> {
        let mut params = kernels::DepthwiseConv2dParams {
            input: self.shape4(input)?,
            filter: self.shape4(filter)?,
            output: Shape4::default(),
            depth_multiplier: depth_multiplier.into(),
            stride_h: window.stride_h.into(),
            stride_w: window.stride_w.into(),
            dilation_h: window.dilation_h.into(),
            dilation_w: window.dilation_w.into(),
            padding: window.padding,
            input_zero_point: 0,
            output_zero_point: 0,
            activation: ActivationRange::FULL,
        };
        params.output = params.expected_output()?;
        let rescale = self.channel_rescale(input, filter, params.output.c, out)?;
        let activation = self.activation_clamp(activation, out)?;
        let output = self.activation(&params.output.dims(), out.scale, out.zero_point)?;
        self.push_op(OpDesc::DepthwiseConv2d(DepthwiseConv2dDesc {
            input,
            filter,
            bias,
            output,
            window,
            depth_multiplier,
            activation,
            rescale,
        }))?;
        Ok(output)
    }

    /// FULLY_CONNECTED: weights `[out, in]`; the input is read as `[elements / in, in]` and the
    /// output is `[batches, out]`. Per-tensor weights use TFLite's f32 product `s_in·s_w`.
    pub fn fully_connected(
        &mut self,
        input: TensorIndex,
        weights: TensorIndex,
        bias: Option<TensorIndex>,
        activation: Activation,
        out: OutQuant,
    ) -> Result<TensorIndex, Error> {
        let op = self.ops.len() as u16;
        let (out_features, in_features) = match self.desc(weights)?.shape.as_slice() {
            [o, i] => (*o as usize, *i as usize),
            _ => return Err(ModelError::ShapeMismatch { op }.into()),
        };
        let elements = element_count(self.desc(input)?).ok_or(ModelError::ShapeMismatch { op })?;
        if in_features == 0 || elements % in_features != 0 {
            return Err(ModelError::ShapeMismatch { op }.into());
        }
        let rescale = if let Quantization::PerTensor { scale: s_w, .. } = self.desc(weights)?.quantization {
            let (s_in, _) = self.act_quant(input)?;
            let m = fully_connected_per_tensor_multiplier(s_in, s_w, out.scale, self.profile)?;
            self.rescale_array(&alloc::vec![m; out_features])?
        } else {
            self.channel_rescale(input, weights, out_features, out)?
        };
        let activation = self.activation_clamp(activation, out)?;
        let output = self.activation(&[elements / in_features, out_features], out.scale, out.zero_point)?;
        self.push_op(OpDesc::FullyConnected(FullyConnectedDesc { input, weights, bias, output, activation, rescale }))?;
        Ok(output)
    }

    /// Per-output-channel multipliers `s_in·s_w[c]/s_out`, written to the data section.
    fn channel_rescale(&mut self, input: TensorIndex, weights: TensorIndex, channels: usize, out: OutQuant) -> Result<DataRef, Error> {
        let (s_in, _) = self.act_quant(input)?;
        let scales = self.weight_scales(weights)?;
        let mut multipliers = alloc::vec![QuantizedMultiplier::ZERO; channels];
        conv_per_channel_multipliers(s_in, &scales, out.scale, self.profile, &mut multipliers)?;
        self.rescale_array(&multipliers)
    }

    /// ADD of two same-shape tensors (TFLite `add_common.cc` multipliers, left shift 20).
    pub fn add(&mut self, input1: TensorIndex, input2: TensorIndex, activation: Activation, out: OutQuant) -> Result<TensorIndex, Error> {
        let (s1, s2) = (self.act_quant(input1)?.0, self.act_quant(input2)?.0);
        let multipliers = add_multipliers(s1, s2, out.scale, self.profile)?;
        let activation = self.activation_clamp(activation, out)?;
        let shape: Vec<usize> = self.desc(input1)?.shape.iter().map(|&d| d as usize).collect();
        let output = self.activation(&shape, out.scale, out.zero_point)?;
        self.push_op(OpDesc::Add(AddDesc { input1, input2, output, multipliers, activation }))?;
        Ok(output)
    }

    /// MUL of two same-shape tensors, multiplier `s1·s2/s_out`.
    pub fn mul(&mut self, input1: TensorIndex, input2: TensorIndex, activation: Activation, out: OutQuant) -> Result<TensorIndex, Error> {
        let (s1, s2) = (self.act_quant(input1)?.0, self.act_quant(input2)?.0);
        let rescale = mul_multiplier(s1, s2, out.scale, self.profile)?;
        let activation = self.activation_clamp(activation, out)?;
        let shape: Vec<usize> = self.desc(input1)?.shape.iter().map(|&d| d as usize).collect();
        let output = self.activation(&shape, out.scale, out.zero_point)?;
        self.push_op(OpDesc::Mul(MulDesc { input1, input2, output, rescale, activation }))?;
        Ok(output)
    }

    fn pool(&mut self, max: bool, input: TensorIndex, filter_h: u16, filter_w: u16, window: Window, activation: Activation) -> Result<TensorIndex, Error> {
        let (scale, zero_point) = self.act_quant(input)?;
        let in_shape = self.shape4(input)?;
        let (stride_h, stride_w) = (usize::from(window.stride_h), usize::from(window.stride_w));
        let p = window.padding;
        let out_shape = Shape4::new(
            in_shape.n,
            kernels::window_output_size(in_shape.h, filter_h.into(), stride_h, 1, p.top, p.bottom)?,
            kernels::window_output_size(in_shape.w, filter_w.into(), stride_w, 1, p.left, p.right)?,
            in_shape.c,
        );
        let activation = self.activation_clamp(activation, OutQuant::new(scale, zero_point))?;
        let output = self.activation(&out_shape.dims(), scale, zero_point)?;
        let desc = Pool2dDesc { input, output, filter_h, filter_w, window, activation };
        self.push_op(if max { OpDesc::MaxPool2d(desc) } else { OpDesc::AveragePool2d(desc) })?;
        Ok(output)
    }

    /// AVERAGE_POOL_2D; the output keeps the input's quantization.
    pub fn average_pool2d(&mut self, input: TensorIndex, filter_h: u16, filter_w: u16, window: Window, activation: Activation) -> Result<TensorIndex, Error> {
        self.pool(false, input, filter_h, filter_w, window, activation)
    }

    /// MAX_POOL_2D; the output keeps the input's quantization.
    pub fn max_pool2d(&mut self, input: TensorIndex, filter_h: u16, filter_w: u16, window: Window, activation: Activation) -> Result<TensorIndex, Error> {
        self.pool(true, input, filter_h, filter_w, window, activation)
    }

    /// Mean over H and W (TFLite MEAN, `keep_dims = false`): `[n, h, w, c]` → `[n, c]`.
    pub fn global_average_pool(&mut self, input: TensorIndex, out: OutQuant) -> Result<TensorIndex, Error> {
        let s = self.shape4(input)?;
        let rescale = requantize_multiplier(self.act_quant(input)?.0, out.scale, self.profile)?;
        let output = self.activation(&[s.n, s.c], out.scale, out.zero_point)?;
        self.push_op(OpDesc::GlobalAveragePool(GlobalAveragePoolDesc { input, output, rescale }))?;
        Ok(output)
    }

    /// SOFTMAX over the last dimension; the output is quantized (1/256, −128) as TFLite requires.
    pub fn softmax(&mut self, input: TensorIndex, beta: f32) -> Result<TensorIndex, Error> {
        let multiplier = softmax_multiplier(beta, self.act_quant(input)?.0, self.profile)?;
        let shape: Vec<usize> = self.desc(input)?.shape.iter().map(|&d| d as usize).collect();
        let output = self.activation(&shape, 1.0 / 256.0, -128)?;
        self.push_op(OpDesc::Softmax(SoftmaxDesc { input, output, multiplier }))?;
        Ok(output)
    }

    /// RESHAPE / FLATTEN to `shape` (same element count, same quantization).
    pub fn reshape(&mut self, input: TensorIndex, shape: &[usize]) -> Result<TensorIndex, Error> {
        let (scale, zero_point) = self.act_quant(input)?;
        let output = self.activation(shape, scale, zero_point)?;
        self.push_op(OpDesc::Reshape(ReshapeDesc { input, output }))?;
        Ok(output)
    }

    /// QUANTIZE int8 → int8 into new scale and zero point, multiplier `s_in/s_out`.
    pub fn requantize(&mut self, input: TensorIndex, out: OutQuant) -> Result<TensorIndex, Error> {
        let rescale = requantize_multiplier(self.act_quant(input)?.0, out.scale, self.profile)?;
        let shape: Vec<usize> = self.desc(input)?.shape.iter().map(|&d| d as usize).collect();
        let output = self.activation(&shape, out.scale, out.zero_point)?;
        self.push_op(OpDesc::Requantize(RequantizeDesc { input, output, rescale }))?;
        Ok(output)
    }

    /// MEAN over H and W keeping the reduced dimensions (TFLite MEAN, `keep_dims = true`):
    /// `[n, h, w, c]` → `[n, 1, 1, c]`.
    pub fn mean_keep_dims(&mut self, input: TensorIndex, out: OutQuant) -> Result<TensorIndex, Error> {
        let s = self.shape4(input)?;
        let rescale = requantize_multiplier(self.act_quant(input)?.0, out.scale, self.profile)?;
        let output = self.activation(&[s.n, 1, 1, s.c], out.scale, out.zero_point)?;
        self.push_op(OpDesc::GlobalAveragePool(GlobalAveragePoolDesc { input, output, rescale }))?;
        Ok(output)
    }

    /// PAD a 4-D tensor by `before`/`after` elements per dimension with its zero point (TFLM
    /// pads int8 with the output zero point; the output keeps the input's quantization).
    pub fn pad(&mut self, input: TensorIndex, before: [u16; 4], after: [u16; 4]) -> Result<TensorIndex, Error> {
        let (scale, zero_point) = self.act_quant(input)?;
        let pad_value = i8::try_from(zero_point).map_err(|_| ModelError::BadQuantization { tensor_or_op: input })?;
        let params = kernels::PadParams {
            input: self.shape4(input)?,
            before: before.map(usize::from),
            after: after.map(usize::from),
            pad_value,
        };
        let output = self.activation(&params.output()?.dims(), scale, zero_point)?;
        self.push_op(OpDesc::Pad(PadDesc { input, output, before, after, pad_value }))?;
        Ok(output)
    }

    /// Standalone RELU into `out` (TFLM `CalculateReluOpData`: multiplier `f32(s_in / s_out)`,
    /// clamp `[max(-128, zp_out), 127]`).
    pub fn relu(&mut self, input: TensorIndex, out: OutQuant) -> Result<TensorIndex, Error> {
        let rescale = relu_multiplier(self.act_quant(input)?.0, out.scale, self.profile)?;
        let activation = self.activation_clamp(Activation::Relu, out)?;
        let shape: Vec<usize> = self.desc(input)?.shape.iter().map(|&d| d as usize).collect();
        let output = self.activation(&shape, out.scale, out.zero_point)?;
        self.push_op(OpDesc::Relu(ReluDesc { input, output, rescale, activation }))?;
        Ok(output)
    }

    /// Standalone RELU6 as TFLM runs it: clamp to `[zp_in, quantize(6, s_in, zp_in)]` without
    /// rescaling. `out` is the quantization the output tensor *declares* (TFLM ignores it).
    pub fn relu6(&mut self, input: TensorIndex, out: OutQuant) -> Result<TensorIndex, Error> {
        let (s_in, zp_in) = self.act_quant(input)?;
        let bounds = ActivationRange::new(zp_in, i32::from(crate::arith::quantize::quantize_f32(6.0, s_in, zp_in)));
        bounds.validate()?;
        let shape: Vec<usize> = self.desc(input)?.shape.iter().map(|&d| d as usize).collect();
        let output = self.activation(&shape, out.scale, out.zero_point)?;
        self.push_op(OpDesc::Relu6(Relu6Desc { input, output, bounds }))?;
        Ok(output)
    }

    /// The graph with arena offsets and scratch planned, and the memory figures.
    pub fn plan(&self) -> Result<(Graph, MemoryReport), Error> {
        let input = self.input.ok_or(ModelError::GraphIoOutOfRange { tensor: u16::MAX })?;
        let output = self.output.ok_or(ModelError::GraphIoOutOfRange { tensor: u16::MAX })?;
        let mut graph = Graph {
            arena_size: 0,
            input,
            output,
            tensors: heapless::Vec::new(),
            ops: heapless::Vec::new(),
        };
        for t in &self.tensors {
            graph.tensors.push(t.clone()).map_err(|_| ModelError::TooManyTensors)?;
        }
        for op in &self.ops {
            graph.ops.push(OpEntry { op: *op, scratch: ArenaRegion::default() }).map_err(|_| ModelError::TooManyOps)?;
        }

        // Buffers: every arena tensor that is written or read, then one scratch per op.
        let live = LiveIntervals::of(&graph);
        let mut buffers = Vec::new();
        let mut owners = Vec::new(); // Ok(tensor) or Err(op)
        for (index, t) in graph.tensors.iter().enumerate() {
            if let (Storage::Arena { .. }, Some((first, last))) = (t.storage, live.get(index)) {
                let size = byte_len(t).ok_or(ModelError::ShapeOverflow { tensor: index as u16 })?;
                buffers.push(Buffer { size, first, last });
                owners.push(Ok(index));
            }
        }
        let probe = Model { profile: self.profile, graph: graph.clone(), data: Some(&self.data) };
        for (index, entry) in graph.ops.iter().enumerate() {
            let size = ops::scratch_bytes(&ops::prepare(&probe, index as u16, &entry.op)?);
            if size > 0 {
                buffers.push(Buffer { size, first: index as i32, last: index as i32 });
                owners.push(Err(index));
            }
        }
        let plan = planner::plan(&buffers, ARENA_ALIGN);
        for (owner, &offset) in owners.iter().zip(&plan.offsets) {
            let offset = u32::try_from(offset).map_err(|_| ModelError::ContainerTooLarge)?;
            match *owner {
                Ok(tensor) => graph.tensors[tensor].storage = Storage::Arena { offset },
                Err(op) => {
                    let size = buffers.iter().zip(&owners).find(|(_, o)| **o == Err(op)).map_or(0, |(b, _)| b.size);
                    graph.ops[op].scratch = ArenaRegion { offset, size: size as u32 };
                }
            }
        }
        graph.arena_size = u32::try_from(plan.arena_size).map_err(|_| ModelError::ContainerTooLarge)?;

        let tensors: Vec<&Buffer> = buffers.iter().zip(&owners).filter(|(_, o)| o.is_ok()).map(|(b, _)| b).collect();
        let mut largest_live_pair = tensors.iter().map(|b| b.size).max().unwrap_or(0);
        for (i, a) in tensors.iter().enumerate() {
            for b in &tensors[i + 1..] {
                if a.first <= b.last && b.first <= a.last {
                    largest_live_pair = largest_live_pair.max(a.size + b.size);
                }
            }
        }
        let report = MemoryReport {
            arena_size: plan.arena_size,
            tensor_bytes_total: tensors.iter().map(|b| b.size).sum(),
            largest_live_pair,
            peak_live_bytes: planner::peak_live_bytes(&buffers),
            largest_scratch: buffers.iter().zip(&owners).filter(|(_, o)| o.is_err()).map(|(b, _)| b.size).max().unwrap_or(0),
        };
        Ok((graph, report))
    }

    /// The bare model (`EXQM` header, graph, data): the payload of a `MODL` section. The
    /// trainer writes it into its checkpoints next to its own sections.
    pub fn build_model(&self) -> Result<Vec<u8>, Error> {
        let (graph, _) = self.plan()?;
        let model = encode_model(self.profile, &graph, &self.data)?;
        // Whatever the builder produces, the device must accept: run the device's checks.
        let aligned = AlignedBytes::copy_from(&model);
        super::load::load(&aligned)?;
        Ok(model)
    }

    /// A device blob: a container holding one `MODL` section.
    pub fn build(&self) -> Result<Vec<u8>, Error> {
        let model = self.build_model()?;
        let mut writer = ContainerWriter::new();
        writer.section(MODEL_TAG, &model)?;
        writer.finish()
    }
}

/// Header, postcard graph, zero padding, data (docs/model-format.md).
pub fn encode_model(profile: Profile, graph: &Graph, data: &[u8]) -> Result<Vec<u8>, Error> {
    let graph_bytes = postcard::to_allocvec(graph).map_err(|_| ModelError::GraphDecode)?;
    let too_large = || Error::from(ModelError::ContainerTooLarge);
    let data_offset = align16(MODEL_HEADER_LEN + graph_bytes.len()).ok_or_else(too_large)?;
    let total = data_offset.checked_add(data.len()).ok_or_else(too_large)?;
    let u32_of = |n: usize| u32::try_from(n).map_err(|_| too_large());
    let mut bytes = Vec::with_capacity(total);
    bytes.extend_from_slice(&MODEL_MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.push(profile.to_u8());
    bytes.push(0);
    bytes.extend_from_slice(&u32_of(total - MODEL_HEADER_LEN)?.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]); // CRC, filled below
    bytes.extend_from_slice(&u32_of(graph_bytes.len())?.to_le_bytes());
    bytes.extend_from_slice(&u32_of(data_offset)?.to_le_bytes());
    bytes.extend_from_slice(&u32_of(data.len())?.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&graph_bytes);
    bytes.resize(data_offset, 0);
    bytes.extend_from_slice(data);
    let crc = CRC32.checksum(&bytes[MODEL_HEADER_LEN..]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    Ok(bytes)
}
