//! Float ↔ int8 as TFLite does it, and the TFLite converter's weight and bias quantizers.
//!
//! Sources: TFLite `reference/quantize.h` (`AffineQuantize`), `reference/dequantize.h`,
//! `cppmath.h` (`TfLiteRound` = `std::round`, ties away from zero),
//! `tensorflow/lite/tools/optimize/quantization_utils.cc` (`SymmetricPerChannelQuantization`,
//! `SymmetricPerChannelQuantizeValues`, `SymmetricPerChannelBiasQuantize`).

use crate::Error;

/// Checks an int8 activation zero point.
#[inline]
pub fn check_zero_point_i8(zero_point: i32) -> Result<(), Error> {
    if (i8::MIN as i32..=i8::MAX as i32).contains(&zero_point) {
        Ok(())
    } else {
        Err(Error::ZeroPointOutOfRange)
    }
}

/// `round_half_away(x)` for f32, as C `roundf` / `std::round(float)`.
#[inline]
pub fn round_half_away_f32(x: f32) -> f32 {
    libm::roundf(x)
}

/// `round_half_away_f32(x) as i32` (saturating, NaN → 0), without the float rounding call:
/// truncate toward zero, then step away from zero when the (exact) fractional part is at
/// least one half. Same result for every f32 (`core/tests/arith_quantize.rs` checks all
/// 2^32 of them in an ignored test, a sample of them always); about a third of the
/// instructions, and inlined, so quantizing a whole tensor stays in one tight loop.
#[inline]
pub fn round_half_away_f32_to_i32(x: f32) -> i32 {
    // `as` truncates and saturates (NaN → 0). Below 2^31 in magnitude `t` is `trunc(x)`,
    // an f32 integer, so `t as f32` is exact and so is `x - t`, the fractional part.
    let t = x as i32;
    let frac = x - t as f32;
    if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// `round_half_away(x)` for f64, as C `round`.
#[inline]
pub fn round_half_away_f64(x: f64) -> f64 {
    libm::round(x)
}

/// One value, TFLite QUANTIZE float → int8: `clamp(i32(round_half_away(x / scale)) + zp, -128, 127)`,
/// with the division in f32. The float → i32 conversion saturates (NaN → 0), as Rust's `as`.
#[inline]
pub fn quantize_f32(x: f32, scale: f32, zero_point: i32) -> i8 {
    let q = round_half_away_f32_to_i32(x / scale);
    q.saturating_add(zero_point)
        .clamp(i8::MIN as i32, i8::MAX as i32) as i8
}

/// The QAT weight quantizer for a given (learned) scale: `max(quantize_f32(w, scale, 0), -127)`,
/// symmetric int8 in [-127, 127] as the TFLite weight spec requires — the weights an exported
/// model stores.
///
/// Written without branches or a saturating float → int conversion, so a loop over a tensor
/// vectorises (fine-tuning re-quantizes every weight at every step). Why it equals the
/// composition for every f32 quotient `y = w / scale` (`core/tests/arith_quantize.rs` checks
/// all 2^32 in an ignored test, a sample always):
/// - NaN → 0, as `as` does; rounding is monotonic and ±127 are integers, so clamping `y` to
///   [-127, 127] before rounding gives the clamp of the rounded value;
/// - adding `1.5 · 2^23` rounds `|y| ≤ 127` to the nearest integer `n` (ties to even) and leaves
///   `n` in the low significand bits; `y - n` is exact, and where it is ±1/2 (a tie) the result
///   steps away from zero, as `std::round`.
#[inline]
pub fn quantize_weight_symmetric(w: f32, scale: f32) -> i8 {
    const MAGIC: f32 = 12_582_912.0;
    let y = w / scale;
    let y = if y.is_nan() { 0.0 } else { y };
    let y = y.clamp(-127.0, 127.0);
    let shifted = y + MAGIC;
    let n = shifted - MAGIC;
    let frac = y - n;
    let q = shifted.to_bits() as i32 - MAGIC.to_bits() as i32;
    let away = (frac == 0.5 && y > 0.0) as i32 - (frac == -0.5 && y < 0.0) as i32;
    (q + away) as i8
}

/// One value, TFLite DEQUANTIZE int8 → float: `f32(f64(scale) * (q - zp))`.
#[inline]
pub fn dequantize_i8(q: i8, scale: f32, zero_point: i32) -> f32 {
    (scale as f64 * (q as i32 as f64 - zero_point as f64)) as f32
}

fn check_scale(scale: f32) -> Result<(), Error> {
    if scale.is_finite() && scale > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidScale)
    }
}

/// Quantizes a slice (see [`quantize_f32`]). Errors on a bad scale or zero point, or when
/// `output` is shorter than `input`.
pub fn quantize_slice(
    input: &[f32],
    scale: f32,
    zero_point: i32,
    output: &mut [i8],
) -> Result<(), Error> {
    check_scale(scale)?;
    check_zero_point_i8(zero_point)?;
    if output.len() < input.len() {
        return Err(Error::BufferTooSmall);
    }
    for (o, x) in output.iter_mut().zip(input) {
        *o = quantize_f32(*x, scale, zero_point);
    }
    Ok(())
}

/// Dequantizes a slice (see [`dequantize_i8`]).
pub fn dequantize_slice(
    input: &[i8],
    scale: f32,
    zero_point: i32,
    output: &mut [f32],
) -> Result<(), Error> {
    check_scale(scale)?;
    check_zero_point_i8(zero_point)?;
    if output.len() < input.len() {
        return Err(Error::BufferTooSmall);
    }
    for (o, q) in output.iter_mut().zip(input) {
        *o = dequantize_i8(*q, scale, zero_point);
    }
    Ok(())
}

/// Where the output-channel index sits in a weight tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAxis {
    /// Dimension 0: conv OHWI filters, fully-connected `[out, in]` weights.
    First,
    /// The last dimension: depthwise `[1, kh, kw, out_c]` filters.
    Last,
}

impl ChannelAxis {
    #[inline]
    fn channel_of(self, index: usize, channels: usize, per_channel_len: usize) -> usize {
        match self {
            ChannelAxis::First => index / per_channel_len,
            ChannelAxis::Last => index % channels,
        }
    }
}

/// The TFLite converter's symmetric per-channel int8 weight quantizer.
///
/// For each channel `c`: `half_range = max(|min_c|, |max_c|)` (f32), `scale_c = half_range / 127`,
/// and — computed separately, not as `1/scale_c` — `inv_c = 127 / half_range` (0 if the range
/// is 0); each weight becomes `clamp(round_half_away(w * inv_c), -127, 127)`.
/// `weights.len()` must be a multiple of `channels`; writes `quantized` and `scales`.
pub fn quantize_weights_per_channel(
    weights: &[f32],
    channels: usize,
    axis: ChannelAxis,
    quantized: &mut [i8],
    scales: &mut [f32],
) -> Result<(), Error> {
    if channels == 0 || weights.is_empty() {
        return Err(Error::ZeroSized);
    }
    if weights.len() % channels != 0 {
        return Err(Error::ShapeMismatch);
    }
    if quantized.len() < weights.len() || scales.len() < channels {
        return Err(Error::BufferTooSmall);
    }
    if weights.iter().any(|w| !w.is_finite()) {
        return Err(Error::InvalidParameter);
    }
    let per_channel_len = weights.len() / channels;
    // half_range per channel, accumulated in the scales buffer.
    for s in scales[..channels].iter_mut() {
        *s = 0.0;
    }
    for (i, w) in weights.iter().enumerate() {
        let c = axis.channel_of(i, channels, per_channel_len);
        let a = w.abs();
        if a > scales[c] {
            scales[c] = a;
        }
    }
    const HALF_SCALE: f32 = 127.0;
    for (i, (w, q)) in weights.iter().zip(quantized.iter_mut()).enumerate() {
        let half_range = scales[axis.channel_of(i, channels, per_channel_len)];
        let inv = if half_range == 0.0 {
            0.0
        } else {
            HALF_SCALE / half_range
        };
        let v = round_half_away_f32(*w * inv) as i32;
        *q = v.clamp(-127, 127) as i8;
    }
    for s in scales[..channels].iter_mut() {
        *s /= HALF_SCALE;
    }
    Ok(())
}

/// The TFLite converter's int32 bias quantizer for one value: `s_b = f32(s_in * s_w)`,
/// `inv = f32(1.0 / f64(s_b))` (0 if `s_b == 0`),
/// `clamp(i32(round_half_away(b * inv)), -(2^31 - 1), 2^31 - 1)`.
#[inline]
pub fn quantize_bias_value(bias: f32, input_scale: f32, weight_scale: f32) -> i32 {
    let scale = input_scale * weight_scale;
    let inv = if scale == 0.0 {
        0.0
    } else {
        (1.0 / scale as f64) as f32
    };
    let q = round_half_away_f32(bias * inv) as i32; // saturating cast, NaN -> 0
    q.max(-i32::MAX)
}

/// Quantizes a bias vector with per-channel weight scales (length 1 = per tensor).
pub fn quantize_bias(
    bias: &[f32],
    input_scale: f32,
    weight_scales: &[f32],
    quantized: &mut [i32],
) -> Result<(), Error> {
    check_scale(input_scale)?;
    if bias.is_empty() {
        return Err(Error::ZeroSized);
    }
    if weight_scales.len() != 1 && weight_scales.len() != bias.len() {
        return Err(Error::ChannelCountMismatch);
    }
    if quantized.len() < bias.len() {
        return Err(Error::BufferTooSmall);
    }
    for (c, (b, q)) in bias.iter().zip(quantized.iter_mut()).enumerate() {
        let s_w = if weight_scales.len() == 1 {
            weight_scales[0]
        } else {
            weight_scales[c]
        };
        *q = quantize_bias_value(*b, input_scale, s_w);
    }
    Ok(())
}
