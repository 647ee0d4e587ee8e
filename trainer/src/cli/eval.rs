//! `exactq eval`: float test-set metric of a checkpoint.

use std::path::PathBuf;

use clap::Args;

use crate::checkpoint::TrainerState;
use crate::data::{self, Task};
use crate::train::evaluate;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint written by `exactq train`.
    pub checkpoint: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    super::set_threads(args.threads)?;
    let state = TrainerState::load(&args.checkpoint)?;
    let data = data::load(&state.hyper.dataset, args.data_dir.as_deref())?;
    crate::train::check_fit(&state.arch, &data)?;
    let m = evaluate(&state, &data.test, data.task)?;
    let metric_key = match data.task {
        Task::Classify { .. } => "accuracy",
        Task::Reconstruct => "auroc",
    };
    if args.json {
        let v = serde_json::json!({
            "model": state.arch.name(),
            "dataset": data.name,
            "split": "test",
            metric_key: m.metric,
            "loss": m.loss,
            "samples": m.samples,
            "epochs": state.progress.epoch,
        });
        println!("{v}");
    } else {
        println!(
            "{} on {} test: {metric_key} {} ({} samples, loss {:.4}, after {} epochs)",
            state.arch.name(),
            data.name,
            super::train::fmt_metric(m.metric, data.task),
            m.samples,
            m.loss,
            state.progress.epoch
        );
    }
    Ok(())
}
