//! Engine-agnostic network description: a list of nodes, each an [`Op`] with the indices of
//! the nodes it reads. Parameters live outside the graph in a [`ParamStore`] under
//! `"<node name>.<param>"` names, in TFLite layouts, so each node maps onto one core kernel.

use serde::{Deserialize, Serialize};

use super::ops::conv2d::output_size;
use super::NnError;

/// Explicit zero padding of a 2-D window op, in pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Padding {
    pub top: usize,
    pub left: usize,
    pub bottom: usize,
    pub right: usize,
}

impl Padding {
    /// The same padding on all four sides.
    pub fn uniform(p: usize) -> Self {
        Padding { top: p, left: p, bottom: p, right: p }
    }

    /// No padding.
    pub fn is_zero(&self) -> bool {
        *self == Padding::default()
    }
}

/// A 2-D convolution. `groups == 1` is a regular convolution (filter OHWI
/// `[out_c, kh, kw, in_c]`); `groups == in_c` is depthwise (filter `[1, kh, kw, out_c]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2dSpec {
    pub in_c: usize,
    pub out_c: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub padding: Padding,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub groups: usize,
    pub bias: bool,
}

impl Conv2dSpec {
    /// A square kernel with the same stride and padding on both axes, no dilation, one group.
    pub fn square(in_c: usize, out_c: usize, k: usize, stride: usize, pad: usize, bias: bool) -> Self {
        Conv2dSpec {
            in_c,
            out_c,
            kh: k,
            kw: k,
            stride_h: stride,
            stride_w: stride,
            padding: Padding::uniform(pad),
            dilation_h: 1,
            dilation_w: 1,
            groups: 1,
            bias,
        }
    }

    /// Whether this is a depthwise convolution (TFLite DEPTHWISE_CONV_2D).
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.groups == self.in_c && self.out_c % self.in_c == 0
    }

    /// Filter shape in TFLite layout.
    pub fn weight_shape(&self) -> Vec<usize> {
        if self.is_depthwise() {
            vec![1, self.kh, self.kw, self.out_c]
        } else {
            vec![self.out_c, self.kh, self.kw, self.in_c / self.groups.max(1)]
        }
    }

    /// Inputs feeding one output: the fan-in used for initialisation.
    pub fn fan_in(&self) -> usize {
        self.kh * self.kw * self.in_c / self.groups.max(1)
    }
}

/// Batch normalisation over the last (channel) axis.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNormSpec {
    pub channels: usize,
    pub eps: f32,
    /// Weight of the new batch statistic in the running average (PyTorch's convention, 0.1).
    pub momentum: f32,
}

impl BatchNormSpec {
    /// PyTorch's defaults: eps 1e-5, momentum 0.1.
    pub fn new(channels: usize) -> Self {
        BatchNormSpec { channels, eps: 1e-5, momentum: 0.1 }
    }
}

/// A 2-D pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2dSpec {
    pub kh: usize,
    pub kw: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub padding: Padding,
}

impl Pool2dSpec {
    /// A square window with stride equal to its size and no padding.
    pub fn square(k: usize) -> Self {
        Pool2dSpec { kh: k, kw: k, stride_h: k, stride_w: k, padding: Padding::default() }
    }
}

/// A fully connected layer, weights `[out_f, in_f]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearSpec {
    pub in_f: usize,
    pub out_f: usize,
    pub bias: bool,
}

/// What a node computes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// The network input; `shape` excludes the batch (`[h, w, c]` or `[features]`).
    Input { shape: Vec<usize> },
    Conv2d(Conv2dSpec),
    BatchNorm(BatchNormSpec),
    Relu,
    /// min(max(x, 0), 6)
    Relu6,
    /// Element-wise sum of two inputs of the same shape (residual connection).
    Add,
    /// Average over the in-bounds part of each window (TFLite AVERAGE_POOL_2D).
    AvgPool2d(Pool2dSpec),
    MaxPool2d(Pool2dSpec),
    /// Mean over height and width: `[n, h, w, c] -> [n, c]` (TFLite MEAN over axes 1, 2).
    GlobalAvgPool,
    /// `[n, ...] -> [n, product]` in row-major (NHWC) order (TFLite RESHAPE).
    Flatten,
    Linear(LinearSpec),
}

impl Op {
    /// Number of inputs the op reads.
    pub fn arity(&self) -> usize {
        match self {
            Op::Input { .. } => 0,
            Op::Add => 2,
            _ => 1,
        }
    }

    /// Short name for tables and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Conv2d(s) if s.is_depthwise() => "depthwise_conv2d",
            Op::Conv2d(_) => "conv2d",
            Op::BatchNorm(_) => "batch_norm",
            Op::Relu => "relu",
            Op::Relu6 => "relu6",
            Op::Add => "add",
            Op::AvgPool2d(_) => "avg_pool2d",
            Op::MaxPool2d(_) => "max_pool2d",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::Flatten => "flatten",
            Op::Linear(_) => "linear",
        }
    }
}

/// One node: its unique name (prefix of its parameter names), op and input node indices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<usize>,
}

/// Whether a parameter is trained by the optimizer or only updated by the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamKind {
    /// Learned by gradient descent.
    Trainable,
    /// A statistic such as a batch-norm running mean (not touched by the optimizer).
    Buffer,
}

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// Uniform in `[-bound, bound]` (PyTorch's default for conv and linear layers).
    Uniform { bound: f32 },
    Constant(f32),
}

/// Name, shape, kind and initialisation of one parameter of a graph.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: ParamKind,
    pub init: Init,
}

/// A network: nodes in execution order; node 0 is the input, the last node the output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
}

impl Graph {
    /// Appends a node and returns its index.
    pub fn push(&mut self, name: impl Into<String>, op: Op, inputs: &[usize]) -> usize {
        self.nodes.push(Node { name: name.into(), op, inputs: inputs.to_vec() });
        self.nodes.len() - 1
    }

    /// Per-sample output shape of every node (batch excluded), after checking the graph.
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>, NnError> {
        let mut shapes: Vec<Vec<usize>> = Vec::with_capacity(self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            let bad = |why: String| NnError::Graph(format!("node {i} `{}`: {why}", node.name));
            if node.inputs.len() != node.op.arity() {
                return Err(bad(format!("{} takes {} inputs, has {}", node.op.kind(), node.op.arity(), node.inputs.len())));
            }
            if let Some(&j) = node.inputs.iter().find(|&&j| j >= i) {
                return Err(bad(format!("input {j} is not an earlier node")));
            }
            if matches!(node.op, Op::Input { .. }) != (i == 0) {
                return Err(bad("the input must be node 0 and only node 0".into()));
            }
            let input = node.inputs.first().map(|&j| shapes[j].clone()).unwrap_or_default();
            let image = |s: &[usize]| -> Result<[usize; 3], NnError> {
                match *s {
                    [h, w, c] => Ok([h, w, c]),
                    _ => Err(bad(format!("expects an [h, w, c] input, got {s:?}"))),
                }
            };
            let window = |s: &[usize], kh, kw, sh, sw, p: Padding, dh, dw| -> Result<(usize, usize), NnError> {
                let [h, w, _] = image(s)?;
                match (output_size(h, kh, sh, p.top, p.bottom, dh), output_size(w, kw, sw, p.left, p.right, dw)) {
                    (Some(oh), Some(ow)) => Ok((oh, ow)),
                    _ => Err(bad(format!("window larger than padded input {h}x{w}"))),
                }
            };
            let shape = match &node.op {
                Op::Input { shape } => shape.clone(),
                Op::Conv2d(s) => {
                    let [_, _, c] = image(&input)?;
                    if c != s.in_c {
                        return Err(bad(format!("expects {} channels, input has {c}", s.in_c)));
                    }
                    if s.groups != 1 && !s.is_depthwise() {
                        return Err(bad(format!("groups = {} is not supported (1 or in_c)", s.groups)));
                    }
                    let (oh, ow) = window(&input, s.kh, s.kw, s.stride_h, s.stride_w, s.padding, s.dilation_h, s.dilation_w)?;
                    vec![oh, ow, s.out_c]
                }
                Op::BatchNorm(s) => {
                    if input.last() != Some(&s.channels) {
                        return Err(bad(format!("expects {} channels, input is {input:?}", s.channels)));
                    }
                    input
                }
                Op::Relu | Op::Relu6 => input,
                Op::Add => {
                    let other = &shapes[node.inputs[1]];
                    if *other != input {
                        return Err(bad(format!("adds {input:?} and {other:?}")));
                    }
                    input
                }
                Op::AvgPool2d(p) | Op::MaxPool2d(p) => {
                    let (oh, ow) = window(&input, p.kh, p.kw, p.stride_h, p.stride_w, p.padding, 1, 1)?;
                    vec![oh, ow, input[2]]
                }
                Op::GlobalAvgPool => vec![image(&input)?[2]],
                Op::Flatten => vec![input.iter().product()],
                Op::Linear(s) => {
                    if input != [s.in_f] {
                        return Err(bad(format!("expects [{}] features, input is {input:?}", s.in_f)));
                    }
                    vec![s.out_f]
                }
            };
            shapes.push(shape);
        }
        if shapes.is_empty() {
            return Err(NnError::Graph("empty graph".into()));
        }
        Ok(shapes)
    }

    /// Every parameter of the graph, in node order.
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        let mut specs = Vec::new();
        let mut add = |node: &Node, what: &str, shape: Vec<usize>, kind, init| {
            specs.push(ParamSpec { name: format!("{}.{what}", node.name), shape, kind, init });
        };
        for node in &self.nodes {
            match &node.op {
                Op::Conv2d(s) => {
                    let bound = 1.0 / (s.fan_in() as f32).sqrt();
                    add(node, "weight", s.weight_shape(), ParamKind::Trainable, Init::Uniform { bound });
                    if s.bias {
                        add(node, "bias", vec![s.out_c], ParamKind::Trainable, Init::Uniform { bound });
                    }
                }
                Op::Linear(s) => {
                    let bound = 1.0 / (s.in_f as f32).sqrt();
                    add(node, "weight", vec![s.out_f, s.in_f], ParamKind::Trainable, Init::Uniform { bound });
                    if s.bias {
                        add(node, "bias", vec![s.out_f], ParamKind::Trainable, Init::Uniform { bound });
                    }
                }
                Op::BatchNorm(s) => {
                    add(node, "gamma", vec![s.channels], ParamKind::Trainable, Init::Constant(1.0));
                    add(node, "beta", vec![s.channels], ParamKind::Trainable, Init::Constant(0.0));
                    add(node, "running_mean", vec![s.channels], ParamKind::Buffer, Init::Constant(0.0));
                    add(node, "running_var", vec![s.channels], ParamKind::Buffer, Init::Constant(1.0));
                }
                _ => {}
            }
        }
        specs
    }

    /// Multiply-accumulates of one forward pass of one sample (convolutions and linear layers).
    pub fn macs_per_sample(&self) -> Result<u64, NnError> {
        let shapes = self.shapes()?;
        Ok(self
            .nodes
            .iter()
            .zip(&shapes)
            .map(|(node, out)| match &node.op {
                Op::Conv2d(s) => (out.iter().product::<usize>() * s.fan_in()) as u64,
                Op::Linear(s) => (s.in_f * s.out_f) as u64,
                _ => 0,
            })
            .sum())
    }
}
