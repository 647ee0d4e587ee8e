//! IDX files (MNIST, Fashion-MNIST): big-endian u32 header, magic 0x0803 for u8 images of
//! 3 dimensions and 0x0801 for u8 labels, gzip-compressed or not.

use std::path::{Path, PathBuf};

use super::{carve_validation, locate, read_maybe_gz, DataError, Dataset, Split, Task, SPLIT_SEED};

/// Magic of u8 data with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic of u8 data with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

fn bad(path: &Path, reason: String) -> DataError {
    DataError::Format { path: path.to_path_buf(), reason }
}

fn be_u32(path: &Path, bytes: &[u8], at: usize, field: &str) -> Result<u32, DataError> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| bad(path, format!("truncated header: no {field} at byte {at}")))
}

/// Images as `(count, rows, cols, pixels)`.
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    let magic = be_u32(path, bytes, 0, "magic")?;
    if magic != IMAGES_MAGIC {
        return Err(bad(path, format!("magic {magic:#010x}, expected {IMAGES_MAGIC:#010x} (u8 images, 3 dimensions)")));
    }
    let n = be_u32(path, bytes, 4, "image count")? as usize;
    let rows = be_u32(path, bytes, 8, "row count")? as usize;
    let cols = be_u32(path, bytes, 12, "column count")? as usize;
    let expected = n.checked_mul(rows * cols).and_then(|p| p.checked_add(16));
    if expected != Some(bytes.len()) {
        return Err(bad(path, format!("{} bytes, the header promises {n} images of {rows}x{cols} ({} bytes)", bytes.len(), 16 + n * rows * cols)));
    }
    Ok((n, rows, cols, bytes[16..].to_vec()))
}

/// Labels.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let magic = be_u32(path, bytes, 0, "magic")?;
    if magic != LABELS_MAGIC {
        return Err(bad(path, format!("magic {magic:#010x}, expected {LABELS_MAGIC:#010x} (u8 labels, 1 dimension)")));
    }
    let n = be_u32(path, bytes, 4, "label count")? as usize;
    if bytes.len() != 8 + n {
        return Err(bad(path, format!("{} bytes, the header promises {n} labels ({} bytes)", bytes.len(), 8 + n)));
    }
    Ok(bytes[8..].to_vec())
}

/// Reads an images file and its labels file into a normalised split `(x/255 - mean) / std`.
pub fn read_pair(images: &Path, labels: &Path, mean: f32, std: f32) -> Result<(Split, [usize; 2]), DataError> {
    let (n, rows, cols, pixels) = parse_images(images, &read_maybe_gz(images)?)?;
    let y = parse_labels(labels, &read_maybe_gz(labels)?)?;
    if y.len() != n {
        return Err(bad(labels, format!("{} labels for {n} images in {}", y.len(), images.display())));
    }
    if let Some(l) = y.iter().find(|&&l| l > 9) {
        return Err(bad(labels, format!("label {l} outside 0..9")));
    }
    let x = pixels.iter().map(|&p| (f32::from(p) / 255.0 - mean) / std).collect();
    Ok((Split { x, y: y.into_iter().map(u32::from).collect() }, [rows, cols]))
}

fn files(name: &str, dirs: &[PathBuf], part: &str) -> Result<(PathBuf, PathBuf), DataError> {
    let images = locate::find(name, dirs, &[&format!("{part}-images-idx3-ubyte"), &format!("{part}-images.idx3-ubyte")])?;
    let labels = locate::find(name, dirs, &[&format!("{part}-labels-idx1-ubyte"), &format!("{part}-labels.idx1-ubyte")])?;
    Ok((images, labels))
}

/// MNIST-format dataset `name` with its normalisation; 5,000 training images become `val`.
pub fn load_mnist_like(name: &str, dirs: &[PathBuf], mean: f32, std: f32) -> Result<Dataset, DataError> {
    let (train_images, train_labels) = files(name, dirs, "train")?;
    let (test_images, test_labels) = files(name, dirs, "t10k")?;
    let (train, [rows, cols]) = read_pair(&train_images, &train_labels, mean, std)?;
    let (test, test_dims) = read_pair(&test_images, &test_labels, mean, std)?;
    if test_dims != [rows, cols] {
        return Err(bad(&test_images, format!("images are {test_dims:?}, training images are {rows}x{cols}")));
    }
    let val_len = (train.len() / 12).min(5000);
    let (train, val) = carve_validation(train, val_len, SPLIT_SEED);
    Ok(Dataset {
        name: name.to_string(),
        sample_shape: vec![rows, cols, 1],
        task: Task::Classify { classes: 10 },
        train,
        val,
        test,
        source: train_images.parent().map(|p| p.display().to_string()).unwrap_or_default(),
    })
}
