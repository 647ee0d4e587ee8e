//! The deployable integer network, described on top of a folded float graph.
//!
//! Each [`QLayer`] is one core kernel call (conv2d, depthwise, fully connected, add, pools,
//! mean, reshape) reading and writing int8 [`QTensor`]s. A ReLU/ReLU6 that directly follows a
//! conv, linear or add layer (its only consumer) becomes that layer's fused activation clamp.
//! Pools and reshapes keep their input's quantization (TFLite requires it); every other layer
//! output, and the network input, has its own per-tensor asymmetric quantizer.
//!
//! Learned quantities live in [`QuantModel::scales`], a [`ParamStore`] the optimizer trains:
//! `"<tensor>.scale"` (one activation step size) and `"<layer>.weight_scale"` (one per output
//! channel). Zero points are fixed after calibration.

use exactq_core::arith::{Activation, Profile};
use serde::{Deserialize, Serialize};

use crate::nn::graph::{Conv2dSpec, Graph, LinearSpec, Op, ParamKind, Pool2dSpec};
use crate::nn::params::{Param, ParamStore};

use super::QuantError;

/// Arithmetic profile, as stored in checkpoints (postcard writes the variant index, so the
/// order of the variants is part of the `QUNT` format: append, never reorder).
/// `FloatRequant` needs `QUNT` version 2 (`super::state::QuantState::required_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfileName {
    TfliteDouble,
    TfliteSingle,
    /// ONNX Runtime / XNNPACK / OpenVINO-style f32 requantization, round half to even
    /// (core `Profile::FloatRequant`).
    FloatRequant,
}

impl ProfileName {
    /// Every profile, in the order of [`Profile::ALL`].
    pub const ALL: [ProfileName; 3] = [ProfileName::TfliteDouble, ProfileName::TfliteSingle, ProfileName::FloatRequant];

    pub fn core(self) -> Profile {
        match self {
            ProfileName::TfliteDouble => Profile::TfliteDouble,
            ProfileName::TfliteSingle => Profile::TfliteSingle,
            ProfileName::FloatRequant => Profile::FloatRequant,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.core().as_str()
    }
}

/// The trainer's name of a core profile; `Err` for one this trainer cannot quantize for
/// (core's `Profile` is `#[non_exhaustive]`).
impl TryFrom<Profile> for ProfileName {
    type Error = String;
    fn try_from(p: Profile) -> Result<Self, String> {
        ProfileName::ALL.into_iter().find(|n| n.core() == p).ok_or_else(|| format!("arithmetic profile `{}` is not supported by the trainer", p.as_str()))
    }
}

impl std::str::FromStr for ProfileName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProfileName::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown arithmetic profile `{s}` (tflite-double, tflite-single, float-requant)"))
    }
}

/// A fused activation clamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fused {
    None,
    Relu,
    Relu6,
}

impl Fused {
    pub fn core(self) -> Activation {
        match self {
            Fused::None => Activation::None,
            Fused::Relu => Activation::Relu,
            Fused::Relu6 => Activation::Relu6,
        }
    }
}

/// What one layer computes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum QOp {
    /// Regular or depthwise convolution; parameters `"<node>.weight"`, `"<node>.bias"`.
    Conv { node: String, spec: Conv2dSpec, act: Fused },
    /// Fully connected; parameters `"<node>.weight"`, `"<node>.bias"`.
    Linear { node: String, spec: LinearSpec, act: Fused },
    Add { act: Fused },
    MaxPool(Pool2dSpec),
    AvgPool(Pool2dSpec),
    /// Mean over height and width (TFLite MEAN), with its own output quantizer.
    Mean,
    Reshape,
}

impl QOp {
    /// Output keeps the input's quantizer.
    pub fn shares_input_quantizer(&self) -> bool {
        matches!(self, QOp::MaxPool(_) | QOp::AvgPool(_) | QOp::Reshape)
    }
}

/// One int8 tensor (per-sample shape, batch excluded) and its activation quantizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub quantizer: usize,
}

/// A per-tensor activation quantizer: fixed zero point, learned scale (`"<name>.scale"`), and
/// the float-graph node whose output it was calibrated on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActQuantizer {
    pub name: String,
    pub zero_point: i32,
    pub calibrated_on: usize,
}

/// One kernel call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QLayer {
    pub name: String,
    pub op: QOp,
    /// Input tensors.
    pub inputs: Vec<usize>,
    pub output: usize,
}

/// The integer network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantModel {
    pub profile: ProfileName,
    /// Tensor 0 is the network input.
    pub tensors: Vec<QTensor>,
    pub quantizers: Vec<ActQuantizer>,
    pub layers: Vec<QLayer>,
    /// For each node of the folded float graph, the tensor holding its output.
    pub node_tensor: Vec<usize>,
    /// For each node of the folded graph, the layer it starts (`None` for fused activations and
    /// the input).
    pub node_layer: Vec<Option<usize>>,
    /// The network output tensor.
    pub output: usize,
    /// Learned step sizes (see the module documentation).
    pub scales: ParamStore,
}

fn consumers(graph: &Graph) -> Vec<Vec<usize>> {
    let mut c = vec![Vec::new(); graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        for &j in &node.inputs {
            c[j].push(i);
        }
    }
    c
}

impl QuantModel {
    /// The structure of the integer network for a folded graph, with placeholder scales (1.0)
    /// and zero points (0) until calibration sets them.
    pub fn describe(graph: &Graph, profile: ProfileName) -> Result<QuantModel, QuantError> {
        let shapes = graph.shapes()?;
        let users = consumers(graph);
        let n = graph.nodes.len();
        let mut m = QuantModel {
            profile,
            tensors: Vec::new(),
            quantizers: Vec::new(),
            layers: Vec::new(),
            node_tensor: vec![usize::MAX; n],
            node_layer: vec![None; n],
            output: 0,
            scales: ParamStore::default(),
        };
        let mut fused_into = vec![None::<usize>; n];
        for (i, node) in graph.nodes.iter().enumerate() {
            let unsupported = |why: &str| QuantError::Unsupported(format!("node {i} `{}` ({}): {why}", node.name, node.op.kind()));
            if let Some(producer) = fused_into[i] {
                m.node_tensor[i] = m.node_tensor[producer];
                continue;
            }
            // A ReLU/ReLU6 consuming only this node's output becomes its clamp.
            let fusible = |op: &Op| matches!(op, Op::Conv2d(_) | Op::Linear(_) | Op::Add);
            let (act, owner) = match users[i].as_slice() {
                [j] if fusible(&node.op) && matches!(graph.nodes[*j].op, Op::Relu | Op::Relu6) => {
                    fused_into[*j] = Some(i);
                    (if graph.nodes[*j].op == Op::Relu { Fused::Relu } else { Fused::Relu6 }, *j)
                }
                _ => (Fused::None, i),
            };
            let op = match &node.op {
                Op::Input { .. } => {
                    let t = m.new_tensor("input", shapes[0].clone(), None, 0);
                    m.node_tensor[0] = t;
                    continue;
                }
                Op::Conv2d(spec) => QOp::Conv { node: node.name.clone(), spec: *spec, act },
                Op::Linear(spec) => QOp::Linear { node: node.name.clone(), spec: *spec, act },
                Op::Add => QOp::Add { act },
                Op::MaxPool2d(p) => QOp::MaxPool(*p),
                Op::AvgPool2d(p) => QOp::AvgPool(*p),
                Op::GlobalAvgPool => QOp::Mean,
                Op::Flatten => QOp::Reshape,
                Op::BatchNorm(_) => return Err(unsupported("batch norm must be folded first")),
                Op::Relu | Op::Relu6 => {
                    return Err(unsupported("a ReLU must directly follow the conv, linear or add layer it clamps"))
                }
            };
            let inputs: Vec<usize> = node.inputs.iter().map(|&j| m.node_tensor[j]).collect();
            let shared = if op.shares_input_quantizer() { Some(m.tensors[inputs[0]].quantizer) } else { None };
            let out = m.new_tensor(&node.name, shapes[i].clone(), shared, owner);
            if let QOp::Conv { spec, .. } = &op {
                m.push_weight_scale(&node.name, spec.out_c);
            }
            if let QOp::Linear { spec, .. } = &op {
                m.push_weight_scale(&node.name, spec.out_f);
            }
            m.node_layer[i] = Some(m.layers.len());
            m.layers.push(QLayer { name: node.name.clone(), op, inputs, output: out });
            m.node_tensor[i] = out;
        }
        m.output = m.node_tensor[n - 1];
        Ok(m)
    }

    fn new_tensor(&mut self, name: &str, shape: Vec<usize>, shared: Option<usize>, owner: usize) -> usize {
        let quantizer = shared.unwrap_or_else(|| {
            self.quantizers.push(ActQuantizer { name: name.to_string(), zero_point: 0, calibrated_on: owner });
            self.scales.params.push(Param { name: format!("{name}.scale"), shape: vec![1], kind: ParamKind::Trainable, data: vec![1.0] });
            self.quantizers.len() - 1
        });
        self.tensors.push(QTensor { name: name.to_string(), shape, quantizer });
        self.tensors.len() - 1
    }

    fn push_weight_scale(&mut self, layer: &str, channels: usize) {
        self.scales.params.push(Param {
            name: format!("{layer}.weight_scale"),
            shape: vec![channels],
            kind: ParamKind::Trainable,
            data: vec![1.0; channels],
        });
    }

    /// Scale and zero point of tensor `t`.
    pub fn tensor_quant(&self, t: usize) -> Result<(f32, i32), QuantError> {
        let q = &self.quantizers[self.tensors[t].quantizer];
        Ok((self.scales.get(&format!("{}.scale", q.name))?.data[0], q.zero_point))
    }

    /// Per-output-channel weight scales of layer `name`.
    pub fn weight_scales(&self, name: &str) -> Result<&[f32], QuantError> {
        Ok(&self.scales.get(&format!("{name}.weight_scale"))?.data)
    }

    /// Keeps every learned scale positive and finite after an optimizer step (a step size
    /// cannot cross zero; 1e-12 is far below any useful scale).
    pub fn clamp_scales(&mut self) -> Result<(), QuantError> {
        for p in &mut self.scales.params {
            for s in &mut p.data {
                if !s.is_finite() {
                    return Err(QuantError::NonFinite(format!("learned scale `{}`", p.name)));
                }
                *s = s.max(1e-12);
            }
        }
        Ok(())
    }
}
