//! The window parameters AVERAGE_POOL_2D and MAX_POOL_2D share (TFLite `PoolParams`).

use crate::arith::activation::ActivationRange;
use crate::Error;

use super::{tap_range, window_output_size, Padding, Shape4};

/// Shapes and parameters of one pooling op (AVERAGE_POOL_2D or MAX_POOL_2D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dParams {
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
    /// Explicit padding (padded taps are ignored, and not counted by the average).
    pub padding: Padding,
    /// Activation clamp.
    pub activation: ActivationRange,
}

/// Output shape of a pool and the check that no window lies entirely in the padding.
fn pool_expected_output(
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

impl Pool2dParams {
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
        // The average's window sum must fit i32: at most 128 * filter_h * filter_w.
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
