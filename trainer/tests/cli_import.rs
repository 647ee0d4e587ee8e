//! `exactq import` and `exactq run-model` as a user runs them: files in, files out, exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use npyz::WriterBuilder;

fn exactq(args: &[&Path]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_exactq")).args(args).output().expect("run exactq")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tflite").join(name)
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exactq-cli-import-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn p(s: &str) -> &Path {
    Path::new(s)
}

#[test]
fn import_then_run_raw_and_npy() {
    let dir = scratch("roundtrip");
    let model = dir.join("resnet8.qmod");
    let out = exactq(&[p("import"), &fixture("resnet8.tflite"), p("-o"), &model]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("arena") && report.contains("softmax"), "{report}");

    // Raw bytes: 3 samples in, 3 × 10 bytes out, equal to TFLite Micro's.
    let raw_out = dir.join("out.bin");
    let out = exactq(&[p("run-model"), &model, p("--input"), &fixture("resnet8.in.bin"), p("--output"), &raw_out]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&raw_out).unwrap(), std::fs::read(fixture("resnet8.out.bin")).unwrap());

    // The same samples as .npy [3, 28, 28, 1] int8 → .npy [3, 10] int8.
    let samples: Vec<i8> = std::fs::read(fixture("resnet8.in.bin")).unwrap().into_iter().map(|b| b as i8).collect();
    let npy_in = dir.join("in.npy");
    let mut bytes = Vec::new();
    let mut writer = npyz::WriteOptions::new().default_dtype().shape(&[3, 28, 28, 1]).writer(&mut bytes).begin_nd().unwrap();
    writer.extend(samples.iter().copied()).unwrap();
    writer.finish().unwrap();
    std::fs::write(&npy_in, bytes).unwrap();
    let npy_out = dir.join("out.npy");
    let out = exactq(&[p("run-model"), &model, p("--input"), &npy_in, p("--output"), &npy_out]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read(&npy_out).unwrap();
    let npy = npyz::NpyFile::new(&written[..]).unwrap();
    assert_eq!(npy.shape(), &[3, 10]);
    let values: Vec<i8> = npy.into_vec().unwrap();
    let expected: Vec<i8> = std::fs::read(fixture("resnet8.out.bin")).unwrap().into_iter().map(|b| b as i8).collect();
    assert_eq!(values, expected);
}

#[test]
fn bad_inputs_exit_2_with_a_message() {
    let dir = scratch("errors");
    let garbage = dir.join("garbage.tflite");
    std::fs::write(&garbage, b"not a flatbuffer at all").unwrap();
    let out = exactq(&[p("import"), &garbage, p("-o"), &dir.join("x.qmod")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error:") && stderr.contains("garbage.tflite"), "{stderr}");

    let out = exactq(&[p("import"), &fixture("unsupported_tanh.tflite"), p("-o"), &dir.join("x.qmod")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("operator 1 (TANH)"), "{stderr}");
    assert!(!dir.join("x.qmod").exists(), "no output file on error");

    let model = dir.join("conv.qmod");
    assert!(exactq(&[p("import"), &fixture("conv2d_0.tflite"), p("-o"), &model, p("--quiet")]).status.success());
    // One byte short of a whole number of samples.
    let short = dir.join("short.bin");
    let mut bytes = std::fs::read(fixture("conv2d_0.in.bin")).unwrap();
    bytes.pop();
    std::fs::write(&short, bytes).unwrap();
    let out = exactq(&[p("run-model"), &model, p("--input"), &short, p("--output"), &dir.join("o.bin")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("multiple"), "{}", String::from_utf8_lossy(&out.stderr));

    // A float32 .npy is refused, not reinterpreted.
    let floats = dir.join("floats.npy");
    let mut bytes = Vec::new();
    let mut writer = npyz::WriteOptions::new().default_dtype().shape(&[4]).writer(&mut bytes).begin_nd().unwrap();
    writer.extend([0.5f32, 1.0, 2.0, 3.0]).unwrap();
    writer.finish().unwrap();
    std::fs::write(&floats, bytes).unwrap();
    let out = exactq(&[p("run-model"), &model, p("--input"), &floats, p("--output"), &dir.join("o.npy")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("int8"), "{}", String::from_utf8_lossy(&out.stderr));
}
