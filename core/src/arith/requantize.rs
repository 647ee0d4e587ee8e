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
/// `#[repr(u8)]` so the model format can store it as one byte. A third profile (float
/// requantization as XNNPACK / ONNX Runtime do it) is planned; it will be a new variant here
/// and a new kind inside [`Requant`], leaving every kernel signature unchanged.
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
}

impl Profile {
    /// Every profile, in `repr` order.
    pub const ALL: [Profile; 2] = [Profile::TfliteDouble, Profile::TfliteSingle];

    /// The profile's name as used in files and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Profile::TfliteDouble => "tflite-double",
            Profile::TfliteSingle => "tflite-single",
        }
    }

    /// Parses `"tflite-double"` or `"tflite-single"`.
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "tflite-double" => Ok(Profile::TfliteDouble),
            "tflite-single" => Ok(Profile::TfliteSingle),
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
            _ => Err(Error::UnknownProfile),
        }
    }

    /// The largest left shift (`shift > 0`) a multiplier may carry in this profile.
    pub const fn max_shift(self) -> i32 {
        match self {
            Profile::TfliteDouble | Profile::TfliteSingle => 30,
        }
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
        Profile::TfliteSingle => {
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
        Profile::TfliteSingle => {
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
        Profile::TfliteSingle => {
            multiply_by_quantized_multiplier_single(x, multiplier.multiplier, shift)
        }
    }
}

/// An op's output rescale: everything a kernel needs to turn its `i32` accumulators into the
/// output's quantized domain. Kernels take this one type, so adding a float-requantization
/// profile changes what is inside, not the kernel signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant<'a> {
    profile: Profile,
    multipliers: &'a [QuantizedMultiplier],
}

impl<'a> Requant<'a> {
    /// One multiplier for every output channel.
    pub fn per_tensor(profile: Profile, multiplier: &'a QuantizedMultiplier) -> Self {
        Requant {
            profile,
            multipliers: core::slice::from_ref(multiplier),
        }
    }

    /// One multiplier per output channel (a slice of length 1 means per tensor).
    pub const fn per_channel(profile: Profile, multipliers: &'a [QuantizedMultiplier]) -> Self {
        Requant {
            profile,
            multipliers,
        }
    }

    /// The arithmetic profile.
    pub const fn profile(&self) -> Profile {
        self.profile
    }

    /// The multipliers (length 1 for per tensor).
    pub const fn multipliers(&self) -> &'a [QuantizedMultiplier] {
        self.multipliers
    }

    /// True when one multiplier serves every channel.
    pub const fn is_per_tensor(&self) -> bool {
        self.multipliers.len() == 1
    }

    /// Checks that there is one multiplier, or exactly `channels`, each valid for the profile.
    pub fn validate(&self, channels: usize) -> Result<(), Error> {
        let n = self.multipliers.len();
        if n != 1 && n != channels {
            return Err(Error::ChannelCountMismatch);
        }
        for m in self.multipliers {
            m.validate(self.profile)?;
        }
        Ok(())
    }

    /// The multiplier of `channel` (the per-tensor one if there is only one; zero if absent,
    /// which [`Requant::validate`] rules out).
    #[inline(always)]
    pub fn multiplier(&self, channel: usize) -> QuantizedMultiplier {
        if self.multipliers.len() == 1 {
            self.multipliers[0]
        } else {
            match self.multipliers.get(channel) {
                Some(m) => *m,
                None => QuantizedMultiplier::ZERO,
            }
        }
    }

    /// Rescales one accumulator of `channel` (no zero point, no clamp).
    #[inline(always)]
    pub fn apply(&self, acc: i32, channel: usize) -> i32 {
        multiply_by_quantized_multiplier(acc, self.multiplier(channel), self.profile)
    }

    /// The output stage every conv-like kernel ends with: for each `i`,
    /// `out[i] = clamp(rescale(acc[i], first_channel + i) + output_zero_point, act_min, act_max)`.
    /// Writes `min(acc.len(), out.len())` values.
    #[inline(always)]
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
        if self.multipliers.len() == 1 {
            let m = self.multipliers[0];
            let ms = core::iter::repeat_n(&m, n);
            output_stage(
                self.profile,
                acc,
                ms,
                output_zero_point,
                act_min,
                act_max,
                out,
            );
        } else {
            let ms = self
                .multipliers
                .get(first_channel..first_channel + n)
                .unwrap_or(&[]);
            if ms.len() == n {
                output_stage(
                    self.profile,
                    acc,
                    ms.iter(),
                    output_zero_point,
                    act_min,
                    act_max,
                    out,
                );
            } else {
                // Unreachable after `validate`; keep the no-panic promise anyway.
                for (i, (a, o)) in acc.iter().zip(out.iter_mut()).enumerate() {
                    let v = self.apply(*a, first_channel + i);
                    *o = clamp_to_i8(v.wrapping_add(output_zero_point), act_min, act_max);
                }
            }
        }
    }
}

/// `out[i] = clamp(rescale(acc[i], m_i) + zp, lo, hi)` with the profile matched once.
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
    match profile {
        Profile::TfliteDouble => {
            for ((a, m), o) in items {
                let v = multiply_by_quantized_multiplier_double(*a, m.multiplier, m.shift);
                *o = clamp_to_i8(v.wrapping_add(output_zero_point), act_min, act_max);
            }
        }
        Profile::TfliteSingle => {
            for ((a, m), o) in items {
                let v = multiply_by_quantized_multiplier_single(*a, m.multiplier, m.shift);
                *o = clamp_to_i8(v.wrapping_add(output_zero_point), act_min, act_max);
            }
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
