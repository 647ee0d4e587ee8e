//! Requantization: `i32` accumulator → scaled `i32`, in each arithmetic profile.
//!
//! Sources: TFLite `tensorflow/lite/kernels/internal/common.{h,cc}` (`MultiplyByQuantizedMultiplier`,
//! both the default double-rounding branch and the `TFLITE_SINGLE_ROUNDING` branch), CMSIS-NN
//! `arm_nn_requantize`.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use super::fixedpoint::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul};
use super::multiplier::QuantizedMultiplier;
use crate::Error;

/// Which device arithmetic the integer pipeline reproduces.
///
/// `#[repr(u8)]` so the model format can store it as one byte. The float profile is a new kind
/// inside [`Requant`], so every kernel signature is the same in all three profiles.
#[non_exhaustive]
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Profile {
    /// TFLite Micro reference kernels and CMSIS-NN's default build: saturating rounding
    /// doubling high multiply (ties up), then rounding divide by a power of two (ties away).
    #[serde(rename = "tflite-double")]
    TfliteDouble = 0,
    /// `TFLITE_SINGLE_ROUNDING` / `CMSIS_NN_USE_SINGLE_ROUNDING` / ruy: one 64-bit product,
    /// one rounding (ties up).
    #[serde(rename = "tflite-single")]
    TfliteSingle = 1,
    /// ONNX Runtime (MLAS), XNNPACK qs8 "fp32", oneDNN/OpenVINO CPU: conv, depthwise, fully
    /// connected, MUL, MEAN and QUANTIZE requantize as `round_half_even(f32(acc) · f32(scale))`
    /// with `scale = s_in · s_w[c] / s_out` formed in f32 (see [`requantize_fp32`]). ADD and
    /// softmax are ONNX Runtime's x86 `QLinearAdd` and `QLinearSoftmax`
    /// (`kernels::add::add_float`, `kernels::softmax::softmax_float`; `docs/onnx.md`). Running
    /// it needs the core's `float-requant` feature; without it such models are refused at load.
    #[serde(rename = "float-requant")]
    FloatRequant = 2,
}

impl Profile {
    /// Every profile, fixed-point and float, in `repr` order.
    pub const ALL: [Profile; 3] = [Profile::TfliteDouble, Profile::TfliteSingle, Profile::FloatRequant];

    /// The fixed-point profiles (no floating point at run time), in `repr` order.
    pub const FIXED_POINT: [Profile; 2] = [Profile::TfliteDouble, Profile::TfliteSingle];

    /// The profile's name as used in files and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Profile::TfliteDouble => "tflite-double",
            Profile::TfliteSingle => "tflite-single",
            Profile::FloatRequant => "float-requant",
        }
    }

    /// Parses `"tflite-double"`, `"tflite-single"` or `"float-requant"`.
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "tflite-double" => Ok(Profile::TfliteDouble),
            "tflite-single" => Ok(Profile::TfliteSingle),
            "float-requant" => Ok(Profile::FloatRequant),
            _ => Err(Error::UnknownProfile),
        }
    }

    /// The `repr(u8)` tag.
    pub const fn to_u8(self) -> u8 {
        self as u8
    }

    /// Inverse of [`Profile::to_u8`].
    pub const fn from_u8(tag: u8) -> Result<Self, Error> {
        match tag {
            0 => Ok(Profile::TfliteDouble),
            1 => Ok(Profile::TfliteSingle),
            2 => Ok(Profile::FloatRequant),
            _ => Err(Error::UnknownProfile),
        }
    }

    /// The largest left shift (`shift > 0`) a multiplier may carry in this profile.
    pub const fn max_shift(self) -> i32 {
        match self {
            Profile::TfliteDouble | Profile::TfliteSingle | Profile::FloatRequant => 30,
        }
    }

    /// True for the profile whose conv-like requantization is float (needs `float-requant`).
    pub const fn is_float(self) -> bool {
        matches!(self, Profile::FloatRequant)
    }

    /// The smallest (most negative) shift a multiplier may carry.
    pub const fn min_shift(self) -> i32 {
        -31
    }
}

impl FromStr for Profile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Profile::parse(s)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// TFLite's default `MultiplyByQuantizedMultiplier`: `x * 2^max(shift,0)` (wrapping, as the C
/// code's int32 product), saturating rounding doubling high multiply by `multiplier`, then
/// rounding divide by `2^max(-shift,0)`.
///
/// Total: any inputs give a result; the meaningful domain is `multiplier >= 0`,
/// `shift` in `[-31, 30]` (left shifts above 31 are clamped to 31).
#[inline(always)]
pub const fn multiply_by_quantized_multiplier_double(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = if shift > 0 {
        if shift > 31 {
            31
        } else {
            shift as u32
        }
    } else {
        0
    };
    let right_shift = if shift < 0 { shift.unsigned_abs() } else { 0 };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_shl(left_shift), multiplier),
        right_shift,
    )
}

/// TFLite's `TFLITE_SINGLE_ROUNDING` `MultiplyByQuantizedMultiplier`:
/// `(x * multiplier + 2^(30 - shift)) >> (31 - shift)` in 64 bits, truncated to `i32`.
///
/// Total: `shift` is clamped to the profile's domain `[-31, 30]`; `multiplier` should be `>= 0`.
#[inline(always)]
pub const fn multiply_by_quantized_multiplier_single(x: i32, multiplier: i32, shift: i32) -> i32 {
    let shift = if shift < -31 {
        -31
    } else if shift > 30 {
        30
    } else {
        shift
    };
    let total_shift = (31 - shift) as u32; // 1..=62
    let round = 1i64 << (total_shift - 1);
    // |x * multiplier| <= 2^62, plus round <= 2^61: no i64 overflow.
    ((x as i64 * multiplier as i64 + round) >> total_shift) as i32
}

/// [`multiply_by_quantized_multiplier_double`] or `_single`, as the profile says.
#[inline(always)]
pub const fn multiply_by_quantized_multiplier(
    x: i32,
    multiplier: QuantizedMultiplier,
    profile: Profile,
) -> i32 {
    match profile {
        Profile::TfliteDouble => {
            multiply_by_quantized_multiplier_double(x, multiplier.multiplier, multiplier.shift)
        }
        // Float-requant models still carry TFLite multipliers (validated at load); their ADD
        // and softmax run float kernels, so this arm only serves direct callers.
        Profile::TfliteSingle | Profile::FloatRequant => {
            multiply_by_quantized_multiplier_single(x, multiplier.multiplier, multiplier.shift)
        }
    }
}

/// TFLite `MultiplyByQuantizedMultiplierSmallerThanOneExp` (used by ADD): a right shift only
/// (`shift <= 0`). Double rounding: SRDHM then rounding divide; single rounding: the 64-bit form.
#[inline(always)]
pub const fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    multiplier: QuantizedMultiplier,
    profile: Profile,
) -> i32 {
    let shift = if multiplier.shift > 0 {
        0
    } else {
        multiplier.shift
    };
    match profile {
        Profile::TfliteDouble => rounding_divide_by_pot(
            saturating_rounding_doubling_high_mul(x, multiplier.multiplier),
            shift.unsigned_abs(),
        ),
        Profile::TfliteSingle | Profile::FloatRequant => {
            multiply_by_quantized_multiplier_single(x, multiplier.multiplier, shift)
        }
    }
}

/// TFLite `MultiplyByQuantizedMultiplierGreaterThanOne` (used by softmax): a left shift only
/// (`shift >= 0`). Double rounding: SRDHM of `x * 2^shift` (wrapping); single: the 64-bit form.
#[inline(always)]
pub const fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    multiplier: QuantizedMultiplier,
    profile: Profile,
) -> i32 {
    let shift = if multiplier.shift < 0 {
        0
    } else {
        multiplier.shift
    };
    match profile {
        Profile::TfliteDouble => {
            multiply_by_quantized_multiplier_double(x, multiplier.multiplier, shift)
        }
        Profile::TfliteSingle | Profile::FloatRequant => {
            multiply_by_quantized_multiplier_single(x, multiplier.multiplier, shift)
        }
    }
}

/// The f32 factors of a float requantization: `scale[c] = numerator · per_channel[c] /
/// denominator`, formed in f32 in that order (ONNX Runtime `qlinearconv.cc` and XNNPACK
/// `convolution-nhwc.c` compute `s_in · s_w[c] / s_out`). For conv, depthwise and fully
/// connected: `(s_in, s_w, s_out)`; MUL: `(s1, [s2], s_out)`; QUANTIZE: `(s_in, [1], s_out)`.
#[cfg(feature = "float-requant")]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatScales<'a> {
    /// `s_in` (first operand's scale).
    pub numerator: f32,
    /// Per-channel factor (`s_w[c]`); length 1 means per tensor.
    pub per_channel: &'a [f32],
    /// `s_out`.
    pub denominator: f32,
}

#[cfg(feature = "float-requant")]
impl FloatScales<'_> {
    /// `numerator · per_channel[channel] / denominator` in f32 (the per-tensor factor if there is
    /// only one; `0` for a missing channel, which [`Requant::validate`] rules out).
    #[inline(always)]
    pub fn scale(&self, channel: usize) -> f32 {
        let w = if self.per_channel.len() == 1 {
            self.per_channel[0]
        } else {
            match self.per_channel.get(channel) {
                Some(w) => *w,
                None => 0.0,
            }
        };
        self.numerator * w / self.denominator
    }
}

/// `round_half_even(x)` for `|x| <= 2^22`, without touching the FPU rounding mode: adding
/// `1.5 · 2^23` leaves no fraction bits in the f32 sum, so the hardware's default
/// round-to-nearest-even addition does the rounding, and the low mantissa bits hold the
/// result (XNNPACK's "fmagic"). Outside that range the result is meaningless; callers clamp.
#[cfg(feature = "float-requant")]
#[inline(always)]
pub fn round_half_even_small(x: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23, bits 0x4B40_0000
    ((x + MAGIC).to_bits() as i32).wrapping_sub(0x4B40_0000)
}

/// Float requantization of one accumulator (XNNPACK `xnn_qs8_requantize_fp32`, MLAS):
/// `round_half_even(clamp(f32(acc) · scale, qmin − zp, qmax − zp)) + zp`, the result in
/// `[qmin, qmax]`. `f32(acc)` rounds to nearest even for `|acc| > 2^24`, as the C cast does.
/// A NaN product (only from a non-finite scale, which validation rules out) gives `qmin`.
#[cfg(feature = "float-requant")]
#[inline(always)]
pub fn requantize_fp32(acc: i32, scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> i32 {
    let lo = (qmin - zero_point) as f32;
    let hi = (qmax - zero_point) as f32;
    let f = acc as f32 * scale;
    // NaN goes to `lo` (one unordered compare, `f < lo or unordered`, once optimised).
    let f = if f.is_nan() || f < lo { lo } else if f > hi { hi } else { f };
    round_half_even_small(f) + zero_point
}

/// Where a [`Requant`]'s factors come from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind<'a> {
    /// TFLite (multiplier, shift) pairs, applied in the fixed-point profile.
    Fixed(&'a [QuantizedMultiplier]),
    /// f32 factors (the `float-requant` profile).
    #[cfg(feature = "float-requant")]
    Float(FloatScales<'a>),
}

/// An op's output rescale: everything a kernel needs to turn its `i32` accumulators into the
/// output's quantized domain. Kernels take this one type, so the float-requantization profile
/// changes what is inside, not the kernel signatures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Requant<'a> {
    profile: Profile,
    kind: Kind<'a>,
}

impl<'a> Requant<'a> {
    /// One multiplier for every output channel.
    pub fn per_tensor(profile: Profile, multiplier: &'a QuantizedMultiplier) -> Self {
        Requant {
            profile,
            kind: Kind::Fixed(core::slice::from_ref(multiplier)),
        }
    }

    /// One multiplier per output channel (a slice of length 1 means per tensor).
    pub const fn per_channel(profile: Profile, multipliers: &'a [QuantizedMultiplier]) -> Self {
        Requant {
            profile,
            kind: Kind::Fixed(multipliers),
        }
    }

    /// Float requantization (profile `float-requant`) with the given f32 factors.
    #[cfg(feature = "float-requant")]
    pub const fn float(scales: FloatScales<'a>) -> Self {
        Requant {
            profile: Profile::FloatRequant,
            kind: Kind::Float(scales),
        }
    }

    /// The arithmetic profile.
    pub const fn profile(&self) -> Profile {
        self.profile
    }

    /// The fixed-point multipliers (length 1 for per tensor); empty for a float requant.
    pub const fn multipliers(&self) -> &'a [QuantizedMultiplier] {
        match self.kind {
            Kind::Fixed(m) => m,
            #[cfg(feature = "float-requant")]
            Kind::Float(_) => &[],
        }
    }

    /// True when one multiplier (or one float scale) serves every channel.
    pub const fn is_per_tensor(&self) -> bool {
        match self.kind {
            Kind::Fixed(m) => m.len() == 1,
            #[cfg(feature = "float-requant")]
            Kind::Float(f) => f.per_channel.len() == 1,
        }
    }

    /// Checks that there is one multiplier (or scale), or exactly `channels`, each valid for the
    /// profile. Fixed multipliers under `float-requant`, and float scales that are not finite and
    /// positive, are refused; so is `float-requant` in a build without the feature.
    pub fn validate(&self, channels: usize) -> Result<(), Error> {
        match self.kind {
            Kind::Fixed(multipliers) => {
                if self.profile.is_float() {
                    return Err(Error::UnknownProfile);
                }
                let n = multipliers.len();
                if n != 1 && n != channels {
                    return Err(Error::ChannelCountMismatch);
                }
                for m in multipliers {
                    m.validate(self.profile)?;
                }
                Ok(())
            }
            #[cfg(feature = "float-requant")]
            Kind::Float(f) => {
                let n = f.per_channel.len();
                if n != 1 && n != channels {
                    return Err(Error::ChannelCountMismatch);
                }
                let ok = |x: f32| x.is_finite() && x > 0.0;
                if !ok(f.numerator) || !ok(f.denominator) {
                    return Err(Error::InvalidScale);
                }
                for c in 0..n {
                    if !ok(f.per_channel[c]) || !ok(f.scale(c)) {
                        return Err(Error::InvalidScale);
                    }
                }
                Ok(())
            }
        }
    }

    /// The fixed-point multiplier of `channel` (the per-tensor one if there is only one; zero
    /// if absent or for a float requant, which [`Requant::validate`] rules out).
    #[inline(always)]
    pub fn multiplier(&self, channel: usize) -> QuantizedMultiplier {
        let multipliers = self.multipliers();
        if multipliers.len() == 1 {
            multipliers[0]
        } else {
            match multipliers.get(channel) {
                Some(m) => *m,
                None => QuantizedMultiplier::ZERO,
            }
        }
    }

    /// Rescales one accumulator of `channel` (no zero point, no clamp into int8). A float
    /// requant rounds half to even after clamping to `[-2^16, 2^16]`, far outside every int8
    /// result, so a later int8 clamp gives what clamping first would.
    #[inline(always)]
    pub fn apply(&self, acc: i32, channel: usize) -> i32 {
        match self.kind {
            Kind::Fixed(_) => {
                multiply_by_quantized_multiplier(acc, self.multiplier(channel), self.profile)
            }
            #[cfg(feature = "float-requant")]
            Kind::Float(f) => requantize_fp32(acc, f.scale(channel), 0, -(1 << 16), 1 << 16),
        }
    }

    /// MEAN's rescale of a sum of `count` values. Fixed point as TFLite Micro's
    /// `QuantizedMeanOrSum`: `1 / count` folded into the multiplier
    /// ([`crate::kernels::mean::fold_count_into_multiplier`]), then one requantization. Float
    /// as ONNX Runtime's `QLinearGlobalAveragePool` (MLAS
    /// `CheckQLinearGlobalAveragePoolScaleAndSize`): one product `acc · (s_in / (s_out · count))`,
    /// the factor formed in f32 in that order, rounded half to even.
    #[inline(always)]
    pub fn apply_mean(&self, acc: i32, count: i32) -> i32 {
        match self.kind {
            Kind::Fixed(_) => {
                let count = u32::try_from(count).unwrap_or(0);
                match crate::kernels::mean::fold_count_into_multiplier(self.multiplier(0), count) {
                    Ok(m) => multiply_by_quantized_multiplier(acc, m, self.profile),
                    // A zero count is refused by `MeanParams::validate` before any rescale.
                    Err(_) => 0,
                }
            }
            #[cfg(feature = "float-requant")]
            Kind::Float(f) => {
                // MEAN's factors are (s_in, [1], s_out): `numerator · 1` is `s_in` exactly.
                let scale = f.numerator * f.per_channel[0] / (f.denominator * count as f32);
                requantize_fp32(acc, scale, 0, -(1 << 16), 1 << 16)
            }
        }
    }

    /// The output stage every conv-like kernel ends with: for each `i`,
    /// `out[i] = clamp(rescale(acc[i], first_channel + i) + output_zero_point, act_min, act_max)`.
    /// Writes `min(acc.len(), out.len())` values.
    // Always inlined on the host so it is compiled inside the kernels' AVX2 context
    // (`kernels::with_best_isa`), where the per-output loop vectorises; the device build keeps
    // one out-of-line copy (flash).
    #[cfg_attr(all(target_arch = "x86_64", feature = "std"), inline(always))]
    #[cfg_attr(not(all(target_arch = "x86_64", feature = "std")), inline)]
    pub fn output_row(
        &self,
        acc: &[i32],
        first_channel: usize,
        output_zero_point: i32,
        act_min: i32,
        act_max: i32,
        out: &mut [i8],
    ) {
        let n = acc.len().min(out.len());
        let (acc, out) = (&acc[..n], &mut out[..n]);
        match self.kind {
            Kind::Fixed(multipliers) => {
                if multipliers.len() == 1 {
                    let ms = core::iter::repeat_n(&multipliers[0], n);
                    output_stage(self.profile, acc, ms, output_zero_point, act_min, act_max, out);
                } else if let Some(ms) = multipliers.get(first_channel..first_channel + n) {
                    output_stage(self.profile, acc, ms.iter(), output_zero_point, act_min, act_max, out);
                } else {
                    // Unreachable after `validate`; keep the no-panic promise anyway.
                    for (i, (a, o)) in acc.iter().zip(out.iter_mut()).enumerate() {
                        let v = self.apply(*a, first_channel + i);
                        *o = clamp_to_i8(v.wrapping_add(output_zero_point), act_min, act_max);
                    }
                }
            }
            #[cfg(feature = "float-requant")]
            Kind::Float(f) => {
                // The activation bounds are the clamp of the float formula (XNNPACK's qmin/qmax).
                let (lo, hi) = (act_min.max(i8::MIN as i32), act_max.min(i8::MAX as i32));
                for (i, (a, o)) in acc.iter().zip(out.iter_mut()).enumerate() {
                    let v = requantize_fp32(*a, f.scale(first_channel + i), output_zero_point, lo, hi);
                    *o = clamp_to_i8(v, act_min, act_max);
                }
            }
        }
    }
}

/// `out[i] = clamp(rescale(acc[i], m_i) + zp, lo, hi)` with the profile matched once, outside
/// the loop, so each loop body is one straight-line fixed-point sequence.
#[inline(always)]
fn output_stage<'m>(
    profile: Profile,
    acc: &[i32],
    multipliers: impl Iterator<Item = &'m QuantizedMultiplier>,
    output_zero_point: i32,
    act_min: i32,
    act_max: i32,
    out: &mut [i8],
) {
    let items = acc.iter().zip(multipliers).zip(out.iter_mut());
    if profile == Profile::TfliteDouble {
        for ((a, m), o) in items {
            let v = multiply_by_quantized_multiplier_double(*a, m.multiplier, m.shift);
            *o = clamp_to_i8(v.wrapping_add(output_zero_point), act_min, act_max);
        }
    } else {
        // TfliteSingle (fixed multipliers under float-requant are refused by `validate`).
        for ((a, m), o) in items {
            let v = multiply_by_quantized_multiplier_single(*a, m.multiplier, m.shift);
            *o = clamp_to_i8(v.wrapping_add(output_zero_point), act_min, act_max);
        }
    }
}

/// `clamp(v, lo, hi)` as `i8`; `lo`/`hi` are validated activation bounds within [-128, 127],
/// the final `i8` clamp only guards against invalid bounds.
#[inline(always)]
pub(crate) fn clamp_to_i8(v: i32, lo: i32, hi: i32) -> i8 {
    let v = if v < lo { lo } else { v };
    let v = if v > hi { hi } else { v };
    v.clamp(i8::MIN as i32, i8::MAX as i32) as i8
}
