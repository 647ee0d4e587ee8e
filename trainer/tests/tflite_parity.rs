//! Every committed TFLite fixture, imported and run on the core interpreter, gives exactly the
//! bytes TensorFlow Lite Micro gave (`tools/tflite-fixtures/generate.py` recorded them).

use std::path::{Path, PathBuf};

use exactq_core::model::{aligned::AlignedBytes, load};
use exactq_trainer::cli::run_model::run_samples;
use exactq_trainer::import::convert::import_tflite;
use serde::Deserialize;

#[derive(Deserialize)]
struct Manifest {
    fixtures: Vec<Fixture>,
}

#[derive(Deserialize)]
struct Fixture {
    name: String,
    model: String,
    input: String,
    expected_output: String,
    samples: usize,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    ops: Vec<String>,
    tflm_arena_used_bytes: Option<usize>,
    tflm_arena_head_bytes: Option<usize>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tflite")
}

fn read(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn manifest() -> Manifest {
    serde_json::from_slice(&read("manifest.json")).expect("manifest.json")
}

#[test]
fn every_fixture_matches_tflite_micro_byte_for_byte() {
    let manifest = manifest();
    let mut failures = Vec::new();
    let mut ops_seen = std::collections::BTreeSet::new();
    for fx in &manifest.fixtures {
        ops_seen.extend(fx.ops.iter().cloned());
        let imported = match import_tflite(&read(&fx.model)) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{}: import failed: {e}", fx.name));
                continue;
            }
        };
        assert_eq!(imported.input.shape, fx.input_shape, "{}: input shape", fx.name);
        assert_eq!(imported.output.shape, fx.output_shape, "{}: output shape", fx.name);
        let blob = AlignedBytes::copy_from(&imported.blob);
        let model = load(blob.as_slice()).unwrap_or_else(|e| panic!("{}: load: {e}", fx.name));
        let input: Vec<i8> = read(&fx.input).into_iter().map(|b| b as i8).collect();
        let expected: Vec<i8> = read(&fx.expected_output).into_iter().map(|b| b as i8).collect();
        assert_eq!(input.len(), fx.samples * model.input_len(), "{}: input file size", fx.name);
        let output = run_samples(&model, &input).unwrap_or_else(|e| panic!("{}: run: {e:#}", fx.name));
        let differing = output.iter().zip(&expected).filter(|(a, b)| a != b).count();
        if output.len() != expected.len() || differing > 0 {
            failures.push(format!(
                "{}: {differing} of {} output bytes differ from TFLM ({})",
                fx.name,
                expected.len(),
                fx.ops.join(" ")
            ));
        }
    }
    println!("{} of {} fixtures identical to TFLite Micro", manifest.fixtures.len() - failures.len(), manifest.fixtures.len());
    assert!(failures.is_empty(), "fixtures differing from TFLite Micro:\n{}", failures.join("\n"));
    // The fixture set covers every op the importer supports.
    for op in [
        "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN",
        "RESHAPE", "SOFTMAX", "QUANTIZE", "DEQUANTIZE", "RELU", "RELU6", "PAD",
    ] {
        assert!(ops_seen.contains(op), "no fixture exercises {op}");
    }
}

/// The ResNet-8 arena: the core planner's figure beside the one TFLM reported, as recorded in
/// docs/tflite-import.md.
#[test]
fn resnet8_arena_is_reported() {
    let manifest = manifest();
    let fx = manifest.fixtures.iter().find(|f| f.name == "resnet8").expect("resnet8 fixture");
    let tflm = fx.tflm_arena_used_bytes.expect("TFLM arena recorded for resnet8");
    let imported = import_tflite(&read(&fx.model)).unwrap();
    let core = imported.memory.arena_size;
    let m = imported.memory;
    println!(
        "resnet8 arena: core planner {core} bytes (activations + kernel scratch; peak live {}, largest scratch {}, \
         all activations unshared {}); TFLM arena_used_bytes {tflm} (non-persistent head {})",
        m.peak_live_bytes,
        m.largest_scratch,
        m.tensor_bytes_total,
        fx.tflm_arena_head_bytes.unwrap_or(0)
    );
    // The planner never needs less than the bytes live at once, and (no interpreter
    // bookkeeping in the arena) stays below TFLM's total for this model.
    assert!(core >= imported.memory.peak_live_bytes);
    assert!(core < tflm, "core arena {core} ≥ TFLM {tflm}");
}
