//! Bad input gives a clear message naming the file or step, exit status 2, and no backtrace.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn exactq(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exactq"))
        .args(args)
        .current_dir(dir)
        .env_remove("EXACTQ_DATA")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run exactq")
}

/// Asserts exit status 2 and that stderr mentions every one of `needles`.
fn fails_with(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "expected exit 2, got {:?}; stderr: {err}", out.status);
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`: {err}");
    }
    assert!(!err.contains("stack backtrace") && !err.contains("panicked"), "backtrace or panic: {err}");
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exactq-bad-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("data/mnist")).unwrap();
    d
}

fn idx_images(n: u32, rows: u32, cols: u32, pixels: usize, magic: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [magic, n, rows, cols] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.resize(16 + pixels, 7);
    b
}

fn idx_labels(n: u32, count: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x801u32.to_be_bytes());
    b.extend_from_slice(&n.to_be_bytes());
    b.extend((0..count).map(|i| (i % 10) as u8));
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes a tiny MNIST-format set; `corrupt` edits one file afterwards.
fn write_mnist(dir: &Path, train_images: Vec<u8>, train_labels: Vec<u8>) {
    let d = dir.join("data/mnist");
    std::fs::write(d.join("train-images-idx3-ubyte"), train_images).unwrap();
    std::fs::write(d.join("train-labels-idx1-ubyte.gz"), gz(&train_labels)).unwrap();
    std::fs::write(d.join("t10k-images-idx3-ubyte.gz"), gz(&idx_images(4, 28, 28, 4 * 784, 0x803))).unwrap();
    std::fs::write(d.join("t10k-labels-idx1-ubyte"), idx_labels(4, 4)).unwrap();
}

fn train_mnist(dir: &Path) -> Output {
    exactq(&["train", "--model", "resnet8", "--dataset", "mnist", "--epochs", "1", "--out", "m.ckpt", "--data-dir", "data", "--batch-size", "4"], dir)
}

#[test]
fn tiny_valid_idx_set_trains() {
    // The fixture itself is valid: the failures below come from the one thing each breaks.
    let dir = scratch("valid");
    write_mnist(&dir, idx_images(12, 28, 28, 12 * 784, 0x803), idx_labels(12, 12));
    let out = train_mnist(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn missing_data_names_the_file_and_places() {
    let dir = scratch("missing");
    fails_with(&train_mnist(&dir), &["train-images-idx3-ubyte", "not found", "data/mnist", "--data-dir"]);
}

#[test]
fn truncated_idx_images() {
    let dir = scratch("truncated");
    write_mnist(&dir, idx_images(12, 28, 28, 12 * 784 - 100, 0x803), idx_labels(12, 12));
    fails_with(&train_mnist(&dir), &["train-images-idx3-ubyte", "header promises 12 images"]);
}

#[test]
fn truncated_gzip() {
    let dir = scratch("gzip");
    write_mnist(&dir, idx_images(12, 28, 28, 12 * 784, 0x803), idx_labels(12, 12));
    let p = dir.join("data/mnist/train-labels-idx1-ubyte.gz");
    let full = std::fs::read(&p).unwrap();
    std::fs::write(&p, &full[..full.len() / 2]).unwrap();
    fails_with(&train_mnist(&dir), &["train-labels-idx1-ubyte.gz", "truncated gzip"]);
}

#[test]
fn wrong_idx_magic() {
    let dir = scratch("magic");
    write_mnist(&dir, idx_images(12, 28, 28, 12 * 784, 0x801), idx_labels(12, 12));
    fails_with(&train_mnist(&dir), &["train-images-idx3-ubyte", "magic 0x00000801, expected 0x00000803"]);
}

#[test]
fn label_count_mismatch() {
    let dir = scratch("count");
    write_mnist(&dir, idx_images(12, 28, 28, 12 * 784, 0x803), idx_labels(11, 11));
    fails_with(&train_mnist(&dir), &["train-labels-idx1-ubyte.gz", "11 labels for 12 images"]);
}

#[test]
fn bad_checkpoints_are_refused() {
    let dir = scratch("ckpt");
    let out = exactq(&["train", "--model", "digits-cnn", "--epochs", "1", "--out", "good.ckpt"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let good = std::fs::read(dir.join("good.ckpt")).unwrap();

    std::fs::write(dir.join("text.ckpt"), b"hello, not a checkpoint").unwrap();
    fails_with(&exactq(&["eval", "text.ckpt"], &dir), &["text.ckpt", "not an exactq file"]);

    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    std::fs::write(dir.join("flipped.ckpt"), &flipped).unwrap();
    fails_with(&exactq(&["eval", "flipped.ckpt"], &dir), &["flipped.ckpt", "CRC-32"]);

    std::fs::write(dir.join("short.ckpt"), &good[..good.len() - 100]).unwrap();
    fails_with(&exactq(&["inspect", "short.ckpt"], &dir), &["short.ckpt", "truncated"]);

    let mut future = good.clone();
    future[4] = 9;
    std::fs::write(dir.join("future.ckpt"), &future).unwrap();
    fails_with(&exactq(&["eval", "future.ckpt"], &dir), &["future.ckpt", "container version 9"]);

    fails_with(&exactq(&["eval", "absent.ckpt"], &dir), &["absent.ckpt"]);

    std::fs::copy(dir.join("good.ckpt"), dir.join("other.ckpt")).unwrap();
    fails_with(
        &exactq(&["train", "--model", "mlp", "--epochs", "2", "--out", "other.ckpt", "--resume"], &dir),
        &["other.ckpt", "checkpoint is for model `digits-cnn`", "`mlp`"],
    );
}

#[test]
fn diverging_loss_names_the_step() {
    let dir = scratch("nan");
    fails_with(
        &exactq(&["train", "--model", "mlp", "--epochs", "3", "--out", "n.ckpt", "--optimizer", "sgd", "--lr", "1e30"], &dir),
        &["loss is", "epoch 1, step"],
    );
    assert!(!dir.join("n.ckpt").exists(), "a diverged run must not leave a checkpoint");
}

#[test]
fn usage_errors_exit_2() {
    let dir = scratch("usage");
    fails_with(&exactq(&["train", "--model", "nope", "--out", "x.ckpt"], &dir), &["unknown model `nope`"]);
    fails_with(&exactq(&["train", "--model", "digits-cnn", "--dataset", "imagenet", "--out", "x.ckpt"], &dir), &["unknown dataset `imagenet`"]);
    fails_with(&exactq(&["train", "--model", "digits-cnn", "--dataset", "ecg5000", "--data-dir", "/nonexistent", "--out", "x.ckpt"], &dir), &["ECG5000_TRAIN.tsv"]);
}
