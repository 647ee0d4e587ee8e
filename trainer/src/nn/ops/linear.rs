//! Fully connected layer `y = x · Wᵀ + b`, weights `[out, in]` (TFLite FULLY_CONNECTED), as a
//! chain of dfdx tracked ops (matmul with a transposed view, broadcast bias).

use dfdx::prelude::*;

use crate::nn::graph::LinearSpec;
use crate::nn::tape::{Tape, Var};
use crate::nn::NnError;

/// Applies a linear layer to `[n, in]`.
pub fn linear(tape: &mut Tape, x: &Var, weight: &Var, bias: Option<&Var>, spec: &LinearSpec) -> Result<Var, NnError> {
    let &[n, f] = x.shape() else {
        return Err(NnError::Shape(format!("linear expects [n, features], got {:?}", x.shape())));
    };
    if f != spec.in_f || weight.shape() != [spec.out_f, spec.in_f] {
        return Err(NnError::Shape(format!(
            "linear {}->{}: input {:?}, weight {:?}",
            spec.in_f,
            spec.out_f,
            x.shape(),
            weight.shape()
        )));
    }
    if let Some(b) = bias {
        if b.shape() != [spec.out_f] {
            return Err(NnError::Shape(format!("linear bias {:?}, expected [{}]", b.shape(), spec.out_f)));
        }
    }
    let (o, i) = (spec.out_f, spec.in_f);
    let w_t = weight.t.clone().reshape_like(&(o, i)).permute::<_, Axes2<1, 0>>();
    let b = bias.map(|b| b.t.clone().broadcast_like::<_, Axis<0>>(&(n, o)));
    let shape = vec![n, o];
    Ok(match tape.traced(x) {
        Some(tx) => {
            let y = tx.reshape_like(&(n, i)).matmul(w_t);
            let y = match b {
                Some(b) => y + b,
                None => y,
            };
            tape.untrace(y.reshape_like(&(n * o,)), shape)
        }
        None => {
            let y = x.t.clone().reshape_like(&(n, i)).matmul(w_t);
            let y = match b {
                Some(b) => y + b,
                None => y,
            };
            Var::from_tensor(y.reshape_like(&(n * o,)), shape)
        }
    })
}
