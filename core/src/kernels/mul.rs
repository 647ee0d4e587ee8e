//! MUL int8 (TFLite `reference/integer_ops/mul.h` `MulElementwise`; CMSIS-NN
//! `arm_elementwise_mul_s8`), same-shape inputs:
//! `y = clamp(requant((x1 - zp1) * (x2 - zp2)) + zp_out, act_min, act_max)`.

use crate::arith::activation::ActivationRange;
use crate::arith::quantize::check_zero_point_i8;
use crate::arith::requantize::Requant;
use crate::Error;

use super::check_len;

/// Parameters of one MUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulParams {
    /// Number of elements of each input and of the output.
    pub len: usize,
    /// Zero point of input 1, in [-128, 127].
    pub input1_zero_point: i32,
    /// Zero point of input 2, in [-128, 127].
    pub input2_zero_point: i32,
    /// Output zero point, in [-128, 127].
    pub output_zero_point: i32,
    /// Activation clamp.
    pub activation: ActivationRange,
}

impl MulParams {
    /// Checks every parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        if self.len == 0 {
            return Err(Error::ZeroSized);
        }
        check_zero_point_i8(self.input1_zero_point)?;
        check_zero_point_i8(self.input2_zero_point)?;
        check_zero_point_i8(self.output_zero_point)?;
        self.activation.validate()
    }

    /// Length of the scratch: none.
    pub fn scratch_len(&self) -> usize {
        0
    }
}

/// Runs MUL; `requant` is the per-tensor `s1 * s2 / s_out` multiplier
/// ([`crate::arith::multiplier::mul_multiplier`]).
pub fn mul(
    params: &MulParams,
    requant: &Requant<'_>,
    input1: &[i8],
    input2: &[i8],
    output: &mut [i8],
) -> Result<(), Error> {
    params.validate()?;
    requant.validate(1)?;
    let n = params.len;
    check_len(input1.len(), n)?;
    check_len(input2.len(), n)?;
    check_len(output.len(), n)?;
    let p = params;
    for ((o, a), b) in output[..n].iter_mut().zip(&input1[..n]).zip(&input2[..n]) {
        let prod = (*a as i32 - p.input1_zero_point) * (*b as i32 - p.input2_zero_point);
        let y = requant.apply(prod, 0).wrapping_add(p.output_zero_point);
        *o = y.clamp(p.activation.min, p.activation.max) as i8;
    }
    Ok(())
}
