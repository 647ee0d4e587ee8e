//! `load` + `invoke` over arbitrary bytes: as given (the checksums stop most mutations), and
//! with every CRC recomputed so mutations reach the graph decoder and validator.
#![no_main]

use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::container::reseal_crcs;
use exactq_core::model::{invoke, load};
use libfuzzer_sys::fuzz_target;

/// Largest arena the harness hands out (a hostile model may ask for up to 4 GiB).
const MAX_ARENA: usize = 1 << 22;

fn run(bytes: &[u8]) {
    let blob = AlignedBytes::copy_from(bytes);
    let Ok(model) = load(&blob) else { return };
    if model.arena_size() > MAX_ARENA {
        return;
    }
    let input: Vec<i8> = (0..model.input_len()).map(|i| (i as i8).wrapping_mul(37)).collect();
    let mut arena = AlignedBytes::zeroed(model.arena_size());
    let mut output = vec![0i8; model.output_len()];
    // A model `load` accepted must run.
    invoke(&model, &input, &mut arena, &mut output).expect("invoke failed on a loaded model");
}

fuzz_target!(|data: &[u8]| {
    run(data);
    let mut resealed = data.to_vec();
    reseal_crcs(&mut resealed);
    run(&resealed);
});
