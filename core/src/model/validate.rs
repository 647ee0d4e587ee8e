//! Everything `load` checks about a decoded graph. After `validate` succeeds every index is in
//! range, every shape fits its op, every arena region lies inside the arena, tensors live at the
//! same time never share bytes, and every op's kernel exists in this build.

use super::error::{DataField, ModelError};
use super::format::*;
use super::load::{byte_len, check_data_array, element_count, Model};
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
const MAX_ADD_LEFT_SHIFT: u8 = 20;
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
            if end.is_none_or(|end| end > model.data.len()) {
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
            let scales = check_data_array::<f32>(model.data, scales, index, DataField::ChannelScales)?;
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
    }
}

fn tensor_at<'m>(model: &'m Model<'_>, op: u16, tensor: TensorIndex) -> Result<&'m TensorDesc, Error> {
    model.graph.tensors.get(usize::from(tensor)).ok_or(ModelError::TensorIndexOutOfRange { op, tensor }.into())
}

// ---------------------------------------------------------------- arena

/// The op interval during which an arena tensor must keep its bytes: from the op that writes it
/// (−1 for the graph input) to the last op that reads it (`ops.len()` for the graph output).
pub(crate) fn live_intervals(graph: &Graph) -> [Option<(i32, i32)>; MAX_TENSORS] {
    let mut live: [Option<(i32, i32)>; MAX_TENSORS] = [None; MAX_TENSORS];
    if let Some(slot) = live.get_mut(usize::from(graph.input)) {
        *slot = Some((-1, -1));
    }
    for (index, entry) in graph.ops.iter().enumerate() {
        let i = index as i32;
        for tensor in entry.op.inputs().iter().flatten() {
            if let Some(Some((_, last))) = live.get_mut(usize::from(*tensor)) {
                *last = i;
            }
        }
        if let Some(slot) = live.get_mut(usize::from(entry.op.output())) {
            *slot = Some((i, i));
        }
    }
    if let Some(Some((_, last))) = live.get_mut(usize::from(graph.output)) {
        *last = graph.ops.len() as i32;
    }
    live
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
    let live = live_intervals(graph);
    let tensors = &graph.tensors;
    for (a, ta) in tensors.iter().enumerate() {
        let (Some(ra), Some(Some(la))) = (arena_range(ta), live.get(a)) else { continue };
        for (b, tb) in tensors.iter().enumerate().skip(a + 1) {
            let (Some(rb), Some(Some(lb))) = (arena_range(tb), live.get(b)) else { continue };
            let live_together = la.0 <= lb.1 && lb.0 <= la.1;
            if live_together && overlaps(ra, rb) {
                return err(ModelError::ArenaOverlap { a: a as u16, b: b as u16 });
            }
        }
    }
    for (index, entry) in graph.ops.iter().enumerate() {
        let op = index as u16;
        let needed = super::kernels::scratch_bytes(model, &entry.op).ok_or(ModelError::BadScratch { op })?;
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
            let (Some(rt), Some(Some(lt))) = (arena_range(desc), live.get(t)) else { continue };
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
fn real_multiplier(r: Rescale) -> f64 {
    libm::ldexp(f64::from(r.multiplier), r.shift - 31)
}

fn near(actual: f64, expected: f64, tolerance: f64) -> bool {
    let diff = actual - expected;
    let diff = if diff < 0.0 { -diff } else { diff };
    diff <= tolerance * expected
}

/// A rescale is a normalised TFLite multiplier (`[2^30, 2^31)`, shift in `[−31, 30]`, or the
/// flushed `(0, 0)`) close to the real multiplier the scales give.
fn check_rescale(r: Rescale, expected: f64, owner: u16) -> Result<(), Error> {
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

fn check_activation(range: ActivationRange, op: u16) -> Result<(), Error> {
    if range.min > range.max {
        return err(ModelError::BadOpParams { op });
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

fn dtype_is(t: &TensorDesc, dtype: DType, tensor: TensorIndex) -> Result<(), Error> {
    if t.dtype != dtype {
        return err(ModelError::WrongDtype { tensor });
    }
    Ok(())
}

fn dims<const R: usize>(t: &TensorDesc, op: u16) -> Result<[usize; R], Error> {
    let mut out = [0usize; R];
    if t.shape.len() != R {
        return err(ModelError::ShapeMismatch { op });
    }
    for (o, &d) in out.iter_mut().zip(t.shape.iter()) {
        *o = d as usize;
    }
    Ok(out)
}

// ---------------------------------------------------------------- window geometry

/// Output size of one spatial dimension under TFLite's padding rule, `None` if the window does
/// not fit (VALID) or a parameter is zero.
pub(crate) fn window_output(input: usize, filter: usize, stride: usize, dilation: usize, padding: Padding) -> Option<usize> {
    if filter == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    let effective = (filter - 1).checked_mul(dilation)?.checked_add(1)?;
    let out = match padding {
        Padding::Same => input.checked_add(stride - 1)? / stride,
        Padding::Valid => input.checked_add(stride)?.checked_sub(effective)? / stride,
    };
    (out > 0).then_some(out)
}

/// Padding before the first row/column (TFLite: total / 2, the odd pixel goes after).
pub(crate) fn window_padding(input: usize, filter: usize, stride: usize, dilation: usize, output: usize) -> usize {
    let effective = (filter.saturating_sub(1)).saturating_mul(dilation).saturating_add(1);
    let needed = output.saturating_sub(1).saturating_mul(stride).saturating_add(effective);
    needed.saturating_sub(input) / 2
}

fn check_window(w: &Window, op: u16) -> Result<(), Error> {
    if w.stride_h == 0 || w.stride_w == 0 || w.dilation_h == 0 || w.dilation_w == 0 {
        return err(ModelError::BadOpParams { op });
    }
    Ok(())
}

/// `[n, h, w, c]` in, `[n, oh, ow, *]` out with oh, ow given by the window.
fn check_spatial(input: [usize; 4], output: [usize; 4], kh: usize, kw: usize, w: &Window, op: u16) -> Result<(), Error> {
    let oh = window_output(input[1], kh, usize::from(w.stride_h), usize::from(w.dilation_h), w.padding);
    let ow = window_output(input[2], kw, usize::from(w.stride_w), usize::from(w.dilation_w), w.padding);
    if output[0] != input[0] || Some(output[1]) != oh || Some(output[2]) != ow {
        return err(ModelError::ShapeMismatch { op });
    }
    Ok(())
}

// ---------------------------------------------------------------- ops

fn check_op(model: &Model<'_>, op: u16, desc: &OpDesc) -> Result<(), Error> {
    if !super::kernels::available(desc) {
        return err(ModelError::KernelUnavailable { op });
    }
    // Every activation operand is int8, per-tensor quantized (checked per tensor already).
    let t = |i: TensorIndex| tensor_at(model, op, i);
    match desc {
        OpDesc::Conv2d(d) => {
            let (input, filter, output) = (t(d.input)?, t(d.filter)?, t(d.output)?);
            dtype_is(filter, DType::Int8, d.filter)?;
            let [n, h, w, ic] = dims::<4>(input, op)?;
            let [oc, kh, kw, fic] = dims::<4>(filter, op)?;
            let out = dims::<4>(output, op)?;
            check_window(&d.window, op)?;
            if fic != ic || out[3] != oc {
                return err(ModelError::ShapeMismatch { op });
            }
            check_spatial([n, h, w, ic], out, kh, kw, &d.window, op)?;
            check_activation(d.activation, op)?;
            check_channel_rescale(model, op, input, filter, 0, d.bias, output, oc, d.rescale)
        }
        OpDesc::DepthwiseConv2d(d) => {
            let (input, filter, output) = (t(d.input)?, t(d.filter)?, t(d.output)?);
            dtype_is(filter, DType::Int8, d.filter)?;
            let [n, h, w, ic] = dims::<4>(input, op)?;
            let [one, kh, kw, oc] = dims::<4>(filter, op)?;
            let out = dims::<4>(output, op)?;
            check_window(&d.window, op)?;
            let multiplier = usize::from(d.depth_multiplier);
            if multiplier == 0 {
                return err(ModelError::BadOpParams { op });
            }
            if one != 1 || ic.checked_mul(multiplier) != Some(oc) || out[3] != oc {
                return err(ModelError::ShapeMismatch { op });
            }
            check_spatial([n, h, w, ic], out, kh, kw, &d.window, op)?;
            check_activation(d.activation, op)?;
            check_channel_rescale(model, op, input, filter, 3, d.bias, output, oc, d.rescale)
        }
        OpDesc::FullyConnected(d) => {
            let (input, weights, output) = (t(d.input)?, t(d.weights)?, t(d.output)?);
            dtype_is(weights, DType::Int8, d.weights)?;
            let [out_features, in_features] = dims::<2>(weights, op)?;
            let in_elements = element_count(input).unwrap_or(0);
            if in_features == 0 || in_elements % in_features != 0 {
                return err(ModelError::ShapeMismatch { op });
            }
            let batches = in_elements / in_features;
            if output.shape.last().map(|&d| d as usize) != Some(out_features)
                || element_count(output) != batches.checked_mul(out_features)
            {
                return err(ModelError::ShapeMismatch { op });
            }
            check_activation(d.activation, op)?;
            check_channel_rescale(model, op, input, weights, 0, d.bias, output, out_features, d.rescale)
        }
        OpDesc::Add(d) => {
            let (a, b, out) = (t(d.input1)?, t(d.input2)?, t(d.output)?);
            if a.shape != b.shape || a.shape != out.shape {
                return err(ModelError::ShapeMismatch { op });
            }
            if d.left_shift > MAX_ADD_LEFT_SHIFT {
                return err(ModelError::BadOpParams { op });
            }
            check_activation(d.activation, op)?;
            let (sa, sb, so) = (per_tensor(a, op)?.0 as f64, per_tensor(b, op)?.0 as f64, per_tensor(out, op)?.0 as f64);
            let twice_max = 2.0 * if sa > sb { sa } else { sb };
            check_rescale(d.input1_rescale, sa / twice_max, op)?;
            check_rescale(d.input2_rescale, sb / twice_max, op)?;
            check_rescale(d.output_rescale, twice_max / (libm::ldexp(1.0, i32::from(d.left_shift)) * so), op)?;
            // The input multipliers are below one: TFLite's `QuantizeMultiplierSmallerThanOneExp`.
            if d.input1_rescale.shift > 0 || d.input2_rescale.shift > 0 {
                return err(ModelError::BadQuantization { tensor_or_op: op });
            }
            Ok(())
        }
        OpDesc::Mul(d) => {
            let (a, b, out) = (t(d.input1)?, t(d.input2)?, t(d.output)?);
            if a.shape != b.shape || a.shape != out.shape {
                return err(ModelError::ShapeMismatch { op });
            }
            check_activation(d.activation, op)?;
            let expected = per_tensor(a, op)?.0 as f64 * per_tensor(b, op)?.0 as f64 / per_tensor(out, op)?.0 as f64;
            check_rescale(d.output_rescale, expected, op)
        }
        OpDesc::AveragePool2d(d) | OpDesc::MaxPool2d(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            let inp = dims::<4>(input, op)?;
            let out = dims::<4>(output, op)?;
            check_window(&d.window, op)?;
            if d.window.dilation_h != 1 || d.window.dilation_w != 1 {
                return err(ModelError::BadOpParams { op });
            }
            if out[3] != inp[3] {
                return err(ModelError::ShapeMismatch { op });
            }
            check_spatial(inp, out, usize::from(d.filter_h), usize::from(d.filter_w), &d.window, op)?;
            check_activation(d.activation, op)?;
            same_quantization(input, output, op)
        }
        OpDesc::GlobalAveragePool(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            let [n, _, _, c] = dims::<4>(input, op)?;
            let out_ok = match output.shape.as_slice() {
                [on, 1, 1, oc] | [on, oc] => *on as usize == n && *oc as usize == c,
                _ => false,
            };
            if !out_ok {
                return err(ModelError::ShapeMismatch { op });
            }
            check_activation(d.activation, op)?;
            let expected = per_tensor(input, op)?.0 as f64 / per_tensor(output, op)?.0 as f64;
            check_rescale(d.output_rescale, expected, op)
        }
        OpDesc::Softmax(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            if input.shape != output.shape {
                return err(ModelError::ShapeMismatch { op });
            }
            per_tensor(input, op)?;
            let (scale, zero_point) = per_tensor(output, op)?;
            if scale != SOFTMAX_OUTPUT_SCALE || zero_point != SOFTMAX_OUTPUT_ZERO_POINT {
                return err(ModelError::BadQuantization { tensor_or_op: op });
            }
            let shift_ok = (0..=31).contains(&d.input_left_shift);
            if !shift_ok || d.input_multiplier < (1 << 30) {
                return err(ModelError::BadQuantization { tensor_or_op: op });
            }
            if i64::from(d.diff_min) != -(SOFTMAX_RADIUS_NUMERATOR >> d.input_left_shift) {
                return err(ModelError::BadOpParams { op });
            }
            Ok(())
        }
        OpDesc::Reshape(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            if element_count(input) != element_count(output) {
                return err(ModelError::ShapeMismatch { op });
            }
            same_quantization(input, output, op)
        }
        OpDesc::Requantize(d) => {
            let (input, output) = (t(d.input)?, t(d.output)?);
            if input.shape != output.shape {
                return err(ModelError::ShapeMismatch { op });
            }
            let expected = per_tensor(input, op)?.0 as f64 / per_tensor(output, op)?.0 as f64;
            check_rescale(d.rescale, expected, op)
        }
    }
}

/// Conv, depthwise and fully connected: bias shape and scale, one rescale per output channel,
/// each matching `s_in · s_w[c] / s_out`.
#[allow(clippy::too_many_arguments)]
fn check_channel_rescale(
    model: &Model<'_>,
    op: u16,
    input: &TensorDesc,
    weights: &TensorDesc,
    weight_axis: u8,
    bias: Option<TensorIndex>,
    output: &TensorDesc,
    channels: usize,
    rescale: DataRef,
) -> Result<(), Error> {
    let bad = ModelError::BadQuantization { tensor_or_op: op };
    let s_in = f64::from(per_tensor(input, op)?.0);
    let s_out = f64::from(per_tensor(output, op)?.0);
    if rescale.len as usize != channels {
        return err(bad);
    }
    let pairs_ref = DataRef { offset: rescale.offset, len: rescale.len.checked_mul(2).ok_or(bad)? };
    let pairs = check_data_array::<i32>(model.data, pairs_ref, op, DataField::ChannelRescale)?;
    let bias = match bias {
        Some(index) => {
            let b = tensor_at(model, op, index)?;
            dtype_is(b, DType::Int32, index)?;
            if dims::<1>(b, op)? != [channels] {
                return err(ModelError::ShapeMismatch { op });
            }
            Some(b)
        }
        None => None,
    };
    for (c, pair) in pairs.chunks_exact(2).enumerate() {
        let (multiplier, shift) = match pair {
            [m, s] => (*m, *s),
            _ => return err(bad),
        };
        let s_w = f64::from(channel_scale(model, weights, weight_axis, c, op)?);
        if let Some(b) = bias {
            let s_b = f64::from(channel_scale(model, b, 0, c, op)?);
            if !near(s_in * s_w, s_b, BIAS_SCALE_TOLERANCE * s_out / s_b) {
                return err(bad);
            }
        }
        check_rescale(Rescale { multiplier, shift }, s_in * s_w / s_out, op)?;
    }
    Ok(())
}
