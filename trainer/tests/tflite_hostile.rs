//! Hostile and unsupported `.tflite` files: the importer answers with an error, never a panic,
//! and its errors name the operator, its index and the reason.

use std::path::Path;

use exactq_core::model::{aligned::AlignedBytes, invoke, load};
use exactq_trainer::import::convert::{import_tflite, ImportError};
use exactq_trainer::import::flatbuffer::{Budget, Buffer, Table};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tflite").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Small fixtures covering every op (ResNet-8 is exercised by the edits below).
const SMALL: [&str; 12] = [
    "conv2d_0.tflite",
    "depthwise_conv2d_1.tflite",
    "fully_connected_1.tflite",
    "add_0.tflite",
    "mul_0.tflite",
    "avg_pool2d_0.tflite",
    "max_pool2d_1.tflite",
    "mean_0.tflite",
    "reshape_fc_softmax_0.tflite",
    "relu_1.tflite",
    "pad_0.tflite",
    "float_edges_0.tflite",
];

/// Largest arena a mutated model may ask for before the test skips running it.
const MAX_ARENA: usize = 1 << 16;

/// Import; if the importer accepts the file, the blob must load and run.
fn import_and_run(file: &[u8]) -> Result<(), ImportError> {
    let imported = import_tflite(file)?;
    let blob = AlignedBytes::copy_from(&imported.blob);
    let model = load(blob.as_slice()).expect("the importer produced a blob the core rejects");
    if model.arena_size() <= MAX_ARENA {
        let input = vec![0i8; model.input_len()];
        let mut arena = AlignedBytes::zeroed(model.arena_size());
        let mut output = vec![0i8; model.output_len()];
        invoke(&model, &input, arena.as_mut_slice(), &mut output).expect("a model the core loaded failed to run");
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte { at: usize, xor: u8 },
    WriteU32 { at: usize, value: u32 },
    Truncate { keep: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        Just(0u32),
        Just(1),
        Just(4),
        Just(0x7FFF_FFFF),
        Just(0x8000_0000),
        Just(u32::MAX),
        Just(u32::MAX - 3),
        any::<u32>(),
        0u32..4096,
    ];
    prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Mutation::FlipByte { at, xor }),
        4 => (any::<usize>(), interesting).prop_map(|(at, value)| Mutation::WriteU32 { at, value }),
        1 => any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
    ]
}

fn apply(file: &mut Vec<u8>, m: &Mutation) {
    let len = file.len();
    match *m {
        Mutation::FlipByte { at, xor } => file[at % len] ^= xor,
        Mutation::WriteU32 { at, value } => {
            // Mostly on 4-byte boundaries, where offsets, lengths and scalars live.
            let at = (at % (len - 3)) & !3;
            file[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        Mutation::Truncate { keep } => file.truncate(keep % len),
    }
}

proptest! {
    // EXACTQ_HOSTILE_CASES raises the count for a longer local soak.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("EXACTQ_HOSTILE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_fixtures_never_panic(which in 0..SMALL.len(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let mut file = fixture(SMALL[which]);
        for m in &mutations {
            if file.len() < 8 {
                break;
            }
            apply(&mut file, m);
        }
        // Ok or Err both fine; a panic fails the property.
        let _ = import_and_run(&file);
    }
}

#[test]
fn every_truncation_of_a_model_is_an_error() {
    let file = fixture("conv2d_1.tflite");
    for keep in 0..file.len() - 16 {
        assert!(import_tflite(&file[..keep]).is_err(), "truncated to {keep} of {} bytes imported", file.len());
    }
}

// ---------------------------------------------------------------- targeted edits of real files

/// Position of field `slot` (inline size `size`) of a table reached from the root.
fn field_at(file: &[u8], size: usize, slot: usize, locate: impl Fn(Table<'_>) -> Table<'_>) -> usize {
    let budget = Budget::for_file(file.len(), 64);
    let root = Buffer::new(file, &budget).root().unwrap();
    locate(root).field(slot, size).unwrap().expect("field present in the fixture")
}

/// Model.operator_codes[0]
fn operator_code(root: Table<'_>) -> Table<'_> {
    root.vector(1, 4).unwrap().unwrap().table(0).unwrap()
}

/// Model.subgraphs[0].tensors[index]
fn tensor(root: Table<'_>, index: usize) -> Table<'_> {
    root.vector(2, 4).unwrap().unwrap().table(0).unwrap().vector(0, 4).unwrap().unwrap().table(index).unwrap()
}

fn operator_error(result: Result<exactq_trainer::import::convert::Imported, ImportError>) -> (usize, String, String) {
    match result {
        Err(ImportError::Operator { index, op, reason }) => (index, op, reason),
        other => panic!("expected an operator error, got {:?}", other.map(|_| "a model")),
    }
}

#[test]
fn unsupported_operator_is_named_with_its_index() {
    // conv2d_0 has one operator code (CONV_2D = 3); turn it into LOGISTIC (14) in both fields.
    let mut file = fixture("conv2d_0.tflite");
    let deprecated = field_at(&file, 1, 0, operator_code);
    file[deprecated] = 14;
    let budget = Budget::for_file(file.len(), 64);
    let extended = Buffer::new(&file, &budget).root().unwrap();
    if let Some(at) = operator_code(extended).field(3, 4).unwrap() {
        file[at..at + 4].copy_from_slice(&14i32.to_le_bytes());
    }
    let (index, op, reason) = operator_error(import_tflite(&file));
    assert_eq!((index, op.as_str()), (0, "LOGISTIC"));
    assert!(reason.contains("not supported"), "{reason}");
}

#[test]
fn int16_activations_are_refused() {
    let mut file = fixture("softmax_0.tflite");
    // Tensor 0 is the int8 input; make it INT16 (7).
    let at = field_at(&file, 1, 1, |root| tensor(root, 0));
    file[at] = 7;
    let message = import_tflite(&file).unwrap_err().to_string();
    assert!(message.contains("int16 activations"), "{message}");
}

#[test]
fn float_models_are_refused() {
    let mut file = fixture("relu_0.tflite");
    // The RELU's int8 output (tensor 3) becomes FLOAT32 (0): a float op inside the graph.
    let at = field_at(&file, 1, 1, |root| tensor(root, 3));
    file[at] = 0;
    let (index, op, reason) = operator_error(import_tflite(&file));
    assert_eq!((index, op.as_str()), (0, "RELU"));
    assert!(reason.contains("full-integer"), "{reason}");
}

#[test]
fn absurd_shapes_are_refused() {
    let file = fixture("resnet8.tflite");
    let budget = Budget::for_file(file.len(), 64);
    let root = Buffer::new(&file, &budget).root().unwrap();
    // Some activation of ResNet-8: its first two dimensions set to 2^20 and 2^20.
    let graph = root.vector(2, 4).unwrap().unwrap().table(0).unwrap();
    let tensors = graph.vector(0, 4).unwrap().unwrap();
    let index = (0..tensors.len())
        .find(|&i| tensors.table(i).unwrap().vector(0, 4).unwrap().is_some_and(|s| s.len() == 4))
        .unwrap();
    let shape = tensors.table(index).unwrap().vector(0, 4).unwrap().unwrap().byte_range().start;
    let mut edited = file.clone();
    edited[shape + 4..shape + 8].copy_from_slice(&(1i32 << 20).to_le_bytes());
    edited[shape + 8..shape + 12].copy_from_slice(&(1i32 << 20).to_le_bytes());
    let message = import_tflite(&edited).unwrap_err().to_string();
    assert!(message.contains("elements") || message.contains("shape"), "{message}");

    let mut negative = file.clone();
    negative[shape + 4..shape + 8].copy_from_slice(&(-5i32).to_le_bytes());
    let message = import_tflite(&negative).unwrap_err().to_string();
    assert!(message.contains("must be positive") || message.contains("dynamic"), "{message}");
}

#[test]
fn offsets_out_of_range_and_self_referencing_tables_are_errors() {
    let file = fixture("add_0.tflite");
    // Root offset past the end.
    let mut past = file.clone();
    past[0..4].copy_from_slice(&(file.len() as u32 + 8).to_le_bytes());
    assert!(matches!(import_tflite(&past), Err(ImportError::Read(_))));
    // The subgraphs vector offset pointing at itself: its "length" is then the offset value.
    let budget = Budget::for_file(file.len(), 64);
    let at = Buffer::new(&file, &budget).root().unwrap().field(2, 4).unwrap().unwrap();
    let mut looped = file.clone();
    looped[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    assert!(import_tflite(&looped).is_err());
    // The root table's vtable offset pointing at the table itself.
    let root = u32::from_le_bytes(file[0..4].try_into().unwrap()) as usize;
    let mut self_vtable = file.clone();
    self_vtable[root..root + 4].copy_from_slice(&0i32.to_le_bytes());
    assert!(import_tflite(&self_vtable).is_err());
}

/// Real converter outputs the importer must refuse (listed under "rejected" in the manifest):
/// a dynamic batch, a float model, 16x8 quantization, an op without a core kernel.
#[test]
fn real_unsupported_models_are_refused_with_a_reason() {
    #[derive(serde::Deserialize)]
    struct Rejected {
        name: String,
        model: String,
        error_contains: String,
    }
    #[derive(serde::Deserialize)]
    struct Manifest {
        rejected: Vec<Rejected>,
    }
    let manifest: Manifest = serde_json::from_slice(&fixture("manifest.json")).unwrap();
    assert!(manifest.rejected.len() >= 4);
    for r in &manifest.rejected {
        let message = match import_tflite(&fixture(&r.model)) {
            Ok(_) => panic!("{}: imported, but must be refused", r.name),
            Err(e) => e.to_string(),
        };
        assert!(message.contains(&r.error_contains), "{}: {message}", r.name);
    }
    let tanh = import_tflite(&fixture("unsupported_tanh.tflite"));
    let (index, op, _) = operator_error(tanh);
    assert_eq!((index, op.as_str()), (1, "TANH"));
    let float = import_tflite(&fixture("float_model.tflite"));
    let (index, op, reason) = operator_error(float);
    assert_eq!((index, op.as_str()), (0, "CONV_2D"));
    assert!(reason.contains("full-integer"), "{reason}");
}

/// The importer's fuzz corpus (`fuzz/corpus/import_tflite/`, grown by `cargo fuzz run
/// import_tflite`) replayed without nightly: each file imports and runs, or is refused.
#[test]
fn fuzz_corpus_replays_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/import_tflite");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let file = std::fs::read(entry.unwrap().path()).unwrap();
        let _ = import_and_run(&file);
        files += 1;
    }
    assert!(files >= 10, "only {files} corpus files in {}", dir.display());
}
