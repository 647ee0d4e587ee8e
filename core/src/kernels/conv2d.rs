//! CONV_2D int8 (TFLite `reference/integer_ops/conv.h`; CMSIS-NN `arm_convolve_s8`).
//!
//! `acc[b,oy,ox,oc] = bias[oc] + Σ_{fy,fx,ic} w[oc,fy,fx,ic] * (x[b, oy*sh - pad_top + fy*dh,
//! ox*sw - pad_left + fx*dw, g*cin_g + ic] - zp_in)` over in-image taps only, with
//! `g = oc / (out_c / groups)`; then `clamp(requant(acc) + zp_out, act_min, act_max)`.
//!
//! Implementation: per output pixel and group, the receptive field is gathered into the scratch
//! as `i16` values `x - zp_in` (0 for padded taps, which is the same as skipping them), then
//! every output channel is one inner product with its filter row, four channels at a time.

use serde::{Deserialize, Serialize};

use crate::arith::activation::ActivationRange;
use crate::arith::requantize::Requant;
use crate::Error;

use super::dot::dots_2xn;
use super::{check_zero_points, window_output_hw, with_best_isa, ConvShapes, Padding, Shape4};

/// Shapes and quantization parameters of one CONV_2D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2dParams {
    /// Input `[n, h, w, in_c]`.
    pub input: Shape4,
    /// Filter `[out_c, kh, kw, in_c / groups]` (OHWI); `groups = in_c / filter.c`.
    pub filter: Shape4,
    /// Output `[n, oh, ow, out_c]`; must equal what stride, dilation and padding give.
    pub output: Shape4,
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

impl Conv2dParams {
    /// The number of groups (`in_c / filter.c`), 0 if the filter has no channels.
    pub fn groups(&self) -> usize {
        self.input.c.checked_div(self.filter.c).unwrap_or(0)
    }

    /// The output shape stride, dilation and padding give for `input` and `filter`.
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
        Ok(Shape4::new(self.input.n, oh, ow, self.filter.n))
    }

    /// Length of the `i16` scratch: two receptive fields of one group,
    /// `2 * kh * kw * in_c/groups` (two output pixels are computed together).
    pub fn scratch_len(&self) -> usize {
        self.filter
            .h
            .saturating_mul(self.filter.w)
            .saturating_mul(self.filter.c)
            .saturating_mul(2)
    }

    /// Checks every shape and parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        self.input.check_nonzero()?;
        self.filter.check_nonzero()?;
        self.output.check_nonzero()?;
        if self.stride_h == 0 || self.stride_w == 0 || self.dilation_h == 0 || self.dilation_w == 0
        {
            return Err(Error::InvalidStride);
        }
        check_zero_points(self.input_zero_point, self.output_zero_point)?;
        self.activation.validate()?;
        if self.input.c % self.filter.c != 0 {
            return Err(Error::InvalidGroups);
        }
        let groups = self.groups();
        if self.filter.n % groups != 0 {
            return Err(Error::InvalidGroups);
        }
        if self.expected_output()? != self.output {
            return Err(Error::ShapeMismatch);
        }
        self.input.elements()?;
        self.filter.elements()?;
        self.output.elements()?;
        Ok(())
    }

    /// [`Conv2dParams::validate`] plus every buffer length and the requantization.
    pub fn validate_buffers(
        &self,
        requant: &Requant<'_>,
        input: &[i8],
        filter: &[i8],
        bias: Option<&[i32]>,
        output: &[i8],
        scratch: &[i16],
    ) -> Result<(), Error> {
        self.validate()?;
        let shapes = ConvShapes { input: self.input, filter: self.filter, output: self.output, scratch_len: self.scratch_len() };
        shapes.check_buffers(requant, input, filter, bias, output, scratch)
    }
}

/// Output channels rescaled per call of the requantization stage.
const ACC_BLOCK: usize = 64;

/// Runs CONV_2D; see the module documentation. `scratch` holds at least
/// [`Conv2dParams::scratch_len`] `i16`s.
pub fn conv2d(
    params: &Conv2dParams,
    requant: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
    scratch: &mut [i16],
) -> Result<(), Error> {
    params.validate_buffers(requant, input, filter, bias, output, scratch)?;
    with_best_isa(#[inline(always)] || run_validated(params, requant, input, filter, bias, output, scratch));
    Ok(())
}

/// The kernel proper; `validate_buffers` has passed.
#[inline(always)]
fn run_validated(
    params: &Conv2dParams,
    requant: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
    scratch: &mut [i16],
) {
    let p = params;
    let (in_h, in_w, in_c) = (p.input.h, p.input.w, p.input.c);
    let cin_g = p.filter.c;
    let (out_h, out_w, out_c) = (p.output.h, p.output.w, p.output.c);
    let groups = p.groups();
    let out_c_g = out_c / groups;
    let k_len = p.filter.h * p.filter.w * cin_g;
    let (patch0, rest) = scratch.split_at_mut(k_len);
    let patch1 = &mut rest[..k_len];
    let mut acc0 = [0i32; ACC_BLOCK];
    let mut acc1 = [0i32; ACC_BLOCK];
    let pixels = out_h * out_w;
    let batch_len = in_h * in_w * in_c;

    for b in 0..p.input.n {
        let in_batch = &input[b * batch_len..(b + 1) * batch_len];
        for g in 0..groups {
            // Output pixels two at a time: each weight row is loaded once for both.
            let mut pix = 0;
            while pix < pixels {
                let second = pix + 1 < pixels;
                gather_patch(p, in_batch, pix / out_w, pix % out_w, g * cin_g, patch0);
                if second {
                    gather_patch(
                        p,
                        in_batch,
                        (pix + 1) / out_w,
                        (pix + 1) % out_w,
                        g * cin_g,
                        patch1,
                    );
                } else {
                    patch1.copy_from_slice(patch0);
                }
                let end_oc = (g + 1) * out_c_g;
                let mut oc = g * out_c_g;
                while oc < end_oc {
                    let block = (end_oc - oc).min(ACC_BLOCK);
                    let (a0, a1) = (&mut acc0[..block], &mut acc1[..block]);
                    dots_2xn(patch0, patch1, filter, k_len, oc, a0, a1);
                    if let Some(bias) = bias {
                        for ((x0, x1), bv) in
                            a0.iter_mut().zip(a1.iter_mut()).zip(&bias[oc..oc + block])
                        {
                            *x0 = x0.wrapping_add(*bv);
                            *x1 = x1.wrapping_add(*bv);
                        }
                    }
                    let out0 = (b * pixels + pix) * out_c + oc;
                    requant.output_row(
                        a0,
                        oc,
                        p.output_zero_point,
                        p.activation.min,
                        p.activation.max,
                        &mut output[out0..out0 + block],
                    );
                    if second {
                        let out1 = out0 + out_c;
                        requant.output_row(
                            a1,
                            oc,
                            p.output_zero_point,
                            p.activation.min,
                            p.activation.max,
                            &mut output[out1..out1 + block],
                        );
                    }
                    oc += block;
                }
                pix += 2;
            }
        }
    }
}

/// Fills `patch` (`kh * kw * cin_g`, tap-major then channel) for output pixel `(oy, ox)` with
/// `x - zp_in` for in-image taps and 0 for padded ones.
#[inline(always)]
fn gather_patch(
    p: &Conv2dParams,
    in_batch: &[i8],
    oy: usize,
    ox: usize,
    first_ic: usize,
    patch: &mut [i16],
) {
    let (in_h, in_w, in_c, cin_g) = (p.input.h, p.input.w, p.input.c, p.filter.c);
    let iy0 = (oy * p.stride_h) as isize - p.padding.top as isize;
    let ix0 = (ox * p.stride_w) as isize - p.padding.left as isize;
    let zp_in = p.input_zero_point as i16;
    let mut pos = 0;
    for fy in 0..p.filter.h {
        let iy = iy0 + (fy * p.dilation_h) as isize;
        let row_inside = iy >= 0 && (iy as usize) < in_h;
        for fx in 0..p.filter.w {
            let ix = ix0 + (fx * p.dilation_w) as isize;
            let dst = &mut patch[pos..pos + cin_g];
            if row_inside && ix >= 0 && (ix as usize) < in_w {
                let src_base = ((iy as usize) * in_w + ix as usize) * in_c + first_ic;
                for (d, s) in dst.iter_mut().zip(&in_batch[src_base..src_base + cin_g]) {
                    *d = *s as i16 - zp_in;
                }
            } else {
                dst.fill(0);
            }
            pos += cin_g;
        }
    }
}
