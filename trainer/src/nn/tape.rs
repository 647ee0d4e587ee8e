//! The only place that touches dfdx's autograd machinery.
//!
//! Every value flowing through a graph is a [`Var`]: its values in a shared host buffer, its
//! logical shape (`[N, H, W, C]` for images, `[N, F]` for vectors) and a dfdx tensor that is
//! only its *identity* on dfdx's tape. The tape is not carried by the tensors; one [`Tape`]
//! per forward pass owns dfdx's `OwnedTape`, which orders and runs the backward closures and
//! keeps the gradients by tensor id. A `Var` can be cloned and used by any number of
//! consumers (residual connections); their gradients are summed under its id.
//!
//! Why the values do not live in the dfdx tensor (this was the trainer's largest overhead
//! after the GEMMs, docs/performance.md):
//! - dfdx 0.13 has no public way to borrow a CPU tensor's data, so every op had to copy each
//!   input out (`copy_into`) before computing. Here ops read [`Var::data`] in place and
//!   backward closures keep an `Arc` of the buffers they need instead of a copy.
//! - dfdx allocates every gradient zero-filled at the value's length on first touch and ops
//!   then add into it. The identity tensors have length 0, so dfdx's slot starts as an empty
//!   `Vec`; the first contribution is *moved* into it (no zero fill, no add pass) and only a
//!   value with several consumers pays an addition. Backward closures receive the output
//!   gradient by value, so element-wise ops can overwrite it in place and return it as their
//!   input's gradient.

use std::sync::Arc;

use dfdx::prelude::*;
use dfdx::tensor::Tape as _;

use super::NnError;

/// A zero-length dfdx tensor: a fresh unique id, used as a gradient key.
type Key = Tensor<(usize,), f32, Cpu>;

/// A value in the computation: a flat f32 buffer and its logical shape (batch first).
#[derive(Clone, Debug)]
pub struct Var {
    data: Arc<Vec<f32>>,
    key: Key,
    shape: Vec<usize>,
}

impl Var {
    /// Logical shape, batch first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a value with no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The values in row-major order of [`Var::shape`], borrowed.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// A copy of the values in row-major order of [`Var::shape`].
    pub fn to_vec(&self) -> Vec<f32> {
        self.data.to_vec()
    }

    /// The value buffer itself, for a backward closure that needs the values later (no copy).
    pub(crate) fn shared(&self) -> Arc<Vec<f32>> {
        Arc::clone(&self.data)
    }

    /// The same values under another shape with the same element count (Flatten, reshape).
    /// Shares the buffer and the gradient: no copy and no tape entry.
    pub fn reshaped(&self, shape: Vec<usize>) -> Result<Var, NnError> {
        let n: usize = shape.iter().product();
        if n != self.len() {
            return Err(NnError::Shape(format!(
                "cannot reshape {:?} into {:?}",
                self.shape, shape
            )));
        }
        Ok(Var { data: Arc::clone(&self.data), key: self.key.clone(), shape })
    }
}

/// Backward of a custom op: receives the gradient of the output and returns, for each input in
/// the order given to [`Tape::custom_op`], its gradient (same length as the input) or `None`
/// when that input needs no gradient.
pub type BackwardFn = Box<dyn FnOnce(&[f32]) -> Vec<Option<Vec<f32>>>>;

/// [`BackwardFn`] receiving the output gradient by value, so an op may reuse its buffer for an
/// input gradient (see [`Tape::custom_op_owned`]).
pub type OwnedBackwardFn = Box<dyn FnOnce(Vec<f32>) -> Vec<Option<Vec<f32>>>>;

/// One forward pass: the device, the recorded backward operations (when training) and whether
/// layers run in training mode (batch statistics) or evaluation mode (running statistics).
pub struct Tape {
    dev: Cpu,
    tape: Option<OwnedTape<f32, Cpu>>,
}

impl Tape {
    /// A pass that records operations so gradients can be computed.
    pub fn recording() -> Self {
        Tape { dev: Cpu::default(), tape: Some(OwnedTape::default()) }
    }

    /// A pass that records nothing (evaluation, calibration).
    pub fn inference() -> Self {
        Tape { dev: Cpu::default(), tape: None }
    }

    /// Whether backward operations are being recorded.
    pub fn is_recording(&self) -> bool {
        self.tape.is_some()
    }

    /// Wraps host data as a new value (inputs, parameters). Each call makes a new value with
    /// its own gradient.
    pub fn var(&self, data: Vec<f32>, shape: Vec<usize>) -> Result<Var, NnError> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(NnError::Shape(format!(
                "{} values given for shape {:?}",
                data.len(),
                shape
            )));
        }
        Ok(Var { data: Arc::new(data), key: self.dev.tensor_from_vec(Vec::new(), (0,)), shape })
    }

    /// Registers an operation written with plain slices: `output` was computed by the caller
    /// from `inputs`, and `backward` maps the output gradient to input gradients. This is the
    /// hook a quantized forward (calling core kernels) uses; it never needs a dfdx type.
    pub fn custom_op(
        &mut self,
        inputs: &[&Var],
        output: Vec<f32>,
        out_shape: Vec<usize>,
        backward: BackwardFn,
    ) -> Result<Var, NnError> {
        self.custom_op_owned(inputs, output, out_shape, Box::new(move |dy: Vec<f32>| backward(&dy)))
    }

    /// [`Tape::custom_op`] whose backward owns the output gradient: an element-wise op can
    /// overwrite it and return the same buffer as its input's gradient (no allocation).
    pub fn custom_op_owned(
        &mut self,
        inputs: &[&Var],
        output: Vec<f32>,
        out_shape: Vec<usize>,
        backward: OwnedBackwardFn,
    ) -> Result<Var, NnError> {
        self.custom_op_arc(inputs, Arc::new(output), out_shape, backward)
    }

    /// [`Tape::custom_op_owned`] with the output already shared, so the backward can keep it
    /// (e.g. ReLU masks its gradient with its output).
    pub(crate) fn custom_op_arc(
        &mut self,
        inputs: &[&Var],
        output: Arc<Vec<f32>>,
        out_shape: Vec<usize>,
        backward: OwnedBackwardFn,
    ) -> Result<Var, NnError> {
        let n: usize = out_shape.iter().product();
        if n != output.len() {
            return Err(NnError::Shape(format!("{} values given for shape {:?}", output.len(), out_shape)));
        }
        let out = Var { data: output, key: self.dev.tensor_from_vec(Vec::new(), (0,)), shape: out_shape };
        if let Some(tape) = self.tape.as_mut() {
            let ghosts: Vec<_> = inputs.iter().map(|v| v.key.ghost()).collect();
            let lens: Vec<usize> = inputs.iter().map(|v| v.len()).collect();
            let out_ghost = out.key.ghost();
            let out_len = out.len();
            tape.add_backward_op(move |grads| {
                // The output's gradient is complete (its consumers ran first) and no longer
                // needed: move it out (the entry is left empty). Empty means no consumer
                // contributed: the gradient is zero.
                let slot: &mut Vec<f32> = grads.get_or_alloc_mut(&out_ghost)?;
                let g_out = if slot.is_empty() { vec![0.0; out_len] } else { std::mem::take(slot) };
                let g_inputs = backward(g_out);
                for ((ghost, g), len) in ghosts.iter().zip(g_inputs).zip(lens) {
                    if let Some(g) = g {
                        assert_eq!(g.len(), len, "custom op gradient length");
                        deposit(grads.get_or_alloc_mut(ghost)?, g);
                    }
                }
                Ok(())
            });
        }
        Ok(out)
    }

    /// Registers a scalar loss and runs the backward pass. `value` is the loss computed by the
    /// caller from `inputs`; `backward` maps d(loss)/d(loss) = 1 to input gradients.
    pub(crate) fn backward_from_scalar(
        &mut self,
        inputs: &[&Var],
        value: f32,
        backward: BackwardFn,
    ) -> Result<Gradients, NnError> {
        let mut tape = self.tape.take().ok_or(NnError::NotRecording)?;
        // A real one-element tensor: dfdx's `backward` seeds its gradient with 1.
        let loss = self.dev.tensor_from_vec(vec![value], ());
        let ghosts: Vec<_> = inputs.iter().map(|v| v.key.ghost()).collect();
        let loss_ghost = loss.ghost();
        tape.add_backward_op(move |grads| {
            let g_out: Vec<f32> = grads.get_or_alloc_mut(&loss_ghost)?.to_vec();
            for (ghost, g) in ghosts.iter().zip(backward(&g_out)) {
                if let Some(g) = g {
                    deposit(grads.get_or_alloc_mut(ghost)?, g);
                }
            }
            Ok(())
        });
        let grads = loss.put_tape(tape).backward();
        Ok(Gradients { grads })
    }
}

/// Gradients of one backward pass, read by [`Var`].
pub struct Gradients {
    grads: dfdx::tensor::Gradients<f32, Cpu>,
}

impl Gradients {
    /// The gradient of `v` (zeros when nothing depended on it). Available for parameters and
    /// network inputs; the gradients of intermediate values are consumed by the backward pass.
    pub fn of(&mut self, v: &Var) -> Vec<f32> {
        match self.grads.get_or_alloc_mut(&v.key) {
            Ok(g) if !g.is_empty() => g.to_vec(),
            _ => vec![0.0; v.len()],
        }
    }
}

/// Adds one contribution to a gradient slot: the first one is moved in, later ones are added.
fn deposit(slot: &mut Vec<f32>, g: Vec<f32>) {
    if slot.is_empty() {
        *slot = g;
    } else {
        accumulate(slot, &g);
    }
}

/// `dst += src`, element-wise, in parallel over fixed chunks (each element is one addition,
/// so the result does not depend on the thread count).
fn accumulate(dst: &mut [f32], src: &[f32]) {
    use rayon::prelude::*;
    dst.par_chunks_mut(1 << 16).zip(src.par_chunks(1 << 16)).for_each(|(d, s)| {
        for (d, s) in d.iter_mut().zip(s) {
            *d += *s;
        }
    });
}
