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

/// `x`, or 0 when `x` is subnormal.
///
/// Why Adam's moments are flushed: a weight whose gradient stays exactly 0 (a dead or clipped
/// unit) has its first moment multiplied by 0.9 each step; once subnormal it stays there for
/// good (0.9 · 2^-149 rounds back to 2^-149), and x86 then takes a microcode assist on it at
/// every step (ecg-ae fine-tuning: 1,654 of 22,868 moments after 3,000 steps, the step 40 %
/// slower; `benches/examples/qat_adam_subnormals.rs`). A subnormal moment moves its weight by
/// at most `lr · 2^-126 / eps`, below the ulp of any weight larger than ~1e-25 in magnitude
/// (lr 1e-3, eps 1e-8), and a subnormal second moment leaves `sqrt(v̂) + eps == eps`: updates
/// of such weights are the same either way.
#[inline(always)]
fn flush_subnormal(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        x
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
                        *m = flush_subnormal(beta1 * *m + (1.0 - beta1) * g);
                        *v = flush_subnormal(beta2 * *v + (1.0 - beta2) * g * g);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::Param;

    /// A weight whose gradient falls to 0 after a few steps: its first moment decays to the
    /// subnormal range and is flushed to 0 instead of sticking at 2^-149, while the weights
    /// stay bit for bit those of Adam without the flush.
    #[test]
    fn adam_flushes_dead_moments_without_changing_the_weights() {
        let w0 = vec![0.5f32, -0.25, 1.0e-3];
        let mut params = ParamStore { params: vec![Param { name: "w".into(), shape: vec![3], kind: ParamKind::Trainable, data: w0.clone() }] };
        let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), &params);
        let (mut w, mut m, mut v) = (w0, [0.0f32; 3], [0.0f32; 3]);
        for t in 1..=1500 {
            let g = if t <= 5 { vec![1e-3f32, -2e-2, 3e-4] } else { vec![0.0; 3] };
            opt.step(&mut params, std::slice::from_ref(&g)).unwrap();
            // Adam as written without the flush.
            let (b1, b2) = (1.0 - 0.9f32.powi(t), 1.0 - 0.999f32.powi(t));
            for i in 0..3 {
                m[i] = 0.9 * m[i] + (1.0 - 0.9) * g[i];
                v[i] = 0.999 * v[i] + (1.0 - 0.999) * g[i] * g[i];
                w[i] -= 1e-3 * (m[i] / b1) / ((v[i] / b2).sqrt() + 1e-8);
            }
            assert!(opt.first[0].iter().chain(&opt.second[0]).all(|x| !x.is_subnormal()), "step {t}");
        }
        assert!(m.iter().all(|x| x.is_subnormal()), "without the flush the first moments stick: {m:?}");
        assert_eq!(opt.first[0], vec![0.0; 3]);
        assert_eq!(params.params[0].data.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), w.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    }
}
