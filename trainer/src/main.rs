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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckVectors(args) => cli::check_vectors::run(&args),
    }
}
