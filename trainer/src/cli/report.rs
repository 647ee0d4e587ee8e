//! `exactq report RUN_DIR`: writes `RUN_DIR/report.html` (see [`crate::report`]).

use std::path::{Path, PathBuf};

use clap::Args;

use crate::report::{self, FileKind, Options};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run directory holding the artefacts (fp32.ckpt, qat.ckpt or ptq.ckpt, model.qmod, history.json, summary.json, firmware.json).
    pub run_dir: PathBuf,
    /// FP32 checkpoint (default: RUN_DIR/fp32.ckpt).
    #[arg(long)]
    pub float: Option<PathBuf>,
    /// Device blob (default: RUN_DIR/model.qmod).
    #[arg(long)]
    pub blob: Option<PathBuf>,
    /// Firmware figures JSON (default: RUN_DIR/firmware.json).
    #[arg(long)]
    pub firmware: Option<PathBuf>,
    /// Test samples analysed per layer.
    #[arg(long, default_value_t = report::DEFAULT_SAMPLES)]
    pub samples: usize,
    #[command(flatten)]
    pub env: super::RunEnv,
    /// Output page (default: RUN_DIR/report.html).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.samples > 0, "--samples must be at least 1");
    super::set_threads(args.env.threads)?;
    let mut opts = Options::for_run_dir(&args.run_dir);
    if let Some(p) = args.float {
        opts.float_checkpoint = p;
    }
    if let Some(p) = args.blob {
        opts.blob = p;
    }
    if let Some(p) = args.firmware {
        opts.firmware = p;
    }
    if let Some(p) = args.out {
        opts.out = p;
    }
    opts.samples = args.samples;
    opts.data_dir = args.env.data_dir;
    anyhow::ensure!(opts.run_dir.is_dir(), "{}: not a directory", opts.run_dir.display());
    let report = report::build(&opts);
    for a in report.artefacts.iter().filter(|a| a.problem.is_some()) {
        eprintln!("report: {} ({}) {}", a.name, a.path.display(), a.problem.as_deref().unwrap_or(""));
    }
    let path = report::write_report(&opts, &report)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// The report `exactq eval FILE` and `exactq finetune --out FILE` write when they are done:
/// `report.html` next to `file`, its directory read as a run directory
/// ([`Options::for_file`]). The command's own result is already out, so a report that cannot be
/// written is a warning, not a failure. `json`: the command prints JSON on stdout, so the line
/// naming the page goes to stderr.
pub fn write_next_to(file: &Path, data_dir: Option<PathBuf>, json: bool) {
    let written = FileKind::of(file).and_then(|kind| {
        let opts = Options { data_dir, ..Options::for_file(file, kind) };
        let report = report::build(&opts);
        for a in report.artefacts.iter().filter(|a| a.problem.is_some()) {
            eprintln!("report: {} ({}) {}", a.name, a.path.display(), a.problem.as_deref().unwrap_or(""));
        }
        report::write_report(&opts, &report)
    });
    match written {
        Ok(path) if json => eprintln!("wrote {}", path.display()),
        Ok(path) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("warning: report not written: {e:#}"),
    }
}
