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
//!
//! `onnx_blobs tflite FIXTURE_DIR OUT_DIR [NAME...]`: TFLite fixtures (default: the standalone
//! PAD, RELU and RELU6 ones) imported to `<name>.exq` and `.onnx`, and the first op alone (same
//! shapes and quantization, `<name>-op.exq` and `.onnx`), each with int8 input sets and the core
//! interpreter's outputs on them as `<stem>.<set>.inputs.npy` / `<stem>.<set>.exactq.npy`: `fixture`
//! (the recorded samples; the core's outputs are first checked equal to TFLM's `.out.bin`),
//! `random` (4096 uniform samples) and, for the op alone, `exhaustive` (256 samples, every int8
//! value at every position). `tools/onnx-check/run.sh tflite` runs them in ONNX Runtime.

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

/// Writes `<stem>.<set>.inputs.npy` and the core's outputs on them as `<stem>.<set>.exactq.npy`;
/// returns the outputs.
fn write_set(dir: &Path, stem: &str, set: &str, blob: &[u8], input: &[i8]) -> Result<Vec<i8>> {
    use exactq_core::model::{aligned::AlignedBytes, load};
    use exactq_trainer::cli::run_model::{run_samples, write_samples};
    let aligned = AlignedBytes::copy_from(blob);
    let model = load(aligned.as_slice()).map_err(|e| anyhow::anyhow!("{stem}: {e}"))?;
    // A sample's shape: the tensor's without its batch of 1.
    let sample_shape = |t: u16| -> Result<Vec<u64>> {
        let shape = &model.tensor(t).context("graph tensor")?.shape;
        Ok(shape.iter().skip(1).map(|&d| u64::from(d)).collect())
    };
    let output = run_samples(&model, input)?;
    let samples = input.len() / model.input_len();
    write_samples(&dir.join(format!("{stem}.{set}.inputs.npy")), input, samples, &sample_shape(model.graph().input)?)?;
    write_samples(&dir.join(format!("{stem}.{set}.exactq.npy")), &output, samples, &sample_shape(model.graph().output)?)?;
    Ok(output)
}

/// The first op of `blob` (PAD, RELU or RELU6) alone, with the same shapes and quantization.
fn first_op_alone(blob: &[u8]) -> Result<Vec<u8>> {
    use exactq_core::model::builder::{ModelBuilder, OutQuant};
    use exactq_core::model::{aligned::AlignedBytes, load, OpDesc, Quantization};
    let aligned = AlignedBytes::copy_from(blob);
    let model = load(aligned.as_slice()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let quant = |t: u16| match model.tensor(t).map(|t| t.quantization) {
        Some(Quantization::PerTensor { scale, zero_point }) => Ok(OutQuant::new(scale, zero_point)),
        _ => bail!("tensor {t} is not a per-tensor activation"),
    };
    let op = model.graph().ops.first().context("no ops")?.op;
    let input = op.inputs()[0].context("op without input")?;
    let shape: Vec<usize> = model.tensor(input).context("input tensor")?.shape.iter().map(|&d| d as usize).collect();
    let mut b = ModelBuilder::new(model.profile());
    let (q_in, err) = (quant(input)?, |e| anyhow::anyhow!("{e}"));
    let x = b.input(&shape, q_in.scale, q_in.zero_point).map_err(err)?;
    let y = match op {
        OpDesc::Pad(d) => b.pad(x, d.before, d.after),
        OpDesc::Relu(d) => b.relu(x, quant(d.output)?),
        OpDesc::Relu6(d) => b.relu6(x, quant(d.output)?),
        other => bail!("first op {} is not PAD, RELU or RELU6", other.name()),
    }
    .map_err(err)?;
    b.set_output(y);
    b.build().map_err(err)
}

fn tflite(fixtures: &Path, dir: &Path, names: &[&str]) -> Result<()> {
    use exactq_trainer::import::convert::import_tflite;
    let read = |file: String| std::fs::read(fixtures.join(&file)).with_context(|| format!("reading {file}"));
    for name in names {
        let blob = import_tflite(&read(format!("{name}.tflite"))?).with_context(|| format!("importing {name}"))?.blob;
        write_pair(dir, name, &blob)?;
        let input: Vec<i8> = read(format!("{name}.in.bin"))?.into_iter().map(|b| b as i8).collect();
        let tflm: Vec<i8> = read(format!("{name}.out.bin"))?.into_iter().map(|b| b as i8).collect();
        if write_set(dir, name, "fixture", &blob, &input)? != tflm {
            bail!("{name}: the core interpreter's outputs differ from TFLM's {name}.out.bin");
        }
        let sample_len = {
            let aligned = exactq_core::model::aligned::AlignedBytes::copy_from(&blob);
            exactq_core::model::load(aligned.as_slice()).map_err(|e| anyhow::anyhow!("{name}: {e}"))?.input_len()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let random: Vec<i8> = (0..4096 * sample_len).map(|_| rng.next_u32() as i8).collect();
        write_set(dir, name, "random", &blob, &random)?;
        let alone = first_op_alone(&blob).with_context(|| format!("{name}: the first op alone"))?;
        let stem = format!("{name}-op");
        write_pair(dir, &stem, &alone)?;
        let exhaustive: Vec<i8> = (0..256).flat_map(|k| (0..sample_len).map(move |j| (k + j) as u8 as i8)).collect();
        write_set(dir, &stem, "exhaustive", &alone, &exhaustive)?;
        write_set(dir, &stem, "random", &alone, &random)?;
    }
    // RELU where every odd `x − zp_in` is an exact tie (`s_in = s_out / 2`): TFLite rounds half
    // away from zero, `QuantizeLinear` half to even.
    let mut b = exactq_core::model::builder::ModelBuilder::new(exactq_core::arith::Profile::TfliteDouble);
    let err = |e| anyhow::anyhow!("{e}");
    let x = b.input(&[1, 1, 1, 256], 0.05, -20).map_err(err)?;
    let y = b.relu(x, exactq_core::model::builder::OutQuant::new(0.1, -100)).map_err(err)?;
    b.set_output(y);
    let tie = b.build().map_err(err)?;
    write_pair(dir, "relu_tie-op", &tie)?;
    write_set(dir, "relu_tie-op", "exhaustive", &tie, &(0..256).map(|v| v as u8 as i8).collect::<Vec<_>>())?;
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
        ["tflite", fixtures, dir, names @ ..] => {
            std::fs::create_dir_all(dir)?;
            let default = ["pad_0", "pad_1", "relu_0", "relu_1", "relu6_0", "relu6_1"];
            tflite(Path::new(fixtures), Path::new(dir), if names.is_empty() { &default } else { names })
        }
        _ => bail!(
            "usage: onnx_blobs zoo OUT_DIR | onnx_blobs softmax OUT_DIR | onnx_blobs ptq CHECKPOINT OUT_DIR [SAMPLES] | \
             onnx_blobs tflite FIXTURE_DIR OUT_DIR [NAME...]"
        ),
    }
}
