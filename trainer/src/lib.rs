//! exactq-trainer: host-side training, quantization and tooling built on `exactq-core`.

pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod import;
pub mod nn;
pub mod train;
pub mod vectors;
pub mod zoo;
