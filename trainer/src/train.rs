//! The float training loop: seeded, deterministic and resumable from a [`TrainerState`].

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::checkpoint::{EpochRecord, Hyper, Progress, RngState, TrainerState, TRNR_VERSION};
use crate::data::{permutation, Dataset, Split, Task};
use crate::nn::optim::{Optimizer, OptimizerConfig};
use crate::nn::{loss, Builtin, ForwardCtx, Mode, NnError, ParamStore, Tape};
use crate::zoo::Arch;

/// What went wrong while training or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Nn(#[from] NnError),
    #[error("loss is {value} at epoch {epoch}, step {step} (diverged; try a lower --lr)")]
    NonFinite { value: f32, epoch: u32, step: u64 },
    #[error("{0}")]
    Config(String),
}

/// Settings of a new run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub arch: Arch,
    pub batch_size: usize,
    pub seed: u64,
    pub optimizer: OptimizerConfig,
    pub cosine_epochs: u32,
}

/// Streams of the run's generator: parameter initialisation and data order are independent.
const INIT_STREAM: u64 = 0;
const ORDER_STREAM: u64 = 1;

fn rng_state(rng: &ChaCha8Rng) -> RngState {
    RngState { seed: rng.get_seed(), stream: rng.get_stream(), word_pos: rng.get_word_pos() }
}

fn rng_from(state: &RngState) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(state.seed);
    rng.set_stream(state.stream);
    rng.set_word_pos(state.word_pos);
    rng
}

/// Progress of one optimizer step, for progress bars.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    pub batch: usize,
    pub batches: usize,
    pub samples: usize,
    pub loss: f32,
}

/// Metrics of a model on one split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    /// Mean loss (cross-entropy or reconstruction MSE).
    pub loss: f32,
    /// Accuracy (classification) or AUROC of reconstruction error, label 1 = normal.
    pub metric: f32,
    pub samples: usize,
}

/// A training run in memory.
pub struct Session {
    pub state: TrainerState,
}

/// Checks that the dataset fits the architecture.
pub fn check_fit(arch: &Arch, data: &Dataset) -> Result<(), TrainError> {
    let want: usize = arch.input_shape().iter().product();
    if want != data.sample_len() {
        return Err(TrainError::Config(format!(
            "model `{}` takes {:?} inputs, dataset `{}` has {:?} samples",
            arch.name(),
            arch.input_shape(),
            data.name,
            data.sample_shape
        )));
    }
    let out = arch.graph().shapes()?.last().cloned().unwrap_or_default();
    match data.task {
        Task::Classify { classes } if out != [classes] => Err(TrainError::Config(format!(
            "model `{}` has {out:?} outputs, dataset `{}` has {classes} classes",
            arch.name(),
            data.name
        ))),
        Task::Reconstruct if out != [want] => Err(TrainError::Config(format!(
            "model `{}` does not reconstruct its {want} inputs (outputs {out:?})",
            arch.name()
        ))),
        _ => Ok(()),
    }
}

impl Session {
    /// A fresh run: parameters drawn from the seed, optimizer state zero.
    pub fn new(cfg: &RunConfig, data: &Dataset) -> Result<Self, TrainError> {
        check_fit(&cfg.arch, data)?;
        if cfg.batch_size < 2 {
            return Err(TrainError::Config("--batch-size must be at least 2 (batch normalisation)".into()));
        }
        let graph = cfg.arch.graph();
        graph.shapes()?;
        let mut init_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        init_rng.set_stream(INIT_STREAM);
        let params = ParamStore::init(&graph, &mut init_rng);
        let optimizer = Optimizer::new(cfg.optimizer, &params);
        let mut order_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        order_rng.set_stream(ORDER_STREAM);
        Ok(Session {
            state: TrainerState {
                version: TRNR_VERSION,
                arch: cfg.arch,
                graph,
                params,
                optimizer,
                hyper: Hyper {
                    dataset: data.name.clone(),
                    batch_size: cfg.batch_size as u32,
                    seed: cfg.seed,
                    cosine_epochs: cfg.cosine_epochs,
                },
                progress: Progress { epoch: 0, step: 0, order: Vec::new(), next_batch: 0 },
                rng: rng_state(&order_rng),
                history: Vec::new(),
            },
        })
    }

    /// Continues a run from a checkpoint.
    pub fn resume(state: TrainerState, data: &Dataset) -> Result<Self, TrainError> {
        if state.hyper.dataset != data.name {
            return Err(TrainError::Config(format!(
                "checkpoint was trained on `{}`, not `{}`",
                state.hyper.dataset, data.name
            )));
        }
        check_fit(&state.arch, data)?;
        Ok(Session { state })
    }

    fn lr_for_epoch(&self, base: f32) -> f32 {
        let total = self.state.hyper.cosine_epochs;
        if total == 0 {
            return base;
        }
        let e = self.state.progress.epoch.min(total) as f32;
        0.5 * base * (1.0 + (std::f32::consts::PI * e / total as f32).cos())
    }

    fn batch_input(&self, split: &Split, idx: &[u32], tape: &Tape) -> Result<(crate::nn::Var, Vec<u32>, Vec<f32>), TrainError> {
        let d = split.x.len() / split.len().max(1);
        let mut x = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            x.extend_from_slice(&split.x[i as usize * d..(i as usize + 1) * d]);
        }
        let y: Vec<u32> = idx.iter().map(|&i| split.y[i as usize]).collect();
        let mut shape = vec![idx.len()];
        shape.extend(self.state.arch.input_shape());
        let target = x.clone();
        Ok((tape.var(x, shape)?, y, target))
    }

    /// Runs (the rest of) one epoch over `data.train`, then scores `data.val`.
    pub fn train_epoch(&mut self, data: &Dataset, base_lr: f32, on_step: &mut dyn FnMut(StepReport)) -> Result<EpochRecord, TrainError> {
        let n = data.train.len();
        let bs = self.state.hyper.batch_size as usize;
        if self.state.progress.order.is_empty() {
            let mut rng = rng_from(&self.state.rng);
            self.state.progress.order = permutation(n, &mut rng).into_iter().map(|i| i as u32).collect();
            self.state.rng = rng_state(&rng);
            self.state.progress.next_batch = 0;
        }
        if self.state.progress.order.len() != n {
            return Err(TrainError::Config(format!("checkpoint's data order has {} samples, the training split {n}", self.state.progress.order.len())));
        }
        let lr = self.lr_for_epoch(base_lr);
        self.state.optimizer.config = self.state.optimizer.config.with_lr(lr);
        let order = self.state.progress.order.clone();
        // A trailing batch of one sample is skipped: batch statistics need two.
        let batches: Vec<&[u32]> = order.chunks(bs).filter(|b| b.len() >= 2).collect();
        let (mut loss_sum, mut loss_count) = (0.0f64, 0usize);
        for (b, idx) in batches.iter().enumerate().skip(self.state.progress.next_batch as usize) {
            let loss = self.step(data, idx)?;
            loss_sum += f64::from(loss) * idx.len() as f64;
            loss_count += idx.len();
            self.state.progress.next_batch = b as u32 + 1;
            on_step(StepReport { batch: b + 1, batches: batches.len(), samples: idx.len(), loss });
        }
        self.state.progress.order.clear();
        self.state.progress.next_batch = 0;
        self.state.progress.epoch += 1;
        let val = self.evaluate(&data.val, data.task)?;
        let record = EpochRecord {
            epoch: self.state.progress.epoch,
            train_loss: (loss_sum / loss_count.max(1) as f64) as f32,
            val_loss: val.loss,
            val_metric: val.metric,
        };
        self.state.history.push(record.clone());
        Ok(record)
    }

    /// One optimizer step on the training samples `idx`; returns the batch loss.
    pub fn step(&mut self, data: &Dataset, idx: &[u32]) -> Result<f32, TrainError> {
        let mut tape = Tape::recording();
        let (x, y, target) = self.batch_input(&data.train, idx, &tape)?;
        let state = &mut self.state;
        let mut ctx = ForwardCtx::new(&mut tape, &mut state.params, Mode::Train);
        let outs = state.graph.forward(&mut ctx, x, &mut Builtin)?;
        let vars = ctx.into_param_vars();
        let out = outs.last().ok_or_else(|| NnError::Graph("no output".into()))?;
        let (loss, mut grads) = match data.task {
            Task::Classify { .. } => loss::softmax_cross_entropy(&mut tape, out, &y)?,
            Task::Reconstruct => loss::mse(&mut tape, out, &target)?,
        };
        state.progress.step += 1;
        if !loss.is_finite() {
            return Err(TrainError::NonFinite { value: loss, epoch: state.progress.epoch + 1, step: state.progress.step });
        }
        let g = vars.trainable_grads(&state.params, &mut grads);
        state.optimizer.step(&mut state.params, &g)?;
        Ok(loss)
    }

    /// Scores a split in evaluation mode.
    pub fn evaluate(&self, split: &Split, task: Task) -> Result<Metrics, TrainError> {
        evaluate(&self.state, split, task)
    }
}

/// Per-sample outputs of the network in evaluation mode, in batches of 500.
pub fn predict(state: &TrainerState, split: &Split) -> Result<Vec<f32>, TrainError> {
    let d = split.x.len() / split.len().max(1);
    let mut out = Vec::new();
    let mut params = state.params.clone();
    for start in (0..split.len()).step_by(500) {
        let end = (start + 500).min(split.len());
        let mut tape = Tape::inference();
        let mut shape = vec![end - start];
        shape.extend(state.arch.input_shape());
        let x = tape.var(split.x[start * d..end * d].to_vec(), shape)?;
        let mut ctx = ForwardCtx::new(&mut tape, &mut params, Mode::Eval);
        let outs = state.graph.forward(&mut ctx, x, &mut Builtin)?;
        out.extend(outs.last().ok_or_else(|| NnError::Graph("no output".into()))?.to_vec());
    }
    Ok(out)
}

/// Loss and metric of `state`'s network on `split`.
pub fn evaluate(state: &TrainerState, split: &Split, task: Task) -> Result<Metrics, TrainError> {
    let out = predict(state, split)?;
    let n = split.len();
    if n == 0 {
        return Err(TrainError::Config("evaluation split is empty".into()));
    }
    let per = out.len() / n;
    match task {
        Task::Classify { classes } => {
            let probs = loss::softmax(&out, classes);
            let mut correct = 0usize;
            let mut nll = 0.0f64;
            for (row, &label) in probs.chunks(per).zip(&split.y) {
                let best = row.iter().enumerate().fold(0, |b, (i, &p)| if p > row[b] { i } else { b });
                correct += usize::from(best == label as usize);
                nll -= f64::from(row[label as usize].max(1e-30)).ln();
            }
            Ok(Metrics { loss: (nll / n as f64) as f32, metric: correct as f32 / n as f32, samples: n })
        }
        Task::Reconstruct => {
            let errors: Vec<f32> = out
                .chunks(per)
                .zip(split.x.chunks(per))
                .map(|(p, x)| p.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / per as f32)
                .collect();
            let mean = errors.iter().map(|&e| f64::from(e)).sum::<f64>() / n as f64;
            let anomalous: Vec<bool> = split.y.iter().map(|&l| l != 1).collect();
            Ok(Metrics { loss: mean as f32, metric: auroc(&errors, &anomalous), samples: n })
        }
    }
}

/// Area under the ROC curve of `scores` for detecting `positive` (ties count one half).
/// Returns NaN when one class is absent.
pub fn auroc(scores: &[f32], positive: &[bool]) -> f32 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann-Whitney U with average ranks over ties.
    let mut rank_sum_pos = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += order[i..=j].iter().filter(|&&k| positive[k]).count() as f64 * avg_rank;
        i = j + 1;
    }
    let pos = positive.iter().filter(|&&p| p).count() as f64;
    let neg = positive.len() as f64 - pos;
    ((rank_sum_pos - pos * (pos + 1.0) / 2.0) / (pos * neg)) as f32
}
