//! DEPTHWISE_CONV_2D int8 (TFLite `reference/integer_ops/depthwise_conv.h`; CMSIS-NN
//! `arm_depthwise_conv_s8`).
//!
//! Output channel `oc = ic * depth_multiplier + m` reads input channel `ic`:
//! `acc = bias[oc] + Σ_{fy,fx} w[0,fy,fx,oc] * (x[b, iy, ix, ic] - zp_in)` over in-image taps,
//! then `clamp(requant(acc) + zp_out, act_min, act_max)`.
//!
//! Implementation: per output pixel, one `i32` accumulator per output channel lives in the
//! scratch; each in-image tap adds a whole channel row at once (contiguous in NHWC and in the
//! `[1, kh, kw, out_c]` filter), which vectorises across channels.

use serde::{Deserialize, Serialize};

use crate::arith::activation::ActivationRange;
use crate::arith::requantize::Requant;
use crate::Error;

use super::{
    check_zero_points, tap_range, window_output_hw, with_best_isa, ConvShapes, Padding, Shape4,
};

/// Shapes and quantization parameters of one DEPTHWISE_CONV_2D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthwiseConv2dParams {
    /// Input `[n, h, w, in_c]`.
    pub input: Shape4,
    /// Filter `[1, kh, kw, in_c * depth_multiplier]`.
    pub filter: Shape4,
    /// Output `[n, oh, ow, in_c * depth_multiplier]`.
    pub output: Shape4,
    /// Output channels per input channel.
    pub depth_multiplier: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Explicit padding.
    pub padding: Padding,
    /// Input zero point, in [-128, 127].
    pub input_zero_point: i32,
    /// Output zero point, in [-128, 127].
    pub output_zero_point: i32,
    /// Fused activation clamp.
    pub activation: ActivationRange,
}

impl DepthwiseConv2dParams {
    /// The output shape stride, dilation and padding give.
    pub fn expected_output(&self) -> Result<Shape4, Error> {
        let (oh, ow) = window_output_hw(
            self.input,
            self.filter.h,
            self.filter.w,
            self.stride_h,
            self.stride_w,
            self.dilation_h,
            self.dilation_w,
            self.padding,
        )?;
        let out_c = self
            .input
            .c
            .checked_mul(self.depth_multiplier)
            .ok_or(Error::SizeOverflow)?;
        Ok(Shape4::new(self.input.n, oh, ow, out_c))
    }

    /// Length of the `i32` scratch: one accumulator per output channel.
    pub fn scratch_len(&self) -> usize {
        self.output.c
    }

    /// Checks every shape and parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        self.input.check_nonzero()?;
        self.filter.check_nonzero()?;
        self.output.check_nonzero()?;
        if self.depth_multiplier == 0 {
            return Err(Error::InvalidGroups);
        }
        if self.stride_h == 0 || self.stride_w == 0 || self.dilation_h == 0 || self.dilation_w == 0
        {
            return Err(Error::InvalidStride);
        }
        check_zero_points(self.input_zero_point, self.output_zero_point)?;
        self.activation.validate()?;
        let expected = self.expected_output()?;
        if self.filter.n != 1 || self.filter.c != expected.c || expected != self.output {
            return Err(Error::ShapeMismatch);
        }
        self.input.elements()?;
        self.filter.elements()?;
        self.output.elements()?;
        Ok(())
    }

    /// [`DepthwiseConv2dParams::validate`] plus every buffer length and the requantization.
    pub fn validate_buffers(
        &self,
        requant: &Requant<'_>,
        input: &[i8],
        filter: &[i8],
        bias: Option<&[i32]>,
        output: &[i8],
        scratch: &[i32],
    ) -> Result<(), Error> {
        self.validate()?;
        let shapes = ConvShapes { input: self.input, filter: self.filter, output: self.output, scratch_len: self.scratch_len() };
        shapes.check_buffers(requant, input, filter, bias, output, scratch)
    }
}

/// Runs DEPTHWISE_CONV_2D; see the module documentation. `scratch` holds at least
/// [`DepthwiseConv2dParams::scratch_len`] `i32`s.
pub fn depthwise_conv2d(
    params: &DepthwiseConv2dParams,
    requant: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
    scratch: &mut [i32],
) -> Result<(), Error> {
    params.validate_buffers(requant, input, filter, bias, output, scratch)?;
    with_best_isa(#[inline(always)] || run_validated(params, requant, input, filter, bias, output, scratch));
    Ok(())
}

/// The kernel proper; `validate_buffers` has passed.
#[inline(always)]
fn run_validated(
    params: &DepthwiseConv2dParams,
    requant: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
    scratch: &mut [i32],
) {
    let p = params;
    let (in_h, in_w, in_c) = (p.input.h, p.input.w, p.input.c);
    let (kh, kw) = (p.filter.h, p.filter.w);
    let (out_h, out_w, out_c) = (p.output.h, p.output.w, p.output.c);
    let dm = p.depth_multiplier;
    let acc = &mut scratch[..out_c];
    // (x - zp_in) fits i16, which lets the compiler use 16-bit multiply-add instructions.
    let zp_in = p.input_zero_point as i16;

    for b in 0..p.input.n {
        for oy in 0..out_h {
            let iy0 = (oy * p.stride_h) as isize - p.padding.top as isize;
            let (fy0, fy1) = tap_range(iy0, kh, p.dilation_h, in_h);
            for ox in 0..out_w {
                let ix0 = (ox * p.stride_w) as isize - p.padding.left as isize;
                let (fx0, fx1) = tap_range(ix0, kw, p.dilation_w, in_w);
                match bias {
                    Some(bias) => acc.copy_from_slice(&bias[..out_c]),
                    None => acc.fill(0),
                }
                for fy in fy0..fy1 {
                    let iy = (iy0 + (fy * p.dilation_h) as isize) as usize;
                    for fx in fx0..fx1 {
                        let ix = (ix0 + (fx * p.dilation_w) as isize) as usize;
                        let x_base = ((b * in_h + iy) * in_w + ix) * in_c;
                        let x = &input[x_base..x_base + in_c];
                        let w_base = (fy * kw + fx) * out_c;
                        let w = &filter[w_base..w_base + out_c];
                        if dm == 1 {
                            for ((a, xv), wv) in acc.iter_mut().zip(x).zip(w) {
                                *a =
                                    a.wrapping_add((*xv as i16 - zp_in) as i32 * *wv as i16 as i32);
                            }
                        } else {
                            for (ic, xv) in x.iter().enumerate() {
                                let xv = (*xv as i16 - zp_in) as i32;
                                let (a, w) =
                                    (&mut acc[ic * dm..(ic + 1) * dm], &w[ic * dm..(ic + 1) * dm]);
                                for (a, wv) in a.iter_mut().zip(w) {
                                    *a = a.wrapping_add(xv * *wv as i32);
                                }
                            }
                        }
                    }
                }
                let out_base = ((b * out_h + oy) * out_w + ox) * out_c;
                requant.output_row(
                    acc,
                    0,
                    p.output_zero_point,
                    p.activation.min,
                    p.activation.max,
                    &mut output[out_base..out_base + out_c],
                );
            }
        }
    }
}
