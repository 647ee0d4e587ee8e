//! The trainer's layer API. dfdx is used only inside this module (`tape.rs`);
//! everything public here is plain Rust: graphs of [`Node`]s, named f32 parameters, [`Var`]
//! values, and closures over slices for custom forward/backward code.
//!
//! A forward pass over a [`Graph`] runs each node through the builtin op for its [`Op`], unless
//! a [`NodeForward`] hook returns its own value for that node. The QAT layer plugs in there:
//! it reads the node's parameters with [`ForwardCtx::param`], computes the quantized output
//! (calling core kernels) and registers a straight-through backward with
//! [`Tape::custom_op`].

pub mod graph;
pub mod loss;
pub mod ops;
pub mod optim;
pub mod params;
pub mod tape;

use std::collections::BTreeMap;

pub use graph::{BatchNormSpec, Conv2dSpec, Graph, LinearSpec, Node, Op, Padding, ParamKind, Pool2dSpec};
pub use params::{Param, ParamStore};
pub use tape::{BackwardFn, Gradients, Tape, Var};

/// What went wrong in a layer or graph.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error("invalid graph: {0}")]
    Graph(String),
    #[error("parameters: {0}")]
    Params(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("backward requested on a pass that does not record")]
    NotRecording,
}

/// Whether batch normalisation uses batch statistics (and updates its running statistics) or
/// the running statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// State of one forward pass shared by all nodes.
pub struct ForwardCtx<'a> {
    pub tape: &'a mut Tape,
    pub params: &'a mut ParamStore,
    pub mode: Mode,
    /// The value standing for each parameter in this pass, created on first use.
    param_vars: BTreeMap<String, Var>,
}

impl<'a> ForwardCtx<'a> {
    pub fn new(tape: &'a mut Tape, params: &'a mut ParamStore, mode: Mode) -> Self {
        ForwardCtx { tape, params, mode, param_vars: BTreeMap::new() }
    }

    /// The value of parameter `name` in this pass. Repeated calls return the same value, so
    /// every use contributes to one gradient.
    pub fn param(&mut self, name: &str) -> Result<Var, NnError> {
        if let Some(v) = self.param_vars.get(name) {
            return Ok(v.clone());
        }
        let p = self.params.get(name)?;
        let v = self.tape.var(p.data.clone(), p.shape.clone())?;
        self.param_vars.insert(name.to_string(), v.clone());
        Ok(v)
    }

    /// The parameter values used in this pass, to read their gradients after the backward.
    pub fn into_param_vars(self) -> ParamVars {
        ParamVars { vars: self.param_vars }
    }
}

/// The values that stood for the parameters in one pass.
pub struct ParamVars {
    vars: BTreeMap<String, Var>,
}

impl ParamVars {
    /// Gradients of every trainable parameter of `params`, in store order (zeros for parameters
    /// the pass did not use).
    pub fn trainable_grads(&self, params: &ParamStore, grads: &mut Gradients) -> Vec<Vec<f32>> {
        params
            .params
            .iter()
            .filter(|p| p.kind == ParamKind::Trainable)
            .map(|p| match self.vars.get(&p.name) {
                Some(v) => grads.of(v),
                None => vec![0.0; p.data.len()],
            })
            .collect()
    }

    /// The value of parameter `name` in the pass, if it was used.
    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars.get(name)
    }
}

/// A replacement forward for selected nodes (e.g. the exact quantized forward of QAT).
pub trait NodeForward {
    /// Returns the node's output, or `None` to run the builtin op. `inputs` are the values of
    /// `node.inputs`, in order.
    fn forward(&mut self, ctx: &mut ForwardCtx<'_>, index: usize, node: &Node, inputs: &[Var]) -> Result<Option<Var>, NnError>;
}

/// Runs every node with its builtin op.
pub struct Builtin;

impl NodeForward for Builtin {
    fn forward(&mut self, _: &mut ForwardCtx<'_>, _: usize, _: &Node, _: &[Var]) -> Result<Option<Var>, NnError> {
        Ok(None)
    }
}

/// The builtin float forward of one node. In training mode a batch-norm node also updates its
/// running statistics in `ctx.params`.
pub fn builtin_forward(ctx: &mut ForwardCtx<'_>, node: &Node, inputs: &[Var]) -> Result<Var, NnError> {
    let name = &node.name;
    let x = inputs.first().ok_or_else(|| NnError::Graph(format!("node `{name}` has no input")))?;
    match &node.op {
        Op::Input { .. } => Ok(x.clone()),
        Op::Conv2d(spec) => {
            let w = ctx.param(&format!("{name}.weight"))?;
            let b = if spec.bias { Some(ctx.param(&format!("{name}.bias"))?) } else { None };
            ops::conv2d::conv2d(ctx.tape, x, &w, b.as_ref(), spec)
        }
        Op::Linear(spec) => {
            let w = ctx.param(&format!("{name}.weight"))?;
            let b = if spec.bias { Some(ctx.param(&format!("{name}.bias"))?) } else { None };
            ops::linear::linear(ctx.tape, x, &w, b.as_ref(), spec)
        }
        Op::BatchNorm(spec) => {
            let gamma = ctx.param(&format!("{name}.gamma"))?;
            let beta = ctx.param(&format!("{name}.beta"))?;
            let mean_name = format!("{name}.running_mean");
            let var_name = format!("{name}.running_var");
            match ctx.mode {
                Mode::Train => {
                    let (y, stats) = ops::batch_norm::batch_norm_train(ctx.tape, x, &gamma, &beta, spec.eps)?;
                    let m = spec.momentum;
                    for (r, b) in ctx.params.get_mut(&mean_name)?.data.iter_mut().zip(&stats.mean) {
                        *r = (1.0 - m) * *r + m * b;
                    }
                    // The running variance is unbiased, as in PyTorch.
                    let unbias = stats.rows as f32 / (stats.rows.max(2) - 1) as f32;
                    for (r, b) in ctx.params.get_mut(&var_name)?.data.iter_mut().zip(&stats.var) {
                        *r = (1.0 - m) * *r + m * b * unbias;
                    }
                    Ok(y)
                }
                Mode::Eval => {
                    let mean = ctx.params.get(&mean_name)?.data.clone();
                    let var = ctx.params.get(&var_name)?.data.clone();
                    ops::batch_norm::batch_norm_eval(ctx.tape, x, &gamma, &beta, &mean, &var, spec.eps)
                }
            }
        }
        Op::Relu => ops::activation::relu(ctx.tape, x),
        Op::Relu6 => ops::activation::relu6(ctx.tape, x),
        Op::Add => {
            let y = inputs.get(1).ok_or_else(|| NnError::Graph(format!("add `{name}` needs two inputs")))?;
            ops::add::add(ctx.tape, x, y)
        }
        Op::AvgPool2d(p) => ops::pool::avg_pool2d(ctx.tape, x, p),
        Op::MaxPool2d(p) => ops::pool::max_pool2d(ctx.tape, x, p),
        Op::GlobalAvgPool => ops::pool::global_avg_pool(ctx.tape, x),
        Op::Flatten => {
            let n = x.shape()[0];
            x.reshaped(vec![n, x.len() / n.max(1)])
        }
    }
}

impl Graph {
    /// Runs the graph on a batch `input` (`[n, ...input shape]`) and returns every node's
    /// output (the last one is the network output; the others serve calibration).
    pub fn forward(&self, ctx: &mut ForwardCtx<'_>, input: Var, hook: &mut dyn NodeForward) -> Result<Vec<Var>, NnError> {
        let shapes = self.shapes()?;
        let mut expected = vec![input.shape().first().copied().unwrap_or(0)];
        expected.extend(&shapes[0]);
        if input.shape() != expected.as_slice() {
            return Err(NnError::Shape(format!("network input {:?}, expected [n, {:?}]", input.shape(), shapes[0])));
        }
        let mut outs: Vec<Var> = Vec::with_capacity(self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            let inputs: Vec<Var> = if i == 0 { vec![input.clone()] } else { node.inputs.iter().map(|&j| outs[j].clone()).collect() };
            let out = match hook.forward(ctx, i, node, &inputs)? {
                Some(v) => v,
                None => builtin_forward(ctx, node, &inputs)?,
            };
            outs.push(out);
        }
        Ok(outs)
    }
}
