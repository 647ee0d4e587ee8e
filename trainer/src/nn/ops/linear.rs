//! Fully connected layer `y = x · Wᵀ + b`, weights `[out, in]` (TFLite FULLY_CONNECTED), as
//! one custom op over the crate's GEMM.

use super::conv2d::column_sums;
use super::gemm::{matmul_new, View};
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
    let (xd, wd) = (x.shared(), weight.shared());
    let mut y = matmul_new(View::rows(&xd, n, i), View::rows(&wd, o, i).t());
    if let Some(b) = bias {
        for row in y.chunks_mut(o.max(1)) {
            for (v, b) in row.iter_mut().zip(b.data()) {
                *v += *b;
            }
        }
    }
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    let has_bias = bias.is_some();
    tape.custom_op(
        &inputs,
        y,
        vec![n, o],
        Box::new(move |dy| {
            // dx = dy · W, dW = dyᵀ · x, db = column sums of dy.
            let dx = matmul_new(View::rows(dy, n, o), View::rows(&wd, o, i));
            let dw = matmul_new(View::rows(dy, n, o).t(), View::rows(&xd, n, i));
            let mut grads = vec![Some(dx), Some(dw)];
            if has_bias {
                grads.push(Some(column_sums(dy, o)));
            }
            grads
        }),
    )
}
