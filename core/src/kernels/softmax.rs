//! SOFTMAX int8 → int8 over the last dimension, TFLite Micro's fixed-point algorithm
//! (`reference/softmax.h`, gemmlowp `fixedpoint.h`; CMSIS-NN `arm_softmax_s8` is bit-exact
//! with it). Output scale is 1/256 and zero point -128.
//!
//! Per row: `d = x - max(x)`; taps with `d < diff_min` give exp 0. Otherwise
//! `z = rescale_>1(d)` (Q5.26), `e = exp_on_negative_values(z)` (Q0.31), and the sum of
//! `e / 2^12` (Q12.19) is inverted with `get_reciprocal`. Each output is
//! `clamp(rdbpot(srdhm(recip, e), bits_over_unit + 23) - 128, -128, 127)`.
//!
//! The `float-requant` profile runs [`softmax_float`] instead: ONNX Runtime's `QLinearSoftmax`,
//! which the exported `DequantizeLinear → Softmax → QuantizeLinear` becomes (`docs/onnx.md`).

use serde::{Deserialize, Serialize};

use crate::arith::fixedpoint::{
    exp_on_negative_values, get_reciprocal, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
};
use crate::arith::multiplier::SoftmaxMultiplier;
use crate::arith::requantize::{multiply_by_quantized_multiplier_greater_than_one, Profile};
use crate::Error;

use super::check_len;

/// Integer bits of the Q12.19 sum of exponentials.
const ACCUMULATION_INTEGER_BITS: i32 = 12;
/// Largest row length whose sum of exponentials cannot overflow Q12.19
/// (each term is at most 2^19, the sum must stay below 2^31).
pub const SOFTMAX_MAX_DEPTH: usize = 4095;

/// Parameters of one SOFTMAX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftmaxParams {
    /// Number of rows.
    pub rows: usize,
    /// Length of each row (the last dimension), at most [`SOFTMAX_MAX_DEPTH`].
    pub depth: usize,
    /// Input rescale and `diff_min` ([`crate::arith::multiplier::softmax_multiplier`]).
    pub multiplier: SoftmaxMultiplier,
    /// Arithmetic profile of the input rescale.
    pub profile: Profile,
}

impl SoftmaxParams {
    /// Checks every parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        if self.rows == 0 || self.depth == 0 {
            return Err(Error::ZeroSized);
        }
        if self.depth > SOFTMAX_MAX_DEPTH {
            return Err(Error::SizeOverflow);
        }
        self.rows
            .checked_mul(self.depth)
            .ok_or(Error::SizeOverflow)?;
        self.multiplier.input.validate(self.profile)?;
        if self.multiplier.input.shift < 0 {
            return Err(Error::ShiftOutOfRange);
        }
        if self.multiplier.diff_min > 0 {
            return Err(Error::InvalidParameter);
        }
        Ok(())
    }

    /// Length of the scratch: none.
    pub fn scratch_len(&self) -> usize {
        0
    }
}

/// Runs SOFTMAX on `rows × depth` int8 values; see the module documentation.
pub fn softmax(params: &SoftmaxParams, input: &[i8], output: &mut [i8]) -> Result<(), Error> {
    params.validate()?;
    let (rows, depth) = (params.rows, params.depth);
    check_len(input.len(), rows * depth)?;
    check_len(output.len(), rows * depth)?;
    let m = params.multiplier;
    let scaled_exp = |diff: i32| -> i32 {
        let z = multiply_by_quantized_multiplier_greater_than_one(diff, m.input, params.profile);
        exp_on_negative_values::<5>(z)
    };
    for r in 0..rows {
        let x = &input[r * depth..(r + 1) * depth];
        let y = &mut output[r * depth..(r + 1) * depth];
        let max = x.iter().copied().max().unwrap_or(i8::MIN) as i32;
        let mut sum_of_exps = 0i32; // Q12.19
        for v in x {
            let diff = *v as i32 - max;
            if diff >= m.diff_min {
                sum_of_exps = sum_of_exps.wrapping_add(rounding_divide_by_pot(
                    scaled_exp(diff),
                    ACCUMULATION_INTEGER_BITS as u32,
                ));
            }
        }
        let (reciprocal, num_bits_over_unit) =
            get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
        // The output has 8 bits: divide the Q0.31 product by 2^(bits_over_unit + 31 - 8).
        let exponent = (num_bits_over_unit + 31 - 8).clamp(0, 31) as u32;
        for (o, v) in y.iter_mut().zip(x) {
            let diff = *v as i32 - max;
            *o = if diff >= m.diff_min {
                let e = scaled_exp(diff);
                let unsat = rounding_divide_by_pot(
                    saturating_rounding_doubling_high_mul(reciprocal, e),
                    exponent,
                );
                (unsat + i8::MIN as i32).clamp(i8::MIN as i32, i8::MAX as i32) as i8
            } else {
                i8::MIN
            };
        }
    }
    Ok(())
}

/// SOFTMAX in the `float-requant` profile, bit-exact with ONNX Runtime's `QLinearSoftmax` for
/// uint8 data (`contrib_ops/cpu/quantization/qlinear_softmax.cc`, opset 13), on the uint8 values
/// `x + 128` the export uses. A 256-entry f32 table
/// `table[i] = f32(exp((i − 255 + shift) · s))` with
/// `shift = max(0, ln(f32::MAX / depth) − 5) / s` (f64 arithmetic; `f32::MAX / depth` in f32),
/// `s` the input scale (`input_scale`; beta folded in); per row, with `m` the row maximum,
/// `e_i = table[255 − m + x_i]`, `sum = Σ e_i` in f32 in row order, and
/// `y_i = min(round_half_even((e_i · 256) / sum), 255) − 128` (f32 product and division; the
/// output quantization is always (1/256, −128)). `exp` and `ln` are `libm`'s (within one f64
/// ulp of the C library's; the table is rounded to f32 after, so they agree unless an entry lies
/// within one f64 ulp of an f32 rounding boundary).
#[cfg(feature = "float-requant")]
pub fn softmax_float(params: &SoftmaxParams, input_scale: f32, input: &[i8], output: &mut [i8]) -> Result<(), Error> {
    use crate::arith::requantize::round_half_even_small;
    params.validate()?;
    if !(input_scale.is_finite() && input_scale > 0.0) {
        return Err(Error::InvalidScale);
    }
    let (rows, depth) = (params.rows, params.depth);
    check_len(input.len(), rows * depth)?;
    check_len(output.len(), rows * depth)?;
    let s = f64::from(input_scale);
    let shift = (libm::log(f64::from(f32::MAX / depth as f32)) - 5.0).max(0.0) / s;
    let mut table = [0f32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        *t = libm::exp((i as f64 - 255.0 + shift) * s) as f32;
    }
    for r in 0..rows {
        let x = &input[r * depth..(r + 1) * depth];
        let y = &mut output[r * depth..(r + 1) * depth];
        let max = x.iter().copied().max().unwrap_or(i8::MIN) as i32;
        // Index of x: (x + 128) + 255 − (max + 128), in [0, 255].
        let e = |v: i8| table[(v as i32 + 255 - max) as usize];
        let mut sum = 0f32;
        for v in x {
            sum += e(*v);
        }
        for (o, v) in y.iter_mut().zip(x) {
            let q = if sum > 0.0 { round_half_even_small(e(*v) * 256.0 / sum).min(255) } else { 0 };
            *o = (q - 128) as i8;
        }
    }
    Ok(())
}

#[cfg(all(test, feature = "float-requant"))]
mod float_tests {
    use super::*;
    use crate::arith::multiplier::softmax_multiplier;

    #[test]
    fn matches_onnx_runtime_qlinear_softmax() {
        // ONNX Runtime 1.32 QLinearSoftmax outputs (uint8 − 128) for an input scale of 0.11
        // (the `onnx_blobs softmax` model `softmax-10-1`, where all 50 000 outputs agree).
        let params = SoftmaxParams {
            rows: 2,
            depth: 10,
            multiplier: softmax_multiplier(1.0, 0.11, Profile::FloatRequant).unwrap(),
            profile: Profile::FloatRequant,
        };
        let x: [i8; 20] = [89, 35, 2, -59, -50, -118, -109, -124, -84, 80, 38, 105, 0, 27, 120, 58, 33, 11, 15, 111];
        let want: [i8; 20] = [58, -128, -128, -128, -128, -128, -128, -128, -128, -59, -128, -97, -128, -128, 36, -128, -128, -128, -128, -67];
        let mut y = [0i8; 20];
        softmax_float(&params, 0.11, &x, &mut y).unwrap();
        assert_eq!(y, want);
        assert_eq!(softmax_float(&params, f32::NAN, &x, &mut y), Err(Error::InvalidScale));
    }
}
