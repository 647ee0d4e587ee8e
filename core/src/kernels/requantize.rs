//! QUANTIZE int8 → int8 (requantize; TFLite `reference/requantize.h`):
//! `y = clamp(requant(x - zp_in) + zp_out, -128, 127)`.

use crate::arith::requantize::Requant;
use crate::Error;

use super::{check_len, check_zero_points};

/// Parameters of one int8 → int8 requantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequantizeParams {
    /// Number of elements.
    pub len: usize,
    /// Input zero point, in [-128, 127].
    pub input_zero_point: i32,
    /// Output zero point, in [-128, 127].
    pub output_zero_point: i32,
}

impl RequantizeParams {
    /// Checks every parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        if self.len == 0 {
            return Err(Error::ZeroSized);
        }
        check_zero_points(self.input_zero_point, self.output_zero_point)
    }

    /// Length of the scratch: none.
    pub fn scratch_len(&self) -> usize {
        0
    }
}

/// Runs the requantization; `requant` is the per-tensor `s_in / s_out` multiplier
/// ([`crate::arith::multiplier::requantize_multiplier`]).
pub fn requantize(
    params: &RequantizeParams,
    requant: &Requant<'_>,
    input: &[i8],
    output: &mut [i8],
) -> Result<(), Error> {
    params.validate()?;
    requant.validate(1)?;
    check_len(input.len(), params.len)?;
    check_len(output.len(), params.len)?;
    for (o, x) in output[..params.len].iter_mut().zip(&input[..params.len]) {
        let y = requant
            .apply(*x as i32 - params.input_zero_point, 0)
            .wrapping_add(params.output_zero_point);
        *o = y.clamp(i8::MIN as i32, i8::MAX as i32) as i8;
    }
    Ok(())
}
