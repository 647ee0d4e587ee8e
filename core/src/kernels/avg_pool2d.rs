//! AVERAGE_POOL_2D int8 (TFLite `reference/integer_ops/pooling.h` `AveragePool`; CMSIS-NN
//! `arm_avgpool_s8`).
//!
//! Sums the raw int8 values over the in-image part of the window, divides by the number `n`
//! of in-image taps rounding half away from zero (`(s ± n/2) / n` with truncating division),
//! clamps to the activation range. Input and output share scale and zero point.

use crate::arith::activation::ActivationRange;
use crate::Error;

use super::{check_len, tap_range, window_output_size, Padding, Shape4};

/// Shapes and parameters of one AVERAGE_POOL_2D.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2dParams {
    /// Input `[n, h, w, c]`.
    pub input: Shape4,
    /// Output `[n, oh, ow, c]`.
    pub output: Shape4,
    /// Window height.
    pub filter_h: usize,
    /// Window width.
    pub filter_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Explicit padding (padded taps are not counted).
    pub padding: Padding,
    /// Activation clamp.
    pub activation: ActivationRange,
}

/// Output shape of a pool and the check that no window lies entirely in the padding.
pub(crate) fn pool_expected_output(
    input: Shape4,
    filter_h: usize,
    filter_w: usize,
    stride_h: usize,
    stride_w: usize,
    padding: Padding,
) -> Result<Shape4, Error> {
    let oh = window_output_size(input.h, filter_h, stride_h, 1, padding.top, padding.bottom)?;
    let ow = window_output_size(input.w, filter_w, stride_w, 1, padding.left, padding.right)?;
    // A window with no in-image tap has no average (TFLite returns an error there).
    for oy in [0, oh - 1] {
        let (a, b) = tap_range(
            (oy * stride_h) as isize - padding.top as isize,
            filter_h,
            1,
            input.h,
        );
        if a >= b {
            return Err(Error::InvalidParameter);
        }
    }
    for ox in [0, ow - 1] {
        let (a, b) = tap_range(
            (ox * stride_w) as isize - padding.left as isize,
            filter_w,
            1,
            input.w,
        );
        if a >= b {
            return Err(Error::InvalidParameter);
        }
    }
    Ok(Shape4::new(input.n, oh, ow, input.c))
}

impl AvgPool2dParams {
    /// Checks every shape and parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        self.input.check_nonzero()?;
        self.output.check_nonzero()?;
        if self.filter_h == 0 || self.filter_w == 0 {
            return Err(Error::ZeroSized);
        }
        self.activation.validate()?;
        let expected = pool_expected_output(
            self.input,
            self.filter_h,
            self.filter_w,
            self.stride_h,
            self.stride_w,
            self.padding,
        )?;
        if expected != self.output {
            return Err(Error::ShapeMismatch);
        }
        self.input.elements()?;
        self.output.elements()?;
        // The window sum must fit i32: at most 128 * filter_h * filter_w.
        self.filter_h
            .checked_mul(self.filter_w)
            .filter(|n| *n <= (i32::MAX / 128) as usize)
            .ok_or(Error::SizeOverflow)?;
        Ok(())
    }

    /// Length of the scratch: none.
    pub fn scratch_len(&self) -> usize {
        0
    }
}

const CHANNEL_BLOCK: usize = 64;

/// Runs AVERAGE_POOL_2D; see the module documentation.
pub fn avg_pool2d(params: &AvgPool2dParams, input: &[i8], output: &mut [i8]) -> Result<(), Error> {
    params.validate()?;
    check_len(input.len(), params.input.elements()?)?;
    check_len(output.len(), params.output.elements()?)?;
    let p = params;
    let (in_h, in_w, c) = (p.input.h, p.input.w, p.input.c);
    let (out_h, out_w) = (p.output.h, p.output.w);
    let mut acc = [0i32; CHANNEL_BLOCK];
    for b in 0..p.input.n {
        for oy in 0..out_h {
            let iy0 = (oy * p.stride_h) as isize - p.padding.top as isize;
            let (fy0, fy1) = tap_range(iy0, p.filter_h, 1, in_h);
            for ox in 0..out_w {
                let ix0 = (ox * p.stride_w) as isize - p.padding.left as isize;
                let (fx0, fx1) = tap_range(ix0, p.filter_w, 1, in_w);
                let count = ((fy1 - fy0) * (fx1 - fx0)) as i32;
                let out_base = ((b * out_h + oy) * out_w + ox) * c;
                let mut c0 = 0;
                while c0 < c {
                    let block = (c - c0).min(CHANNEL_BLOCK);
                    let acc = &mut acc[..block];
                    acc.fill(0);
                    for fy in fy0..fy1 {
                        let iy = (iy0 + fy as isize) as usize;
                        for fx in fx0..fx1 {
                            let ix = (ix0 + fx as isize) as usize;
                            let base = ((b * in_h + iy) * in_w + ix) * c + c0;
                            for (a, x) in acc.iter_mut().zip(&input[base..base + block]) {
                                *a += *x as i32;
                            }
                        }
                    }
                    for (o, a) in output[out_base + c0..out_base + c0 + block]
                        .iter_mut()
                        .zip(acc.iter())
                    {
                        let avg = divide_round_half_away(*a, count);
                        *o = avg.clamp(p.activation.min, p.activation.max) as i8;
                    }
                    c0 += block;
                }
            }
        }
    }
    Ok(())
}

/// `round_half_away(sum / count)` as TFLite writes it: `(sum ± count/2) / count`, truncating.
/// `count > 0`.
#[inline(always)]
pub(crate) fn divide_round_half_away(sum: i32, count: i32) -> i32 {
    // Wrapping as the C int32 arithmetic; only reachable near i32::MAX (MEAN after requant).
    if sum > 0 {
        sum.wrapping_add(count / 2) / count
    } else {
        sum.wrapping_sub(count / 2) / count
    }
}
