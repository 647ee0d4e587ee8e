//! `exactq report`: one self-contained `report.html` per run directory.
//!
//! The page holds inline SVG charts (plotters' SVG backend) and plain tables, with no script,
//! stylesheet, font or image fetched from anywhere, so it opens offline. Every section is
//! computed independently: an artefact that is missing or unreadable is listed at the top with
//! the reason, and the sections that need it say so, while the rest still render.
//!
//! The artefacts read from a run directory are described in `docs/report.md`:
//!
//! | file | what the report takes from it |
//! | --- | --- |
//! | [`QUANTIZED_CHECKPOINTS`] | the blob's own float network (folded weights after PTQ/QAT): reference of SQNR, clipping and sensitivity |
//! | [`FLOAT_CHECKPOINT`] | the FP32 network, used as reference when no quantized checkpoint is there; FP32 history |
//! | [`DEVICE_BLOB`] | per-layer scales and zero points, int8 outputs (core interpreter), sizes, MACs |
//! | [`HISTORY`] | FP32 and QAT curves per epoch |
//! | [`SUMMARY`] | key figures of the run, shown as a table |
//! | [`FIRMWARE`] | flash, RAM and instructions measured on the emulated Cortex-M ([`firmware`]), shown as this run's when an entry's model CRC-32 is the blob's ([`model_crc32`]) |
//!
//! `exactq run` writes the page into its run directory; `exactq eval FILE` and
//! `exactq finetune --out FILE` into `FILE`'s directory, read as a run directory with `FILE` in
//! the place of its kind of artefact ([`Options::for_file`]).

pub mod analysis;
pub mod charts;
pub mod firmware;
pub mod html;
pub mod metrics;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use exactq_core::model::container::{find_section, ContainerWriter, Sections, MODEL_TAG};

use crate::checkpoint::{container, TrainerState, TRNR};
use crate::data::{self, Dataset};
use crate::nn::{Graph, ParamStore};
use crate::quant::fold::fold_batch_norm;
use crate::quant::state::{QuantState, QUNT};

/// The FP32 training checkpoint (`TRNR` container), as `exactq run` writes it.
pub const FLOAT_CHECKPOINT: &str = "fp32.ckpt";
/// Quantized checkpoints (`QUNT` + `MODL`), the first one present is the blob's float network.
pub const QUANTIZED_CHECKPOINTS: [&str; 2] = ["qat.ckpt", "ptq.ckpt"];
/// The device blob (a container whose `MODL` section the core loads), as `exactq run` writes it.
pub const DEVICE_BLOB: &str = "model.qmod";
/// Per-epoch metrics of float training and QAT ([`History`]).
pub const HISTORY: &str = "history.json";
/// Key figures of the run: any flat JSON object.
pub const SUMMARY: &str = "summary.json";
/// Device figures from the firmware tests: any flat JSON object (see `docs/report.md`).
pub const FIRMWARE: &str = "firmware.json";
/// The page written into the run directory.
pub const REPORT: &str = "report.html";

/// Test samples analysed per layer by default (the first ones of the test split).
pub const DEFAULT_SAMPLES: usize = 500;

/// One finished epoch in `history.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochPoint {
    pub epoch: u32,
    pub train_loss: f32,
    /// Absent for QAT epochs.
    #[serde(default)]
    pub val_loss: Option<f32>,
    /// Validation accuracy or AUROC.
    pub val_metric: f32,
}

/// `history.json`: one record per finished epoch of each phase (`qat` absent or null when the
/// run did not fine-tune).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    pub fp32: Vec<EpochPoint>,
    #[serde(default)]
    pub qat: Option<Vec<EpochPoint>>,
}

/// The float network the per-layer analysis compares the blob against: batch norm folded.
#[derive(Clone, Debug)]
pub struct Reference {
    pub graph: Graph,
    pub params: ParamStore,
    pub input_shape: Vec<usize>,
    pub dataset: String,
    /// Which file it came from.
    pub source: PathBuf,
    /// Fine-tuning epochs recorded in a QAT checkpoint.
    pub qat_history: Vec<EpochPoint>,
}

impl Reference {
    /// The float network stored in a quantized checkpoint (already folded).
    pub fn from_quantized(path: &Path) -> anyhow::Result<Reference> {
        let s = QuantState::load(path)?;
        let qat_history = s
            .qat
            .as_ref()
            .map(|q| q.history.iter().map(|e| EpochPoint { epoch: e.epoch, train_loss: e.train_loss, val_loss: None, val_metric: e.val_metric }).collect())
            .unwrap_or_default();
        Ok(Reference { input_shape: s.arch.input_shape(), graph: s.graph, params: s.params, dataset: s.dataset, source: path.to_path_buf(), qat_history })
    }

    /// The FP32 network of a training checkpoint, batch norm folded.
    pub fn from_float(state: &TrainerState, path: &Path) -> anyhow::Result<Reference> {
        let folded = fold_batch_norm(&state.graph, &state.params)?;
        Ok(Reference {
            graph: folded.graph,
            params: folded.params,
            input_shape: state.arch.input_shape(),
            dataset: state.hyper.dataset.clone(),
            source: path.to_path_buf(),
            qat_history: Vec::new(),
        })
    }
}

/// Where the artefacts are, and how much to analyse.
#[derive(Clone, Debug)]
pub struct Options {
    pub run_dir: PathBuf,
    pub float_checkpoint: PathBuf,
    /// Quantized checkpoints to try, in order, for the blob's float network.
    pub quantized_checkpoints: Vec<PathBuf>,
    pub blob: PathBuf,
    pub history: PathBuf,
    pub summary: PathBuf,
    pub firmware: PathBuf,
    /// Test samples to analyse (sensitivity runs the network once per layer on them).
    pub samples: usize,
    /// Dataset directory (else the trainer's usual search path).
    pub data_dir: Option<PathBuf>,
    /// Where the page goes.
    pub out: PathBuf,
}

impl Options {
    /// The standard file names inside `run_dir`.
    pub fn for_run_dir(run_dir: &Path) -> Options {
        Options {
            run_dir: run_dir.to_path_buf(),
            float_checkpoint: run_dir.join(FLOAT_CHECKPOINT),
            quantized_checkpoints: QUANTIZED_CHECKPOINTS.iter().map(|f| run_dir.join(f)).collect(),
            blob: run_dir.join(DEVICE_BLOB),
            history: run_dir.join(HISTORY),
            summary: run_dir.join(SUMMARY),
            firmware: run_dir.join(FIRMWARE),
            samples: DEFAULT_SAMPLES,
            data_dir: None,
            out: run_dir.join(REPORT),
        }
    }
}

/// What kind of exactq file a path holds (by its container sections).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A training checkpoint (`TRNR`).
    Float,
    /// A PTQ or QAT checkpoint (`QUNT` + `MODL`).
    Quantized,
    /// A device blob (`MODL` only).
    Blob,
}

impl FileKind {
    /// Reads the container's section tags; an error when `path` is no exactq file.
    pub fn of(path: &Path) -> anyhow::Result<FileKind> {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let sections = container::decode(path, &bytes)?;
        let has = |tag: [u8; 4]| sections.iter().any(|s| s.tag == tag);
        if has(QUNT) {
            Ok(FileKind::Quantized)
        } else if has(TRNR) {
            Ok(FileKind::Float)
        } else if has(MODEL_TAG) {
            Ok(FileKind::Blob)
        } else {
            anyhow::bail!("{}: neither a checkpoint nor a device blob", path.display())
        }
    }
}

impl Options {
    /// The report `exactq eval FILE` and `exactq finetune --out FILE` write: `report.html` in
    /// the file's directory, read as a run directory (its other standard artefacts are used when
    /// present, listed as missing otherwise), with `file` taking the place of the artefact of its
    /// kind. A quantized checkpoint is both the float reference and the blob (its own `MODL`
    /// section, exactly what `exactq export` writes for it), so the per-layer figures are about
    /// that checkpoint even when an older `model.qmod` sits next to it.
    pub fn for_file(file: &Path, kind: FileKind) -> Options {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut opts = Options::for_run_dir(&dir);
        match kind {
            FileKind::Float => opts.float_checkpoint = file.to_path_buf(),
            FileKind::Quantized => {
                opts.quantized_checkpoints = vec![file.to_path_buf()];
                opts.blob = file.to_path_buf();
            }
            FileKind::Blob => opts.blob = file.to_path_buf(),
        }
        opts
    }
}

/// The device blob held in `bytes`: a blob as it is, or the `MODL` section of a quantized
/// checkpoint alone in a container, byte for byte what `exactq export` writes for it.
pub fn device_blob_of(bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let core = |what: &'static str| move |e: exactq_core::Error| anyhow::anyhow!("{what}: {e}");
    let mut only_model = true;
    for section in Sections::new(&bytes).map_err(core("reading the container"))? {
        only_model &= section.map_err(core("reading the container"))?.tag == MODEL_TAG;
    }
    if only_model {
        return Ok(bytes);
    }
    let model = find_section(&bytes, MODEL_TAG).map_err(core("the MODL section"))?;
    let mut writer = ContainerWriter::new();
    writer.section(MODEL_TAG, model.payload).map_err(core("re-wrapping the model"))?;
    writer.finish().map_err(core("re-wrapping the model"))
}

/// The CRC-32 stored for the model (the blob's `MODL` section): the same for a quantized
/// checkpoint and the blob exported from it. `firmware.json` names the model it measured by it.
pub fn model_crc32(blob: &[u8]) -> anyhow::Result<u32> {
    find_section(blob, MODEL_TAG).map(|s| s.crc).map_err(|e| anyhow::anyhow!("the MODL section: {e}"))
}

/// One artefact: found, missing or unreadable.
#[derive(Clone, Debug)]
pub struct ArtefactStatus {
    pub name: String,
    pub path: PathBuf,
    /// `None` when it was read; else why not.
    pub problem: Option<String>,
}

/// Everything the page shows. Each part is `Err(reason)` when it could not be computed.
pub struct Report {
    pub title: String,
    pub artefacts: Vec<ArtefactStatus>,
    pub summary: Result<Vec<(String, String)>, String>,
    pub history: Result<History, String>,
    pub analysis: Result<analysis::LayerAnalysis, String>,
    pub blob: Result<analysis::BlobSummary, String>,
    pub firmware: Result<firmware::DeviceFigures, String>,
    /// CRC-32 of the blob's model (its `MODL` section): finds its entry in `firmware.json`.
    pub model_crc32: Option<u32>,
    /// Path of the analysed blob (for the firmware-test command the page suggests).
    pub blob_path: PathBuf,
    /// Where `firmware.json` is expected.
    pub firmware_path: PathBuf,
    pub dataset: Option<String>,
    /// Where the float reference came from.
    pub reference: Option<PathBuf>,
}

fn read_artefact<T>(statuses: &mut Vec<ArtefactStatus>, name: &str, path: &Path, parse: impl FnOnce(&Path) -> anyhow::Result<T>) -> Result<T, String> {
    let result = if path.exists() { parse(path).map_err(|e| format!("unreadable: {e:#}")) } else { Err("missing".to_string()) };
    statuses.push(ArtefactStatus { name: name.to_string(), path: path.to_path_buf(), problem: result.as_ref().err().cloned() });
    result.map_err(|why| format!("{} ({}) {why}", name, path.display()))
}

fn flat_json(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let obj = value.as_object().ok_or_else(|| anyhow::anyhow!("expected a JSON object"))?;
    let mut rows = Vec::new();
    flatten("", obj, &mut rows);
    Ok(rows)
}

/// A JSON value other than an object as table text: strings bare, `null` as "—".
fn scalar_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".to_string(),
        other => other.to_string(),
    }
}

/// Rows `(a.b, text)` of a JSON object, nested objects flattened.
fn flatten(prefix: &str, obj: &serde_json::Map<String, serde_json::Value>, rows: &mut Vec<(String, String)>) {
    for (k, v) in obj {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            serde_json::Value::Object(inner) => flatten(&key, inner, rows),
            other => rows.push((key, scalar_text(other))),
        }
    }
}

/// Computes every section that the artefacts allow.
pub fn build(opts: &Options) -> Report {
    let mut artefacts = Vec::new();
    let float = read_artefact(&mut artefacts, "FP32 checkpoint", &opts.float_checkpoint, |p| Ok(TrainerState::load(p)?));
    // The first quantized checkpoint present is the blob's float network (reported missing under
    // the first name when none is there).
    let quantized = match opts.quantized_checkpoints.iter().find(|p| p.exists()).or(opts.quantized_checkpoints.first()) {
        Some(path) => read_artefact(&mut artefacts, "quantized checkpoint", path, Reference::from_quantized),
        None => Err("no quantized checkpoint configured".to_string()),
    };
    let blob_bytes = read_artefact(&mut artefacts, "device blob", &opts.blob, |p| {
        let bytes = device_blob_of(std::fs::read(p)?)?;
        let summary = analysis::summarize_blob(&bytes)?;
        Ok((bytes, summary))
    });
    let history_file = read_artefact(&mut artefacts, "metrics history", &opts.history, |p| Ok(serde_json::from_str::<History>(&std::fs::read_to_string(p)?)?));
    let summary = read_artefact(&mut artefacts, "run summary", &opts.summary, flat_json);
    let firmware = read_artefact(&mut artefacts, "firmware figures", &opts.firmware, firmware::read);

    let reference = match (quantized, &float) {
        (Ok(r), _) => Ok(r),
        (Err(_), Ok(state)) => Reference::from_float(state, &opts.float_checkpoint).map_err(|e| format!("folding the FP32 network: {e:#}")),
        (Err(q), Err(f)) => Err(format!("{q}; {f}")),
    };
    // Curves: history.json, else the histories inside the FP32 and QAT checkpoints.
    let fp32_records: Vec<EpochPoint> = float
        .as_ref()
        .map(|state| state.history.iter().map(|r| EpochPoint { epoch: r.epoch, train_loss: r.train_loss, val_loss: Some(r.val_loss), val_metric: r.val_metric }).collect())
        .unwrap_or_default();
    let qat_records = reference.as_ref().map(|r| r.qat_history.clone()).unwrap_or_default();
    let history = match &history_file {
        // The reference's own QAT epochs describe the analysed network; history.json may be an
        // older run's when the reference is another checkpoint of the directory.
        Ok(h) if !qat_records.is_empty() => Ok(History { fp32: h.fp32.clone(), qat: Some(qat_records.clone()) }),
        Ok(h) => Ok(h.clone()),
        Err(_) if !fp32_records.is_empty() || !qat_records.is_empty() => {
            Ok(History { fp32: fp32_records, qat: if qat_records.is_empty() { None } else { Some(qat_records) } })
        }
        Err(why) => Err(why.clone()),
    };
    let dataset: Result<Dataset, String> = match &reference {
        Ok(r) => data::load(&r.dataset, opts.data_dir.as_deref()).map_err(|e| format!("dataset `{}`: {e}", r.dataset)),
        Err(why) => Err(why.clone()),
    };
    let analysis = match (&blob_bytes, &reference, &dataset) {
        (Ok((bytes, summary)), Ok(r), Ok(data)) => {
            analysis::analyse(bytes, summary, r, &data.test, data.task, opts.samples).map_err(|e| format!("per-layer analysis failed: {e:#}"))
        }
        (b, r, d) => Err([b.as_ref().err(), r.as_ref().err(), d.as_ref().err()].into_iter().flatten().cloned().collect::<Vec<_>>().join("; ")),
    };
    // `.` (a checkpoint given without a directory) is titled by the directory's real name.
    let title = opts
        .run_dir
        .canonicalize()
        .ok()
        .as_deref()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| opts.run_dir.display().to_string());
    Report {
        title,
        artefacts,
        summary,
        history,
        analysis,
        model_crc32: blob_bytes.as_ref().ok().and_then(|(b, _)| model_crc32(b).ok()),
        blob: blob_bytes.map(|(_, s)| s),
        firmware,
        blob_path: opts.blob.clone(),
        firmware_path: opts.firmware.clone(),
        dataset: reference.as_ref().ok().map(|r| r.dataset.clone()),
        reference: reference.as_ref().ok().map(|r| r.source.clone()),
    }
}

/// Writes `report.html` into `run_dir` and returns its path. Missing artefacts are reported
/// on the page, never as an error; only an unwritable run directory fails.
pub fn write(run_dir: &Path) -> anyhow::Result<PathBuf> {
    write_with(&Options::for_run_dir(run_dir))
}

/// [`write`] with explicit artefact paths and settings.
pub fn write_with(opts: &Options) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(opts.run_dir.is_dir(), "{}: not a directory", opts.run_dir.display());
    write_report(opts, &build(opts))
}

/// Renders an already built report to `opts.out` (atomically: temporary file, then rename).
pub fn write_report(opts: &Options, report: &Report) -> anyhow::Result<PathBuf> {
    let page = html::render(report);
    let tmp = opts.out.with_extension("html.tmp");
    std::fs::write(&tmp, page).map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &opts.out).map_err(|e| anyhow::anyhow!("{}: {e}", opts.out.display()))?;
    Ok(opts.out.clone())
}
