//! Named parameter arrays: plain `Vec<f32>` in TFLite layouts, independent of any engine.

use rand_core::RngCore;
use serde::{Deserialize, Serialize};

use super::graph::{Graph, Init, ParamKind};
use super::NnError;

/// One named array (a weight, a bias, a batch-norm statistic).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: ParamKind,
    pub data: Vec<f32>,
}

/// All parameters of a model, in the graph's node order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ParamStore {
    pub params: Vec<Param>,
}

/// A uniform f32 in [0, 1) from the top 24 bits of one u32 (exact, portable).
pub fn unit_f32(rng: &mut impl RngCore) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

impl ParamStore {
    /// Fresh parameters for `graph`, drawn from `rng` in node order.
    pub fn init(graph: &Graph, rng: &mut impl RngCore) -> Self {
        let params = graph
            .param_specs()
            .into_iter()
            .map(|spec| {
                let n: usize = spec.shape.iter().product();
                let data = match spec.init {
                    Init::Uniform { bound } => (0..n).map(|_| (2.0 * unit_f32(rng) - 1.0) * bound).collect(),
                    Init::Constant(v) => vec![v; n],
                };
                Param { name: spec.name, shape: spec.shape, kind: spec.kind, data }
            })
            .collect();
        ParamStore { params }
    }

    /// Checks that names, shapes and kinds are exactly those `graph` declares.
    pub fn check_matches(&self, graph: &Graph) -> Result<(), NnError> {
        let specs = graph.param_specs();
        if specs.len() != self.params.len() {
            return Err(NnError::Params(format!("{} parameters, the graph declares {}", self.params.len(), specs.len())));
        }
        for (p, s) in self.params.iter().zip(&specs) {
            let n: usize = p.shape.iter().product();
            if p.name != s.name || p.shape != s.shape || p.kind != s.kind || p.data.len() != n {
                return Err(NnError::Params(format!(
                    "parameter `{}` {:?} ({} values) does not match the graph's `{}` {:?}",
                    p.name,
                    p.shape,
                    p.data.len(),
                    s.name,
                    s.shape
                )));
            }
        }
        Ok(())
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Result<&Param, NnError> {
        self.params.iter().find(|p| p.name == name).ok_or_else(|| NnError::Params(format!("no parameter `{name}`")))
    }

    /// The parameter called `name`, mutably.
    pub fn get_mut(&mut self, name: &str) -> Result<&mut Param, NnError> {
        self.params
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| NnError::Params(format!("no parameter `{name}`")))
    }

    /// Number of trainable values.
    pub fn trainable_count(&self) -> usize {
        self.params.iter().filter(|p| p.kind == ParamKind::Trainable).map(|p| p.data.len()).sum()
    }
}
