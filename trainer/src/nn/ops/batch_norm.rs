//! Batch normalisation over the channel (last) axis of NHWC or `[N, F]` activations.
//!
//! Training mode normalises with the batch statistics (biased variance) and reports them so the
//! caller can update the running averages; evaluation mode uses the running statistics. All
//! reductions go over fixed row chunks summed in order, so results do not depend on the
//! number of threads.

use rayon::prelude::*;

use crate::nn::tape::{Tape, Var};
use crate::nn::NnError;

/// Rows per reduction chunk (fixed, so partial sums never depend on the thread count).
const CHUNK_ROWS: usize = 512;

/// Per-channel sums over all rows of a row-major `[rows, c]` matrix: of the values, or with
/// `centre`, of their squared deviations `(v - centre[ch])²`. The channel loop runs over
/// zipped slices (no indexing) so it vectorises.
fn channel_sums(m: &[f32], c: usize, centre: Option<&[f32]>) -> Vec<f32> {
    let partials: Vec<Vec<f32>> = m
        .par_chunks(CHUNK_ROWS * c)
        .map(|rows| {
            let mut acc = vec![0.0f32; c];
            for row in rows.chunks(c) {
                match centre {
                    None => acc.iter_mut().zip(row).for_each(|(a, v)| *a += *v),
                    Some(mu) => acc.iter_mut().zip(row).zip(mu).for_each(|((a, v), m)| *a += (*v - *m) * (*v - *m)),
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0.0f32; c];
    for p in &partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += *v;
        }
    }
    total
}

/// Batch statistics of one training-mode call.
#[derive(Clone, Debug)]
pub struct BatchStats {
    pub mean: Vec<f32>,
    /// Biased variance (divided by the number of rows).
    pub var: Vec<f32>,
    /// Rows the statistics were taken over (for the unbiased running variance).
    pub rows: usize,
}

fn check(x: &Var, params: &[&Var]) -> Result<usize, NnError> {
    let c = *x.shape().last().ok_or_else(|| NnError::Shape("batch_norm of a scalar".into()))?;
    for p in params {
        if p.shape() != [c] {
            return Err(NnError::Shape(format!("batch_norm parameter {:?}, expected [{c}]", p.shape())));
        }
    }
    Ok(c)
}

/// Per-channel `(sum of dy, sum of dy * xhat)` over rows, with `xhat = (x - mean) * inv_std`
/// recomputed on the fly: one pass over `dy` and `x` for both sums of the backward.
fn backward_sums(dy: &[f32], x: &[f32], mean: &[f32], inv_std: &[f32], c: usize) -> (Vec<f32>, Vec<f32>) {
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dy
        .par_chunks(CHUNK_ROWS * c)
        .zip(x.par_chunks(CHUNK_ROWS * c))
        .map(|(rd, rx)| {
            let (mut s, mut sx) = (vec![0.0f32; c], vec![0.0f32; c]);
            for (row_d, row_x) in rd.chunks(c).zip(rx.chunks(c)) {
                // Zipped per-channel slices (no indexing) so the loop vectorises.
                for ((((s, sx), d), x), (m, is)) in s.iter_mut().zip(sx.iter_mut()).zip(row_d).zip(row_x).zip(mean.iter().zip(inv_std)) {
                    *s += *d;
                    *sx += *d * ((*x - *m) * *is);
                }
            }
            (s, sx)
        })
        .collect();
    let (mut s, mut sx) = (vec![0.0f32; c], vec![0.0f32; c]);
    for (ps, psx) in &partials {
        for ch in 0..c {
            s[ch] += ps[ch];
            sx[ch] += psx[ch];
        }
    }
    (s, sx)
}

/// Training mode: `y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta`.
///
/// Memory traffic is what costs here (the arithmetic per element is a few flops): the forward
/// reads x twice (mean, then variance) and writes y once; the backward keeps the input buffer
/// (shared, no copy) instead of a stored `xhat`, reads dy and x once for both sums and writes
/// dx over dy in place.
pub fn batch_norm_train(tape: &mut Tape, x: &Var, gamma: &Var, beta: &Var, eps: f32) -> Result<(Var, BatchStats), NnError> {
    let c = check(x, &[gamma, beta])?;
    let xd = x.shared();
    let rows = xd.len() / c;
    if rows == 0 {
        return Err(NnError::Shape("batch_norm of an empty batch".into()));
    }
    let inv_rows = 1.0 / rows as f32;
    let mean: Vec<f32> = channel_sums(&xd, c, None).iter().map(|s| s * inv_rows).collect();
    let var: Vec<f32> = channel_sums(&xd, c, Some(&mean)).iter().map(|s| s * inv_rows).collect();
    let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let g = gamma.to_vec();
    let b = beta.to_vec();
    // One affine map per channel: y = x * (g * inv_std) + (b - mean * g * inv_std).
    let scale: Vec<f32> = g.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
    let shift: Vec<f32> = b.iter().zip(&mean).zip(&scale).map(|((b, m), a)| b - m * a).collect();
    let y = super::affine(&xd, &scale, &shift);
    let (m2, s2) = (mean.clone(), inv_std.clone());
    let out = tape.custom_op_owned(
        &[x, gamma, beta],
        y,
        x.shape().to_vec(),
        Box::new(move |mut dy| {
            let (sum_dy, sum_dy_xhat) = backward_sums(&dy, &xd, &m2, &s2, c);
            // dx = g * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)), per channel.
            let mean_dy: Vec<f32> = sum_dy.iter().map(|s| s * inv_rows).collect();
            let mean_dyx: Vec<f32> = sum_dy_xhat.iter().map(|s| s * inv_rows).collect();
            dy.par_chunks_mut(CHUNK_ROWS * c).zip(xd.par_chunks(CHUNK_ROWS * c)).for_each(|(dr, xr)| {
                for (drow, xrow) in dr.chunks_mut(c).zip(xr.chunks(c)) {
                    for ((d, x), (((m, is), a), (md, mdx))) in
                        drow.iter_mut().zip(xrow).zip(m2.iter().zip(&s2).zip(&scale).zip(mean_dy.iter().zip(&mean_dyx)))
                    {
                        let xhat = (*x - *m) * *is;
                        *d = *a * (*d - *md - xhat * *mdx);
                    }
                }
            });
            vec![Some(dy), Some(sum_dy_xhat), Some(sum_dy)]
        }),
    )?;
    Ok((out, BatchStats { mean, var, rows }))
}

/// Evaluation mode: normalise with the running statistics (an affine map per channel).
pub fn batch_norm_eval(
    tape: &mut Tape,
    x: &Var,
    gamma: &Var,
    beta: &Var,
    running_mean: &[f32],
    running_var: &[f32],
    eps: f32,
) -> Result<Var, NnError> {
    let c = check(x, &[gamma, beta])?;
    if running_mean.len() != c || running_var.len() != c {
        return Err(NnError::Shape(format!("batch_norm running statistics do not have {c} channels")));
    }
    let inv_std: Vec<f32> = running_var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let mean = running_mean.to_vec();
    let g = gamma.to_vec();
    let b = beta.to_vec();
    let xd = x.shared();
    // Kept as (x - mean) * inv_std * g + b, the rounding PTQ calibration and the folded
    // quantized model are compared against.
    let y = super::map_rows(&xd, &[], c, |v, _, ch| (v - mean[ch]) * inv_std[ch] * g[ch] + b[ch]);
    tape.custom_op_owned(
        &[x, gamma, beta],
        y,
        x.shape().to_vec(),
        Box::new(move |mut dy| {
            let mut dgamma = vec![0.0f32; c];
            for (dyrow, xrow) in dy.chunks(c).zip(xd.chunks(c)) {
                for ch in 0..c {
                    dgamma[ch] += dyrow[ch] * (xrow[ch] - mean[ch]) * inv_std[ch];
                }
            }
            let dbeta = channel_sums(&dy, c, None);
            for row in dy.chunks_mut(c) {
                for ch in 0..c {
                    row[ch] *= g[ch] * inv_std[ch];
                }
            }
            vec![Some(dy), Some(dgamma), Some(dbeta)]
        }),
    )
}
