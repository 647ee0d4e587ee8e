//! FULLY_CONNECTED int8 (TFLite `reference/integer_ops/fully_connected.h`, per tensor and
//! `FullyConnectedPerChannel`; CMSIS-NN `arm_fully_connected_s8` / `_per_channel_s8`).
//!
//! `acc[b,o] = bias[o] + Σ_k (w[o,k] - zp_w) * (x[b,k] - zp_in)`, then
//! `clamp(requant_o(acc) + zp_out, act_min, act_max)`; the requantization is per tensor or
//! per output channel.
//!
//! Implementation: the input row is widened once into the scratch as `x - zp_in` (i16); each
//! output is an inner product with its weight row, and a weights zero point is folded in as
//! `- zp_w * Σ_k (x - zp_in)` (equal modulo 2^32 to the reference sum, so exact whenever the
//! reference does not overflow).

use crate::arith::activation::ActivationRange;
use crate::arith::requantize::Requant;
use crate::Error;

use super::check_len;
use super::check_zero_points;
use super::conv2d::channel_dots;

/// Shapes and quantization parameters of one FULLY_CONNECTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullyConnectedParams {
    /// Rows of the input (`[batches, input_depth]`).
    pub batches: usize,
    /// Input features (accumulation depth).
    pub input_depth: usize,
    /// Output features (rows of the `[output_depth, input_depth]` weights).
    pub output_depth: usize,
    /// Input zero point, in [-128, 127].
    pub input_zero_point: i32,
    /// Weights zero point, in [-128, 127] (0 for TFLite's symmetric weights).
    pub weights_zero_point: i32,
    /// Output zero point, in [-128, 127].
    pub output_zero_point: i32,
    /// Fused activation clamp.
    pub activation: ActivationRange,
}

impl FullyConnectedParams {
    /// Length of the `i16` scratch: one widened input row.
    pub fn scratch_len(&self) -> usize {
        self.input_depth
    }

    /// Checks every shape and parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        if self.batches == 0 || self.input_depth == 0 || self.output_depth == 0 {
            return Err(Error::ZeroSized);
        }
        check_zero_points(self.input_zero_point, self.output_zero_point)?;
        check_zero_points(self.weights_zero_point, 0)?;
        self.activation.validate()?;
        self.batches
            .checked_mul(self.input_depth)
            .ok_or(Error::SizeOverflow)?;
        self.batches
            .checked_mul(self.output_depth)
            .ok_or(Error::SizeOverflow)?;
        self.output_depth
            .checked_mul(self.input_depth)
            .ok_or(Error::SizeOverflow)?;
        Ok(())
    }

    /// [`FullyConnectedParams::validate`] plus every buffer length and the requantization.
    pub fn validate_buffers(
        &self,
        requant: &Requant<'_>,
        input: &[i8],
        weights: &[i8],
        bias: Option<&[i32]>,
        output: &[i8],
        scratch: &[i16],
    ) -> Result<(), Error> {
        self.validate()?;
        requant.validate(self.output_depth)?;
        check_len(input.len(), self.batches * self.input_depth)?;
        check_len(weights.len(), self.output_depth * self.input_depth)?;
        check_len(output.len(), self.batches * self.output_depth)?;
        if let Some(b) = bias {
            check_len(b.len(), self.output_depth)?;
        }
        check_len(scratch.len(), self.scratch_len())?;
        Ok(())
    }
}

const ACC_BLOCK: usize = 64;

/// Runs FULLY_CONNECTED; see the module documentation. `scratch` holds at least
/// [`FullyConnectedParams::scratch_len`] `i16`s.
pub fn fully_connected(
    params: &FullyConnectedParams,
    requant: &Requant<'_>,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
    scratch: &mut [i16],
) -> Result<(), Error> {
    params.validate_buffers(requant, input, weights, bias, output, scratch)?;
    let p = params;
    let (k_len, out_d) = (p.input_depth, p.output_depth);
    let row = &mut scratch[..k_len];
    let zp_in = p.input_zero_point as i16;
    let mut acc = [0i32; ACC_BLOCK];
    for b in 0..p.batches {
        let x = &input[b * k_len..(b + 1) * k_len];
        let mut row_sum = 0i32;
        for (r, xv) in row.iter_mut().zip(x) {
            *r = *xv as i16 - zp_in;
            row_sum = row_sum.wrapping_add(*r as i32);
        }
        let zp_correction = row_sum.wrapping_mul(p.weights_zero_point);
        let out_row = &mut output[b * out_d..(b + 1) * out_d];
        let mut o = 0;
        while o < out_d {
            let block = (out_d - o).min(ACC_BLOCK);
            let accs = &mut acc[..block];
            channel_dots(row, weights, k_len, o, accs);
            for a in accs.iter_mut() {
                *a = a.wrapping_sub(zp_correction);
            }
            if let Some(bias) = bias {
                for (a, bv) in accs.iter_mut().zip(&bias[o..o + block]) {
                    *a = a.wrapping_add(*bv);
                }
            }
            requant.output_row(
                accs,
                o,
                p.output_zero_point,
                p.activation.min,
                p.activation.max,
                &mut out_row[o..o + block],
            );
            o += block;
        }
    }
    Ok(())
}
