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

/// Per-channel sums of `f(row, channel, value)` over all rows of a row-major `[rows, c]` matrix.
fn channel_sums(m: &[f32], c: usize, f: impl Fn(usize, f32) -> f32 + Sync) -> Vec<f32> {
    let partials: Vec<Vec<f32>> = m
        .par_chunks(CHUNK_ROWS * c)
        .map(|rows| {
            let mut acc = vec![0.0f32; c];
            for row in rows.chunks(c) {
                for (ch, (a, v)) in acc.iter_mut().zip(row).enumerate() {
                    *a += f(ch, *v);
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

/// Per-channel sums of `a * b` (element-wise) over rows.
fn channel_dot(a: &[f32], b: &[f32], c: usize) -> Vec<f32> {
    let partials: Vec<Vec<f32>> = a
        .par_chunks(CHUNK_ROWS * c)
        .zip(b.par_chunks(CHUNK_ROWS * c))
        .map(|(ra, rb)| {
            let mut acc = vec![0.0f32; c];
            for (row_a, row_b) in ra.chunks(c).zip(rb.chunks(c)) {
                for ((s, x), y) in acc.iter_mut().zip(row_a).zip(row_b) {
                    *s += *x * *y;
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

/// Training mode: `y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta`.
pub fn batch_norm_train(tape: &mut Tape, x: &Var, gamma: &Var, beta: &Var, eps: f32) -> Result<(Var, BatchStats), NnError> {
    let c = check(x, &[gamma, beta])?;
    let xd = x.to_vec();
    let rows = xd.len() / c;
    if rows == 0 {
        return Err(NnError::Shape("batch_norm of an empty batch".into()));
    }
    let inv_rows = 1.0 / rows as f32;
    let mean: Vec<f32> = channel_sums(&xd, c, |_, v| v).iter().map(|s| s * inv_rows).collect();
    let var: Vec<f32> = channel_sums(&xd, c, |ch, v| (v - mean[ch]) * (v - mean[ch])).iter().map(|s| s * inv_rows).collect();
    let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let g = gamma.to_vec();
    let b = beta.to_vec();
    let mut xhat = xd;
    xhat.par_chunks_mut(CHUNK_ROWS * c).for_each(|rows| {
        for row in rows.chunks_mut(c) {
            for (ch, v) in row.iter_mut().enumerate() {
                *v = (*v - mean[ch]) * inv_std[ch];
            }
        }
    });
    let mut y = xhat.clone();
    y.par_chunks_mut(CHUNK_ROWS * c).for_each(|rows| {
        for row in rows.chunks_mut(c) {
            for (ch, v) in row.iter_mut().enumerate() {
                *v = *v * g[ch] + b[ch];
            }
        }
    });
    let out = tape.custom_op(
        &[x, gamma, beta],
        y,
        x.shape().to_vec(),
        Box::new(move |dy| {
            let sum_dy = channel_sums(dy, c, |_, v| v);
            let sum_dy_xhat = channel_dot(dy, &xhat, c);
            let mut dx = vec![0.0f32; dy.len()];
            dx.par_chunks_mut(CHUNK_ROWS * c)
                .zip(dy.par_chunks(CHUNK_ROWS * c))
                .zip(xhat.par_chunks(CHUNK_ROWS * c))
                .for_each(|((dxr, dyr), xr)| {
                    for ((dxrow, dyrow), xrow) in dxr.chunks_mut(c).zip(dyr.chunks(c)).zip(xr.chunks(c)) {
                        for ch in 0..c {
                            let centred = dyrow[ch] - sum_dy[ch] * inv_rows - xrow[ch] * sum_dy_xhat[ch] * inv_rows;
                            dxrow[ch] = g[ch] * inv_std[ch] * centred;
                        }
                    }
                });
            vec![Some(dx), Some(sum_dy_xhat), Some(sum_dy)]
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
    let xd = x.to_vec();
    let mut y = vec![0.0f32; xd.len()];
    y.par_chunks_mut(CHUNK_ROWS * c).zip(xd.par_chunks(CHUNK_ROWS * c)).for_each(|(yr, xr)| {
        for (yrow, xrow) in yr.chunks_mut(c).zip(xr.chunks(c)) {
            for ch in 0..c {
                yrow[ch] = (xrow[ch] - mean[ch]) * inv_std[ch] * g[ch] + b[ch];
            }
        }
    });
    tape.custom_op(
        &[x, gamma, beta],
        y,
        x.shape().to_vec(),
        Box::new(move |dy| {
            let mut dgamma = vec![0.0f32; c];
            for (dyrow, xrow) in dy.chunks(c).zip(xd.chunks(c)) {
                for ch in 0..c {
                    dgamma[ch] += dyrow[ch] * (xrow[ch] - mean[ch]) * inv_std[ch];
                }
            }
            let dbeta = channel_sums(dy, c, |_, v| v);
            let mut dx = dy.to_vec();
            for row in dx.chunks_mut(c) {
                for ch in 0..c {
                    row[ch] *= g[ch] * inv_std[ch];
                }
            }
            vec![Some(dx), Some(dgamma), Some(dbeta)]
        }),
    )
}
