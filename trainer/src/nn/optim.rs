//! Optimizers over a [`ParamStore`], with their whole state serializable for exact resume.
//!
//! Updates run in parameter order with plain sequential loops, so they are bit-reproducible.

use serde::{Deserialize, Serialize};

use super::graph::ParamKind;
use super::params::ParamStore;
use super::NnError;

/// Hyper-parameters of an optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerConfig {
    /// SGD with (heavy-ball) momentum; weight decay is added to the gradient (L2).
    Sgd { lr: f32, momentum: f32, weight_decay: f32 },
    /// Adam; `decoupled` selects AdamW-style decay (applied to the weights directly) over L2.
    Adam { lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32, decoupled: bool },
}

impl OptimizerConfig {
    /// Adam with PyTorch's defaults and the given learning rate.
    pub fn adam(lr: f32) -> Self {
        OptimizerConfig::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            OptimizerConfig::Sgd { lr, .. } | OptimizerConfig::Adam { lr, .. } => lr,
        }
    }

    /// The same optimizer with another learning rate.
    pub fn with_lr(mut self, new: f32) -> Self {
        match &mut self {
            OptimizerConfig::Sgd { lr, .. } | OptimizerConfig::Adam { lr, .. } => *lr = new,
        }
        self
    }
}

/// An optimizer and its state (one slot per trainable parameter, in store order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Update steps taken so far.
    pub steps: u64,
    /// SGD: velocity. Adam: first moment.
    pub first: Vec<Vec<f32>>,
    /// Adam: second moment (empty for SGD).
    pub second: Vec<Vec<f32>>,
}

impl Optimizer {
    /// Fresh state for the trainable parameters of `params`.
    pub fn new(config: OptimizerConfig, params: &ParamStore) -> Self {
        let zeros: Vec<Vec<f32>> = params
            .params
            .iter()
            .filter(|p| p.kind == ParamKind::Trainable)
            .map(|p| vec![0.0; p.data.len()])
            .collect();
        let second = match config {
            OptimizerConfig::Adam { .. } => zeros.clone(),
            OptimizerConfig::Sgd { .. } => Vec::new(),
        };
        Optimizer { config, steps: 0, first: zeros, second }
    }

    /// Applies one update. `grads` holds one gradient per trainable parameter, in store order.
    pub fn step(&mut self, params: &mut ParamStore, grads: &[Vec<f32>]) -> Result<(), NnError> {
        let trainable: Vec<&mut Vec<f32>> =
            params.params.iter_mut().filter(|p| p.kind == ParamKind::Trainable).map(|p| &mut p.data).collect();
        if trainable.len() != grads.len() || trainable.len() != self.first.len() {
            return Err(NnError::Params(format!(
                "optimizer state for {} parameters, {} gradients, {} trainable parameters",
                self.first.len(),
                grads.len(),
                trainable.len()
            )));
        }
        self.steps += 1;
        let t = self.steps as i32;
        for (i, (w, g)) in trainable.into_iter().zip(grads).enumerate() {
            if w.len() != g.len() || self.first[i].len() != w.len() {
                return Err(NnError::Params(format!("gradient {i} has {} values for {}", g.len(), w.len())));
            }
            match self.config {
                OptimizerConfig::Sgd { lr, momentum, weight_decay } => {
                    for ((w, g), v) in w.iter_mut().zip(g).zip(&mut self.first[i]) {
                        let g = *g + weight_decay * *w;
                        *v = momentum * *v + g;
                        *w -= lr * *v;
                    }
                }
                OptimizerConfig::Adam { lr, beta1, beta2, eps, weight_decay, decoupled } => {
                    let bias1 = 1.0 - beta1.powi(t);
                    let bias2 = 1.0 - beta2.powi(t);
                    let (m, v) = (&mut self.first[i], &mut self.second[i]);
                    for ((w, g), (m, v)) in w.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut())) {
                        let g = if decoupled { *g } else { *g + weight_decay * *w };
                        if decoupled {
                            *w -= lr * weight_decay * *w;
                        }
                        *m = beta1 * *m + (1.0 - beta1) * g;
                        *v = beta2 * *v + (1.0 - beta2) * g * g;
                        let m_hat = *m / bias1;
                        let v_hat = *v / bias2;
                        *w -= lr * m_hat / (v_hat.sqrt() + eps);
                    }
                }
            }
        }
        Ok(())
    }
}
