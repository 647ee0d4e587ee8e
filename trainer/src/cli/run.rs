//! `exactq run`: the whole flow on one zoo model. Train FP32, post-training quantize, fine-tune
//! with the exact forward, export the device blob, evaluate through the core interpreter, and
//! print one table. Everything lands in `runs/<model>-<dataset>/` or `--out`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use clap::Args;

use crate::checkpoint::container::write_atomic;
use crate::data::{self, Task};
use crate::nn::optim::OptimizerConfig;
use crate::quant::device::Device;
use crate::quant::export::{c_array, device_blob};
use crate::quant::metrics::evaluate;
use crate::train::{RunConfig, Session};
use crate::zoo::{Arch, MODEL_NAMES};

use super::finetune::{finetune, QatArgs};
use super::quantize::{ptq, PtqArgs};

#[derive(Args, Debug)]
pub struct RunArgs {
    #[arg(long, default_value = "digits-cnn")]
    pub model: String,
    /// Default: the model's own (digits, fashion-mnist, ecg5000).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Output directory (default: runs/<model>-<dataset>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// FP32 training epochs (default: the model's).
    #[arg(long)]
    pub epochs: Option<u32>,
    /// FP32 learning rate (Adam; default: the model's).
    #[arg(long)]
    pub fp32_lr: Option<f32>,
    /// Decay the FP32 learning rate to 0 along a cosine over this many epochs (0: constant;
    /// default: the model's, i.e. over all FP32 epochs for resnet8, constant for the others).
    #[arg(long)]
    pub cosine_epochs: Option<u32>,
    /// QAT fine-tuning epochs (default: the model's).
    #[arg(long)]
    pub qat_epochs: Option<u32>,
    #[command(flatten)]
    pub ptq: PtqArgs,
    #[command(flatten)]
    pub qat: QatArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replace an existing output directory's files.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub env: super::RunEnv,
}

/// The FP32 stage's recipe of one zoo model.
struct Fp32Recipe {
    dataset: &'static str,
    epochs: u32,
    batch: usize,
    lr: f32,
    /// Cosine decay over all FP32 epochs (else a constant learning rate).
    cosine: bool,
    qat_epochs: u32,
}

/// Per model. resnet8: 10 cosine epochs, the recipe whose QAT model meets issue 6's target
/// (docs/quantization.md, run 3); 5 constant-rate epochs, the anchor's, end 3.8 points lower.
fn defaults(model: &str) -> Fp32Recipe {
    let r = |dataset, epochs, batch, lr, cosine, qat_epochs| Fp32Recipe { dataset, epochs, batch, lr, cosine, qat_epochs };
    match model {
        "resnet8" => r("fashion-mnist", 10, 128, 1e-3, true, 2),
        "ecg-ae" => r("ecg5000", 60, 32, 1e-3, false, 10),
        "mlp" => r("digits", 60, 32, 1e-3, false, 10),
        _ => r("digits", 20, 32, 2e-3, false, 3),
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if !MODEL_NAMES.contains(&args.model.as_str()) {
        bail!("unknown model `{}` (known: {})", args.model, MODEL_NAMES.join(", "));
    }
    super::set_threads(args.env.threads)?;
    let recipe = defaults(&args.model);
    let dataset = args.dataset.clone().unwrap_or_else(|| recipe.dataset.to_string());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-{dataset}", args.model)));
    if out.join("summary.json").exists() && !args.force {
        bail!("{} already holds a run; pass --force to replace it or --out for another directory", out.display());
    }
    std::fs::create_dir_all(&out).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
    let data = data::load(&dataset, args.env.data_dir.as_deref())?;
    let classes = match data.task {
        Task::Classify { classes } => classes,
        Task::Reconstruct => data.sample_len(),
    };
    let arch = Arch::from_name(&args.model, data.sample_len(), classes).expect("checked above");
    let f = |v| super::train::fmt_metric(v, data.task);
    eprintln!("{} on {} ({} train / {} test), {} threads, output {}", arch.name(), data.name, data.train.len(), data.test.len(), rayon::current_num_threads(), out.display());

    // 1. FP32.
    let epochs = args.epochs.unwrap_or(recipe.epochs);
    let cfg = RunConfig {
        arch,
        batch_size: recipe.batch,
        seed: args.seed,
        optimizer: OptimizerConfig::adam(args.fp32_lr.unwrap_or(recipe.lr)),
        cosine_epochs: args.cosine_epochs.unwrap_or(if recipe.cosine { epochs } else { 0 }),
    };
    let mut session = Session::new(&cfg, &data)?;
    // Epoch time, FP32 and QAT alike: the training pass and the validation pass, without
    // checkpoint writes (QAT writes one per epoch, FP32 one at the end; both timed apart).
    let mut fp32_seconds = 0.0f64;
    for e in 1..=epochs {
        let bar = super::progress_bar(data.train.len() as u64, format!("fp32 epoch {e}/{epochs}"));
        let t0 = Instant::now();
        let r = session.train_epoch(&data, &mut |s| bar.inc(s.samples as u64))?;
        let secs = t0.elapsed().as_secs_f64();
        fp32_seconds += secs;
        bar.finish_and_clear();
        eprintln!("fp32 epoch {e:>3}/{epochs}  train loss {:.4}  val {}  {secs:.3} s", r.train_loss, f(r.val_metric));
    }
    let fp32_epoch_s = fp32_seconds / f64::from(epochs.max(1));
    let fp32_path = out.join("fp32.ckpt");
    session.state.save(&fp32_path)?;

    // 2. PTQ.
    let ptq_cfg = args.ptq.config(args.seed);
    let (mut state, ptq_eval) = ptq(&session.state, &data, &ptq_cfg)?;
    state.save(&out.join("ptq.ckpt"), true)?;
    eprintln!("ptq: int8 test {} (parity {}/{})", f(ptq_eval.metric), ptq_eval.parity_identical, ptq_eval.parity_total);

    // 3. QAT.
    let qat_epochs = args.qat_epochs.unwrap_or(recipe.qat_epochs);
    let qat_path = out.join("qat.ckpt");
    let qat_seconds = finetune(&mut state, &data, qat_epochs, &args.qat, args.seed, Some(&qat_path))?;
    let qat_epoch_s = qat_seconds.iter().sum::<f64>() / qat_seconds.len().max(1) as f64;

    // 4. Export and evaluate on the device path.
    let blob = device_blob(&state.model, &state.params)?;
    write_atomic(&out.join("model.qmod"), &blob)?;
    write_atomic(&out.join("model.h"), c_array(&blob, "exactq_model").as_bytes())?;
    let eval = evaluate(&state.model, &state.params, &blob, &data.test, data.task)?;
    let arena = Device::new(&blob)?.arena_size;
    let fp32_bytes = 4 * session.state.params.trainable_count();

    let (name, key) = match data.task {
        Task::Classify { .. } => ("accuracy", "accuracy"),
        Task::Reconstruct => ("AUROC", "auroc"),
    };
    println!();
    println!("{} on {} ({} test samples, profile {})", arch.name(), data.name, data.test.len(), state.model.profile.as_str());
    println!("  {:<28} {}", format!("FP32 {name}"), f(state.fp32_metric));
    println!("  {:<28} {}", format!("PTQ INT8 {name}"), f(ptq_eval.metric));
    println!("  {:<28} {}", format!("QAT INT8 {name}"), f(eval.metric));
    println!("  {:<28} {}/{} outputs identical between trainer forward and device interpreter", "parity", eval.parity_identical, eval.parity_total);
    println!("  {:<28} {} B FP32 parameters, {} B INT8 blob", "model size", fp32_bytes, blob.len());
    println!("  {:<28} {} B", "arena", arena);
    println!("  {:<28} {:.3} s FP32, {:.3} s QAT ({:.2}x; training + validation pass)", "time per epoch", fp32_epoch_s, qat_epoch_s, qat_epoch_s / fp32_epoch_s.max(1e-9));
    println!("  files in {}", out.display());

    let summary = serde_json::json!({
        "model": arch.name(),
        "dataset": data.name,
        "profile": state.model.profile.as_str(),
        format!("fp32_{key}"): state.fp32_metric,
        format!("ptq_{key}"): ptq_eval.metric,
        format!("qat_{key}"): eval.metric,
        "parity_identical": eval.parity_identical,
        "parity_total": eval.parity_total,
        "ptq_parity_identical": ptq_eval.parity_identical,
        "blob_bytes": blob.len(),
        "fp32_param_bytes": fp32_bytes,
        "arena_bytes": arena,
        "fp32_epoch_seconds": fp32_epoch_s,
        "qat_epoch_seconds": qat_epoch_s,
        "fp32_epochs": epochs,
        "qat_epochs": qat_epochs,
        "calibration_samples": ptq_cfg.samples,
        "qat_lr": args.qat.lr,
    });
    let history = serde_json::json!({
        "fp32": session.state.history.iter().map(|r| serde_json::json!({"epoch": r.epoch, "train_loss": r.train_loss, "val_loss": r.val_loss, "val_metric": r.val_metric})).collect::<Vec<_>>(),
        "qat": state.qat.as_ref().map(|q| q.history.iter().map(|r| serde_json::json!({"epoch": r.epoch, "train_loss": r.train_loss, "val_metric": r.val_metric, "seconds": r.seconds})).collect::<Vec<_>>()),
    });
    write_atomic(&out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    write_atomic(&out.join("history.json"), serde_json::to_string_pretty(&history)?.as_bytes())?;
    // The report reads what was just written (checkpoints, blob, summary, history).
    let report = crate::report::write(&out)?;
    println!("wrote {}", report.display());
    Ok(())
}
