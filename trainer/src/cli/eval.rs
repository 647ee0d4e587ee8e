//! `exactq eval`: float test-set metric of a checkpoint.

use std::path::PathBuf;

use clap::Args;

use crate::checkpoint::TrainerState;
use crate::data::{self, Task};
use crate::train::evaluate;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint (float, PTQ or QAT) or device blob.
    pub checkpoint: PathBuf,
    /// Dataset to evaluate on (default: the checkpoint's; required for a bare blob).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub env: super::RunEnv,
    /// Do not write report.html next to the checkpoint (see `exactq report`).
    #[arg(long)]
    pub no_report: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    super::set_threads(args.env.threads)?;
    if !super::qeval::try_run(&args)? {
        evaluate_float(&args)?;
    }
    if !args.no_report {
        super::report::write_next_to(&args.checkpoint, args.env.data_dir.clone(), args.json);
    }
    Ok(())
}

fn evaluate_float(args: &EvalArgs) -> anyhow::Result<()> {
    let state = TrainerState::load(&args.checkpoint)?;
    let spin = super::spinner(format!("loading {} and scoring the test split", state.hyper.dataset));
    let scored = data::load(&state.hyper.dataset, args.env.data_dir.as_deref()).map_err(anyhow::Error::from).and_then(|data| {
        crate::train::check_fit(&state.arch, &data)?;
        let m = evaluate(&state, &data.test, data.task)?;
        Ok((data, m))
    });
    spin.finish_and_clear();
    let (data, m) = scored?;
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
