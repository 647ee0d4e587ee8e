//! exactq-trainer: host-side training, quantization and tooling built on `exactq-core`.

pub mod cli;
pub mod import;
pub mod vectors;
