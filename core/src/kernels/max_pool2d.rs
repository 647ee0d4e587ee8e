//! MAX_POOL_2D int8 (TFLite `reference/integer_ops/pooling.h` `MaxPool`; CMSIS-NN
//! `arm_max_pool_s8`): the maximum over the in-image part of the window, clamped to the
//! activation range. No arithmetic profile is involved.

use crate::Error;

use super::pool_window::Pool2dParams;
use super::{check_len, tap_range};

/// Shapes and parameters of one MAX_POOL_2D.
pub type MaxPool2dParams = Pool2dParams;

/// Runs MAX_POOL_2D; see the module documentation.
pub fn max_pool2d(params: &MaxPool2dParams, input: &[i8], output: &mut [i8]) -> Result<(), Error> {
    params.validate()?;
    check_len(input.len(), params.input.elements()?)?;
    check_len(output.len(), params.output.elements()?)?;
    let p = params;
    let (in_h, in_w, c) = (p.input.h, p.input.w, p.input.c);
    let (out_h, out_w) = (p.output.h, p.output.w);
    let (lo, hi) = (p.activation.min as i8, p.activation.max as i8);
    for b in 0..p.input.n {
        for oy in 0..out_h {
            let iy0 = (oy * p.stride_h) as isize - p.padding.top as isize;
            let (fy0, fy1) = tap_range(iy0, p.filter_h, 1, in_h);
            for ox in 0..out_w {
                let ix0 = (ox * p.stride_w) as isize - p.padding.left as isize;
                let (fx0, fx1) = tap_range(ix0, p.filter_w, 1, in_w);
                let out_base = ((b * out_h + oy) * out_w + ox) * c;
                let out = &mut output[out_base..out_base + c];
                out.fill(i8::MIN);
                for fy in fy0..fy1 {
                    let iy = (iy0 + fy as isize) as usize;
                    for fx in fx0..fx1 {
                        let ix = (ix0 + fx as isize) as usize;
                        let base = ((b * in_h + iy) * in_w + ix) * c;
                        for (o, x) in out.iter_mut().zip(&input[base..base + c]) {
                            *o = (*o).max(*x);
                        }
                    }
                }
                for o in out.iter_mut() {
                    *o = (*o).clamp(lo, hi);
                }
            }
        }
    }
    Ok(())
}
