//! `firmware-test --model FILE --json OUT`: a model built outside the harness (here with the
//! core's builder, as `exactq export` does) runs in its own image, and its figures and verdict
//! land in the JSON file `exactq report` reads, named by the model's CRC-32.

mod common;

use std::path::Path;
use std::process::Command;

use exactq_core::arith::{Activation, Profile};
use exactq_core::model::builder::{ModelBuilder, OutQuant, WeightQuant};
use exactq_core::model::container::{find_section, MODEL_TAG};
use exactq_core::model::Window;

/// conv 3x3 (4 channels, ReLU) on 8x8x1 → fully connected 256 → 10.
fn small_model() -> Vec<u8> {
    let mut b = ModelBuilder::new(Profile::TfliteDouble);
    let x = b.input(&[1, 8, 8, 1], 1.0 / 255.0, -128).unwrap();
    let filter: Vec<i8> = (0..4 * 9).map(|i| ((i * 37) % 255) as i8).collect();
    let f = b.constant_i8(&[4, 3, 3, 1], &filter, WeightQuant::PerChannel { axis: 0, scales: &[0.01; 4] }).unwrap();
    let window = b.same_padding(x, 3, 3, Window::stride(1)).unwrap();
    let y = b.conv2d(x, f, None, window, Activation::Relu, OutQuant::new(0.02, -128)).unwrap();
    let flat = b.reshape(y, &[1, 256]).unwrap();
    let weights: Vec<i8> = (0..10 * 256).map(|i| ((i * 13) % 251) as i8).collect();
    let w = b.constant_i8(&[10, 256], &weights, WeightQuant::PerChannel { axis: 0, scales: &[0.005; 10] }).unwrap();
    let out = b.fully_connected(flat, w, None, Activation::None, OutQuant::new(0.1, 0)).unwrap();
    b.set_input(x);
    b.set_output(out);
    b.build().unwrap()
}

#[test]
fn a_model_file_runs_on_the_board_and_its_figures_go_to_json() {
    if !common::qemu_or_skip() {
        return;
    }
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("own-model");
    std::fs::create_dir_all(&scratch).unwrap();
    let blob = small_model();
    let model_path = scratch.join("model.qmod");
    std::fs::write(&model_path, &blob).unwrap();
    let json_path = scratch.join("run/firmware.json");
    let _ = std::fs::remove_file(&json_path);
    let output = Command::new(env!("CARGO_BIN_EXE_firmware-test"))
        .arg("--model")
        .arg(&model_path)
        .arg("--json")
        .arg(&json_path)
        .arg("--generated-dir")
        .arg(scratch.join("generated"))
        .output()
        .expect("firmware-test starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout.contains("model: outputs identical: 12/12"), "named after the file's stem");
    assert!(stdout.contains("no-FPU proof skipped"), "only the given model runs");

    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert!(v["target"].as_str().unwrap().starts_with("thumbv7em-none-eabihf"));
    let entry = &v["model"];
    let crc = find_section(&blob, MODEL_TAG).unwrap().crc;
    assert_eq!(entry["model_crc32"].as_str().unwrap(), format!("{crc:#010x}"));
    assert_eq!(entry["parity"], "pass");
    assert_eq!((entry["outputs_identical"].as_u64(), entry["outputs_total"].as_u64()), (Some(12), Some(12)));
    assert_eq!(entry["blob_bytes"].as_u64(), Some(blob.len() as u64));
    for key in ["flash_bytes", "static_ram_bytes", "arena_bytes", "peak_stack_bytes", "invoke_stack_bytes", "instructions_per_inference"] {
        assert!(entry[key].as_u64().is_some_and(|n| n > 0), "{key}: {}", entry[key]);
    }
    let (flash, text, rodata) = (entry["flash_bytes"].as_u64(), entry["text_bytes"].as_u64().unwrap(), entry["rodata_bytes"].as_u64().unwrap());
    assert_eq!(flash, Some(text + rodata));
    assert!(entry["instruction_budget"].is_null(), "no budget for a model of one's own");
    assert!(v.get("every-kernel").is_none() && v.get("resnet8").is_none());
}
