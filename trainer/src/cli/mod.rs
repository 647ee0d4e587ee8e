//! One module per `exactq` subcommand; `main.rs` only holds the clap enum and dispatch.

pub mod check_vectors;
pub mod import;
pub mod run_model;
