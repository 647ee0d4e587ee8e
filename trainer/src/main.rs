//! The `exactq` command-line tool.
use clap::{Parser, Subcommand};
use exactq_trainer::cli;

#[derive(Parser)]
#[command(name = "exactq", version, about = "Bit-exact INT8 quantization-aware training")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run qvec/1 golden kernel vectors through the core and report bit-exactness.
    CheckVectors(cli::check_vectors::CheckVectorsArgs),
    /// Train a zoo model in float.
    Train(cli::train::TrainArgs),
    /// Test-set metric of a checkpoint.
    Eval(cli::eval::EvalArgs),
    /// Show what a checkpoint holds.
    Inspect(cli::inspect::InspectArgs),
    /// Write RUN_DIR/report.html: curves, per-layer quantization diagnostics, deployment figures.
    Report(cli::report::ReportArgs),
    /// Post-training quantization of a float checkpoint.
    Quantize(cli::quantize::QuantizeArgs),
    /// Bit-exact quantization-aware fine-tuning of a PTQ/QAT checkpoint.
    Finetune(cli::finetune::FinetuneArgs),
    /// Write a quantized model for deployment: device blob, C/Rust array, or ONNX (--format).
    Export(cli::export::ExportArgs),
    /// The whole flow: train, quantize, fine-tune, export, evaluate.
    Run(cli::run::RunArgs),
    /// Deprecated spelling of `export --format onnx`.
    #[command(hide = true)]
    ExportOnnx(cli::export_onnx::ExportOnnxArgs),
    /// Import a full-INT8 TFLite model into the core model format.
    Import(cli::import::ImportArgs),
    /// Run a core model on int8 samples (raw bytes or .npy).
    RunModel(cli::run_model::RunModelArgs),
}

fn main() -> std::process::ExitCode {
    cli::tune_malloc();
    // Bugs must not print backtraces at users: report and exit 2 like any other error.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {info}");
        std::process::exit(2);
    }));
    let result = match Cli::parse().command {
        // Its own exit codes: 1 = a case failed, 2 = a malformed file.
        Command::CheckVectors(args) => return cli::check_vectors::run(&args),
        Command::Train(args) => cli::train::run(args),
        Command::Eval(args) => cli::eval::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Report(args) => cli::report::run(args),
        Command::Quantize(args) => cli::quantize::run(args),
        Command::Finetune(args) => cli::finetune::run(args),
        Command::Export(args) => cli::export::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::ExportOnnx(args) => cli::export_onnx::run(args),
        Command::Import(args) => cli::import::run(args),
        Command::RunModel(args) => cli::run_model::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
