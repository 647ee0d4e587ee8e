//! Real multiplier → `(multiplier, shift)`, and TFLite's exact per-op derivations.
//!
//! Sources: TFLite `tensorflow/lite/kernels/internal/quantization_util.cc` (`QuantizeMultiplier`,
//! `QuantizeMultiplierSmallerThanOneExp`, `QuantizeMultiplierGreaterThanOne`,
//! `PreprocessSoftmaxScaling`, `CalculateInputRadius`), `tensorflow/lite/kernels/kernel_util.cc`
//! (`PopulateConvolutionQuantizationParams`, `GetQuantizedConvolutionMultipler`), TFLM
//! `micro/kernels/{add_common,mul_common,quantize_common,softmax_common,reduce_common,activations_common}.cc`.

use serde::{Deserialize, Serialize};

use super::requantize::Profile;
use crate::Error;

/// A real multiplier `M ≈ multiplier * 2^(shift - 31)` (TFLite convention: `shift > 0` is a
/// left shift). `multiplier` is in `[2^30, 2^31 - 1]`, or 0 for `M == 0`.
// `repr(C)` + `Pod`: the model format stores per-channel pairs as `[m0, s0, m1, s1, ...]`
// and the interpreter borrows them in place as `&[QuantizedMultiplier]`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
pub struct QuantizedMultiplier {
    /// Q0.31 mantissa.
    pub multiplier: i32,
    /// Power-of-two exponent; positive means shift left.
    pub shift: i32,
}

impl QuantizedMultiplier {
    /// The zero multiplier `(0, 0)`.
    pub const ZERO: QuantizedMultiplier = QuantizedMultiplier {
        multiplier: 0,
        shift: 0,
    };

    /// A multiplier from its two integers (not validated; see [`QuantizedMultiplier::validate`]).
    pub const fn new(multiplier: i32, shift: i32) -> Self {
        QuantizedMultiplier { multiplier, shift }
    }

    /// Checks the integers are usable in `profile`: `multiplier >= 0` and
    /// `shift` in `[profile.min_shift(), profile.max_shift()]`.
    pub fn validate(&self, profile: Profile) -> Result<(), Error> {
        if self.multiplier < 0 {
            return Err(Error::MultiplierOutOfRange);
        }
        if self.shift < profile.min_shift() || self.shift > profile.max_shift() {
            return Err(Error::ShiftOutOfRange);
        }
        Ok(())
    }
}

/// `frexp` and half-away rounding on f64 without std (the `libm` crate).
#[inline]
fn frexp(x: f64) -> (f64, i32) {
    libm::frexp(x)
}

/// TFLite `QuantizeMultiplier(double)`.
///
/// `M = q * 2^e` with `q` in `[0.5, 1)`; `q` becomes `round_half_away(q * 2^31)`; a result of
/// `2^31` is renormalised to `(2^30, e + 1)`; `e < -31` flushes to `(0, 0)`; the single-rounding
/// profile also caps `e > 30` at `(2^31 - 1, 30)`. `M == 0` gives `(0, 0)`. Errors on a
/// non-finite `M`.
pub fn quantize_multiplier(real: f64, profile: Profile) -> Result<QuantizedMultiplier, Error> {
    if !real.is_finite() {
        return Err(Error::InvalidScale);
    }
    if real == 0.0 {
        return Ok(QuantizedMultiplier::ZERO);
    }
    let (q, mut shift) = frexp(real);
    // |q * 2^31| is in [2^30, 2^31): exact in f64, and its rounding fits i64.
    let mut q_fixed = libm::round(q * (1u64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    if profile == Profile::TfliteSingle && shift > 30 {
        shift = 30;
        q_fixed = (1i64 << 31) - 1;
    }
    // q_fixed is in [-2^31, 2^31 - 1] here.
    Ok(QuantizedMultiplier {
        multiplier: q_fixed as i32,
        shift,
    })
}

/// TFLite `QuantizeMultiplierSmallerThanOneExp`: requires `0 < M < 1`; the shift is `<= 0`.
pub fn quantize_multiplier_smaller_than_one_exp(
    real: f64,
    profile: Profile,
) -> Result<QuantizedMultiplier, Error> {
    if !(real > 0.0 && real < 1.0) {
        return Err(Error::InvalidScale);
    }
    let m = quantize_multiplier(real, profile)?;
    if m.shift > 0 {
        return Err(Error::ShiftOutOfRange);
    }
    Ok(m)
}

/// TFLite `QuantizeMultiplierGreaterThanOne`: requires `M > 1`; the shift is `>= 0`.
pub fn quantize_multiplier_greater_than_one(
    real: f64,
    profile: Profile,
) -> Result<QuantizedMultiplier, Error> {
    if !(real > 1.0 && real.is_finite()) {
        return Err(Error::InvalidScale);
    }
    let m = quantize_multiplier(real, profile)?;
    if m.shift < 0 {
        return Err(Error::ShiftOutOfRange);
    }
    Ok(m)
}

fn check_scale(scale: f32) -> Result<(), Error> {
    if scale.is_finite() && scale > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidScale)
    }
}

/// CONV_2D / DEPTHWISE_CONV_2D / per-channel FULLY_CONNECTED (`PopulateConvolutionQuantizationParams`):
/// `M[c] = f64(s_in) * f64(s_w[c]) / f64(s_out)`, written into `out[c]`.
/// `filter_scales` of length 1 is per tensor (`out` then needs length 1 or more; all filled).
pub fn conv_per_channel_multipliers(
    input_scale: f32,
    filter_scales: &[f32],
    output_scale: f32,
    profile: Profile,
    out: &mut [QuantizedMultiplier],
) -> Result<(), Error> {
    check_scale(input_scale)?;
    check_scale(output_scale)?;
    if filter_scales.is_empty() || out.is_empty() {
        return Err(Error::ZeroSized);
    }
    if filter_scales.len() != 1 && filter_scales.len() != out.len() {
        return Err(Error::ChannelCountMismatch);
    }
    for s in filter_scales {
        check_scale(*s)?;
    }
    for (c, slot) in out.iter_mut().enumerate() {
        let s_w = if filter_scales.len() == 1 {
            filter_scales[0]
        } else {
            filter_scales[c]
        };
        let real = input_scale as f64 * s_w as f64 / output_scale as f64;
        *slot = quantize_multiplier(real, profile)?;
    }
    Ok(())
}

/// Per-tensor FULLY_CONNECTED (`GetQuantizedConvolutionMultipler`): the input × filter scale
/// product is formed in **f32** first: `M = f64(f32(s_in * s_w)) / f64(s_out)`.
pub fn fully_connected_per_tensor_multiplier(
    input_scale: f32,
    filter_scale: f32,
    output_scale: f32,
    profile: Profile,
) -> Result<QuantizedMultiplier, Error> {
    check_scale(input_scale)?;
    check_scale(filter_scale)?;
    check_scale(output_scale)?;
    let product = input_scale * filter_scale;
    quantize_multiplier(product as f64 / output_scale as f64, profile)
}

/// MUL (`mul_common.cc`): `M = f64(s1) * f64(s2) / f64(s_out)`.
pub fn mul_multiplier(
    input1_scale: f32,
    input2_scale: f32,
    output_scale: f32,
    profile: Profile,
) -> Result<QuantizedMultiplier, Error> {
    check_scale(input1_scale)?;
    check_scale(input2_scale)?;
    check_scale(output_scale)?;
    quantize_multiplier(
        input1_scale as f64 * input2_scale as f64 / output_scale as f64,
        profile,
    )
}

/// QUANTIZE int8 → int8 (requantize, `quantize_common.cc`) and MEAN (`reduce_common.cc`):
/// `M = f64(s_in) / f64(s_out)`.
pub fn requantize_multiplier(
    input_scale: f32,
    output_scale: f32,
    profile: Profile,
) -> Result<QuantizedMultiplier, Error> {
    check_scale(input_scale)?;
    check_scale(output_scale)?;
    quantize_multiplier(input_scale as f64 / output_scale as f64, profile)
}

/// Standalone RELU (`activations_common.cc`): the ratio is divided in **f32**:
/// `M = f64(f32(s_in / s_out))`.
pub fn relu_multiplier(
    input_scale: f32,
    output_scale: f32,
    profile: Profile,
) -> Result<QuantizedMultiplier, Error> {
    check_scale(input_scale)?;
    check_scale(output_scale)?;
    quantize_multiplier((input_scale / output_scale) as f64, profile)
}

/// The integer parameters of int8 ADD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddMultipliers {
    /// Left shift applied to both offset inputs before rescaling (20 for int8).
    pub left_shift: i32,
    /// Rescale of input 1 (shift <= 0).
    pub input1: QuantizedMultiplier,
    /// Rescale of input 2 (shift <= 0).
    pub input2: QuantizedMultiplier,
    /// Rescale of the sum (shift <= 0).
    pub output: QuantizedMultiplier,
}

/// The left shift TFLite ADD applies to int8 inputs.
pub const ADD_LEFT_SHIFT_INT8: i32 = 20;

/// ADD (`add_common.cc`): `twice_max = 2 * f64(max(s1, s2))`, `M1 = s1 / twice_max`,
/// `M2 = s2 / twice_max`, `Mout = twice_max / (2^20 * s_out)`, each through
/// [`quantize_multiplier_smaller_than_one_exp`].
pub fn add_multipliers(
    input1_scale: f32,
    input2_scale: f32,
    output_scale: f32,
    profile: Profile,
) -> Result<AddMultipliers, Error> {
    check_scale(input1_scale)?;
    check_scale(input2_scale)?;
    check_scale(output_scale)?;
    let left_shift = ADD_LEFT_SHIFT_INT8;
    let twice_max_input_scale = 2.0 * (input1_scale.max(input2_scale) as f64);
    let real_input1 = input1_scale as f64 / twice_max_input_scale;
    let real_input2 = input2_scale as f64 / twice_max_input_scale;
    let real_output = twice_max_input_scale / ((1i64 << left_shift) as f64 * output_scale as f64);
    Ok(AddMultipliers {
        left_shift,
        input1: quantize_multiplier_smaller_than_one_exp(real_input1, profile)?,
        input2: quantize_multiplier_smaller_than_one_exp(real_input2, profile)?,
        output: quantize_multiplier_smaller_than_one_exp(real_output, profile)?,
    })
}

/// The integer parameters of int8 SOFTMAX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SoftmaxMultiplier {
    /// Rescale of `x - max(x)` into Q5.26 (shift >= 0, a left shift).
    pub input: QuantizedMultiplier,
    /// Input differences below this are treated as -infinity (their exp is 0).
    pub diff_min: i32,
}

/// Integer bits of the scaled difference fed to `exp` in softmax (Q5.26).
pub const SOFTMAX_SCALED_DIFF_INTEGER_BITS: i32 = 5;

/// SOFTMAX preprocessing (`PreprocessSoftmaxScaling` with 5 integer bits, then
/// `CalculateInputRadius`): `real = min(f64(beta) * f64(s_in) * 2^26, cap)` with
/// `cap = 2^31 - 1` (double rounding) or `2^30 - 1` (single rounding);
/// `(m, ls) = quantize_multiplier_greater_than_one(real)`;
/// `diff_min = -floor((2^5 - 1) * 2^26 / 2^ls)`.
pub fn softmax_multiplier(
    beta: f32,
    input_scale: f32,
    profile: Profile,
) -> Result<SoftmaxMultiplier, Error> {
    check_scale(input_scale)?;
    if !(beta.is_finite() && beta > 0.0) {
        return Err(Error::InvalidScale);
    }
    let integer_bits = SOFTMAX_SCALED_DIFF_INTEGER_BITS;
    let max_real_multiplier = match profile {
        Profile::TfliteDouble => ((1i64 << 31) - 1) as f64,
        Profile::TfliteSingle => ((1i64 << 30) - 1) as f64,
    };
    let real = beta as f64 * input_scale as f64 * (1i64 << (31 - integer_bits)) as f64;
    let real = if real < max_real_multiplier {
        real
    } else {
        max_real_multiplier
    };
    let input = quantize_multiplier_greater_than_one(real, profile)?;
    let diff_min = -calculate_input_radius(integer_bits, input.shift)?;
    Ok(SoftmaxMultiplier { input, diff_min })
}

/// TFLite `CalculateInputRadius(input_integer_bits, input_left_shift, 31)`:
/// `floor((2^ib - 1) * 2^(31 - ib) / 2^left_shift)`.
pub fn calculate_input_radius(
    input_integer_bits: i32,
    input_left_shift: i32,
) -> Result<i32, Error> {
    if !(0..=30).contains(&input_integer_bits) {
        return Err(Error::InvalidParameter);
    }
    if !(0..=62).contains(&input_left_shift) {
        return Err(Error::ShiftOutOfRange);
    }
    let max_input_rescaled = ((1i64 << input_integer_bits) - 1) as f64
        * (1i64 << (31 - input_integer_bits)) as f64
        / (1i64 << input_left_shift) as f64;
    Ok(libm::floor(max_input_rescaled) as i32)
}
