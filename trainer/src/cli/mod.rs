//! One module per `exactq` subcommand; `main.rs` only holds the clap enum and dispatch.

pub mod check_vectors;
