//! exactq-trainer: host-side training, quantization and tooling built on `exactq-core`.

pub mod import;
