//! AVERAGE_POOL_2D int8 (TFLite `reference/integer_ops/pooling.h` `AveragePool`; CMSIS-NN
//! `arm_avgpool_s8`).
//!
//! Sums the raw int8 values over the in-image part of the window, divides by the number `n`
//! of in-image taps rounding half away from zero (`(s ± n/2) / n` with truncating division),
//! clamps to the activation range. Input and output share scale and zero point.

use crate::Error;

use super::pool_window::Pool2dParams;
use super::{check_len, tap_range};

/// Shapes and parameters of one AVERAGE_POOL_2D.
pub type AvgPool2dParams = Pool2dParams;

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
