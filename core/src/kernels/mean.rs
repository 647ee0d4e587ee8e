//! MEAN over height and width of an NHWC int8 tensor (global average pool), as TFLite Micro
//! runs it for `keep_dims` 4-D input with axes {1, 2}: `reference/integer_ops/mean.h` with the
//! multiplier of `reduce_common.cc` (`M = s_in / s_out`).
//!
//! `acc = Σ_{h,w} (x - zp_in)`; `acc = requant(acc)`; `acc = round_half_away(acc / (H*W))`
//! (`(acc ± n/2) / n`); `clamp(acc + zp_out, -128, 127)`. Output `[n, 1, 1, c]`.

use crate::arith::requantize::Requant;
use crate::Error;

use super::avg_pool2d::divide_round_half_away;
use super::{check_len, check_zero_points, Shape4};

/// Shapes and quantization parameters of one MEAN over H and W.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    let count = (h * w) as i32;
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
            let scaled = requant.apply(*a, 0);
            let v = divide_round_half_away(scaled, count).wrapping_add(params.output_zero_point);
            *o = v.clamp(i8::MIN as i32, i8::MAX as i32) as i8;
        }
    }
    Ok(())
}
