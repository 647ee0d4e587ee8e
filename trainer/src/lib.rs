//! exactq-trainer: host-side training, quantization and tooling built on `exactq-core`.
//!
//! The `exactq` binary is a thin CLI over these modules (see `docs/guide.md`):
//!
//! - [`zoo`]: the networks, selected by name ([`zoo::Arch`]), built only from ops that map onto
//!   the core's int8 kernels; [`nn`]: the engine-agnostic graph and layer API they are made of.
//! - [`data`]: datasets (embedded digits, MNIST-like IDX files, ECG5000), split and normalised.
//! - [`train`]: seeded, exactly resumable float training; [`checkpoint`]: the EXQF checkpoints.
//! - [`quant`]: PTQ, exact QAT (the forward calls core kernels), export to a device blob.
//! - [`report`]: `report.html` for a run directory.
//!
//! # A zoo network
//!
//! ```
//! use exactq_trainer::zoo::Arch;
//!
//! let graph = Arch::DigitsCnn.graph();
//! let shapes = graph.shapes()?; // per-sample shape of every node's output
//! assert_eq!(shapes[0], [8, 8, 1]);
//! assert_eq!(shapes.last().unwrap(), &[10]);
//! // conv3x3 1→16 and 16→32 on 8x8 / 4x4, then 512→10.
//! assert_eq!(graph.macs_per_sample()?, 8 * 8 * 16 * 9 + 4 * 4 * 32 * 144 + 512 * 10);
//! # Ok::<(), exactq_trainer::nn::NnError>(())
//! ```
//!
//! # A dataset
//!
//! `digits` is embedded in the binary; the others are read from `--data-dir`, `EXACTQ_DATA`,
//! `/usr/share/datasets` or `../shared/data`.
//!
//! ```
//! use exactq_trainer::data::{self, Task};
//!
//! let digits = data::load("digits", None)?;
//! assert_eq!(digits.sample_shape, [8, 8, 1]);
//! assert_eq!(digits.task, Task::Classify { classes: 10 });
//! assert_eq!((digits.train.len(), digits.val.len(), digits.test.len()), (1296, 144, 357));
//! # Ok::<(), exactq_trainer::data::DataError>(())
//! ```
//!
//! # Training state and the checkpoint round trip
//!
//! A [`train::Session`] owns the whole state of a run; its checkpoint bytes decode to the same
//! state, so training resumes exactly.
//!
//! ```
//! use exactq_trainer::checkpoint::TrainerState;
//! use exactq_trainer::nn::optim::OptimizerConfig;
//! use exactq_trainer::train::{RunConfig, Session};
//! use exactq_trainer::{data, zoo::Arch};
//!
//! let digits = data::load("digits", None)?;
//! let cfg = RunConfig { arch: Arch::DigitsCnn, batch_size: 32, seed: 7, optimizer: OptimizerConfig::adam(2e-3), cosine_epochs: 0 };
//! let mut session = Session::new(&cfg, &digits)?;
//! let first: Vec<u32> = (0..32).collect();
//! let loss = session.step(&digits, &first)?; // one optimizer step on 32 samples
//! assert!(loss.is_finite());
//!
//! let bytes = session.state.to_bytes()?;
//! let restored = TrainerState::from_bytes(std::path::Path::new("in-memory.ckpt"), &bytes)?;
//! assert_eq!(restored, session.state);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Quantize, fine-tune with the exact int8 forward, export
//!
//! Post-training quantization folds batch norm and calibrates the activation ranges
//! ([`quant::ptq`]); QAT steps ([`quant::qat`]) compute exactly the device's int8 outputs in the
//! forward pass; [`quant::export::device_blob`] writes what the core loads, and
//! [`quant::metrics::evaluate`] runs it through the core interpreter next to the trainer's
//! forward, byte for byte.
//!
//! ```
//! use exactq_trainer::cli::quantize::ptq;
//! use exactq_trainer::nn::optim::OptimizerConfig;
//! use exactq_trainer::quant::{export::device_blob, metrics::evaluate, ptq::PtqConfig, qat};
//! use exactq_trainer::train::{RunConfig, Session};
//! use exactq_trainer::{data, zoo::Arch};
//!
//! let digits = data::load("digits", None)?;
//! let cfg = RunConfig { arch: Arch::DigitsCnn, batch_size: 32, seed: 1, optimizer: OptimizerConfig::adam(2e-3), cosine_epochs: 0 };
//! let mut session = Session::new(&cfg, &digits)?;
//! for first in (0..256u32).collect::<Vec<_>>().chunks(32) {
//!     session.step(&digits, first)?; // a few float steps
//! }
//! // PTQ (TFLite per-channel weights, min-max ranges on 300 training samples).
//! let (mut state, ptq_eval) = ptq(&session.state, &digits, &PtqConfig::default())?;
//! assert_eq!(ptq_eval.parity_identical, ptq_eval.parity_total); // trainer == interpreter
//!
//! // One QAT step on 32 samples.
//! qat::begin(&mut state, &qat::QatConfig { lr: 1e-5, scale_lr: 1e-5, batch_size: 32, seed: 0 })?;
//! let loss = qat::step(&mut state, &digits, &(0..32).collect::<Vec<u32>>())?;
//! assert!(loss.is_finite());
//!
//! // The device blob, and the same bytes out of the interpreter and the trainer's forward.
//! let blob = device_blob(&state.model, &state.params)?;
//! let eval = evaluate(&state.model, &state.params, &blob, &digits.test, digits.task)?;
//! assert_eq!((eval.parity_identical, eval.parity_total, eval.mismatched_bytes), (357, 357, 0));
//! assert!(exactq_core::model::load(&exactq_core::model::aligned::AlignedBytes::copy_from(&blob)).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A report for a run directory
//!
//! [`report::write`] never fails on missing artefacts: it lists them on the page.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("exactq-doc-report-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let page = exactq_trainer::report::write(&dir)?;
//! assert!(std::fs::read_to_string(&page)?.contains("fp32.ckpt) missing"));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod import;
pub mod nn;
pub mod onnx;
pub mod quant;
pub mod report;
pub mod train;
pub mod vectors;
pub mod zoo;
