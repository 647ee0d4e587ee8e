//! Element-wise sum of two values of the same shape (residual connections).

use rayon::prelude::*;

use crate::nn::tape::{Tape, Var};
use crate::nn::NnError;

/// `a + b`
pub fn add(tape: &mut Tape, a: &Var, b: &Var) -> Result<Var, NnError> {
    if a.shape() != b.shape() {
        return Err(NnError::Shape(format!("add of {:?} and {:?}", a.shape(), b.shape())));
    }
    let y: Vec<f32> = a.data().par_iter().with_min_len(1 << 14).zip(b.data().par_iter()).map(|(x, y)| x + y).collect();
    // Both inputs receive the output gradient unchanged: one copy, the other gets the buffer.
    tape.custom_op_owned(&[a, b], y, a.shape().to_vec(), Box::new(|dy| vec![Some(dy.clone()), Some(dy)]))
}
