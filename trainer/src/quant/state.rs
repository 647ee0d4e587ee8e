//! Quantized checkpoints: an EXQF container with a `QUNT` section (postcard [`QuantState`]:
//! folded network, quantizer state, and for QAT the optimizer, data order and RNG state) and a
//! `MODL` section holding the deployable network, so the core loads a checkpoint directly.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkpoint::container::{self, Section};
use crate::checkpoint::{CheckpointError, RngState, TRNR};
use crate::nn::optim::Optimizer;
use crate::nn::{Graph, ParamStore};
use crate::zoo::Arch;

use super::export::model_payload;
use super::ptq::PtqConfig;
use super::qmodel::{ProfileName, QuantModel};
use super::QuantError;

/// Tag of the quantizer state section.
pub const QUNT: [u8; 4] = *b"QUNT";
/// Tag of the device model section (the core's).
pub const MODL: [u8; 4] = *b"MODL";
/// Newest version of the `QUNT` payload (bump on any change to [`QuantState`]); this exactq
/// reads every version from 1 to this one. Each checkpoint is written with the oldest version
/// that can hold it ([`QuantState::required_version`]), so older exactq builds keep reading
/// what they understand and refuse the rest with a version message instead of a decode error.
///
/// - 1: profiles `tflite-double`, `tflite-single`.
/// - 2: adds the `float-requant` profile (`ProfileName::FloatRequant`, variant index 2; the
///   encoding of everything else is unchanged, so a version-1 payload is a valid version 2).
pub const QUNT_VERSION: u32 = 2;

/// Which step of the flow produced a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    Ptq,
    Qat,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ptq => "ptq",
            Stage::Qat => "qat",
        }
    }
}

/// One fine-tuning epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QatEpoch {
    pub epoch: u32,
    pub train_loss: f32,
    /// Validation accuracy or AUROC of the integer network.
    pub val_metric: f32,
    pub seconds: f64,
}

/// Fine-tuning progress: everything needed to continue bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QatState {
    pub batch_size: u32,
    pub seed: u64,
    /// Adam over the folded weights and biases.
    pub weights_opt: Optimizer,
    /// Adam over the learned step sizes.
    pub scales_opt: Optimizer,
    pub epoch: u32,
    pub step: u64,
    pub rng: RngState,
    pub history: Vec<QatEpoch>,
}

/// A quantized network and how it came to be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantState {
    pub version: u32,
    pub stage: Stage,
    pub arch: Arch,
    pub dataset: String,
    pub ptq: PtqConfig,
    /// The batch-norm-folded float network.
    pub graph: Graph,
    pub params: ParamStore,
    pub model: QuantModel,
    /// Test metric of the float network the PTQ started from.
    pub fp32_metric: f32,
    pub qat: Option<QatState>,
}

impl QuantState {
    /// The oldest `QUNT` version that can hold this state (see [`QUNT_VERSION`]).
    pub fn required_version(&self) -> u32 {
        let float = |p: ProfileName| p == ProfileName::FloatRequant;
        if float(self.model.profile) || float(self.ptq.profile) {
            2
        } else {
            1
        }
    }

    /// The checkpoint bytes: `QUNT` (written as [`Self::required_version`]) then `MODL`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, QuantError> {
        let mut versioned = self.clone();
        versioned.version = self.required_version();
        let payload = postcard::to_allocvec(&versioned).map_err(|e| QuantError::Invalid(format!("encoding QUNT: {e}")))?;
        let (model, _) = model_payload(&self.model, &self.params)?;
        container::encode(&[Section { tag: QUNT, payload }, Section { tag: MODL, payload: model }]).map_err(|e| QuantError::Invalid(e.to_string()))
    }

    /// Writes the checkpoint atomically; refuses to replace an existing file unless `force`.
    pub fn save(&self, path: &Path, force: bool) -> Result<(), QuantError> {
        refuse_overwrite(path, force)?;
        container::write_atomic(path, &self.to_bytes()?).map_err(|e| QuantError::Invalid(e.to_string()))
    }

    /// Reads a quantized checkpoint, with a clear error for float checkpoints and blobs.
    pub fn load(path: &Path) -> Result<QuantState, QuantError> {
        let bytes = std::fs::read(path).map_err(|e| QuantError::Invalid(format!("{}: {e}", path.display())))?;
        let sections = container::decode(path, &bytes).map_err(|e| QuantError::Invalid(e.to_string()))?;
        let Some(q) = sections.iter().find(|s| s.tag == QUNT) else {
            let what = if sections.iter().any(|s| s.tag == TRNR) {
                "a float (fp32) training checkpoint; run `exactq quantize` on it first"
            } else if sections.iter().any(|s| s.tag == MODL) {
                "a device blob without quantizer state (of the blob readers, `exactq eval` and `exactq export --format onnx` take it)"
            } else {
                "not an exactq checkpoint"
            };
            return Err(QuantError::WrongStage(format!("{}: {what}", path.display())));
        };
        let (version, _) = postcard::take_from_bytes::<u32>(&q.payload).map_err(|e| QuantError::Invalid(format!("{}: QUNT payload: {e}", path.display())))?;
        if !(1..=QUNT_VERSION).contains(&version) {
            let newer = if version > QUNT_VERSION { " (written by a newer exactq; update exactq to read it)" } else { "" };
            return Err(QuantError::Invalid(format!(
                "{}: quantizer state version {version}, this exactq reads versions 1 to {QUNT_VERSION}{newer}",
                path.display()
            )));
        }
        let s: QuantState = postcard::from_bytes(&q.payload).map_err(|e| QuantError::Invalid(format!("{}: QUNT payload: {e}", path.display())))?;
        if s.required_version() > version {
            return Err(QuantError::Invalid(format!(
                "{}: quantizer state version {version} cannot hold profile {} (corrupt checkpoint)",
                path.display(),
                s.model.profile.as_str()
            )));
        }
        s.params.check_matches(&s.graph).map_err(|e| QuantError::Invalid(format!("{}: {e}", path.display())))?;
        // The integer description must be the one the folded graph gives.
        let expect = QuantModel::describe(&s.graph, s.model.profile)?;
        let names = |m: &QuantModel| m.scales.params.iter().map(|p| (p.name.clone(), p.shape.clone())).collect::<Vec<_>>();
        if expect.layers != s.model.layers || expect.tensors != s.model.tensors || names(&expect) != names(&s.model) {
            return Err(QuantError::Invalid(format!("{}: quantizer state does not match its network", path.display())));
        }
        Ok(s)
    }
}

/// Error unless the directory of `path` exists and `path` is free or `force` is given.
pub fn refuse_overwrite(path: &Path, force: bool) -> Result<(), QuantError> {
    crate::checkpoint::container::check_output_dir(path).map_err(QuantError::Invalid)?;
    if !force && path.exists() {
        return Err(QuantError::Invalid(format!("{} exists; pass --force to overwrite it", path.display())));
    }
    Ok(())
}

/// Kept for `CheckpointError` conversions in callers.
pub fn checkpoint_error(e: CheckpointError) -> QuantError {
    QuantError::Invalid(e.to_string())
}
