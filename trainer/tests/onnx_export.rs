//! ONNX export: bad input is a clear error; zoo models export to QDQ graphs; retargeting to
//! float-requant keeps the graph and runs in the interpreter.

use exactq_trainer::data::Split;
use exactq_trainer::nn::ParamStore;
use exactq_trainer::onnx::{export_model, float_requant_blob};
use exactq_trainer::quant::device::Device;
use exactq_trainer::quant::export::device_blob;
use exactq_trainer::quant::ptq::{quantize, PtqConfig};
use exactq_trainer::quant::qmodel::ProfileName;
use exactq_trainer::quant::range::RangeEstimator;
use exactq_trainer::zoo::Arch;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

fn blob(arch: Arch, profile: ProfileName) -> Vec<u8> {
    let graph = arch.graph();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let params = ParamStore::init(&graph, &mut rng);
    let d: usize = arch.input_shape().iter().product();
    let x: Vec<f32> = (0..32 * d).map(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0).collect();
    let cfg = PtqConfig { profile, samples: 32, estimator: RangeEstimator::MinMax, bias_correction: false, seed: 0 };
    let q = quantize(&graph, &params, &Split { x, y: vec![0; 32] }, &cfg).unwrap();
    device_blob(&q.model, &q.folded.params).unwrap()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn garbage_is_refused_with_a_reason() {
    let e = export_model(b"not a model at all, just bytes").unwrap_err().to_string();
    assert!(e.contains("not a valid exactq model"), "{e}");
}

#[test]
fn digits_cnn_exports_qdq_nodes() {
    let onnx = export_model(&blob(Arch::DigitsCnn, ProfileName::TfliteSingle)).unwrap();
    for op in ["QuantizeLinear", "DequantizeLinear", "Conv", "Gemm", "Transpose"] {
        assert!(contains(&onnx, op), "no {op} node");
    }
}

#[test]
fn float_requant_retarget_runs_and_refuses_double() {
    let single = blob(Arch::DigitsCnn, ProfileName::TfliteSingle);
    let float = float_requant_blob(&single).unwrap();
    assert_ne!(single, float);
    let x: Vec<f32> = (0..64 * 8).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    let a = Device::new(&single).unwrap().run(&x).unwrap();
    let b = Device::new(&float).unwrap().run(&x).unwrap();
    // Different rounding, same network: rounding differences are rare (ties, f32 vs 31-bit
    // multipliers), so nearly every logit agrees and none is far off.
    let same = a.iter().zip(&b).filter(|(p, q)| p == q).count();
    assert!(same * 10 >= a.len() * 9, "{same} of {} equal", a.len());
    assert!(a.iter().zip(&b).all(|(p, q)| (*p as i32 - *q as i32).abs() <= 4));
    let e = float_requant_blob(&blob(Arch::DigitsCnn, ProfileName::TfliteDouble)).unwrap_err().to_string();
    assert!(e.contains("tflite-double"), "{e}");
}

/// A blob whose ops include one the ONNX writer has no mapping for (standalone PAD or RELU).
fn unsupported_blob(op: &str) -> Vec<u8> {
    use exactq_core::arith::Profile;
    use exactq_core::model::builder::{ModelBuilder, OutQuant};
    let mut b = ModelBuilder::new(Profile::TfliteSingle);
    let x = b.input(&[1, 4, 4, 2], 0.5, -3).unwrap();
    let y = match op {
        "pad" => b.pad(x, [0, 1, 1, 0], [0, 1, 1, 0]).unwrap(),
        _ => b.relu(x, OutQuant::new(0.25, -128)).unwrap(),
    };
    b.set_output(y);
    b.build().unwrap()
}

#[test]
fn an_op_without_onnx_mapping_is_named() {
    for op in ["pad", "relu"] {
        let e = format!("{:#}", export_model(&unsupported_blob(op)).unwrap_err());
        assert!(e.contains(&format!("op 0 ({op}) has no ONNX export")), "{e}");
    }
}

#[test]
fn cli_export_onnx_names_the_unsupported_op_and_exits_2() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("exactq-onnx-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let blob = dir.join("pad.qmod");
    std::fs::write(&blob, unsupported_blob("pad")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_exactq"))
        .args(["export", blob.to_str().unwrap(), "--format", "onnx", "-o", dir.join("pad.onnx").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("op 0 (pad) has no ONNX export"), "{err}");
    assert!(!dir.join("pad.onnx").exists(), "nothing written");
    std::fs::remove_dir_all(&dir).ok();
}
