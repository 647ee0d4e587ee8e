//! UCR-format TSV (`label \t x1 \t ... \t xT` per line, gzip or not) and ECG5000 splits.
//!
//! ECG5000 is used for anomaly detection: an autoencoder trains on normal beats (label 1) and
//! is scored by reconstruction error. The anchor split (`anchor-split/train_idx.txt`,
//! `test_idx.txt`, indices into the pooled TRAIN+TEST rows) is used when present; otherwise a
//! seeded split takes 80 % of the normal beats for training.

use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::{carve_validation, locate, permutation, read_maybe_gz, DataError, Dataset, Split, Task, SPLIT_SEED};

/// Parses a UCR TSV file; every row must have `1 + length` fields.
pub fn parse_tsv(path: &Path, bytes: &[u8]) -> Result<(Split, usize), DataError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DataError::Format { path: path.to_path_buf(), reason: "not UTF-8 text".into() })?;
    let mut split = Split::default();
    let mut length = None;
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |reason: String| DataError::Format { path: path.to_path_buf(), reason: format!("line {}: {reason}", line_no + 1) };
        let fields: Vec<&str> = line.split('\t').collect();
        let len = fields.len() - 1;
        if *length.get_or_insert(len) != len || len == 0 {
            return Err(bad(format!("{len} values, earlier rows have {}", length.unwrap_or(0))));
        }
        let label: f32 = fields[0].trim().parse().map_err(|_| bad(format!("label `{}` is not a number", fields[0])))?;
        if label < 0.0 || label.fract() != 0.0 {
            return Err(bad(format!("label `{}` is not a class number", fields[0])));
        }
        split.y.push(label as u32);
        for f in &fields[1..] {
            let v: f32 = f.trim().parse().map_err(|_| bad(format!("value `{f}` is not a number")))?;
            if !v.is_finite() {
                return Err(bad(format!("value `{f}` is not finite")));
            }
            split.x.push(v);
        }
    }
    let length = length.ok_or_else(|| DataError::Format { path: path.to_path_buf(), reason: "no rows".into() })?;
    Ok((split, length))
}

fn read_indices(path: &Path, n: usize) -> Result<Vec<usize>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    text.split_whitespace()
        .map(|t| match t.parse::<usize>() {
            Ok(i) if i < n => Ok(i),
            _ => Err(DataError::Format { path: path.to_path_buf(), reason: format!("`{t}` is not a row index below {n}") }),
        })
        .collect()
}

/// ECG5000: train on normal beats, test on the held-out normals and every anomaly.
pub fn load_ecg5000(dirs: &[PathBuf]) -> Result<Dataset, DataError> {
    let train_path = locate::find("ecg5000", dirs, &["ECG5000_TRAIN.tsv"])?;
    let test_path = locate::find("ecg5000", dirs, &["ECG5000_TEST.tsv"])?;
    let (mut pooled, length) = parse_tsv(&train_path, &read_maybe_gz(&train_path)?)?;
    let (test_part, test_length) = parse_tsv(&test_path, &read_maybe_gz(&test_path)?)?;
    if test_length != length {
        return Err(DataError::Format { path: test_path, reason: format!("rows of {test_length} values, the training file has {length}") });
    }
    pooled.x.extend(test_part.x);
    pooled.y.extend(test_part.y);
    let n = pooled.len();
    let anchor = train_path.parent().map(|p| p.join("anchor-split")).filter(|d| d.is_dir()).or_else(|| locate::find_dir("ecg5000", dirs, "anchor-split"));
    let (train_idx, test_idx) = match anchor {
        Some(dir) => (read_indices(&dir.join("train_idx.txt"), n)?, read_indices(&dir.join("test_idx.txt"), n)?),
        None => {
            let normals: Vec<usize> = (0..n).filter(|&i| pooled.y[i] == 1).collect();
            let order = permutation(normals.len(), &mut ChaCha8Rng::seed_from_u64(SPLIT_SEED));
            let cut = normals.len() * 4 / 5;
            let train: Vec<usize> = order[..cut].iter().map(|&k| normals[k]).collect();
            let mut in_train = vec![false; n];
            train.iter().for_each(|&i| in_train[i] = true);
            (train, (0..n).filter(|&i| !in_train[i]).collect())
        }
    };
    let train = pooled.gather(&train_idx);
    let test = pooled.gather(&test_idx);
    let (train, val) = carve_validation(train, train_idx.len() / 10, SPLIT_SEED);
    Ok(Dataset {
        name: "ecg5000".into(),
        sample_shape: vec![length],
        task: Task::Reconstruct,
        train,
        val,
        test,
        source: train_path.parent().map(|p| p.display().to_string()).unwrap_or_default(),
    })
}
