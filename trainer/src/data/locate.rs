//! Where datasets are looked for: `--data-dir`, then `EXACTQ_DATA`, then standard locations
//! (Debian's `dataset-*` packages install under `/usr/share/datasets`), then `../shared/data`.

use std::path::{Path, PathBuf};

use super::DataError;

/// The directories the user named: `--data-dir`, then `EXACTQ_DATA`.
pub fn user_dirs(data_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = data_dir {
        dirs.push(d.to_path_buf());
    }
    if let Some(d) = std::env::var_os("EXACTQ_DATA") {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// Base directories in search order.
pub fn search_dirs(data_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = user_dirs(data_dir);
    dirs.push(PathBuf::from("/usr/share/datasets"));
    dirs.push(PathBuf::from("../shared/data"));
    dirs
}

/// Finds `file` (or `file.gz`) of `dataset` in `<base>/<dataset>/` or `<base>/` for each base.
/// `alternatives` are other spellings of the same file (e.g. `train-images.idx3-ubyte`).
pub fn find(dataset: &str, dirs: &[PathBuf], names: &[&str]) -> Result<PathBuf, DataError> {
    let mut searched = Vec::new();
    for base in dirs {
        for dir in [base.join(dataset), base.clone()] {
            for name in names {
                for candidate in [dir.join(format!("{name}.gz")), dir.join(name)] {
                    if candidate.is_file() {
                        return Ok(candidate);
                    }
                }
            }
            searched.push(dir.display().to_string());
        }
    }
    Err(DataError::NotFound { dataset: dataset.to_string(), file: names[0].to_string(), searched: searched.join(", ") })
}

/// The first existing directory `<base>/<dataset>/<sub>`, if any.
pub fn find_dir(dataset: &str, dirs: &[PathBuf], sub: &str) -> Option<PathBuf> {
    dirs.iter().flat_map(|b| [b.join(dataset).join(sub), b.join(sub)]).find(|d| d.is_dir())
}
