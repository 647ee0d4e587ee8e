//! The UCI optical digits (8x8, values 0..16), embedded in the binary. Split as the published
//! anchors: a fixed permutation whose first 1,440 rows train and last 357 test.

use std::path::{Path, PathBuf};

use super::{carve_validation, gunzip_if_needed, locate, read_maybe_gz, DataError, Dataset, Split, Task, SPLIT_SEED};

/// `digits.csv.gz` (CC BY 4.0, Alpaydin & Kaynak via UCI; see `trainer/data/README.md`).
pub const EMBEDDED_CSV_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");
/// The anchors' row permutation (one index per line).
pub const EMBEDDED_PERM: &str = include_str!("../../data/digits-anchor-perm.txt");
/// Training rows of the anchor split.
pub const TRAIN_ROWS: usize = 1440;

/// Parses the CSV: 64 pixel counts (0..16) and a label (0..9) per line; pixels scaled by 1/16.
pub fn parse_csv(path: &Path, text: &[u8]) -> Result<Split, DataError> {
    let text = std::str::from_utf8(text).map_err(|_| DataError::Format { path: path.to_path_buf(), reason: "not UTF-8 text".into() })?;
    let mut split = Split::default();
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |reason: String| DataError::Format { path: path.to_path_buf(), reason: format!("line {}: {reason}", line_no + 1) };
        let fields: Vec<&str> = line.trim().split(',').collect();
        if fields.len() != 65 {
            return Err(bad(format!("{} fields, expected 65", fields.len())));
        }
        for (i, f) in fields.iter().enumerate() {
            let v: u32 = f.trim().parse().map_err(|_| bad(format!("field {} `{f}` is not an integer", i + 1)))?;
            if i < 64 {
                if v > 16 {
                    return Err(bad(format!("pixel {} = {v} outside 0..16", i + 1)));
                }
                split.x.push(v as f32 / 16.0);
            } else if v > 9 {
                return Err(bad(format!("label {v} outside 0..9")));
            } else {
                split.y.push(v);
            }
        }
    }
    Ok(split)
}

/// Parses the permutation file and checks it is a permutation of `0..n`.
pub fn parse_perm(path: &Path, text: &str, n: usize) -> Result<Vec<usize>, DataError> {
    let bad = |reason: String| DataError::Format { path: path.to_path_buf(), reason };
    let perm: Vec<usize> = text
        .split_whitespace()
        .map(|t| t.parse().map_err(|_| bad(format!("`{t}` is not an index"))))
        .collect::<Result<_, _>>()?;
    let mut seen = vec![false; n];
    for &i in &perm {
        if i >= n || std::mem::replace(&mut seen[i], true) {
            return Err(bad(format!("index {i} repeated or outside 0..{n}")));
        }
    }
    if perm.len() != n {
        return Err(bad(format!("{} indices for {n} rows", perm.len())));
    }
    Ok(perm)
}

/// Loads digits from a `digits.csv(.gz)` in the directories the user named (`--data-dir`,
/// `EXACTQ_DATA`), else from the embedded copy.
pub fn load(user_dirs: &[PathBuf]) -> Result<Dataset, DataError> {
    let file = locate::find("digits", user_dirs, &["digits.csv"]).ok();
    let (all, source) = match &file {
        Some(path) => (parse_csv(path, &read_maybe_gz(path)?)?, path.display().to_string()),
        None => {
            let path = Path::new("<embedded digits.csv.gz>");
            (parse_csv(path, &gunzip_if_needed(path, EMBEDDED_CSV_GZ.to_vec())?)?, "embedded".to_string())
        }
    };
    let perm = parse_perm(Path::new("<embedded digits-anchor-perm.txt>"), EMBEDDED_PERM, all.len())?;
    let train = all.gather(&perm[..TRAIN_ROWS]);
    let test = all.gather(&perm[TRAIN_ROWS..]);
    let (train, val) = carve_validation(train, TRAIN_ROWS / 10, SPLIT_SEED);
    Ok(Dataset {
        name: "digits".into(),
        sample_shape: vec![8, 8, 1],
        task: Task::Classify { classes: 10 },
        train,
        val,
        test,
        source,
    })
}
