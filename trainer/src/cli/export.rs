//! `exactq export`: a quantized model in a deployment format: the slim device blob (default),
//! the blob as a C or Rust array, or ONNX (QDQ) for ONNX Runtime and OpenVINO (`docs/onnx.md`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use crate::checkpoint::container::write_atomic;
use crate::quant::export::{c_array, device_blob, rust_array};
use crate::quant::state::{refuse_overwrite, QuantState};

/// What `--out` receives.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// The device blob (one `MODL` section), what `exactq_core::model::load` reads.
    #[default]
    Blob,
    /// The device blob as a C array (header file).
    CArray,
    /// The device blob as a Rust array.
    RustArray,
    /// ONNX, QDQ form (opset 13), for ONNX Runtime and OpenVINO.
    Onnx,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// PTQ or QAT checkpoint (with `--format onnx` also a device blob).
    pub checkpoint: PathBuf,
    /// File to write, in `--format`.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Format of `--out`.
    #[arg(long, value_enum, default_value_t = Format::Blob)]
    pub format: Format,
    /// Also write the blob as a C array (header file); blob format only.
    #[arg(long)]
    pub c_array: Option<PathBuf>,
    /// Also write the blob as a Rust array; blob format only.
    #[arg(long)]
    pub rust_array: Option<PathBuf>,
    #[command(flatten)]
    pub test_set: TestSetArgs,
    #[arg(long)]
    pub force: bool,
}

/// ONNX only: the checker's test set (`tools/onnx-check`).
#[derive(Args, Debug, Default)]
pub struct TestSetArgs {
    /// With `--format onnx`: also write this dataset's test split as `.npy` into `--npy-dir`
    /// (int8 inputs as the device sees them, labels, the core interpreter's int8 outputs).
    #[arg(long, requires = "npy_dir")]
    pub dataset: Option<String>,
    /// Directory for the `.npy` files.
    #[arg(long, requires = "dataset")]
    pub npy_dir: Option<PathBuf>,
    /// With `--dataset`: at most this many test samples (all by default).
    #[arg(long)]
    pub samples: Option<usize>,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let extras = args.c_array.is_some() || args.rust_array.is_some();
    if extras && args.format != Format::Blob {
        bail!("--c-array and --rust-array go with --format blob; use --format c-array or rust-array for --out");
    }
    if args.test_set.dataset.is_some() && args.format != Format::Onnx {
        bail!("--dataset/--npy-dir write the ONNX checker's test set; they go with --format onnx");
    }
    let outs = [Some(&args.out), args.c_array.as_ref(), args.rust_array.as_ref()];
    for p in outs.iter().flatten() {
        refuse_overwrite(p, args.force)?;
    }
    if args.format == Format::Onnx {
        return export_onnx(&args);
    }
    let state = QuantState::load(&args.checkpoint)?;
    let blob = device_blob(&state.model, &state.params)?;
    match args.format {
        Format::CArray => write_atomic(&args.out, c_array(&blob, "exactq_model").as_bytes())?,
        Format::RustArray => write_atomic(&args.out, rust_array(&blob, "exactq_model").as_bytes())?,
        Format::Blob | Format::Onnx => write_atomic(&args.out, &blob)?,
    }
    if let Some(p) = &args.c_array {
        write_atomic(p, c_array(&blob, "exactq_model").as_bytes())?;
    }
    if let Some(p) = &args.rust_array {
        write_atomic(p, rust_array(&blob, "exactq_model").as_bytes())?;
    }
    let dev = crate::quant::device::Device::new(&blob)?;
    println!("{} ({} stage) -> {}: {} bytes, arena {} bytes", state.arch.name(), state.stage.as_str(), args.out.display(), blob.len(), dev.arena_size);
    Ok(())
}

/// The device blob of `path`: a PTQ/QAT checkpoint's, or the file itself when it is a blob.
fn blob_of(path: &Path) -> anyhow::Result<Vec<u8>> {
    match QuantState::load(path) {
        Ok(state) => Ok(device_blob(&state.model, &state.params)?),
        Err(checkpoint_error) => {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let aligned = exactq_core::model::aligned::AlignedBytes::copy_from(&bytes);
            if exactq_core::model::load(aligned.as_slice()).is_ok() {
                Ok(bytes)
            } else {
                Err(checkpoint_error.into())
            }
        }
    }
}

fn export_onnx(args: &ExportArgs) -> anyhow::Result<()> {
    let blob = blob_of(&args.checkpoint)?;
    let onnx = crate::onnx::export_model(&blob).with_context(|| format!("exporting {} to ONNX", args.checkpoint.display()))?;
    write_atomic(&args.out, &onnx)?;
    println!("wrote {} ({} bytes, ONNX opset {})", args.out.display(), onnx.len(), crate::onnx::OPSET);
    let t = &args.test_set;
    if let (Some(name), Some(dir)) = (&t.dataset, &t.npy_dir) {
        super::export_onnx::write_test_set(&blob, name, dir, t.samples, t.data_dir.as_deref())?;
    }
    Ok(())
}
