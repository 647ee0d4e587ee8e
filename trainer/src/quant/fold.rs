//! Batch-norm folding: `BN(conv(x))` becomes one convolution with rescaled weights and a new
//! bias, so the network that is quantized (and fine-tuned) is exactly the deployed one.
//!
//! For output channel `c`: `k = gamma[c] / sqrt(running_var[c] + eps)`,
//! `w'[c, ...] = k · w[c, ...]`, `b'[c] = k · (b[c] - running_mean[c]) + beta[c]`.

use crate::nn::graph::{Graph, Op, ParamKind};
use crate::nn::params::{Param, ParamStore};

use super::QuantError;

/// A network without batch-norm nodes, with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Folded {
    pub graph: Graph,
    pub params: ParamStore,
}

/// Checks that every parameter value is finite.
pub fn check_finite(params: &ParamStore) -> Result<(), QuantError> {
    for p in &params.params {
        if let Some(i) = p.data.iter().position(|v| !v.is_finite()) {
            return Err(QuantError::NonFinite(format!("parameter `{}` at index {i} ({})", p.name, p.data[i])));
        }
    }
    Ok(())
}

/// Number of consumers of each node's output.
fn consumer_counts(graph: &Graph) -> Vec<usize> {
    let mut counts = vec![0usize; graph.nodes.len()];
    for node in &graph.nodes {
        for &j in &node.inputs {
            counts[j] += 1;
        }
    }
    counts
}

/// Index of the output channel of element `i` of a weight of the given op.
fn channel_of(op: &Op, i: usize) -> usize {
    match op {
        Op::Conv2d(s) if s.is_depthwise() => i % s.out_c,
        Op::Conv2d(s) => i / (s.kh * s.kw * (s.in_c / s.groups.max(1))),
        Op::Linear(s) => i / s.in_f,
        _ => 0,
    }
}

/// Folds every batch-norm node into the conv/linear layer it follows. A batch norm after
/// anything else, or after a layer whose output is also used elsewhere, is unsupported.
pub fn fold_batch_norm(graph: &Graph, params: &ParamStore) -> Result<Folded, QuantError> {
    graph.shapes()?;
    params.check_matches(graph)?;
    check_finite(params)?;
    let consumers = consumer_counts(graph);
    let mut out = Graph { nodes: Vec::new() };
    let mut new_params = ParamStore::default();
    // old node index -> new node index (a folded BN maps to its layer).
    let mut remap = vec![usize::MAX; graph.nodes.len()];
    // new node index -> (old layer index) for layers that may still receive a BN.
    for (i, node) in graph.nodes.iter().enumerate() {
        let inputs: Vec<usize> = node.inputs.iter().map(|&j| remap[j]).collect();
        match &node.op {
            Op::BatchNorm(bn) => {
                let j = node.inputs[0];
                let layer = &graph.nodes[j];
                if !matches!(layer.op, Op::Conv2d(_) | Op::Linear(_)) {
                    return Err(QuantError::Unsupported(format!(
                        "batch_norm `{}` follows {} `{}`; only a conv2d or linear layer can absorb it",
                        node.name,
                        layer.op.kind(),
                        layer.name
                    )));
                }
                if consumers[j] != 1 {
                    return Err(QuantError::Unsupported(format!(
                        "batch_norm `{}`: the output of `{}` is also used elsewhere, so it cannot be folded",
                        node.name, layer.name
                    )));
                }
                let get = |what: &str| params.get(&format!("{}.{what}", node.name)).map(|p| p.data.clone());
                let (gamma, beta, mean, var) = (get("gamma")?, get("beta")?, get("running_mean")?, get("running_var")?);
                let k: Vec<f64> = gamma
                    .iter()
                    .zip(&var)
                    .map(|(&g, &v)| f64::from(g) / (f64::from(v) + f64::from(bn.eps)).sqrt())
                    .collect();
                let new_index = remap[j];
                let target = &mut out.nodes[new_index];
                let weight_name = format!("{}.weight", target.name);
                let bias_name = format!("{}.bias", target.name);
                let w = new_params.get_mut(&weight_name)?;
                for (i, v) in w.data.iter_mut().enumerate() {
                    *v = (f64::from(*v) * k[channel_of(&target.op, i)]) as f32;
                }
                let old_bias = new_params.get(&bias_name).map(|p| p.data.clone()).ok();
                let bias: Vec<f32> = (0..k.len())
                    .map(|c| {
                        let b = old_bias.as_ref().map_or(0.0, |b| f64::from(b[c]));
                        (k[c] * (b - f64::from(mean[c])) + f64::from(beta[c])) as f32
                    })
                    .collect();
                match &mut target.op {
                    Op::Conv2d(s) => s.bias = true,
                    Op::Linear(s) => s.bias = true,
                    _ => unreachable!("checked above"),
                }
                match new_params.get_mut(&bias_name) {
                    Ok(p) => p.data = bias,
                    Err(_) => {
                        // Keep the store in graph order: the bias follows its weight.
                        let at = new_params.params.iter().position(|p| p.name == weight_name).map_or(0, |p| p + 1);
                        new_params.params.insert(
                            at,
                            Param { name: bias_name, shape: vec![k.len()], kind: ParamKind::Trainable, data: bias },
                        );
                    }
                }
                remap[i] = new_index;
            }
            op => {
                remap[i] = out.push(node.name.clone(), op.clone(), &inputs);
                for spec in graph.param_specs().iter().filter(|s| s.name.starts_with(&format!("{}.", node.name))) {
                    new_params.params.push(params.get(&spec.name)?.clone());
                }
            }
        }
    }
    new_params.check_matches(&out)?;
    Ok(Folded { graph: out, params: new_params })
}
