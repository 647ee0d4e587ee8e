//! MEAN over height and width of an NHWC int8 tensor (global average pool), as TFLite Micro
//! runs int8 MEAN (`micro/kernels/reduce_common.cc` → `reference/reduce.h`
//! `QuantizedMeanOrSum`, for every axis set and `keep_dims` value), with the multiplier of
//! `reduce_common.cc` `PrepareMeanOrSumHelper` (`M = s_in / s_out`).
//!
//! The division by `n = H*W` is folded into the multiplier before requantizing once:
//! `k = min(floor(log2 n), 32, 31 + shift)`, `m' = (m << k) / n` (int64, truncating),
//! `shift' = shift - k`; then `clamp(requant'(Σ_{h,w} (x - zp_in)) + zp_out, -128, 127)`.
//! Output `[n, 1, 1, c]`. (TFLM's older `reference/integer_ops/mean.h` requantized first and
//! divided after; current TFLM no longer calls it, and the two differ on about 1 output in 5.)

use serde::{Deserialize, Serialize};

use crate::arith::multiplier::QuantizedMultiplier;
use crate::arith::requantize::Requant;
use crate::Error;

use super::{check_len, check_zero_points, Shape4};

/// The multiplier with `1 / count` folded in, as `QuantizedMeanOrSum` computes it.
pub fn fold_count_into_multiplier(m: QuantizedMultiplier, count: u32) -> Result<QuantizedMultiplier, Error> {
    if count == 0 {
        return Err(Error::ZeroSized);
    }
    let floor_log2 = 31 - count.leading_zeros() as i32;
    let k = floor_log2.min(32).min(31 + m.shift);
    if k < 0 {
        return Err(Error::ShiftOutOfRange);
    }
    let folded = ((m.multiplier as i64) << k) / count as i64;
    Ok(QuantizedMultiplier::new(folded as i32, m.shift - k))
}

/// Shapes and quantization parameters of one MEAN over H and W.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeanParams {
    /// Input `[n, h, w, c]`; the output is `[n, 1, 1, c]`.
    pub input: Shape4,
    /// Input zero point, in [-128, 127].
    pub input_zero_point: i32,
    /// Output zero point, in [-128, 127].
    pub output_zero_point: i32,
}

impl MeanParams {
    /// The output shape `[n, 1, 1, c]`.
    pub fn output(&self) -> Shape4 {
        Shape4::new(self.input.n, 1, 1, self.input.c)
    }

    /// Length of the `i32` scratch: one accumulator per channel.
    pub fn scratch_len(&self) -> usize {
        self.input.c
    }

    /// Checks every shape and parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        self.input.check_nonzero()?;
        check_zero_points(self.input_zero_point, self.output_zero_point)?;
        self.input.elements()?;
        // H*W is the divisor, an i32 in TFLite.
        self.input
            .h
            .checked_mul(self.input.w)
            .filter(|n| *n <= i32::MAX as usize)
            .ok_or(Error::SizeOverflow)?;
        Ok(())
    }
}

/// Runs MEAN over H and W; `requant` is the per-tensor `s_in / s_out` multiplier
/// ([`crate::arith::multiplier::requantize_multiplier`]). `scratch` holds at least
/// [`MeanParams::scratch_len`] `i32`s.
pub fn mean_hw(
    params: &MeanParams,
    requant: &Requant<'_>,
    input: &[i8],
    output: &mut [i8],
    scratch: &mut [i32],
) -> Result<(), Error> {
    params.validate()?;
    requant.validate(1)?;
    check_len(input.len(), params.input.elements()?)?;
    check_len(output.len(), params.output().elements()?)?;
    check_len(scratch.len(), params.scratch_len())?;
    let Shape4 { n, h, w, c } = params.input;
    let count = i32::try_from(h * w).map_err(|_| Error::SizeOverflow)?;
    let acc = &mut scratch[..c];
    for b in 0..n {
        acc.fill(0);
        for pix in 0..h * w {
            let base = (b * h * w + pix) * c;
            for (a, x) in acc.iter_mut().zip(&input[base..base + c]) {
                *a = a.wrapping_add(*x as i32 - params.input_zero_point);
            }
        }
        for (o, a) in output[b * c..(b + 1) * c].iter_mut().zip(acc.iter()) {
            let v = requant.apply_mean(*a, count).wrapping_add(params.output_zero_point);
            *o = v.clamp(i8::MIN as i32, i8::MAX as i32) as i8;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arith::Profile;

    #[test]
    fn folds_the_count_as_quantized_mean_or_sum() {
        // M = 0.5, n = 4: k = 2, m' = 2^32 / 4 = 2^30, shift' = -2 → 0.125.
        let m = QuantizedMultiplier::new(1 << 30, 0);
        assert_eq!(fold_count_into_multiplier(m, 4), Ok(QuantizedMultiplier::new(1 << 30, -2)));
        // n = 20: k = floor(log2 20) = 4, m' = (m << 4) / 20 truncated.
        let m = QuantizedMultiplier::new(1527099593, -6);
        assert_eq!(fold_count_into_multiplier(m, 20), Ok(QuantizedMultiplier::new(1221679674, -10)));
        // The shift never goes below -31: k is capped at 31 + shift.
        let m = QuantizedMultiplier::new(1 << 30, -30);
        assert_eq!(fold_count_into_multiplier(m, 1 << 10), Ok(QuantizedMultiplier::new((1 << 30) >> 9, -31)));
        assert_eq!(fold_count_into_multiplier(m, 0), Err(Error::ZeroSized));
    }

    #[test]
    fn one_requantization_after_the_fold() {
        // 2x2 of one channel, zp_in 1, zp_out -2, M = 1: mean of (x - 1) = (3+5+7+9)/4 = 6 → 4.
        let params = MeanParams { input: Shape4::new(1, 2, 2, 1), input_zero_point: 1, output_zero_point: -2 };
        let m = QuantizedMultiplier::new(1 << 30, 1);
        let requant = Requant::per_tensor(Profile::TfliteDouble, &m);
        let mut out = [0i8; 1];
        mean_hw(&params, &requant, &[4, 6, 8, 10], &mut out, &mut [0; 1]).unwrap();
        assert_eq!(out, [4]);
        // A sum of 2 over 4 elements is exactly half: rounds away from zero in the final shift.
        mean_hw(&params, &requant, &[1, 1, 2, 2], &mut out, &mut [0; 1]).unwrap();
        assert_eq!(out, [-1]);
    }
}
