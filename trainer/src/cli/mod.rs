//! Subcommands of the `exactq` binary, one file each.

pub mod check_vectors;
pub mod eval;
pub mod export;
pub mod export_onnx;
pub mod finetune;
pub mod import;
pub mod inspect;
pub mod qeval;
pub mod qinspect;
pub mod quantize;
pub mod report;
pub mod run;
pub mod run_model;
pub mod train;

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Keeps freed memory in the process instead of returning it to the OS after every step.
/// dfdx and the custom ops allocate fresh multi-megabyte buffers each step; with glibc's
/// defaults every one of them is an mmap/munmap pair whose pages fault in again (3-5x slower
/// training on the 2-core machines; see docs/performance.md). Environment variables
/// (`MALLOC_*_`) set by the user take precedence because glibc reads them first.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_set = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"].iter().any(|v| std::env::var_os(v).is_some());
        if !user_set {
            // SAFETY: mallopt only adjusts allocator parameters; called before any threads start.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
                libc::mallopt(libc::M_TOP_PAD, 512 << 20);
            }
        }
    }
}

/// Where the datasets are and how many threads to use: the options every command that reads
/// data shares (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RunEnv {
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Directory holding the datasets (else EXACTQ_DATA, /usr/share/datasets, ../shared/data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Sizes rayon's global pool (used by the GEMMs and every parallel loop).
pub fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = threads {
        if n == 0 {
            anyhow::bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow::anyhow!("cannot start {n} threads: {e}"))?;
    }
    Ok(())
}

/// A progress bar over `len` samples on stderr; hidden when stderr is not a terminal.
pub fn progress_bar(len: u64, prefix: String) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} samples  loss {msg}  {per_sec}  ETA {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}

/// A spinner with a message for loops without a known length (loading, evaluation); hidden
/// when stderr is not a terminal. Finish it with `finish_and_clear`.
pub fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        None,
        if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("static template"));
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
