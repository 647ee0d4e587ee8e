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

use serde::{Deserialize, Serialize};

use crate::arith::activation::ActivationRange;
use crate::arith::requantize::Requant;
use crate::Error;

use super::check_len;
use super::dot::dots_2xn;
use super::{check_zero_points, with_best_isa};

/// Shapes and quantization parameters of one FULLY_CONNECTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Length of the `i16` scratch: two widened input rows, `2 * input_depth`.
    pub fn scratch_len(&self) -> usize {
        self.input_depth.saturating_mul(2)
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
    with_best_isa(#[inline(always)] || run_validated(params, requant, input, weights, bias, output, scratch));
    Ok(())
}

/// The kernel proper; `validate_buffers` has passed.
#[inline(always)]
fn run_validated(
    params: &FullyConnectedParams,
    requant: &Requant<'_>,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
    scratch: &mut [i16],
) {
    let p = params;
    let (k_len, out_d) = (p.input_depth, p.output_depth);
    let (row0, rest) = scratch.split_at_mut(k_len);
    let row1 = &mut rest[..k_len];
    let mut acc0 = [0i32; ACC_BLOCK];
    let mut acc1 = [0i32; ACC_BLOCK];
    // Batch rows two at a time: each weight row is loaded once for both.
    let mut b = 0;
    while b < p.batches {
        let second = b + 1 < p.batches;
        let corr0 = widen_row(
            &input[b * k_len..(b + 1) * k_len],
            p.input_zero_point,
            p.weights_zero_point,
            row0,
        );
        let corr1 = if second {
            widen_row(
                &input[(b + 1) * k_len..(b + 2) * k_len],
                p.input_zero_point,
                p.weights_zero_point,
                row1,
            )
        } else {
            row1.copy_from_slice(row0);
            corr0
        };
        let mut o = 0;
        while o < out_d {
            let block = (out_d - o).min(ACC_BLOCK);
            let (a0, a1) = (&mut acc0[..block], &mut acc1[..block]);
            dots_2xn(row0, row1, weights, k_len, o, a0, a1);
            for (j, (x0, x1)) in a0.iter_mut().zip(a1.iter_mut()).enumerate() {
                let bv = bias.map_or(0, |bias| bias[o + j]);
                *x0 = x0.wrapping_sub(corr0).wrapping_add(bv);
                *x1 = x1.wrapping_sub(corr1).wrapping_add(bv);
            }
            let out0 = b * out_d + o;
            requant.output_row(
                a0,
                o,
                p.output_zero_point,
                p.activation.min,
                p.activation.max,
                &mut output[out0..out0 + block],
            );
            if second {
                let out1 = out0 + out_d;
                requant.output_row(
                    a1,
                    o,
                    p.output_zero_point,
                    p.activation.min,
                    p.activation.max,
                    &mut output[out1..out1 + block],
                );
            }
            o += block;
        }
        b += 2;
    }
}

/// Writes `x - zp_in` into `row` and returns the weights-zero-point correction
/// `zp_w * Σ (x - zp_in)` (wrapping).
#[inline]
fn widen_row(x: &[i8], zp_in: i32, zp_w: i32, row: &mut [i16]) -> i32 {
    let zp_in = zp_in as i16;
    let mut sum = 0i32;
    for (r, xv) in row.iter_mut().zip(x) {
        *r = *xv as i16 - zp_in;
        sum = sum.wrapping_add(*r as i32);
    }
    sum.wrapping_mul(zp_w)
}
