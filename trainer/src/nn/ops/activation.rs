//! Element-wise activations: ReLU and ReLU6 (TFLite's fused activation ranges).

use rayon::prelude::*;

use crate::nn::tape::{Tape, Var};
use crate::nn::NnError;

const CHUNK: usize = 1 << 14;

/// Clamps to `[lo, hi]`; the gradient passes where `lo < x < hi`.
pub fn clamp(tape: &mut Tape, x: &Var, lo: f32, hi: f32) -> Result<Var, NnError> {
    let y = super::map(x.data(), |v| v.max(lo).min(hi));
    let y = std::sync::Arc::new(y);
    // `lo < x < hi` exactly when `lo < y < hi` (elsewhere y is lo or hi), so the backward
    // masks with the output, which the next layer keeps alive anyway, instead of holding the
    // input buffer until the backward.
    let kept = std::sync::Arc::clone(&y);
    tape.custom_op_arc(
        &[x],
        y,
        x.shape().to_vec(),
        Box::new(move |mut dy| {
            dy.par_chunks_mut(CHUNK).zip(kept.par_chunks(CHUNK)).for_each(|(dc, yc)| {
                for (d, y) in dc.iter_mut().zip(yc) {
                    // A select, not a branch: the loop vectorises.
                    *d = if *y > lo && *y < hi { *d } else { 0.0 };
                }
            });
            vec![Some(dy)]
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
