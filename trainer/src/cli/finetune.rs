//! `exactq finetune`: bit-exact quantization-aware fine-tuning of a PTQ or QAT checkpoint.

use std::path::PathBuf;

use clap::Args;

use crate::data::{self, Dataset};
use crate::quant::qat::{self, QatConfig};
use crate::quant::state::{refuse_overwrite, QuantState};

#[derive(Args, Debug, Clone)]
pub struct QatArgs {
    /// Adam learning rate of weights and biases (NNCF's guide: small, e.g. 1e-5).
    #[arg(long, default_value_t = 1e-5)]
    pub lr: f32,
    /// Adam learning rate of the learned step sizes (default: --lr).
    #[arg(long)]
    pub scale_lr: Option<f32>,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

#[derive(Args, Debug)]
pub struct FinetuneArgs {
    /// PTQ checkpoint (from `exactq quantize`) or QAT checkpoint to continue.
    pub checkpoint: PathBuf,
    /// QAT checkpoint to write (rewritten after every epoch).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Total fine-tuning epochs to reach.
    #[arg(long, default_value_t = 3)]
    pub epochs: u32,
    #[command(flatten)]
    pub qat: QatArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub env: super::RunEnv,
    /// Do not write report.html next to the output checkpoint (see `exactq report`).
    #[arg(long)]
    pub no_report: bool,
}

/// Fine-tunes `state` until `epochs`, saving to `out` after every epoch when given. Returns
/// the seconds of the epochs run here, each the training pass plus the validation pass of the
/// integer network (as an FP32 epoch of `exactq train`), without the checkpoint writes (timed
/// and printed apart).
pub fn finetune(state: &mut QuantState, data: &Dataset, epochs: u32, args: &QatArgs, seed: u64, out: Option<&std::path::Path>) -> anyhow::Result<Vec<f64>> {
    let cfg = QatConfig { lr: args.lr, scale_lr: args.scale_lr.unwrap_or(args.lr), batch_size: args.batch_size, seed };
    qat::begin(state, &cfg)?;
    let f = |v| super::train::fmt_metric(v, data.task);
    let mut seconds = Vec::new();
    while state.qat.as_ref().map_or(0, |q| q.epoch) < epochs {
        let e = state.qat.as_ref().map_or(0, |q| q.epoch) + 1;
        let bar = super::progress_bar(data.train.len() as u64, format!("qat epoch {e}/{epochs}"));
        let r = qat::epoch(state, data, &mut |n, loss| {
            bar.inc(n as u64);
            bar.set_message(format!("{loss:.4}"));
        })?;
        bar.finish_and_clear();
        seconds.push(r.seconds);
        let t = std::time::Instant::now();
        if let Some(path) = out {
            state.save(path, true)?;
        }
        let save = if out.is_some() { format!("  (checkpoint write {:.3} s)", t.elapsed().as_secs_f64()) } else { String::new() };
        println!("qat epoch {:>2}/{epochs}  train loss {:.4}  val int8 {}  {:.3} s{save}", r.epoch, r.train_loss, f(r.val_metric), r.seconds);
    }
    Ok(seconds)
}

pub fn run(args: FinetuneArgs) -> anyhow::Result<()> {
    super::set_threads(args.env.threads)?;
    let mut state = QuantState::load(&args.checkpoint)?;
    if args.out != args.checkpoint {
        refuse_overwrite(&args.out, args.force)?;
    } else if !args.force {
        anyhow::bail!("{}: writing over the input checkpoint needs --force", args.out.display());
    }
    if let Some(q) = &state.qat {
        if q.epoch >= args.epochs {
            anyhow::bail!("{}: already fine-tuned for {} epochs; pass a larger --epochs to continue", args.checkpoint.display(), q.epoch);
        }
    }
    let data = data::load(&state.dataset, args.env.data_dir.as_deref())?;
    crate::train::check_fit(&state.arch, &data)?;
    finetune(&mut state, &data, args.epochs, &args.qat, args.seed, Some(&args.out))?;
    let blob = crate::quant::export::device_blob(&state.model, &state.params)?;
    let eval = crate::quant::metrics::evaluate(&state.model, &state.params, &blob, &data.test, data.task)?;
    println!("{} on {}: QAT int8 test {}", state.arch.name(), data.name, super::train::fmt_metric(eval.metric, data.task));
    println!("parity: {}/{} outputs identical between trainer forward and device interpreter", eval.parity_identical, eval.parity_total);
    println!("checkpoint {}", args.out.display());
    if !args.no_report {
        super::report::write_next_to(&args.out, args.env.data_dir.clone(), false);
    }
    Ok(())
}
