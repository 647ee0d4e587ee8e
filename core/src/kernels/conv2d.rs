//! CONV_2D int8 (TFLite `reference/integer_ops/conv.h`; CMSIS-NN `arm_convolve_s8`).
//!
//! `acc[b,oy,ox,oc] = bias[oc] + Σ_{fy,fx,ic} w[oc,fy,fx,ic] * (x[b, oy*sh - pad_top + fy*dh,
//! ox*sw - pad_left + fx*dw, g*cin_g + ic] - zp_in)` over in-image taps only, with
//! `g = oc / (out_c / groups)`; then `clamp(requant(acc) + zp_out, act_min, act_max)`.
//!
//! Implementation: per output pixel and group, the receptive field is gathered into the scratch
//! as `i16` values `x - zp_in` (0 for padded taps, which is the same as skipping them), then
//! every output channel is one inner product with its filter row, four channels at a time.

use crate::arith::activation::ActivationRange;
use crate::arith::requantize::Requant;
use crate::Error;

use super::dot::{dot4_i16_i8, dot_i16_i8};
use super::{check_len, check_zero_points, window_output_size, Padding, Shape4};

/// Shapes and quantization parameters of one CONV_2D.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        let oh = window_output_size(
            self.input.h,
            self.filter.h,
            self.stride_h,
            self.dilation_h,
            self.padding.top,
            self.padding.bottom,
        )?;
        let ow = window_output_size(
            self.input.w,
            self.filter.w,
            self.stride_w,
            self.dilation_w,
            self.padding.left,
            self.padding.right,
        )?;
        Ok(Shape4::new(self.input.n, oh, ow, self.filter.n))
    }

    /// Length of the `i16` scratch: one receptive field of one group, `kh * kw * in_c/groups`.
    pub fn scratch_len(&self) -> usize {
        self.filter
            .h
            .saturating_mul(self.filter.w)
            .saturating_mul(self.filter.c)
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
        requant.validate(self.output.c)?;
        check_len(input.len(), self.input.elements()?)?;
        check_len(filter.len(), self.filter.elements()?)?;
        check_len(output.len(), self.output.elements()?)?;
        if let Some(b) = bias {
            check_len(b.len(), self.output.c)?;
        }
        check_len(scratch.len(), self.scratch_len())?;
        Ok(())
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
    let p = params;
    let (in_h, in_w, in_c) = (p.input.h, p.input.w, p.input.c);
    let (kh, kw, cin_g) = (p.filter.h, p.filter.w, p.filter.c);
    let (out_h, out_w, out_c) = (p.output.h, p.output.w, p.output.c);
    let groups = p.groups();
    let out_c_g = out_c / groups;
    let k_len = kh * kw * cin_g;
    let patch = &mut scratch[..k_len];
    let zp_in = p.input_zero_point as i16;
    let mut acc = [0i32; ACC_BLOCK];

    for b in 0..p.input.n {
        let in_batch = &input[b * in_h * in_w * in_c..(b + 1) * in_h * in_w * in_c];
        for oy in 0..out_h {
            let iy0 = (oy * p.stride_h) as isize - p.padding.top as isize;
            for ox in 0..out_w {
                let ix0 = (ox * p.stride_w) as isize - p.padding.left as isize;
                let out_base = ((b * out_h + oy) * out_w + ox) * out_c;
                for g in 0..groups {
                    gather_patch(
                        in_batch,
                        in_h,
                        in_w,
                        in_c,
                        iy0,
                        ix0,
                        kh,
                        kw,
                        p.dilation_h,
                        p.dilation_w,
                        g * cin_g,
                        cin_g,
                        zp_in,
                        patch,
                    );
                    let first_oc = g * out_c_g;
                    let mut oc = first_oc;
                    let end_oc = first_oc + out_c_g;
                    while oc < end_oc {
                        let block = (end_oc - oc).min(ACC_BLOCK);
                        let accs = &mut acc[..block];
                        channel_dots(patch, filter, k_len, oc, accs);
                        if let Some(bias) = bias {
                            for (a, bv) in accs.iter_mut().zip(&bias[oc..oc + block]) {
                                *a = a.wrapping_add(*bv);
                            }
                        }
                        requant.output_row(
                            accs,
                            oc,
                            p.output_zero_point,
                            p.activation.min,
                            p.activation.max,
                            &mut output[out_base + oc..out_base + oc + block],
                        );
                        oc += block;
                    }
                }
            }
        }
    }
    Ok(())
}

/// `accs[j] = Σ_k patch[k] * filter[(first_oc + j) * k_len + k]`, four channels at a time.
#[inline(always)]
pub(crate) fn channel_dots(
    patch: &[i16],
    filter: &[i8],
    k_len: usize,
    first_oc: usize,
    accs: &mut [i32],
) {
    let row = |oc: usize| &filter[oc * k_len..(oc + 1) * k_len];
    let mut j = 0;
    while j + 4 <= accs.len() {
        let oc = first_oc + j;
        let d = dot4_i16_i8(patch, row(oc), row(oc + 1), row(oc + 2), row(oc + 3));
        accs[j..j + 4].copy_from_slice(&d);
        j += 4;
    }
    while j < accs.len() {
        accs[j] = dot_i16_i8(patch, row(first_oc + j));
        j += 1;
    }
}

/// Fills `patch` (`kh * kw * cin_g`, tap-major then channel) with `x - zp_in` for in-image
/// taps and 0 for padded ones.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gather_patch(
    in_batch: &[i8],
    in_h: usize,
    in_w: usize,
    in_c: usize,
    iy0: isize,
    ix0: isize,
    kh: usize,
    kw: usize,
    dil_h: usize,
    dil_w: usize,
    first_ic: usize,
    cin_g: usize,
    zp_in: i16,
    patch: &mut [i16],
) {
    let mut pos = 0;
    for fy in 0..kh {
        let iy = iy0 + (fy * dil_h) as isize;
        let row_inside = iy >= 0 && (iy as usize) < in_h;
        for fx in 0..kw {
            let ix = ix0 + (fx * dil_w) as isize;
            let dst = &mut patch[pos..pos + cin_g];
            if row_inside && ix >= 0 && (ix as usize) < in_w {
                let src_base = ((iy as usize) * in_w + ix as usize) * in_c + first_ic;
                let src = &in_batch[src_base..src_base + cin_g];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = *s as i16 - zp_in;
                }
            } else {
                dst.fill(0);
            }
            pos += cin_g;
        }
    }
}
