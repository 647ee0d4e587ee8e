//! `exactq run-model MODEL.qmod --input IN --output OUT`: runs a core model on every sample.
//!
//! IN and OUT are `.npy` files (int8) when their name ends in `.npy`, raw int8 bytes
//! otherwise: samples of the model's input (output) size, concatenated.
// `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
#![allow(clippy::manual_is_multiple_of)]

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use exactq_core::model::{aligned::AlignedBytes, invoke, load, Model};

#[derive(Debug, Args)]
pub struct RunModelArgs {
    /// The core model blob (e.g. from `exactq import`).
    pub model: PathBuf,
    /// Input samples: `.npy` (int8, any shape whose size is a multiple of one sample) or raw int8 bytes.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the outputs: `.npy` (int8, shape [samples, ...output shape]) or raw int8 bytes.
    #[arg(long)]
    pub output: PathBuf,
}

fn is_npy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Reads int8 samples from `.npy` (C order, dtype int8 only) or raw bytes.
pub fn read_samples(path: &Path) -> Result<Vec<i8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if !is_npy(path) {
        return Ok(bytes.into_iter().map(|b| b as i8).collect());
    }
    let npy = npyz::NpyFile::new(&bytes[..]).with_context(|| format!("{}: not a valid .npy file", path.display()))?;
    if npy.order() != npyz::Order::C && npy.shape().iter().filter(|&&d| d > 1).count() > 1 {
        bail!("{}: Fortran-ordered arrays are not supported; save it in C order", path.display());
    }
    let dtype = npy.dtype();
    let data = npy
        .data::<i8>()
        .map_err(|_| anyhow::anyhow!("{}: dtype {} is not int8 ('|i1')", path.display(), dtype.descr()))?;
    data.collect::<std::io::Result<Vec<i8>>>().with_context(|| format!("{}: truncated data", path.display()))
}

/// Writes int8 samples as `.npy` with shape `[samples, ...sample_shape]`, or as raw bytes.
pub fn write_samples(path: &Path, values: &[i8], samples: usize, sample_shape: &[u64]) -> Result<()> {
    let bytes = if is_npy(path) {
        use npyz::WriterBuilder;
        let mut shape = vec![samples as u64];
        shape.extend_from_slice(sample_shape);
        let mut out = Vec::new();
        let mut writer = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(&mut out).begin_nd()?;
        writer.extend(values.iter().copied())?;
        writer.finish()?;
        out
    } else {
        values.iter().map(|&v| v as u8).collect()
    };
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Runs `model` on each sample of `input` (concatenated), returning the concatenated outputs.
pub fn run_samples(model: &Model<'_>, input: &[i8]) -> Result<Vec<i8>> {
    let (in_len, out_len) = (model.input_len(), model.output_len());
    if in_len == 0 || input.len() % in_len != 0 || input.is_empty() {
        bail!("input has {} values, not a positive multiple of the model's input size {in_len}", input.len());
    }
    let samples = input.len() / in_len;
    // Kernels' i32 scratch lives in the arena: give it the 16-byte alignment the planner assumes.
    let mut arena = AlignedBytes::zeroed(model.arena_size());
    let mut output = vec![0i8; samples * out_len];
    for (i, (x, y)) in input.chunks_exact(in_len).zip(output.chunks_exact_mut(out_len)).enumerate() {
        invoke(model, x, arena.as_mut_slice(), y).map_err(|e| anyhow::anyhow!("sample {i}: {e}"))?;
    }
    Ok(output)
}

pub fn run(args: RunModelArgs) -> Result<()> {
    let blob = std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let aligned = AlignedBytes::copy_from(&blob);
    let model = load(aligned.as_slice()).map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
    let input = read_samples(&args.input)?;
    let output = run_samples(&model, &input).with_context(|| format!("{}", args.input.display()))?;
    let out_shape: Vec<u64> = model
        .tensor(model.graph().output)
        .map(|t| t.shape.iter().map(|&d| u64::from(d)).collect())
        .unwrap_or_default();
    // The model's output tensor usually has batch 1: drop it so the .npy reads [samples, ...].
    let sample_shape = match out_shape.split_first() {
        Some((1, rest)) if !rest.is_empty() => rest.to_vec(),
        _ => out_shape,
    };
    let samples = output.len() / model.output_len().max(1);
    write_samples(&args.output, &output, samples, &sample_shape)?;
    eprintln!("{} samples → {}", samples, args.output.display());
    Ok(())
}
