//! Element-wise sum of two values of the same shape (residual connections).

use crate::nn::tape::{Tape, Var};
use crate::nn::NnError;

/// `a + b`
pub fn add(tape: &mut Tape, a: &Var, b: &Var) -> Result<Var, NnError> {
    if a.shape() != b.shape() {
        return Err(NnError::Shape(format!("add of {:?} and {:?}", a.shape(), b.shape())));
    }
    let y = super::map2(a.data(), b.data(), |x, y| x + y);
    // Both inputs receive the output gradient unchanged: one copy, the other gets the buffer.
    tape.custom_op_owned(&[a, b], y, a.shape().to_vec(), Box::new(|dy| vec![Some(dy.clone()), Some(dy)]))
}
