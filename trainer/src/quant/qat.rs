//! Quantization-aware fine-tuning with the exact forward: seeded, deterministic, resumable.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::checkpoint::RngState;
use crate::data::{permutation, Dataset, Task};
use crate::nn::optim::{Optimizer, OptimizerConfig};
use crate::nn::{loss, ForwardCtx, Mode, NnError, Tape};

use super::exact::ExactForward;
use super::metrics::{metric, trainer_outputs};
use super::kernels::dequantize;
use super::state::{QatEpoch, QatState, QuantState, Stage};
use super::QuantError;

/// Fine-tuning settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QatConfig {
    pub lr: f32,
    /// Learning rate of the step sizes (LSQ); the weights' by default.
    pub scale_lr: f32,
    pub batch_size: usize,
    pub seed: u64,
}

fn rng_state(rng: &ChaCha8Rng) -> RngState {
    RngState { seed: rng.get_seed(), stream: rng.get_stream(), word_pos: rng.get_word_pos() }
}

fn rng_from(s: &RngState) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(s.seed);
    rng.set_stream(s.stream);
    rng.set_word_pos(s.word_pos);
    rng
}

/// Starts fine-tuning state on a PTQ (or continues a QAT) checkpoint.
pub fn begin(state: &mut QuantState, cfg: &QatConfig) -> Result<(), QuantError> {
    if state.qat.is_none() {
        if !(cfg.lr.is_finite() && cfg.lr > 0.0 && cfg.scale_lr.is_finite() && cfg.scale_lr > 0.0) || cfg.batch_size == 0 {
            return Err(QuantError::Invalid(format!("learning rates must be positive and the batch size at least 1 (lr {}, batch {})", cfg.lr, cfg.batch_size)));
        }
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        state.qat = Some(QatState {
            batch_size: cfg.batch_size as u32,
            seed: cfg.seed,
            weights_opt: Optimizer::new(OptimizerConfig::adam(cfg.lr), &state.params),
            scales_opt: Optimizer::new(OptimizerConfig::adam(cfg.scale_lr), &state.model.scales),
            epoch: 0,
            step: 0,
            rng: rng_state(&rng),
            history: Vec::new(),
        });
    }
    Ok(())
}

/// One optimizer step on training samples `idx`; returns the loss.
pub fn step(state: &mut QuantState, data: &Dataset, idx: &[u32]) -> Result<f32, QuantError> {
    let d = data.sample_len();
    let mut x = Vec::with_capacity(idx.len() * d);
    for &i in idx {
        x.extend_from_slice(&data.train.x[i as usize * d..(i as usize + 1) * d]);
    }
    let y: Vec<u32> = idx.iter().map(|&i| data.train.y[i as usize]).collect();
    let mut tape = Tape::recording();
    let mut shape = vec![idx.len()];
    shape.extend(&data.sample_shape);
    let input = tape.var(x.clone(), shape)?;
    let QuantState { graph, params, model, qat, .. } = state;
    let qat = qat.as_mut().ok_or_else(|| QuantError::Invalid("fine-tuning state missing".into()))?;
    let mut hook = ExactForward::new(model);
    let mut ctx = ForwardCtx::new(&mut tape, params, Mode::Train);
    let outs = graph.forward(&mut ctx, input, &mut hook)?;
    let vars = ctx.into_param_vars();
    let out = outs.last().ok_or_else(|| NnError::Graph("no output".into()))?;
    let (loss, mut grads) = match data.task {
        Task::Classify { .. } => loss::softmax_cross_entropy(&mut tape, out, &y)?,
        Task::Reconstruct => loss::mse(&mut tape, out, &x)?,
    };
    if !loss.is_finite() {
        return Err(QuantError::NonFinite(format!("fine-tuning loss at step {}", qat.step + 1)));
    }
    let g = vars.trainable_grads(params, &mut grads);
    let sg = hook.scale_grads(&mut grads);
    drop(hook);
    qat.weights_opt.step(params, &g)?;
    qat.scales_opt.step(&mut model.scales, &sg)?;
    model.clamp_scales()?;
    qat.step += 1;
    Ok(loss)
}

/// Runs one whole fine-tuning epoch, then scores the validation split with the integer
/// network. `on_step(samples, loss)` reports progress. The record's `seconds` cover both
/// passes (not a checkpoint write), as an FP32 epoch of [`crate::train::Session::train_epoch`].
pub fn epoch(state: &mut QuantState, data: &Dataset, on_step: &mut dyn FnMut(usize, f32)) -> Result<QatEpoch, QuantError> {
    let t0 = std::time::Instant::now();
    let (order, bs) = {
        let qat = state.qat.as_mut().ok_or_else(|| QuantError::Invalid("fine-tuning state missing".into()))?;
        let mut rng = rng_from(&qat.rng);
        let order: Vec<u32> = permutation(data.train.len(), &mut rng).into_iter().map(|i| i as u32).collect();
        qat.rng = rng_state(&rng);
        (order, qat.batch_size as usize)
    };
    let (mut sum, mut count) = (0.0f64, 0usize);
    for idx in order.chunks(bs) {
        let loss = step(state, data, idx)?;
        sum += f64::from(loss) * idx.len() as f64;
        count += idx.len();
        on_step(idx.len(), loss);
    }
    let val_out = trainer_outputs(&state.model, &state.params, &data.val)?;
    let val = metric(data.task, &data.val, &dequantize(&state.model, state.model.output, &val_out)?);
    let qat = state.qat.as_mut().expect("checked above");
    qat.epoch += 1;
    let record = QatEpoch { epoch: qat.epoch, train_loss: (sum / count.max(1) as f64) as f32, val_metric: val, seconds: t0.elapsed().as_secs_f64() };
    qat.history.push(record.clone());
    state.stage = Stage::Qat;
    Ok(record)
}
