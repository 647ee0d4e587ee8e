//! ADD int8 (TFLite `reference/integer_ops/add.h` `AddElementwise`; CMSIS-NN
//! `arm_elementwise_add_s8`), same-shape inputs.
//!
//! `a = (x1 - zp1) << left_shift`, `b = (x2 - zp2) << left_shift`;
//! `a = rescale_<1(a, m1)`, `b = rescale_<1(b, m2)`; `y = clamp(rescale_<1(a + b, m_out) + zp_out,
//! act_min, act_max)`, where `rescale_<1` is `MultiplyByQuantizedMultiplierSmallerThanOneExp`
//! in the selected profile.
//!
//! The `float-requant` profile runs [`add_float`] instead: ONNX Runtime's x86 `QLinearAdd`
//! (MLAS AVX2 kernel), which the QDQ `Add` of an exported model becomes (`docs/onnx.md`).

use serde::{Deserialize, Serialize};

use crate::arith::activation::ActivationRange;
use crate::arith::multiplier::AddMultipliers;
use crate::arith::quantize::check_zero_point_i8;
use crate::arith::requantize::{
    multiply_by_quantized_multiplier_smaller_than_one_exp as rescale, Profile,
};
use crate::Error;

use super::check_len;

/// Parameters of one ADD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// Validates `params` and the three buffers' lengths; returns the element count.
fn check_call(params: &AddParams, input1: &[i8], input2: &[i8], output: &[i8]) -> Result<usize, Error> {
    params.validate()?;
    let n = params.len;
    check_len(input1.len(), n)?;
    check_len(input2.len(), n)?;
    check_len(output.len(), n)?;
    Ok(n)
}

/// Runs ADD; see the module documentation.
pub fn add(
    params: &AddParams,
    input1: &[i8],
    input2: &[i8],
    output: &mut [i8],
) -> Result<(), Error> {
    let n = check_call(params, input1, input2, output)?;
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

/// The three tensor scales of a `float-requant` ADD (inputs and output), read from the model.
#[cfg(feature = "float-requant")]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddScales {
    /// Scale of input 1.
    pub input1: f32,
    /// Scale of input 2.
    pub input2: f32,
    /// Scale of the output.
    pub output: f32,
}

/// The per-op constants of ONNX Runtime's AVX2 `QLinearAdd` (MLAS `qladd_avx2.cpp`), which
/// works on uint8 values (the exported graph's activations are int8 + 128):
/// `r1 = s1 / s_out`, `r2 = s2 / s_out` (f32 divisions) and
/// `fixed = zp_out − fma(r1, zp1, r2 · zp2)` with uint8 zero points. The fused multiply-add
/// there is the compiler's contraction of MLAS's `r1·zp1 + r2·zp2`; measured against
/// ONNX Runtime 1.32 on x86-64 (every input pair, 60 random scale sets: 0 of 3 932 160
/// outputs differ; without the contraction 3 differ).
#[cfg(feature = "float-requant")]
fn qlinear_add_constants(params: &AddParams, scales: &AddScales) -> Result<(f32, f32, f32), Error> {
    let r1 = scales.input1 / scales.output;
    let r2 = scales.input2 / scales.output;
    let ok = |x: f32| x.is_finite() && x > 0.0;
    if !ok(r1) || !ok(r2) {
        return Err(Error::InvalidScale);
    }
    let u8_zp = |zp: i32| (zp + 128) as f32;
    let fixed = u8_zp(params.output_zero_point)
        - libm::fmaf(r1, u8_zp(params.input1_zero_point), r2 * u8_zp(params.input2_zero_point));
    Ok((r1, r2, fixed))
}

/// ADD in the `float-requant` profile, bit-exact with ONNX Runtime's `QLinearAdd` on x86-64
/// with AVX2 (uint8 data, as exported): per element, with `a = x1 + 128`, `b = x2 + 128`,
/// `y = clamp(round_half_even(fma(a, r1, fma(b, r2, fixed))), 0, 255) − 128`
/// ([`qlinear_add_constants`]; `libm::fmaf` is a correctly rounded fused multiply-add, as the
/// `vfmadd` instruction), then the fused activation clamp. The FPU rounding mode is not
/// touched: rounding is the magic-constant addition of
/// [`crate::arith::requantize::round_half_even_small`] on a value first clamped to [-1, 256].
/// ONNX Runtime's other `QLinearAdd` kernels (ARM NEON: 21-bit fixed-point multipliers; x86
/// without AVX2: `(s1·(x1 − zp1) + s2·(x2 − zp2)) / s_out`) round differently.
#[cfg(feature = "float-requant")]
pub fn add_float(
    params: &AddParams,
    scales: &AddScales,
    input1: &[i8],
    input2: &[i8],
    output: &mut [i8],
) -> Result<(), Error> {
    use crate::arith::requantize::round_half_even_small;
    let n = check_call(params, input1, input2, output)?;
    let (r1, r2, fixed) = qlinear_add_constants(params, scales)?;
    let act = params.activation;
    for ((o, a), b) in output[..n].iter_mut().zip(&input1[..n]).zip(&input2[..n]) {
        let a = (*a as i32 + 128) as f32;
        let b = (*b as i32 + 128) as f32;
        let x = libm::fmaf(a, r1, libm::fmaf(b, r2, fixed));
        // Saturating to [0, 255] after rounding equals clamping to [-1, 256] before it.
        // NaN (only from non-finite scales, which validation rules out) goes to -1.
        let x = if x.is_nan() || x < -1.0 { -1.0 } else if x > 256.0 { 256.0 } else { x };
        let y = round_half_even_small(x).clamp(0, 255) - 128;
        *o = y.clamp(act.min, act.max) as i8;
    }
    Ok(())
}

#[cfg(all(test, feature = "float-requant"))]
mod float_tests {
    use super::*;
    use crate::arith::multiplier::add_multipliers;

    fn params(zp: (i32, i32, i32)) -> AddParams {
        AddParams {
            len: 1,
            input1_zero_point: zp.0,
            input2_zero_point: zp.1,
            output_zero_point: zp.2,
            multipliers: add_multipliers(0.5, 0.5, 1.0, Profile::FloatRequant).unwrap(),
            profile: Profile::FloatRequant,
            activation: ActivationRange::FULL,
        }
    }

    fn one(p: &AddParams, s: &AddScales, a: i8, b: i8) -> i8 {
        let mut out = [0i8];
        add_float(p, s, &[a], &[b], &mut out).unwrap();
        out[0]
    }

    #[test]
    fn exact_sums_and_ties_round_half_even() {
        // Equal scales, zero points 0: y = a + b exactly (saturating).
        let s = AddScales { input1: 0.5, input2: 0.5, output: 0.5 };
        let p = params((0, 0, 0));
        assert_eq!(one(&p, &s, 3, 4), 7);
        assert_eq!(one(&p, &s, 100, 100), 127);
        assert_eq!(one(&p, &s, -100, -100), -128);
        // s_out = 2·s: y = (a + b) / 2, ties to even in the uint8 domain (a + b + 256)/2.
        let s = AddScales { input1: 0.25, input2: 0.25, output: 0.5 };
        assert_eq!(one(&p, &s, 1, 0), 0); // 128.5 → 128
        assert_eq!(one(&p, &s, 3, 0), 2); // 129.5 → 130
        assert_eq!(one(&p, &s, -1, 0), 0); // 127.5 → 128
    }

    #[test]
    fn matches_onnx_runtime_outputs() {
        // ONNX Runtime 1.32 QLinearAdd (uint8, x86-64 AVX2), DQ→Add→Q graph; scales as f32 bits,
        // zero points and values shifted to int8 (uint8 − 128). Rows marked * are where the
        // fixed part without the fused multiply-add gives one more, rows marked + where no
        // fma at all does.
        /// (scale bits: input 1, input 2, output), zero points, rows (a, b, ONNX Runtime's output).
        type Case = ((u32, u32, u32), (i32, i32, i32), &'static [(i32, i32, i32)]);
        let cases: [Case; 2] = [
            ((0x3eda369c, 0x3cd55ced, 0x3edc88dd), (86, 37, -64), &[(65, -8, -88) /* * */, (107, 82, -41) /* * */, (-124, 82, -128)]),
            ((0x3e9bbb62, 0x3c8a5a45, 0x3d3672e5), (-20, -107, -121), &[(-16, 28, -43) /* + */, (11, -31, 119) /* + */, (-124, 82, -128)]),
        ];
        for ((s1, s2, so), zp, rows) in cases {
            let s = AddScales { input1: f32::from_bits(s1), input2: f32::from_bits(s2), output: f32::from_bits(so) };
            let p = params(zp);
            for &(a, b, want) in rows {
                assert_eq!(one(&p, &s, a as i8, b as i8) as i32, want, "{a} + {b}");
            }
        }
    }
}
