//! Training checkpoints: an EXQF container whose `TRNR` section is a postcard-encoded
//! [`TrainerState`]: everything needed to resume training bit-exactly.

pub mod container;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::nn::optim::Optimizer;
use crate::nn::{Graph, ParamStore};
use crate::zoo::Arch;
use container::Section;

/// Tag of the trainer state section.
pub const TRNR: [u8; 4] = *b"TRNR";
/// Version of the `TRNR` payload layout; bump on any change to [`TrainerState`].
pub const TRNR_VERSION: u32 = 1;

/// What went wrong reading or writing a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: corrupt checkpoint: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: {what} version {found}, this exactq reads version {supported}")]
    Version { path: PathBuf, what: &'static str, found: u32, supported: u32 },
    #[error("{path}: no `{tag}` section (not a training checkpoint)")]
    MissingSection { path: PathBuf, tag: String },
    #[error("{path}: checkpoint is for model `{found}`, but `{expected}` was requested")]
    OtherModel { path: PathBuf, found: String, expected: String },
    #[error("invalid checkpoint: {0}")]
    Invalid(String),
}

/// The seeded generator's position: ChaCha8 key, stream and word position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: [u8; 32],
    pub stream: u64,
    pub word_pos: u128,
}

/// Hyper-parameters fixed at the start of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    pub dataset: String,
    pub batch_size: u32,
    pub seed: u64,
    /// Cosine learning-rate decay to 0 over this many epochs (0 = constant rate).
    pub cosine_epochs: u32,
}

/// Where training stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Completed epochs.
    pub epoch: u32,
    /// Optimizer steps taken.
    pub step: u64,
    /// The current epoch's sample order (empty between epochs) and the next batch in it.
    pub order: Vec<u32>,
    pub next_batch: u32,
}

/// Metrics of one finished epoch (no wall-clock times: checkpoints must be reproducible).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: u32,
    pub train_loss: f32,
    pub val_loss: f32,
    /// Accuracy (classification) or AUROC (reconstruction) on the validation split.
    pub val_metric: f32,
}

/// Everything a run needs to continue exactly where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    pub version: u32,
    pub arch: Arch,
    /// The graph the parameters belong to (engine-agnostic; also read by `inspect`).
    pub graph: Graph,
    pub params: ParamStore,
    pub optimizer: Optimizer,
    pub hyper: Hyper,
    pub progress: Progress,
    pub rng: RngState,
    pub history: Vec<EpochRecord>,
}

impl TrainerState {
    /// The container bytes of this state (a single `TRNR` section).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        let payload = postcard::to_allocvec(self).map_err(|e| CheckpointError::Invalid(format!("encoding: {e}")))?;
        container::encode(&[Section { tag: TRNR, payload }])
    }

    /// Parses and validates container bytes read from `path`.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, CheckpointError> {
        let sections = container::decode(path, bytes)?;
        let trnr = sections
            .iter()
            .find(|s| s.tag == TRNR)
            .ok_or_else(|| CheckpointError::MissingSection { path: path.to_path_buf(), tag: "TRNR".into() })?;
        // The version is the payload's first field: check it before decoding the rest.
        let (version, _) = postcard::take_from_bytes::<u32>(&trnr.payload)
            .map_err(|e| CheckpointError::Corrupt { path: path.to_path_buf(), reason: format!("TRNR payload: {e}") })?;
        if version != TRNR_VERSION {
            return Err(CheckpointError::Version { path: path.to_path_buf(), what: "trainer state (TRNR)", found: version, supported: TRNR_VERSION });
        }
        let state: TrainerState = postcard::from_bytes(&trnr.payload)
            .map_err(|e| CheckpointError::Corrupt { path: path.to_path_buf(), reason: format!("TRNR payload: {e}") })?;
        if state.graph != state.arch.graph() {
            return Err(CheckpointError::Corrupt { path: path.to_path_buf(), reason: format!("graph does not match architecture `{}`", state.arch.name()) });
        }
        state
            .params
            .check_matches(&state.graph)
            .map_err(|e| CheckpointError::Corrupt { path: path.to_path_buf(), reason: e.to_string() })?;
        Ok(state)
    }

    /// Writes the checkpoint atomically.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        container::write_atomic(path, &self.to_bytes()?)
    }

    /// Reads and validates a checkpoint.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(path, &bytes)
    }
}
