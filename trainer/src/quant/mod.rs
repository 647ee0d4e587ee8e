//! Post-training quantization and bit-exact quantization-aware fine-tuning.
//!
//! The flow (NNCF's, in Rust): [`fold`] batch norm into the preceding conv/linear layer,
//! describe the deployable integer network ([`qgraph`]), [`calibrate`] its activation ranges on
//! training samples with a [`range`] estimator, then fine-tune with the exact quantized
//! forward ([`exact`]) whose backward is the straight-through estimator with learned step
//! sizes ([`lsq`]). No integer arithmetic is written here: every quantize, requantize and
//! kernel call goes to `exactq_core`.

pub mod device;
pub mod exact;
pub mod export;
pub mod fold;
pub mod kernels;
pub mod lsq;
pub mod ptq;
pub mod qmodel;
pub mod range;
pub mod state;
pub mod qat;
pub mod metrics;

use crate::nn::NnError;

/// What went wrong while quantizing. Every variant is bad input or an unsupported network,
/// reported to the user (the CLI exits with status 2).
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error(transparent)]
    Nn(#[from] NnError),
    #[error("unsupported for quantization: {0}")]
    Unsupported(String),
    #[error("calibration set has {available} samples, {requested} requested")]
    CalibrationTooSmall { available: usize, requested: usize },
    #[error("tensor `{tensor}` is constant zero on the calibration set (zero range): no int8 scale can represent it; check the data or the network (dead ReLU?)")]
    ZeroRange { tensor: String },
    #[error("non-finite value (NaN or Inf) in {0}")]
    NonFinite(String),
    #[error("core arithmetic refused {what}: {reason}")]
    Core { what: String, reason: String },
    #[error("wrong checkpoint: {0}")]
    WrongStage(String),
    #[error("{0}")]
    Invalid(String),
}
