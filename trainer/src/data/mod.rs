//! Datasets: IDX (MNIST, Fashion-MNIST), the embedded UCI digits CSV and UCR TSV (ECG5000).
//!
//! Every dataset comes out as three splits of flat f32 samples: `train`, `val` (carved from
//! the training data with a seeded shuffle, for every tuning decision) and `test` (reported
//! once).

pub mod digits;
pub mod idx;
pub mod locate;
pub mod ucr;

use std::path::PathBuf;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// Names accepted by `--dataset`.
pub const DATASET_NAMES: &[&str] = &["digits", "fashion-mnist", "mnist", "ecg5000"];

/// What went wrong while loading data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("dataset `{dataset}`: file `{file}` not found; looked in: {searched}. Pass --data-dir or set EXACTQ_DATA")]
    NotFound { dataset: String, file: String, searched: String },
    #[error("unknown dataset `{0}` (known: digits, fashion-mnist, mnist, ecg5000)")]
    Unknown(String),
}

/// What the labels mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    /// `y` is the class; the metric is accuracy.
    Classify { classes: usize },
    /// The target is the input; `y` is the original label (1 = normal) for anomaly AUROC.
    Reconstruct,
}

/// Samples of one split: `x` holds `len` samples of `sample_len` values each.
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub x: Vec<f32>,
    pub y: Vec<u32>,
}

impl Split {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The samples at `indices`, in that order.
    pub fn gather(&self, indices: &[usize]) -> Split {
        let d = self.x.len() / self.len().max(1);
        let mut x = Vec::with_capacity(indices.len() * d);
        for &i in indices {
            x.extend_from_slice(&self.x[i * d..(i + 1) * d]);
        }
        Split { x, y: indices.iter().map(|&i| self.y[i]).collect() }
    }
}

/// A dataset ready for training.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub name: String,
    /// Per-sample shape (`[h, w, c]` or `[features]`).
    pub sample_shape: Vec<usize>,
    pub task: Task,
    pub train: Split,
    pub val: Split,
    pub test: Split,
    /// Where the data came from (file or "embedded").
    pub source: String,
}

impl Dataset {
    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }
}

/// `n` synthetic 28x28x1 images with Fashion-MNIST's name, shape and ten classes (pixel
/// values from a fixed hash, labels cycling), for throughput measurements that must not
/// depend on the data files; every split is the same images.
pub fn synthetic_fashion(n: usize) -> Dataset {
    let x = (0..n * 784).map(|i| ((i * 2654435761usize) % 255) as f32 / 255.0).collect();
    let y = (0..n).map(|i| (i % 10) as u32).collect();
    let train = Split { x, y };
    Dataset {
        name: "fashion-mnist".into(),
        sample_shape: vec![28, 28, 1],
        task: Task::Classify { classes: 10 },
        val: train.clone(),
        test: train.clone(),
        train,
        source: "synthetic".into(),
    }
}

/// A seeded permutation of `0..n` (Fisher-Yates with ChaCha8).
pub fn permutation(n: usize, rng: &mut impl RngCore) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// Splits `train` into (train, val) with a seeded shuffle; `val_len` samples go to val.
pub fn carve_validation(train: Split, val_len: usize, seed: u64) -> (Split, Split) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let order = permutation(train.len(), &mut rng);
    let val_len = val_len.min(train.len());
    let (val_idx, train_idx) = order.split_at(val_len);
    let mut train_idx = train_idx.to_vec();
    let mut val_idx = val_idx.to_vec();
    // Keep file order inside each part: the shuffle only decides membership.
    train_idx.sort_unstable();
    val_idx.sort_unstable();
    (train.gather(&train_idx), train.gather(&val_idx))
}

/// Seed of the validation split (fixed, so every run and `eval` sees the same split).
pub const SPLIT_SEED: u64 = 0x5eed_da7a;

/// Loads dataset `name`, searching the data directories given by [`locate::search_dirs`].
pub fn load(name: &str, data_dir: Option<&std::path::Path>) -> Result<Dataset, DataError> {
    let dirs = locate::search_dirs(data_dir);
    match name {
        "digits" => digits::load(&locate::user_dirs(data_dir)),
        "fashion-mnist" => idx::load_mnist_like("fashion-mnist", &dirs, 0.2860, 0.3530),
        "mnist" => idx::load_mnist_like("mnist", &dirs, 0.1307, 0.3081),
        "ecg5000" => ucr::load_ecg5000(&dirs),
        other => Err(DataError::Unknown(other.to_string())),
    }
}

/// Reads a whole file, decompressing it when it is gzip (by its magic bytes).
pub fn read_maybe_gz(path: &std::path::Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    gunzip_if_needed(path, raw)
}

/// Decompresses `raw` when it starts with the gzip magic.
pub fn gunzip_if_needed(path: &std::path::Path, raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut out).map_err(|e| DataError::Format {
            path: path.to_path_buf(),
            reason: format!("corrupt or truncated gzip data: {e}"),
        })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}
