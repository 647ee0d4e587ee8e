//! The only place that touches dfdx's autograd machinery.
//!
//! Every value flowing through a graph is a [`Var`]: a flat dfdx tensor plus its logical shape
//! (`[N, H, W, C]` for images, `[N, F]` for vectors). The tape is not carried by the tensors;
//! one [`Tape`] per forward pass owns dfdx's `OwnedTape`, and each op moves it onto its left
//! operand and takes it back afterwards. That keeps fan-out (residual connections) trivial: a
//! `Var` can be cloned and used by any number of consumers, and dfdx accumulates their
//! gradients by tensor id.

use dfdx::prelude::*;
use dfdx::tensor::Tape as _;

use super::NnError;

pub(crate) type Flat = Tensor<(usize,), f32, Cpu>;
type Traced = Tensor<(usize,), f32, Cpu, OwnedTape<f32, Cpu>>;

/// A value in the computation: a flat f32 buffer and its logical shape (batch first).
#[derive(Clone, Debug)]
pub struct Var {
    pub(crate) t: Flat,
    shape: Vec<usize>,
}

impl Var {
    pub(crate) fn from_tensor(t: Flat, shape: Vec<usize>) -> Self {
        Var { t, shape }
    }

    /// Logical shape, batch first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a value with no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the values in row-major order of [`Var::shape`].
    pub fn to_vec(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.len()];
        self.t.copy_into(&mut out);
        out
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
        Ok(Var { t: self.t.clone(), shape })
    }
}

/// Backward of a custom op: receives the gradient of the output and returns, for each input in
/// the order given to [`Tape::custom_op`], its gradient (same length as the input) or `None`
/// when that input needs no gradient.
pub type BackwardFn = Box<dyn FnOnce(&[f32]) -> Vec<Option<Vec<f32>>>>;

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

    /// Wraps host data as a new value (inputs, parameters). Each call makes a new tensor id.
    pub fn var(&self, data: Vec<f32>, shape: Vec<usize>) -> Result<Var, NnError> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(NnError::Shape(format!(
                "{} values given for shape {:?}",
                data.len(),
                shape
            )));
        }
        let t = self.dev.tensor_from_vec(data, (n,));
        Ok(Var { t, shape })
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
        let out = self.var(output, out_shape)?;
        if let Some(tape) = self.tape.as_mut() {
            let ghosts: Vec<_> = inputs.iter().map(|v| v.t.ghost()).collect();
            let lens: Vec<usize> = inputs.iter().map(|v| v.len()).collect();
            let out_ghost = out.t.ghost();
            tape.add_backward_op(move |grads| {
                let g_out: Vec<f32> = grads.get_or_alloc_mut(&out_ghost)?.to_vec();
                let g_inputs = backward(&g_out);
                for ((ghost, g), len) in ghosts.iter().zip(g_inputs).zip(lens) {
                    if let Some(g) = g {
                        debug_assert_eq!(g.len(), len, "custom op gradient length");
                        let dst = grads.get_or_alloc_mut(ghost)?;
                        // Accumulate: other consumers of the same value add their share too.
                        for (d, s) in dst.iter_mut().zip(&g) {
                            *d += *s;
                        }
                    }
                }
                Ok(())
            });
        }
        Ok(out)
    }

    /// Moves the pass's tape onto `v` for a chain of dfdx tracked ops.
    pub(crate) fn traced(&mut self, v: &Var) -> Option<Traced> {
        self.tape.take().map(|tape| v.t.clone().put_tape(tape))
    }

    /// Takes the tape back from the result of a chain of dfdx tracked ops.
    pub(crate) fn untrace(&mut self, t: Traced, shape: Vec<usize>) -> Var {
        let (t, tape) = t.split_tape();
        self.tape = Some(tape);
        Var { t, shape }
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
        let loss = self.dev.tensor_from_vec(vec![value], ());
        let ghosts: Vec<_> = inputs.iter().map(|v| v.t.ghost()).collect();
        let loss_ghost = loss.ghost();
        tape.add_backward_op(move |grads| {
            let g_out: Vec<f32> = grads.get_or_alloc_mut(&loss_ghost)?.to_vec();
            for (ghost, g) in ghosts.iter().zip(backward(&g_out)) {
                if let Some(g) = g {
                    let dst = grads.get_or_alloc_mut(ghost)?;
                    for (d, s) in dst.iter_mut().zip(&g) {
                        *d += *s;
                    }
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
    /// The gradient of `v` (zeros when nothing depended on it).
    pub fn of(&mut self, v: &Var) -> Vec<f32> {
        match self.grads.get_or_alloc_mut(&v.t) {
            Ok(g) => g.to_vec(),
            Err(_) => vec![0.0; v.len()],
        }
    }
}
