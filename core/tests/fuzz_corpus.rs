//! Runs the fuzz corpus (fuzz/corpus/load_invoke) through `load` + `invoke` as the fuzz target
//! does, so CI covers it without nightly. Seeds (`*.exq`, `*.exqm`) are real blobs and must load
//! and run; any other file (found by the fuzzer) must only not panic.

use std::path::Path;

use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::container::reseal_crcs;
use exactq_core::model::{invoke, load};

const MAX_ARENA: usize = 1 << 22;

/// `Ok(true)` when the bytes loaded and ran, `Ok(false)` when `load` rejected them.
fn run(bytes: &[u8]) -> Result<bool, String> {
    let blob = AlignedBytes::copy_from(bytes);
    let Ok(model) = load(&blob) else { return Ok(false) };
    if model.arena_size() > MAX_ARENA {
        return Ok(false);
    }
    let input = vec![3i8; model.input_len()];
    let mut arena = AlignedBytes::zeroed(model.arena_size());
    let mut output = vec![0i8; model.output_len()];
    invoke(&model, &input, &mut arena, &mut output).map_err(|e| format!("invoke failed on a loaded model: {e}"))?;
    Ok(true)
}

#[test]
fn corpus_loads_and_runs_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/load_invoke");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("fuzz corpus directory").map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut seeds = 0;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let loaded = run(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut resealed = bytes.clone();
        reseal_crcs(&mut resealed);
        run(&resealed).unwrap_or_else(|e| panic!("{} (resealed): {e}", path.display()));
        if matches!(path.extension().and_then(|e| e.to_str()), Some("exq" | "exqm")) {
            assert!(loaded, "seed {} does not load", path.display());
            seeds += 1;
        }
    }
    assert!(seeds >= 10, "expected the committed seed blobs, found {seeds}");
    println!("{} corpus files, {} seeds", files.len(), seeds);
}
