//! The TFLite importer over arbitrary bytes: it must return a model or an error, never panic;
//! a model it returns must load and run.
#![no_main]

use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::{invoke, load};
use exactq_trainer::import::convert::import_tflite;
use libfuzzer_sys::fuzz_target;

/// Largest arena the harness hands out.
const MAX_ARENA: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(imported) = import_tflite(data) else { return };
    let blob = AlignedBytes::copy_from(&imported.blob);
    let model = load(blob.as_slice()).expect("the importer produced a blob the core rejects");
    if model.arena_size() > MAX_ARENA {
        return;
    }
    let input: Vec<i8> = (0..model.input_len()).map(|i| (i as i8).wrapping_mul(37)).collect();
    let mut arena = AlignedBytes::zeroed(model.arena_size());
    let mut output = vec![0i8; model.output_len()];
    invoke(&model, &input, arena.as_mut_slice(), &mut output).expect("a model the core loaded failed to run");
});
