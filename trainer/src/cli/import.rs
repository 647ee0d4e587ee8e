//! `exactq import MODEL.tflite -o MODEL.qmod`: a full-INT8 TFLite model → a core model blob.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::import::convert::{import_tflite, TensorSummary};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The `.tflite` file (full integer quantization, int8 activations).
    pub model: PathBuf,
    /// Where to write the core model blob.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Print only errors.
    #[arg(short, long)]
    pub quiet: bool,
}

fn describe(t: &TensorSummary) -> String {
    format!("'{}' {:?} int8, scale {:e}, zero point {}", t.name, t.shape, t.scale, t.zero_point)
}

pub fn run(args: ImportArgs) -> Result<()> {
    let bytes = std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let imported = import_tflite(&bytes).with_context(|| format!("{}", args.model.display()))?;
    std::fs::write(&args.output, &imported.blob).with_context(|| format!("writing {}", args.output.display()))?;
    if !args.quiet {
        println!("{} → {} ({} bytes, profile tflite-double)", args.model.display(), args.output.display(), imported.blob.len());
        for op in &imported.ops {
            println!("  op {:>3}  {:<20} → {}", op.index, op.tflite_op, op.core_op);
        }
        println!("  input   {}", describe(&imported.input));
        println!("  output  {}", describe(&imported.output));
        println!(
            "  arena   {} bytes (activations and kernel scratch; peak live {} bytes)",
            imported.memory.arena_size, imported.memory.peak_live_bytes
        );
    }
    Ok(())
}
