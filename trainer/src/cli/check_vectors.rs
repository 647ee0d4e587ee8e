//! `exactq check-vectors FILE...`: run qvec/1 golden vectors through the core.
//!
//! One line per file, one line per failing case, a final `N passed, M failed, K skipped`.
//! Exit status: 0 all passed (or skipped), 1 a case failed, 2 a file is malformed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::vectors::{check_file, CaseResult};

/// Arguments of `exactq check-vectors`.
#[derive(Debug, Args)]
pub struct CheckVectorsArgs {
    /// qvec/1 JSON files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs the command and returns the process exit code.
pub fn run(args: &CheckVectorsArgs) -> ExitCode {
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut malformed = false;
    for path in &args.files {
        match check_file(path) {
            Ok(report) => {
                println!(
                    "{}: {} [{}]: {} passed, {} failed, {} skipped",
                    report.path,
                    report.op,
                    report.profile,
                    report.passed(),
                    report.failed(),
                    report.skipped()
                );
                for case in &report.cases {
                    match &case.result {
                        CaseResult::Failed(m) => println!("  FAIL {}: {}", case.name, m),
                        CaseResult::Skipped(why) => println!("  skip {}: {}", case.name, why),
                        CaseResult::Passed => {}
                    }
                }
                passed += report.passed();
                failed += report.failed();
                skipped += report.skipped();
            }
            Err(e) => {
                eprintln!("error: {e}");
                malformed = true;
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if malformed {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
