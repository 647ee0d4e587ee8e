//! Fused activations as an int8 clamp range (TFLite `kernel_util.cc`
//! `CalculateActivationRangeQuantized`).

use serde::{Deserialize, Serialize};

use super::quantize::{check_zero_point_i8, round_half_away_f32};
use crate::Error;

/// A fused activation function.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Activation {
    /// No clamp beyond the int8 range.
    #[default]
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `min(max(x, -1), 1)`.
    ReluN1To1,
}

/// An inclusive int8 clamp range `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActivationRange {
    /// Lower bound, in [-128, 127].
    pub min: i32,
    /// Upper bound, in [min, 127].
    pub max: i32,
}

impl ActivationRange {
    /// The full int8 range.
    pub const FULL: ActivationRange = ActivationRange {
        min: i8::MIN as i32,
        max: i8::MAX as i32,
    };

    /// A range from its bounds (not validated).
    pub const fn new(min: i32, max: i32) -> Self {
        ActivationRange { min, max }
    }

    /// Checks `-128 <= min <= max <= 127`.
    pub fn validate(&self) -> Result<(), Error> {
        if self.min < i8::MIN as i32 || self.max > i8::MAX as i32 || self.min > self.max {
            Err(Error::InvalidActivationRange)
        } else {
            Ok(())
        }
    }
}

impl Default for ActivationRange {
    fn default() -> Self {
        ActivationRange::FULL
    }
}

/// `zp + i32(round_half_away(f / scale))` with the division in f32, as TFLite's lambda.
fn quantize_bound(f: f32, scale: f32, zero_point: i32) -> i32 {
    zero_point.saturating_add(round_half_away_f32(f / scale) as i32)
}

/// The int8 clamp range of `activation` for an output with `scale` and `zero_point`:
/// Relu `[max(-128, q(0)), 127]`, Relu6 `[max(-128, q(0)), min(127, q(6))]`,
/// ReluN1To1 `[max(-128, q(-1)), min(127, q(1))]`, None `[-128, 127]`.
pub fn activation_range(
    activation: Activation,
    scale: f32,
    zero_point: i32,
) -> Result<ActivationRange, Error> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::InvalidScale);
    }
    check_zero_point_i8(zero_point)?;
    let (qmin, qmax) = (i8::MIN as i32, i8::MAX as i32);
    let (min, max) = match activation {
        Activation::None => (qmin, qmax),
        Activation::Relu => (qmin.max(quantize_bound(0.0, scale, zero_point)), qmax),
        Activation::Relu6 => (
            qmin.max(quantize_bound(0.0, scale, zero_point)),
            qmax.min(quantize_bound(6.0, scale, zero_point)),
        ),
        Activation::ReluN1To1 => (
            qmin.max(quantize_bound(-1.0, scale, zero_point)),
            qmax.min(quantize_bound(1.0, scale, zero_point)),
        ),
    };
    let range = ActivationRange { min, max };
    range.validate()?;
    Ok(range)
}
