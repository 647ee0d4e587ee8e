//! The model zoo: networks selected by name, built only from ops that map one-to-one onto the
//! core's int8 kernels (conv2d, depthwise, add, pooling, mean, fully connected).

use serde::{Deserialize, Serialize};

use crate::nn::graph::{BatchNormSpec, Conv2dSpec, Graph, LinearSpec, Op, Pool2dSpec};

/// A zoo network and the sizes it was built with (stored in checkpoints).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    /// 8x8x1 digits: conv3x3(16)+BN+ReLU, maxpool 2, conv3x3(32)+BN+ReLU, flatten, linear 10.
    DigitsCnn,
    /// 28x28x1: stem conv3x3(16)+BN+ReLU; residual stages 16/32/64 (stages 2, 3 stride 2 with a
    /// 1x1 stride-2 projection); global average pool; linear 10.
    Resnet8,
    /// Dense autoencoder 140-64-32-8-32-64-140 with BN + ReLU on the hidden layers.
    EcgAe,
    /// `inputs` -> linear 64 + ReLU -> linear `classes` (the anchors' `digits-mlp`).
    Mlp { inputs: u32, classes: u32 },
}

/// Names accepted by `--model`.
pub const MODEL_NAMES: &[&str] = &["digits-cnn", "resnet8", "ecg-ae", "mlp"];

impl Arch {
    /// The zoo entry called `name`; `input_len` and `classes` size the MLP for its dataset.
    pub fn from_name(name: &str, input_len: usize, classes: usize) -> Option<Arch> {
        match name {
            "digits-cnn" => Some(Arch::DigitsCnn),
            "resnet8" => Some(Arch::Resnet8),
            "ecg-ae" => Some(Arch::EcgAe),
            "mlp" => Some(Arch::Mlp { inputs: input_len as u32, classes: classes as u32 }),
            _ => None,
        }
    }

    /// The zoo name.
    pub fn name(&self) -> &'static str {
        match self {
            Arch::DigitsCnn => "digits-cnn",
            Arch::Resnet8 => "resnet8",
            Arch::EcgAe => "ecg-ae",
            Arch::Mlp { .. } => "mlp",
        }
    }

    /// Per-sample input shape.
    pub fn input_shape(&self) -> Vec<usize> {
        match *self {
            Arch::DigitsCnn => vec![8, 8, 1],
            Arch::Resnet8 => vec![28, 28, 1],
            Arch::EcgAe => vec![140],
            Arch::Mlp { inputs, .. } => vec![inputs as usize],
        }
    }

    /// Builds the graph.
    pub fn graph(&self) -> Graph {
        match *self {
            Arch::DigitsCnn => digits_cnn(),
            Arch::Resnet8 => resnet8(),
            Arch::EcgAe => ecg_ae(),
            Arch::Mlp { inputs, classes } => mlp(inputs as usize, classes as usize),
        }
    }
}

/// Appends conv (no bias: BN follows) + BN + ReLU and returns the ReLU's index.
fn conv_bn_relu(g: &mut Graph, name: &str, from: usize, spec: Conv2dSpec) -> usize {
    let c = g.push(format!("{name}.conv"), Op::Conv2d(spec), &[from]);
    let b = g.push(format!("{name}.bn"), Op::BatchNorm(BatchNormSpec::new(spec.out_c)), &[c]);
    g.push(format!("{name}.relu"), Op::Relu, &[b])
}

fn digits_cnn() -> Graph {
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![8, 8, 1] }, &[]);
    let a = conv_bn_relu(&mut g, "block1", x, Conv2dSpec::square(1, 16, 3, 1, 1, false));
    let p = g.push("pool", Op::MaxPool2d(Pool2dSpec::square(2)), &[a]);
    let b = conv_bn_relu(&mut g, "block2", p, Conv2dSpec::square(16, 32, 3, 1, 1, false));
    let f = g.push("flatten", Op::Flatten, &[b]);
    g.push("fc", Op::Linear(LinearSpec { in_f: 4 * 4 * 32, out_f: 10, bias: true }), &[f]);
    g
}

/// A basic residual block: conv3x3(stride)+BN+ReLU, conv3x3+BN, add shortcut, ReLU.
fn residual_block(g: &mut Graph, name: &str, from: usize, in_c: usize, out_c: usize, stride: usize) -> usize {
    let a = conv_bn_relu(g, &format!("{name}.a"), from, Conv2dSpec::square(in_c, out_c, 3, stride, 1, false));
    let c = g.push(format!("{name}.b.conv"), Op::Conv2d(Conv2dSpec::square(out_c, out_c, 3, 1, 1, false)), &[a]);
    let b = g.push(format!("{name}.b.bn"), Op::BatchNorm(BatchNormSpec::new(out_c)), &[c]);
    let shortcut = if stride != 1 || in_c != out_c {
        let p = g.push(format!("{name}.proj.conv"), Op::Conv2d(Conv2dSpec::square(in_c, out_c, 1, stride, 0, false)), &[from]);
        g.push(format!("{name}.proj.bn"), Op::BatchNorm(BatchNormSpec::new(out_c)), &[p])
    } else {
        from
    };
    let s = g.push(format!("{name}.add"), Op::Add, &[b, shortcut]);
    g.push(format!("{name}.relu"), Op::Relu, &[s])
}

fn resnet8() -> Graph {
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![28, 28, 1] }, &[]);
    let stem = conv_bn_relu(&mut g, "stem", x, Conv2dSpec::square(1, 16, 3, 1, 1, false));
    let s1 = residual_block(&mut g, "stage1", stem, 16, 16, 1);
    let s2 = residual_block(&mut g, "stage2", s1, 16, 32, 2);
    let s3 = residual_block(&mut g, "stage3", s2, 32, 64, 2);
    let gap = g.push("pool", Op::GlobalAvgPool, &[s3]);
    g.push("fc", Op::Linear(LinearSpec { in_f: 64, out_f: 10, bias: true }), &[gap]);
    g
}

fn ecg_ae() -> Graph {
    let mut g = Graph { nodes: vec![] };
    let mut prev = g.push("input", Op::Input { shape: vec![140] }, &[]);
    let widths = [140, 64, 32, 8, 32, 64];
    for (i, pair) in widths.windows(2).enumerate() {
        let fc = g.push(format!("fc{}", i + 1), Op::Linear(LinearSpec { in_f: pair[0], out_f: pair[1], bias: true }), &[prev]);
        let bn = g.push(format!("bn{}", i + 1), Op::BatchNorm(BatchNormSpec::new(pair[1])), &[fc]);
        prev = g.push(format!("relu{}", i + 1), Op::Relu, &[bn]);
    }
    g.push("out", Op::Linear(LinearSpec { in_f: 64, out_f: 140, bias: true }), &[prev]);
    g
}

fn mlp(inputs: usize, classes: usize) -> Graph {
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![inputs] }, &[]);
    let h = g.push("fc1", Op::Linear(LinearSpec { in_f: inputs, out_f: 64, bias: true }), &[x]);
    let r = g.push("relu1", Op::Relu, &[h]);
    g.push("fc2", Op::Linear(LinearSpec { in_f: 64, out_f: classes, bias: true }), &[r]);
    g
}
