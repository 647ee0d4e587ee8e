//! `exactq quantize`: post-training quantization of a float checkpoint.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::checkpoint::TrainerState;
use crate::data::{self, Dataset};
use crate::quant::export::device_blob;
use crate::quant::metrics::{evaluate, QuantEval};
use crate::quant::ptq::{calibration_set, quantize, PtqConfig};
use crate::quant::qmodel::ProfileName;
use crate::quant::range::RangeEstimator;
use crate::quant::state::{refuse_overwrite, QuantState, Stage, QUNT_VERSION};
use crate::quant::QuantError;

#[derive(Args, Debug, Clone)]
pub struct PtqArgs {
    /// Calibration samples from the training split (error if fewer exist).
    #[arg(long, default_value_t = 300)]
    pub samples: usize,
    /// Range estimator: minmax, percentile[:P], mse.
    #[arg(long, default_value = "minmax")]
    pub estimator: RangeEstimator,
    /// Arithmetic profile of the target: tflite-double (TFLite Micro / CMSIS-NN), tflite-single
    /// (single-rounding builds) or float-requant (ONNX Runtime / OpenVINO-style f32 requantization).
    #[arg(long, default_value = "tflite-double")]
    pub profile: ProfileName,
    /// Empirical bias correction after calibration.
    #[arg(long)]
    pub bias_correction: bool,
}

impl PtqArgs {
    pub fn config(&self, seed: u64) -> PtqConfig {
        PtqConfig { profile: self.profile, samples: self.samples, estimator: self.estimator, bias_correction: self.bias_correction, seed }
    }
}

#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// Float checkpoint written by `exactq train`.
    pub checkpoint: PathBuf,
    /// Quantized (PTQ) checkpoint to write.
    #[arg(short, long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub ptq: PtqArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Overwrite an existing output.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub env: super::RunEnv,
}

/// Loads a float checkpoint, explaining what a quantized one is instead.
pub fn load_float(path: &Path) -> anyhow::Result<TrainerState> {
    match TrainerState::load(path) {
        Ok(s) => Ok(s),
        Err(e) => {
            if QuantState::load(path).is_ok() {
                Err(QuantError::WrongStage(format!("{}: already a quantized checkpoint; quantize takes a float (fp32) checkpoint", path.display())).into())
            } else {
                Err(e.into())
            }
        }
    }
}

/// PTQ of `fp32` on `data`; returns the state (not yet saved) and its evaluation.
pub fn ptq(fp32: &TrainerState, data: &Dataset, cfg: &PtqConfig) -> anyhow::Result<(QuantState, QuantEval)> {
    crate::train::check_fit(&fp32.arch, data)?;
    let fp32_metric = crate::train::evaluate(fp32, &data.test, data.task)?.metric;
    let calib = calibration_set(&data.train, cfg.samples, cfg.seed)?;
    let q = quantize(&fp32.graph, &fp32.params, &calib, cfg)?;
    let state = QuantState {
        version: QUNT_VERSION,
        stage: Stage::Ptq,
        arch: fp32.arch,
        dataset: data.name.clone(),
        ptq: *cfg,
        graph: q.folded.graph,
        params: q.folded.params,
        model: q.model,
        fp32_metric,
        qat: None,
    };
    let blob = device_blob(&state.model, &state.params)?;
    let eval = evaluate(&state.model, &state.params, &blob, &data.test, data.task)?;
    Ok((state, eval))
}

pub fn run(args: QuantizeArgs) -> anyhow::Result<()> {
    super::set_threads(args.env.threads)?;
    refuse_overwrite(&args.out, args.force)?;
    let fp32 = load_float(&args.checkpoint)?;
    let data = data::load(&fp32.hyper.dataset, args.env.data_dir.as_deref())?;
    let (state, eval) = ptq(&fp32, &data, &args.ptq.config(args.seed)).with_context(|| format!("quantizing {}", args.checkpoint.display()))?;
    state.save(&args.out, args.force)?;
    let f = |v| super::train::fmt_metric(v, data.task);
    println!(
        "{} on {}: fp32 {} -> PTQ int8 {} ({} calibration samples, {:?}, {})",
        state.arch.name(),
        data.name,
        f(state.fp32_metric),
        f(eval.metric),
        args.ptq.samples,
        args.ptq.estimator,
        args.ptq.profile.as_str()
    );
    println!("parity: {}/{} outputs identical between trainer forward and device interpreter", eval.parity_identical, eval.parity_total);
    println!("checkpoint {}", args.out.display());
    Ok(())
}
