//! Round trip: random valid graphs built, encoded, loaded; every field compared; random inputs
//! through the interpreter equal the kernels run one by one (every intermediate tensor too).

mod nets;

use nets::{random_net, resnet8, Rng};
use exactq_core::arith::Profile;
use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::container::{find_section, ContainerWriter, MODEL_TAG};
use exactq_core::model::{invoke, invoke_observed, load, Storage};
use proptest::prelude::*;

fn check_net(seed: u64, input_seed: u64) -> Result<(), TestCaseError> {
    let net = random_net(seed);
    let (planned, report) = net.builder.plan().unwrap();
    let blob = AlignedBytes::copy_from(&net.builder.build().unwrap());
    let model = load(&blob).unwrap();

    // Every field: the loaded graph is the planned graph, constants are the builder's bytes.
    prop_assert_eq!(model.graph(), &planned);
    prop_assert_eq!(model.profile(), net.builder.profile());
    prop_assert_eq!(model.data(), net.builder.data());
    prop_assert_eq!(model.arena_size(), report.arena_size);
    for (index, t) in model.graph().tensors.iter().enumerate() {
        if let Storage::Constant { .. } = t.storage {
            // Zero-copy: the constant slice points into the blob.
            let bytes = model.constant_bytes(index as u16).unwrap();
            let blob_range = blob.as_ptr_range();
            prop_assert!(blob_range.contains(&bytes.as_ptr()));
        }
    }

    let mut rng = Rng(input_seed);
    let input = rng.i8s(model.input_len(), -128, 127);
    let expected = net.run_oracle(&input);
    let mut arena = AlignedBytes::zeroed(model.arena_size());
    let mut output = vec![0i8; model.output_len()];
    let mut seen = Vec::new();
    invoke_observed(&model, &input, &mut arena, &mut output, |op, tensor, values| seen.push((op, tensor, values.to_vec()))).unwrap();
    prop_assert_eq!(seen.len(), expected.len());
    for ((op, tensor, values), (want_tensor, want)) in seen.iter().zip(&expected) {
        prop_assert_eq!(tensor, want_tensor, "op {}", op);
        prop_assert_eq!(values, want, "op {} output differs", op);
    }
    prop_assert_eq!(&output, &expected.last().unwrap().1);

    // A second run over the dirty arena gives the same result.
    let mut again = vec![0i8; model.output_len()];
    invoke(&model, &input, &mut arena, &mut again).unwrap();
    prop_assert_eq!(output, again);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn random_graphs_round_trip_and_match_kernels(seed in any::<u64>(), input_seed in any::<u64>()) {
        check_net(seed, input_seed)?;
    }
}

#[test]
fn resnet8_matches_kernels_in_both_profiles() {
    for profile in Profile::FIXED_POINT {
        let net = resnet8(profile, 7);
        let blob = AlignedBytes::copy_from(&net.builder.build().unwrap());
        let model = load(&blob).unwrap();
        for input_seed in 0..3 {
            let input = Rng(input_seed).i8s(784, -128, 127);
            let expected = net.run_oracle(&input);
            let mut arena = AlignedBytes::zeroed(model.arena_size());
            let mut output = vec![0i8; 10];
            invoke(&model, &input, &mut arena, &mut output).unwrap();
            assert_eq!(output, expected.last().unwrap().1, "{profile:?}");
        }
    }
}

#[test]
fn checkpoint_with_trainer_sections_loads_the_model() {
    let net = resnet8(Profile::TfliteDouble, 1);
    let model_bytes = net.builder.build_model().unwrap();
    let mut w = ContainerWriter::new();
    w.section(*b"TRNR", &[1, 2, 3, 4, 5]).unwrap();
    w.section(MODEL_TAG, &model_bytes).unwrap();
    w.section(*b"HIST", b"history").unwrap();
    let checkpoint = AlignedBytes::copy_from(&w.finish().unwrap());
    assert_eq!(find_section(&checkpoint, MODEL_TAG).unwrap().payload, &model_bytes[..]);
    let from_checkpoint = load(&checkpoint).unwrap();
    let bare = AlignedBytes::copy_from(&model_bytes);
    let from_bare = load(&bare).unwrap();
    assert_eq!(from_checkpoint.graph(), from_bare.graph());
    assert_eq!(from_checkpoint.data(), from_bare.data());
}

/// The device flow: a blob in a `static` (flash), 16-aligned by `include_aligned!`, loaded
/// without copying, run over a static-sized arena.
#[test]
fn included_blob_runs_in_place() {
    static BLOB: &[u8] = exactq_core::include_aligned!("../../fuzz/corpus/load_invoke/random-00.exq");
    assert_eq!(BLOB.as_ptr() as usize % 16, 0);
    let model = load(BLOB).unwrap();
    let range = BLOB.as_ptr_range();
    assert!(range.contains(&model.data().as_ptr()) || model.data().is_empty());
    let mut arena = exactq_core::model::aligned::Aligned16([0u8; 4096]);
    assert!(model.arena_size() <= arena.0.len());
    let input = vec![1i8; model.input_len()];
    let mut output = vec![0i8; model.output_len()];
    invoke(&model, &input, &mut arena.0, &mut output).unwrap();
}

/// The random graphs cover every op of the format (so the round trip above exercises them all).
#[test]
fn random_graphs_cover_every_op() {
    let mut seen = std::collections::BTreeMap::new();
    let mut ops = 0;
    for seed in 0..300 {
        let net = random_net(seed);
        for op in net.builder.ops() {
            *seen.entry(op.name()).or_insert(0) += 1;
            ops += 1;
        }
    }
    println!("{ops} ops: {seen:?}");
    assert_eq!(seen.len(), 11, "op kinds seen: {seen:?}"); // all 11 OpDesc variants
}
