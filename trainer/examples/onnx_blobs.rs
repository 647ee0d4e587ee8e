//! Quantized blobs for the ONNX checks (`tools/onnx-check`), built with the project's PTQ.
//!
//! `onnx_blobs zoo OUT_DIR`: every zoo architecture with seeded random parameters, calibrated
//! on uniform random inputs (untrained: enough for `onnx.checker` and for counting int8
//! mismatches against ONNX Runtime), written as `<arch>.exq` (float-requant) and `<arch>.onnx`.
//!
//! `onnx_blobs softmax OUT_DIR`: float-requant blobs of a lone SOFTMAX (input `[1, d]`, several
//! depths and input scales) as `softmax-<d>-<k>.exq` and `.onnx`, to compare the core's
//! `softmax_float` with ONNX Runtime's `QLinearSoftmax` (`exactq run-model`, `check.py random`).
//!
//! `onnx_blobs ptq CHECKPOINT OUT_DIR [SAMPLES]`: PTQ of a trained float checkpoint
//! (min/max ranges on SAMPLES training samples, default 300) to `<arch>-single.exq`
//! (tflite-single) and `<arch>-float.exq` (float-requant), each with its `.onnx`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use exactq_trainer::checkpoint::TrainerState;
use exactq_trainer::data::{self, Split};
use exactq_trainer::nn::ParamStore;
use exactq_trainer::onnx::{export_model, float_requant_blob};
use exactq_trainer::quant::export::device_blob;
use exactq_trainer::quant::ptq::{calibration_set, quantize, PtqConfig};
use exactq_trainer::quant::qmodel::ProfileName;
use exactq_trainer::quant::range::RangeEstimator;
use exactq_trainer::zoo::Arch;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

fn write_pair(dir: &Path, stem: &str, blob: &[u8]) -> Result<()> {
    std::fs::write(dir.join(format!("{stem}.exq")), blob)?;
    let onnx = export_model(blob).with_context(|| format!("exporting {stem}"))?;
    std::fs::write(dir.join(format!("{stem}.onnx")), onnx)?;
    println!("{stem}: {} byte blob", blob.len());
    Ok(())
}

fn zoo(dir: &Path) -> Result<()> {
    let archs = [Arch::DigitsCnn, Arch::Resnet8, Arch::EcgAe, Arch::Mlp { inputs: 64, classes: 10 }];
    for (k, arch) in archs.into_iter().enumerate() {
        let graph = arch.graph();
        let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
        let params = ParamStore::init(&graph, &mut rng);
        let d: usize = arch.input_shape().iter().product();
        let x: Vec<f32> = (0..64 * d).map(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0).collect();
        let calib = Split { x, y: vec![0; 64] };
        let cfg = PtqConfig { profile: ProfileName::TfliteSingle, samples: 64, estimator: RangeEstimator::MinMax, bias_correction: false, seed: 0 };
        let q = quantize(&graph, &params, &calib, &cfg).with_context(|| format!("PTQ of {}", arch.name()))?;
        let blob = device_blob(&q.model, &q.folded.params)?;
        write_pair(dir, arch.name(), &float_requant_blob(&blob)?)?;
    }
    Ok(())
}

fn softmax(dir: &Path) -> Result<()> {
    use exactq_core::arith::Profile;
    use exactq_core::model::builder::ModelBuilder;
    for (d, scales) in [(10usize, [0.05f32, 0.11, 0.37]), (100, [0.02, 0.09, 0.6])] {
        for (k, s) in scales.into_iter().enumerate() {
            let mut b = ModelBuilder::new(Profile::FloatRequant);
            let x = b.input(&[1, d], s, 3).map_err(|e| anyhow::anyhow!("{e}"))?;
            let y = b.softmax(x, 1.0).map_err(|e| anyhow::anyhow!("{e}"))?;
            b.set_output(y);
            let blob = b.build().map_err(|e| anyhow::anyhow!("{e}"))?;
            write_pair(dir, &format!("softmax-{d}-{k}"), &blob)?;
        }
    }
    Ok(())
}

fn ptq(checkpoint: &Path, dir: &Path, samples: usize) -> Result<()> {
    let state = TrainerState::load(checkpoint)?;
    let ds = data::load(&state.hyper.dataset, None)?;
    let calib = calibration_set(&ds.train, samples, 0)?;
    let cfg = PtqConfig { profile: ProfileName::TfliteSingle, samples, estimator: RangeEstimator::MinMax, bias_correction: false, seed: 0 };
    let q = quantize(&state.graph, &state.params, &calib, &cfg)?;
    let blob = device_blob(&q.model, &q.folded.params)?;
    let name = state.arch.name();
    write_pair(dir, &format!("{name}-single"), &blob)?;
    write_pair(dir, &format!("{name}-float"), &float_requant_blob(&blob)?)?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["zoo", dir] => {
            std::fs::create_dir_all(dir)?;
            zoo(Path::new(dir))
        }
        ["softmax", dir] => {
            std::fs::create_dir_all(dir)?;
            softmax(Path::new(dir))
        }
        ["ptq", ckpt, dir, rest @ ..] => {
            std::fs::create_dir_all(dir)?;
            let samples = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(300);
            ptq(Path::new(ckpt), Path::new(dir), samples)
        }
        _ => bail!("usage: onnx_blobs zoo OUT_DIR | onnx_blobs softmax OUT_DIR | onnx_blobs ptq CHECKPOINT OUT_DIR [SAMPLES]"),
    }
}
