//! Element-wise activations: ReLU and ReLU6 (TFLite's fused activation ranges).

use rayon::prelude::*;

use crate::nn::tape::{Tape, Var};
use crate::nn::NnError;

const CHUNK: usize = 1 << 14;

/// Clamps to `[lo, hi]`; the gradient passes where `lo < x < hi`.
pub fn clamp(tape: &mut Tape, x: &Var, lo: f32, hi: f32) -> Result<Var, NnError> {
    let xd = x.to_vec();
    let mut y = vec![0.0f32; xd.len()];
    y.par_chunks_mut(CHUNK).zip(xd.par_chunks(CHUNK)).for_each(|(yc, xc)| {
        for (y, x) in yc.iter_mut().zip(xc) {
            *y = x.max(lo).min(hi);
        }
    });
    tape.custom_op(
        &[x],
        y,
        x.shape().to_vec(),
        Box::new(move |dy| {
            let mut dx = vec![0.0f32; dy.len()];
            dx.par_chunks_mut(CHUNK).zip(dy.par_chunks(CHUNK)).zip(xd.par_chunks(CHUNK)).for_each(|((dxc, dyc), xc)| {
                for ((d, g), x) in dxc.iter_mut().zip(dyc).zip(xc) {
                    *d = if *x > lo && *x < hi { *g } else { 0.0 };
                }
            });
            vec![Some(dx)]
        }),
    )
}

/// max(x, 0)
pub fn relu(tape: &mut Tape, x: &Var) -> Result<Var, NnError> {
    clamp(tape, x, 0.0, f32::INFINITY)
}

/// min(max(x, 0), 6)
pub fn relu6(tape: &mut Tape, x: &Var) -> Result<Var, NnError> {
    clamp(tape, x, 0.0, 6.0)
}
