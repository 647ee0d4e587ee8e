//! Element-wise sum of two values of the same shape (residual connections), a dfdx tracked op.


use crate::nn::tape::{Tape, Var};
use crate::nn::NnError;

/// `a + b`
pub fn add(tape: &mut Tape, a: &Var, b: &Var) -> Result<Var, NnError> {
    if a.shape() != b.shape() {
        return Err(NnError::Shape(format!("add of {:?} and {:?}", a.shape(), b.shape())));
    }
    let shape = a.shape().to_vec();
    Ok(match tape.traced(a) {
        Some(ta) => {
            let sum = ta + b.t.clone();
            tape.untrace(sum, shape)
        }
        None => Var::from_tensor(a.t.clone() + b.t.clone(), shape),
    })
}
