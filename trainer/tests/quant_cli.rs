//! The `exactq run` main job on the embedded digits data, and the quantization commands'
//! handling of wrong checkpoints and existing outputs (exit status 2, nothing overwritten).

use std::path::Path;
use std::process::Command;

fn exactq(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_exactq")).args(args).output().expect("run exactq")
}

fn ok(args: &[&str]) -> String {
    let out = exactq(args);
    assert!(out.status.success(), "exactq {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails_with_2(args: &[&str], needle: &str) {
    let out = exactq(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exactq {args:?}: {err}");
    assert!(err.contains(needle), "exactq {args:?}: expected `{needle}` in: {err}");
}

#[test]
fn run_quantize_finetune_export_eval() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("exactq-cli");
    let _ = std::fs::remove_dir_all(&dir);
    let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
    // The main job with its defaults.
    let table = ok(&["run", "--out", &d("")]);
    println!("{table}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let (fp32, qat) = (summary["fp32_accuracy"].as_f64().unwrap(), summary["qat_accuracy"].as_f64().unwrap());
    assert!(qat >= fp32 - 0.005, "QAT int8 {qat} < FP32 {fp32} - 0.5 points");
    assert_eq!(summary["parity_total"].as_u64(), Some(357), "the whole digits test set");
    assert_eq!(summary["parity_identical"], summary["parity_total"], "zero mismatches");
    for key in ["ptq_accuracy", "blob_bytes", "arena_bytes"] {
        assert!(summary[key].as_f64().unwrap() > 0.0, "{key}");
    }
    assert!(table.contains("parity                       357/357 outputs identical between trainer forward and device interpreter"));
    for f in ["fp32.ckpt", "ptq.ckpt", "qat.ckpt", "model.qmod", "model.h", "history.json"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    // The same directory again is refused.
    fails_with_2(&["run", "--out", &d("")], "--force");

    // Stage by stage, with the single-rounding profile.
    let out = ok(&["quantize", &d("fp32.ckpt"), "-o", &d("s.ptq"), "--profile", "tflite-single", "--estimator", "percentile"]);
    assert!(out.contains("parity: 357/357"), "{out}");
    let out = ok(&["finetune", &d("s.ptq"), "-o", &d("s.qat"), "--epochs", "1"]);
    assert!(out.contains("parity: 357/357"), "{out}");
    let out = ok(&["eval", &d("s.qat"), "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["stage"], "qat");
    assert_eq!(v["profile"], "tflite-single");
    assert_eq!(v["parity_identical"].as_u64(), Some(357));
    ok(&["export", &d("s.qat"), "-o", &d("s.qmod"), "--c-array", &d("s.h"), "--rust-array", &d("s.rs")]);
    // --format: the arrays as --out, and ONNX from the checkpoint or from the blob.
    ok(&["export", &d("s.qat"), "--format", "c-array", "-o", &d("s2.h")]);
    ok(&["export", &d("s.qat"), "--format", "rust-array", "-o", &d("s2.rs")]);
    assert_eq!(std::fs::read(dir.join("s.h")).unwrap(), std::fs::read(dir.join("s2.h")).unwrap());
    assert_eq!(std::fs::read(dir.join("s.rs")).unwrap(), std::fs::read(dir.join("s2.rs")).unwrap());
    assert!(ok(&["export", &d("s.qat"), "--format", "onnx", "-o", &d("s.onnx")]).contains("ONNX opset 13"));
    ok(&["export", &d("s.qmod"), "--format", "onnx", "-o", &d("s2.onnx")]);
    assert_eq!(std::fs::read(dir.join("s.onnx")).unwrap(), std::fs::read(dir.join("s2.onnx")).unwrap());
    // The deprecated spelling still works (and overwrites, as it always did).
    ok(&["export-onnx", &d("s.qmod"), "-o", &d("s2.onnx")]);
    assert_eq!(std::fs::read(dir.join("s.onnx")).unwrap(), std::fs::read(dir.join("s2.onnx")).unwrap());
    fails_with_2(&["export", &d("s.qat"), "--format", "onnx", "-o", &d("x.onnx"), "--c-array", &d("x.h")], "--format blob");
    fails_with_2(&["export", &d("s.qat"), "-o", &d("x.qmod"), "--dataset", "digits", "--npy-dir", &d("npy")], "--format onnx");
    fails_with_2(&["export", &d("fp32.ckpt"), "--format", "onnx", "-o", &d("x.onnx")], "run `exactq quantize`");
    assert!(ok(&["inspect", &d("s.qat")]).contains("stage qat, profile tflite-single"));
    let out = ok(&["eval", &d("s.qmod"), "--dataset", "digits"]);
    assert!(out.contains("device interpreter: accuracy"), "{out}");
    // The blob equals the checkpoint's MODL section run alone: same accuracy.
    let out_ckpt = ok(&["eval", &d("s.qat")]);
    let acc = |s: &str| s.split("accuracy ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(acc(&out), acc(&out_ckpt));

    // The float-requant profile (ONNX Runtime / OpenVINO arithmetic): PTQ, QAT against it, and
    // zero mismatches on the whole digits test set between the QAT forward and the interpreter.
    let out = ok(&["quantize", &d("fp32.ckpt"), "-o", &d("f.ptq"), "--profile", "float-requant"]);
    assert!(out.contains("float-requant") && out.contains("parity: 357/357"), "{out}");
    let out = ok(&["finetune", &d("f.ptq"), "-o", &d("f.qat"), "--epochs", "1"]);
    assert!(out.contains("parity: 357/357"), "{out}");
    let v: serde_json::Value = serde_json::from_str(ok(&["eval", &d("f.qat"), "--json"]).trim()).unwrap();
    assert_eq!((v["stage"].as_str(), v["profile"].as_str()), (Some("qat"), Some("float-requant")));
    assert_eq!((v["parity_identical"].as_u64(), v["parity_total"].as_u64()), (Some(357), Some(357)));
    ok(&["export", &d("f.qat"), "-o", &d("f.qmod")]);
    assert_eq!(acc(&ok(&["eval", &d("f.qmod"), "--dataset", "digits"])), acc(&ok(&["eval", &d("f.qat")])));
    fails_with_2(&["quantize", &d("fp32.ckpt"), "-o", &d("x.ptq"), "--profile", "float-single"], "float-requant");

    // Constant activations (issue 6, bad input): a layer dead on the calibration set (block1's
    // batch norm zeroed, so the folded conv outputs 0 and its ReLU output is constant) is an
    // error naming the tensor, exit 2, nothing written.
    let mut dead = exactq_trainer::checkpoint::TrainerState::load(&dir.join("fp32.ckpt")).unwrap();
    for name in ["block1.bn.gamma", "block1.bn.beta"] {
        dead.params.get_mut(name).unwrap().data.iter_mut().for_each(|v| *v = 0.0);
    }
    dead.save(&dir.join("dead.ckpt")).unwrap();
    fails_with_2(&["quantize", &d("dead.ckpt"), "-o", &d("x.ptq")], "is constant zero on the calibration set (zero range)");

    // Wrong stage or model, and outputs that exist.
    fails_with_2(&["finetune", &d("fp32.ckpt"), "-o", &d("x.qat")], "float (fp32) training checkpoint");
    // An output directory that does not exist is refused before any work, not after an epoch.
    fails_with_2(&["finetune", &d("ptq.ckpt"), "-o", &d("missing/x.qat")], "does not exist");
    fails_with_2(&["quantize", &d("fp32.ckpt"), "-o", &d("missing/x.ptq")], "does not exist");
    fails_with_2(&["train", "--model", "digits-cnn", "--out", &d("missing/x.ckpt")], "does not exist");
    fails_with_2(&["quantize", &d("qat.ckpt"), "-o", &d("x.ptq")], "already a quantized checkpoint");
    fails_with_2(&["export", &d("fp32.ckpt"), "-o", &d("x.qmod")], "run `exactq quantize`");
    fails_with_2(&["finetune", &d("model.qmod"), "-o", &d("x.qat")], "device blob");
    fails_with_2(&["quantize", &d("fp32.ckpt"), "-o", &d("x.ptq"), "--samples", "5000"], "samples, 5000 requested");
    let before = std::fs::read(dir.join("s.ptq")).unwrap();
    fails_with_2(&["quantize", &d("fp32.ckpt"), "-o", &d("s.ptq")], "--force");
    assert_eq!(before, std::fs::read(dir.join("s.ptq")).unwrap(), "nothing overwritten");
    fails_with_2(&["finetune", &d("s.qat"), "-o", &d("s2.qat"), "--epochs", "1"], "already fine-tuned");
    assert!(!Path::new(&d("x.ptq")).exists() && !Path::new(&d("x.qat")).exists());
    std::fs::remove_dir_all(&dir).ok();
}
