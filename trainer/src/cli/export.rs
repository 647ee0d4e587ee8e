//! `exactq export`: the slim device blob of a quantized checkpoint (plus C / Rust arrays).

use std::path::PathBuf;

use clap::Args;

use crate::checkpoint::container::write_atomic;
use crate::quant::export::{c_array, device_blob, rust_array};
use crate::quant::state::{refuse_overwrite, QuantState};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// PTQ or QAT checkpoint.
    pub checkpoint: PathBuf,
    /// Device blob to write (one `MODL` section).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Also write the blob as a C array (header file).
    #[arg(long)]
    pub c_array: Option<PathBuf>,
    /// Also write the blob as a Rust array.
    #[arg(long)]
    pub rust_array: Option<PathBuf>,
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let state = QuantState::load(&args.checkpoint)?;
    let outs = [Some(&args.out), args.c_array.as_ref(), args.rust_array.as_ref()];
    for p in outs.iter().flatten() {
        refuse_overwrite(p, args.force)?;
    }
    let blob = device_blob(&state.model, &state.params)?;
    write_atomic(&args.out, &blob)?;
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
