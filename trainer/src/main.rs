//! The `exactq` command-line tool.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use exactq_trainer::cli;

#[derive(Parser)]
#[command(
    name = "exactq",
    version,
    about = "Bit-exact INT8 quantization-aware training"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run qvec/1 golden kernel vectors through the core and report bit-exactness.
    CheckVectors(cli::check_vectors::CheckVectorsArgs),
    /// Import a full-INT8 TFLite model into the core model format.
    Import(cli::import::ImportArgs),
    /// Run a core model on int8 samples (raw bytes or .npy).
    RunModel(cli::run_model::RunModelArgs),
}

/// Errors are reported as `error: ...` and exit with status 2.
fn exit_on_error(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckVectors(args) => cli::check_vectors::run(&args),
        Command::Import(args) => exit_on_error(cli::import::run(args)),
        Command::RunModel(args) => exit_on_error(cli::run_model::run(args)),
    }
}
