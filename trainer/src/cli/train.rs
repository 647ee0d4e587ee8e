//! `exactq train`: float training of a zoo model, checkpointing after every epoch.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use crate::checkpoint::TrainerState;
use crate::data::{self, Task};
use crate::nn::optim::OptimizerConfig;
use crate::train::{RunConfig, Session};
use crate::zoo::{Arch, MODEL_NAMES};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizerKind {
    Adam,
    Adamw,
    Sgd,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Zoo model: digits-cnn, resnet8, ecg-ae, mlp.
    #[arg(long)]
    pub model: String,
    /// Dataset: digits (embedded), fashion-mnist, mnist, ecg5000. Default: the model's own.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Total epochs (with --resume: the number to reach).
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Checkpoint file, rewritten atomically after every epoch.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run stored in --out with its stored settings (batch size, optimizer,
    /// learning rate unless --lr is given, schedule, data order).
    #[arg(long)]
    pub resume: bool,
    /// Seed of initialisation and batch order (the validation split is fixed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub env: super::RunEnv,
    /// Learning rate (default: the model's).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Samples per step (default: the model's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    pub optimizer: OptimizerKind,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// L2 weight decay (decoupled with adamw).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Decay the learning rate to 0 along a cosine over this many epochs (0: constant).
    #[arg(long, default_value_t = 0)]
    pub cosine_epochs: u32,
}

/// Defaults per model: (dataset, epochs, batch size, learning rate).
fn defaults(model: &str) -> (&'static str, u32, usize, f32) {
    match model {
        "resnet8" => ("fashion-mnist", 5, 128, 1e-3),
        "ecg-ae" => ("ecg5000", 60, 32, 1e-3),
        "mlp" => ("digits", 60, 32, 1e-3),
        _ => ("digits", 20, 32, 2e-3),
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    if !MODEL_NAMES.contains(&args.model.as_str()) {
        bail!("unknown model `{}` (known: {})", args.model, MODEL_NAMES.join(", "));
    }
    super::set_threads(args.env.threads)?;
    let (default_dataset, default_epochs, default_batch, default_lr) = defaults(&args.model);
    let dataset_name = args.dataset.clone().unwrap_or_else(|| default_dataset.to_string());
    let epochs = args.epochs.unwrap_or(default_epochs);
    let lr = args.lr.unwrap_or(default_lr);
    if !(lr.is_finite() && lr > 0.0) {
        bail!("--lr must be a positive number, got {lr}");
    }
    crate::checkpoint::container::check_output_dir(&args.out).map_err(anyhow::Error::msg)?;
    let loading = super::spinner(format!("loading {dataset_name}"));
    let data = data::load(&dataset_name, args.env.data_dir.as_deref());
    loading.finish_and_clear();
    let data = data?;
    let mut session = if args.resume {
        let mut state = TrainerState::load(&args.out).with_context(|| "cannot resume".to_string())?;
        if state.arch.name() != args.model {
            bail!("{}: checkpoint is for model `{}`, but --model is `{}`", args.out.display(), state.arch.name(), args.model);
        }
        if let Some(lr) = args.lr {
            eprintln!("note: --lr {lr} replaces the checkpoint's learning rate {}", state.hyper.lr);
            state.hyper.lr = lr;
        }
        if state.progress.epoch >= epochs {
            bail!("{}: already trained for {} epochs; pass a larger --epochs to continue", args.out.display(), state.progress.epoch);
        }
        Session::resume(state, &data)?
    } else {
        let classes = match data.task {
            Task::Classify { classes } => classes,
            Task::Reconstruct => data.sample_len(),
        };
        let arch = Arch::from_name(&args.model, data.sample_len(), classes).expect("checked above");
        let optimizer = match args.optimizer {
            OptimizerKind::Adam | OptimizerKind::Adamw => OptimizerConfig::Adam {
                lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: args.weight_decay,
                decoupled: matches!(args.optimizer, OptimizerKind::Adamw),
            },
            OptimizerKind::Sgd => OptimizerConfig::Sgd { lr, momentum: args.momentum, weight_decay: args.weight_decay },
        };
        let cfg = RunConfig { arch, batch_size: args.batch_size.unwrap_or(default_batch), seed: args.seed, optimizer, cosine_epochs: args.cosine_epochs };
        Session::new(&cfg, &data)?
    };
    let metric_name = match data.task {
        Task::Classify { .. } => "acc",
        Task::Reconstruct => "auroc",
    };
    eprintln!(
        "training {} on {} ({} train / {} val / {} test samples from {}), {} threads",
        session.state.arch.name(),
        data.name,
        data.train.len(),
        data.val.len(),
        data.test.len(),
        data.source,
        rayon::current_num_threads()
    );
    let started = Instant::now();
    while session.state.progress.epoch < epochs {
        let epoch = session.state.progress.epoch + 1;
        let bar = super::progress_bar(data.train.len() as u64, format!("epoch {epoch}/{epochs}"));
        let t0 = Instant::now();
        let mut seen = 0usize;
        let record = session.train_epoch(&data, &mut |s| {
            seen += s.samples;
            bar.inc(s.samples as u64);
            bar.set_message(format!("{:.4}", s.loss));
        })?;
        bar.finish_and_clear();
        let secs = t0.elapsed().as_secs_f64();
        session.state.save(&args.out)?;
        println!(
            "epoch {epoch:>3}/{epochs}  train loss {:.4}  val loss {:.4}  val {metric_name} {}  {:.0} samples/s  {:.1} s",
            record.train_loss,
            record.val_loss,
            fmt_metric(record.val_metric, data.task),
            seen as f64 / secs,
            secs
        );
    }
    let scoring = super::spinner(format!("scoring {} test samples", data.test.len()));
    let test = session.evaluate(&data.test, data.task);
    scoring.finish_and_clear();
    let test = test?;
    println!();
    println!("{:>5}  {:>10}  {:>10}  {:>9}", "epoch", "train loss", "val loss", format!("val {metric_name}"));
    for r in &session.state.history {
        println!("{:>5}  {:>10.4}  {:>10.4}  {:>9}", r.epoch, r.train_loss, r.val_loss, fmt_metric(r.val_metric, data.task));
    }
    println!(
        "test {metric_name} {} on {} samples, loss {:.4}; {:.1} s; checkpoint {}",
        fmt_metric(test.metric, data.task),
        test.samples,
        test.loss,
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

/// Accuracy as a percentage, AUROC as a fraction; "n/a" when undefined.
pub fn fmt_metric(v: f32, task: Task) -> String {
    match task {
        _ if v.is_nan() => "n/a".into(),
        Task::Classify { .. } => format!("{:.2}%", 100.0 * v),
        Task::Reconstruct => format!("{v:.4}"),
    }
}
