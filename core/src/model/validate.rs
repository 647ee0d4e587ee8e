//! Everything `load` checks about a decoded graph. After `validate` succeeds every index is in
//! range, every shape fits its op, every arena region lies inside the arena, tensors live at the
//! same time never share bytes, and every op's kernel exists in this build.

use super::error::{DataField, ModelError};
use super::format::*;
use super::ops;
use super::load::{byte_len, check_data_array, Model};
use crate::error::Error;

/// Relative tolerance between a stored (multiplier, shift) and the real multiplier its scales
/// imply. Any correct derivation (double or float32 products) is within 1e-6; a multiplier of
/// another layer or a stale scale is far outside.
const RESCALE_TOLERANCE: f64 = 1e-3;
/// TFLite's bound on `|s_in·s_w − s_bias| / s_out` (`GetQuantizedConvolutionMultipler`).
const BIAS_SCALE_TOLERANCE: f64 = 0.02;
/// Softmax int8 output quantization fixed by TFLite.
const SOFTMAX_OUTPUT_SCALE: f32 = 1.0 / 256.0;
const SOFTMAX_OUTPUT_ZERO_POINT: i32 = -128;
/// Largest `left_shift` of ADD whose shifted int8 differences still fit in i32.
const MAX_ADD_LEFT_SHIFT: i32 = 20;
/// `(2^5 − 1) · 2^(31 − 5)`: the softmax input radius before the left shift (`CalculateInputRadius`).
const SOFTMAX_RADIUS_NUMERATOR: i64 = 31 << 26;

fn err<T>(e: ModelError) -> Result<T, Error> {
    Err(e.into())
}

/// The checks of one graph, run once at load.
pub(crate) fn validate(model: &Model<'_>) -> Result<(), Error> {
    let graph = &model.graph;
    if graph.ops.is_empty() {
        return err(ModelError::EmptyGraph);
    }
    for (index, tensor) in graph.tensors.iter().enumerate() {
        check_tensor(model, index as u16, tensor)?;
    }
    for io in [graph.input, graph.output] {
        let t = graph.tensors.get(usize::from(io)).ok_or(ModelError::GraphIoOutOfRange { tensor: io })?;
        if !matches!(t.storage, Storage::Arena { .. }) {
            return err(ModelError::WrongStorage { tensor: io });
        }
    }
    check_dataflow(model)?;
    for (index, entry) in graph.ops.iter().enumerate() {
        let op = index as u16;
        check_op(model, op, &entry.op)?;
    }
    check_arena(model)
}

// ---------------------------------------------------------------- tensors

fn check_tensor(model: &Model<'_>, index: u16, t: &TensorDesc) -> Result<(), Error> {
    if t.shape.is_empty() {
        return err(ModelError::BadRank { tensor: index });
    }
    if t.shape.contains(&0) {
        return err(ModelError::ZeroDimension { tensor: index });
    }
    let bytes = byte_len(t).filter(|&b| u32::try_from(b).is_ok()).ok_or(ModelError::ShapeOverflow { tensor: index })?;
    match t.storage {
        Storage::Arena { offset } => {
            if t.dtype != DType::Int8 {
                return err(ModelError::WrongDtype { tensor: index });
            }
            check_arena_region(model, offset, bytes, index)?;
        }
        Storage::Constant { offset } => {
            if offset as usize % t.dtype.size() != 0 {
                return err(ModelError::DataMisaligned { tensor_or_op: index, field: DataField::TensorData });
            }
            let end = (offset as usize).checked_add(bytes);
            if end.is_none_or(|end| end > model.data().len()) {
                return err(ModelError::DataOutOfRange { tensor_or_op: index, field: DataField::TensorData });
            }
        }
    }
    let bad_quant = ModelError::BadQuantization { tensor_or_op: index };
    match t.quantization {
        Quantization::PerTensor { scale, zero_point } => {
            if !valid_scale(scale) {
                return err(bad_quant);
            }
            let zero_point_ok = match (t.dtype, t.storage) {
                (DType::Int8, Storage::Arena { .. }) => i8::try_from(zero_point).is_ok(),
                // Weights are symmetric, biases have zero point 0.
                _ => zero_point == 0,
            };
            if !zero_point_ok {
                return err(bad_quant);
            }
        }
        Quantization::PerChannel { axis, scales, zero_point } => {
            if matches!(t.storage, Storage::Arena { .. }) || zero_point != 0 {
                return err(bad_quant);
            }
            let channels = t.shape.get(usize::from(axis)).ok_or(bad_quant)?;
            if scales.len != *channels {
                return err(bad_quant);
            }
            let scales = check_data_array::<f32>(model.data(), scales, index, DataField::ChannelScales)?;
            if !scales.iter().all(|&s| valid_scale(s)) {
                return err(bad_quant);
            }
        }
    }
    Ok(())
}

fn valid_scale(scale: f32) -> bool {
    scale.is_finite() && scale > 0.0
}

fn check_arena_region(model: &Model<'_>, offset: u32, bytes: usize, owner: u16) -> Result<(), Error> {
    let end = (offset as usize).checked_add(bytes);
    if offset as usize % ARENA_ALIGN != 0 || end.is_none_or(|end| end > model.graph.arena_size as usize) {
        return err(ModelError::ArenaRegionOutOfRange { tensor_or_op: owner });
    }
    Ok(())
}

// ---------------------------------------------------------------- dataflow

/// Every index in range, constants only where constants belong, every activation written once
/// before it is read, the output written.
fn check_dataflow(model: &Model<'_>) -> Result<(), Error> {
    let graph = &model.graph;
    let mut written = [false; MAX_TENSORS];
    if let Some(w) = written.get_mut(usize::from(graph.input)) {
        *w = true;
    }
    for (index, entry) in graph.ops.iter().enumerate() {
        let op = index as u16;
        let (activations, constants) = operand_roles(&entry.op);
        for tensor in activations.iter().flatten().copied() {
            let t = tensor_at(model, op, tensor)?;
            if !matches!(t.storage, Storage::Arena { .. }) {
                return err(ModelError::WrongStorage { tensor });
            }
            if !written.get(usize::from(tensor)).copied().unwrap_or(false) {
                return err(ModelError::ReadBeforeWrite { op, tensor });
            }
        }
        for tensor in constants.iter().flatten().copied() {
            if !matches!(tensor_at(model, op, tensor)?.storage, Storage::Constant { .. }) {
                return err(ModelError::WrongStorage { tensor });
            }
        }
        let output = entry.op.output();
        if !matches!(tensor_at(model, op, output)?.storage, Storage::Arena { .. }) {
            return err(ModelError::WrongStorage { tensor: output });
        }
        let slot = written.get_mut(usize::from(output)).ok_or(ModelError::TensorIndexOutOfRange { op, tensor: output })?;
        if *slot {
            return err(ModelError::WrittenTwice { tensor: output });
        }
        *slot = true;
    }
    if !written.get(usize::from(graph.output)).copied().unwrap_or(false) || graph.output == graph.input {
        return err(ModelError::OutputNotWritten);
    }
    Ok(())
}

/// (activation inputs, constant inputs) of an op.
fn operand_roles(op: &OpDesc) -> ([Option<TensorIndex>; 2], [Option<TensorIndex>; 2]) {
    match op {
        OpDesc::Conv2d(d) => ([Some(d.input), None], [Some(d.filter), d.bias]),
        OpDesc::DepthwiseConv2d(d) => ([Some(d.input), None], [Some(d.filter), d.bias]),
        OpDesc::FullyConnected(d) => ([Some(d.input), None], [Some(d.weights), d.bias]),
        OpDesc::Add(d) => ([Some(d.input1), Some(d.input2)], [None, None]),
        OpDesc::Mul(d) => ([Some(d.input1), Some(d.input2)], [None, None]),
        OpDesc::AveragePool2d(d) | OpDesc::MaxPool2d(d) => ([Some(d.input), None], [None, None]),
        OpDesc::GlobalAveragePool(d) => ([Some(d.input), None], [None, None]),
        OpDesc::Softmax(d) => ([Some(d.input), None], [None, None]),
        OpDesc::Reshape(d) => ([Some(d.input), None], [None, None]),
        OpDesc::Requantize(d) => ([Some(d.input), None], [None, None]),
        OpDesc::Pad(d) => ([Some(d.input), None], [None, None]),
        OpDesc::Relu(d) => ([Some(d.input), None], [None, None]),
        OpDesc::Relu6(d) => ([Some(d.input), None], [None, None]),
    }
}

fn tensor_at<'m>(model: &'m Model<'_>, op: u16, tensor: TensorIndex) -> Result<&'m TensorDesc, Error> {
    model.graph.tensors.get(usize::from(tensor)).ok_or(ModelError::TensorIndexOutOfRange { op, tensor }.into())
}

// ---------------------------------------------------------------- arena

/// The op interval during which each arena tensor must keep its bytes: from the op that writes
/// it (−1 for the graph input) to the last op that reads it (`ops.len()` for the graph output).
/// Stored as `(first + 1, last + 1)` bytes (ops ≤ [`MAX_OPS`]), 2 bytes a tensor: this table
/// is on `load`'s stack.
pub(crate) struct LiveIntervals {
    ranges: [(u8, u8); MAX_TENSORS],
}

/// Never live (not an arena tensor, or neither written nor the graph input).
const NOT_LIVE: (u8, u8) = (u8::MAX, u8::MAX);
const _: () = assert!(MAX_OPS + 1 < u8::MAX as usize);

impl LiveIntervals {
    pub(crate) fn of(graph: &Graph) -> Self {
        let mut ranges = [NOT_LIVE; MAX_TENSORS];
        // Op `i` is stored as `i + 1`; `ops.len() <= MAX_OPS` (a heapless capacity).
        let stored = |i: usize| u8::try_from(i + 1).unwrap_or(u8::MAX - 1);
        if let Some(slot) = ranges.get_mut(usize::from(graph.input)) {
            *slot = (0, 0);
        }
        for (index, entry) in graph.ops.iter().enumerate() {
            for tensor in entry.op.inputs().iter().flatten() {
                if let Some(slot) = ranges.get_mut(usize::from(*tensor)) {
                    if *slot != NOT_LIVE {
                        slot.1 = stored(index);
                    }
                }
            }
            if let Some(slot) = ranges.get_mut(usize::from(entry.op.output())) {
                *slot = (stored(index), stored(index));
            }
        }
        if let Some(slot) = ranges.get_mut(usize::from(graph.output)) {
            if *slot != NOT_LIVE {
                slot.1 = stored(graph.ops.len());
            }
        }
        LiveIntervals { ranges }
    }

    /// `(first, last)` op of tensor `t`, `None` if it is never live.
    pub(crate) fn get(&self, t: usize) -> Option<(i32, i32)> {
        match self.ranges.get(t) {
            Some(&range) if range != NOT_LIVE => Some((i32::from(range.0) - 1, i32::from(range.1) - 1)),
            _ => None,
        }
    }
}

fn arena_range(t: &TensorDesc) -> Option<(usize, usize)> {
    match t.storage {
        Storage::Arena { offset } => Some((offset as usize, (offset as usize).checked_add(byte_len(t)?)?)),
        Storage::Constant { .. } => None,
    }
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Tensors live at the same time never share bytes; each scratch buffer is big enough, inside
/// the arena and apart from every tensor live during its op.
fn check_arena(model: &Model<'_>) -> Result<(), Error> {
    let graph = &model.graph;
    let live = LiveIntervals::of(graph);
    let tensors = &graph.tensors;
    for (a, ta) in tensors.iter().enumerate() {
        let (Some(ra), Some(la)) = (arena_range(ta), live.get(a)) else { continue };
        for (b, tb) in tensors.iter().enumerate().skip(a + 1) {
            let (Some(rb), Some(lb)) = (arena_range(tb), live.get(b)) else { continue };
            let live_together = la.0 <= lb.1 && lb.0 <= la.1;
            if live_together && overlaps(ra, rb) {
                return err(ModelError::ArenaOverlap { a: a as u16, b: b as u16 });
            }
        }
    }
    for (index, entry) in graph.ops.iter().enumerate() {
        let op = index as u16;
        let needed = ops::scratch_bytes(&ops::prepare(model, op, &entry.op)?);
        let scratch = entry.scratch;
        if (scratch.size as usize) < needed {
            return err(ModelError::BadScratch { op });
        }
        if scratch.size == 0 {
            continue;
        }
        check_arena_region(model, scratch.offset, scratch.size as usize, op)?;
        let rs = (scratch.offset as usize, scratch.offset as usize + scratch.size as usize);
        for (t, desc) in tensors.iter().enumerate() {
            let (Some(rt), Some(lt)) = (arena_range(desc), live.get(t)) else { continue };
            if lt.0 <= index as i32 && index as i32 <= lt.1 && overlaps(rs, rt) {
                return err(ModelError::BadScratch { op });
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- quantization helpers

/// Scale and zero point of a per-tensor quantized tensor.
fn per_tensor(t: &TensorDesc, owner: u16) -> Result<(f32, i32), Error> {
    match t.quantization {
        Quantization::PerTensor { scale, zero_point } => Ok((scale, zero_point)),
        Quantization::PerChannel { .. } => err(ModelError::BadQuantization { tensor_or_op: owner }),
    }
}

/// Scale of channel `c` of a weight or bias tensor quantized along `axis` (or per tensor).
fn channel_scale(model: &Model<'_>, t: &TensorDesc, axis: u8, c: usize, owner: u16) -> Result<f32, Error> {
    let bad = ModelError::BadQuantization { tensor_or_op: owner };
    match t.quantization {
        Quantization::PerTensor { scale, .. } => Ok(scale),
        Quantization::PerChannel { axis: a, scales, .. } if a == axis => model
            .channel_scales(scales)
            .and_then(|s| s.get(c))
            .copied()
            .ok_or(bad.into()),
        Quantization::PerChannel { .. } => err(bad),
    }
}

/// `multiplier · 2^(shift − 31)`.
fn real_multiplier(r: QuantizedMultiplier) -> f64 {
    libm::ldexp(f64::from(r.multiplier), r.shift - 31)
}

fn near(actual: f64, expected: f64, tolerance: f64) -> bool {
    let diff = actual - expected;
    let diff = if diff < 0.0 { -diff } else { diff };
    diff <= tolerance * expected
}

/// A rescale is a normalised TFLite multiplier (`[2^30, 2^31)`, shift in `[−31, 30]`, or the
/// flushed `(0, 0)`) close to the real multiplier the scales give.
fn check_rescale(r: QuantizedMultiplier, expected: f64, owner: u16) -> Result<(), Error> {
    let bad = ModelError::BadQuantization { tensor_or_op: owner };
    if r.multiplier == 0 {
        // QuantizeMultiplier flushes multipliers below about 2^-32 to (0, 0).
        return if r.shift == 0 && expected < libm::ldexp(1.0, -31) { Ok(()) } else { err(bad) };
    }
    let normalised = r.multiplier >= (1 << 30) && (-31..=30).contains(&r.shift);
    if !normalised || !near(real_multiplier(r), expected, RESCALE_TOLERANCE) {
        return err(bad);
    }
    Ok(())
}


fn same_quantization(a: &TensorDesc, b: &TensorDesc, op: u16) -> Result<(), Error> {
    let (sa, za) = per_tensor(a, op)?;
    let (sb, zb) = per_tensor(b, op)?;
    if sa.to_bits() != sb.to_bits() || za != zb {
        return err(ModelError::BadQuantization { tensor_or_op: op });
    }
    Ok(())
}



// ---------------------------------------------------------------- ops

/// Shapes and parameters through the kernel's own checks ([`ops::prepare`]), then the
/// quantization: every multiplier close to what the tensors' scales give.
fn check_op(model: &Model<'_>, op: u16, desc: &OpDesc) -> Result<(), Error> {
    if !ops::available(desc) {
        return err(ModelError::KernelUnavailable { op });
    }
    ops::prepare(model, op, desc)?;
    let t = |i: TensorIndex| tensor_at(model, op, i);
    let scale = |i: TensorIndex| -> Result<f64, Error> { Ok(f64::from(per_tensor(t(i)?, op)?.0)) };
    match desc {
        OpDesc::Conv2d(d) => {
            check_channel_rescale(model, op, t(d.input)?, t(d.filter)?, 0, d.bias, t(d.output)?, d.rescale)
        }
        OpDesc::DepthwiseConv2d(d) => {
            check_channel_rescale(model, op, t(d.input)?, t(d.filter)?, 3, d.bias, t(d.output)?, d.rescale)
        }
        OpDesc::FullyConnected(d) => {
            check_channel_rescale(model, op, t(d.input)?, t(d.weights)?, 0, d.bias, t(d.output)?, d.rescale)
        }
        OpDesc::Add(d) => {
            let m = d.multipliers;
            if m.left_shift < 0 || m.left_shift > MAX_ADD_LEFT_SHIFT {
                return err(ModelError::BadOpParams { op });
            }
            let (sa, sb, so) = (scale(d.input1)?, scale(d.input2)?, scale(d.output)?);
            let twice_max = 2.0 * if sa > sb { sa } else { sb };
            check_rescale(m.input1, sa / twice_max, op)?;
            check_rescale(m.input2, sb / twice_max, op)?;
            check_rescale(m.output, twice_max / (libm::ldexp(1.0, m.left_shift) * so), op)?;
            // TFLite's `QuantizeMultiplierSmallerThanOneExp`: no left shift in the three rescales.
            if m.input1.shift > 0 || m.input2.shift > 0 || m.output.shift > 0 {
                return err(ModelError::BadQuantization { tensor_or_op: op });
            }
            Ok(())
        }
        OpDesc::Mul(d) => check_rescale(d.rescale, scale(d.input1)? * scale(d.input2)? / scale(d.output)?, op),
        OpDesc::AveragePool2d(d) | OpDesc::MaxPool2d(d) => same_quantization(t(d.input)?, t(d.output)?, op),
        OpDesc::GlobalAveragePool(d) => check_rescale(d.rescale, scale(d.input)? / scale(d.output)?, op),
        OpDesc::Softmax(d) => {
            scale(d.input)?;
            let (s_out, zp_out) = per_tensor(t(d.output)?, op)?;
            if s_out != SOFTMAX_OUTPUT_SCALE || zp_out != SOFTMAX_OUTPUT_ZERO_POINT {
                return err(ModelError::BadQuantization { tensor_or_op: op });
            }
            let shift = d.multiplier.input.shift;
            if !(0..=31).contains(&shift) || d.multiplier.input.multiplier < (1 << 30) {
                return err(ModelError::BadQuantization { tensor_or_op: op });
            }
            if i64::from(d.multiplier.diff_min) != -(SOFTMAX_RADIUS_NUMERATOR >> shift) {
                return err(ModelError::BadOpParams { op });
            }
            Ok(())
        }
        OpDesc::Reshape(d) => same_quantization(t(d.input)?, t(d.output)?, op),
        OpDesc::Requantize(d) => check_rescale(d.rescale, scale(d.input)? / scale(d.output)?, op),
        OpDesc::Pad(d) => {
            same_quantization(t(d.input)?, t(d.output)?, op)?;
            if i32::from(d.pad_value) != per_tensor(t(d.output)?, op)?.1 {
                return err(ModelError::BadOpParams { op });
            }
            Ok(())
        }
        OpDesc::Relu(d) => {
            let (s_out, zp_out) = per_tensor(t(d.output)?, op)?;
            if d.activation.min != zp_out.max(-128) || d.activation.max != 127 {
                return err(ModelError::BadOpParams { op });
            }
            check_rescale(d.rescale, scale(d.input)? / f64::from(s_out), op)
        }
        OpDesc::Relu6(d) => {
            let (s_in, zp_in) = per_tensor(t(d.input)?, op)?;
            let six = i32::from(crate::arith::quantize::quantize_f32(6.0, s_in, zp_in));
            if d.bounds.min != zp_in || d.bounds.max != six {
                return err(ModelError::BadOpParams { op });
            }
            Ok(())
        }
    }
}

/// Conv, depthwise and fully connected: bias scale within TFLite's tolerance of `s_in·s_w[c]`
/// and each channel's multiplier matching `s_in · s_w[c] / s_out`. Counts and shapes were
/// checked by [`ops::prepare`].
#[allow(clippy::too_many_arguments)]
fn check_channel_rescale(
    model: &Model<'_>,
    op: u16,
    input: &TensorDesc,
    weights: &TensorDesc,
    weight_axis: u8,
    bias: Option<TensorIndex>,
    output: &TensorDesc,
    rescale: DataRef,
) -> Result<(), Error> {
    let s_in = f64::from(per_tensor(input, op)?.0);
    let s_out = f64::from(per_tensor(output, op)?.0);
    let pairs = check_data_array::<QuantizedMultiplier>(model.data(), rescale, op, DataField::ChannelRescale)?;
    let bias = match bias {
        Some(index) => Some(tensor_at(model, op, index)?),
        None => None,
    };
    for (c, m) in pairs.iter().enumerate() {
        let s_w = f64::from(channel_scale(model, weights, weight_axis, c, op)?);
        if let Some(b) = bias {
            if b.shape.len() != 1 {
                return err(ModelError::ShapeMismatch { op });
            }
            let s_b = f64::from(channel_scale(model, b, 0, c, op)?);
            if !near(s_in * s_w, s_b, BIAS_SCALE_TOLERANCE * s_out / s_b) {
                return err(ModelError::BadQuantization { tensor_or_op: op });
            }
        }
        check_rescale(*m, s_in * s_w / s_out, op)?;
    }
    Ok(())
}
