//! The `exactq` command-line tool.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "exactq", version, about = "Bit-exact INT8 quantization-aware training")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() {
    let _cli = Cli::parse();
}
