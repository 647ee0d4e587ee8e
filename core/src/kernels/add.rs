//! ADD int8 (TFLite `reference/integer_ops/add.h` `AddElementwise`; CMSIS-NN
//! `arm_elementwise_add_s8`), same-shape inputs.
//!
//! `a = (x1 - zp1) << left_shift`, `b = (x2 - zp2) << left_shift`;
//! `a = rescale_<1(a, m1)`, `b = rescale_<1(b, m2)`; `y = clamp(rescale_<1(a + b, m_out) + zp_out,
//! act_min, act_max)`, where `rescale_<1` is `MultiplyByQuantizedMultiplierSmallerThanOneExp`
//! in the selected profile.

use crate::arith::activation::ActivationRange;
use crate::arith::multiplier::AddMultipliers;
use crate::arith::quantize::check_zero_point_i8;
use crate::arith::requantize::{
    multiply_by_quantized_multiplier_smaller_than_one_exp as rescale, Profile,
};
use crate::Error;

use super::check_len;

/// Parameters of one ADD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddParams {
    /// Number of elements of each input and of the output.
    pub len: usize,
    /// Zero point of input 1, in [-128, 127].
    pub input1_zero_point: i32,
    /// Zero point of input 2, in [-128, 127].
    pub input2_zero_point: i32,
    /// Output zero point, in [-128, 127].
    pub output_zero_point: i32,
    /// Left shift and the three multipliers ([`crate::arith::multiplier::add_multipliers`]).
    pub multipliers: AddMultipliers,
    /// Arithmetic profile of the three rescales.
    pub profile: Profile,
    /// Activation clamp.
    pub activation: ActivationRange,
}

impl AddParams {
    /// Checks every parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        if self.len == 0 {
            return Err(Error::ZeroSized);
        }
        check_zero_point_i8(self.input1_zero_point)?;
        check_zero_point_i8(self.input2_zero_point)?;
        check_zero_point_i8(self.output_zero_point)?;
        self.activation.validate()?;
        // (x - zp) is at most 255 in magnitude: shifting by <= 22 keeps it inside i32.
        if !(0..=22).contains(&self.multipliers.left_shift) {
            return Err(Error::ShiftOutOfRange);
        }
        for m in [
            self.multipliers.input1,
            self.multipliers.input2,
            self.multipliers.output,
        ] {
            m.validate(self.profile)?;
            if m.shift > 0 {
                return Err(Error::ShiftOutOfRange);
            }
        }
        Ok(())
    }

    /// Length of the scratch: none.
    pub fn scratch_len(&self) -> usize {
        0
    }
}

/// Runs ADD; see the module documentation.
pub fn add(
    params: &AddParams,
    input1: &[i8],
    input2: &[i8],
    output: &mut [i8],
) -> Result<(), Error> {
    params.validate()?;
    let n = params.len;
    check_len(input1.len(), n)?;
    check_len(input2.len(), n)?;
    check_len(output.len(), n)?;
    let p = params;
    let m = p.multipliers;
    let ls = m.left_shift as u32;
    for ((o, a), b) in output[..n].iter_mut().zip(&input1[..n]).zip(&input2[..n]) {
        let a = (*a as i32 - p.input1_zero_point) << ls;
        let b = (*b as i32 - p.input2_zero_point) << ls;
        let a = rescale(a, m.input1, p.profile);
        let b = rescale(b, m.input2, p.profile);
        let sum = rescale(a.wrapping_add(b), m.output, p.profile);
        let y = sum.wrapping_add(p.output_zero_point);
        *o = y.clamp(p.activation.min, p.activation.max) as i8;
    }
    Ok(())
}
