//! Writes the fuzz seed corpus: real blobs (a few random graphs covering every op, a small
//! ResNet-like net, a checkpoint-shaped container) into fuzz/corpus/load_invoke/.
//! `cargo run -p exactq-core --example write_fuzz_seeds --features std`

#[path = "../tests/nets/mod.rs"]
mod nets;

use std::path::Path;

use exactq_core::model::container::{ContainerWriter, MODEL_TAG};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/load_invoke");
    std::fs::create_dir_all(&dir)?;
    let mut written = 0;
    for seed in 0..12u64 {
        let net = nets::random_net(seed);
        std::fs::write(dir.join(format!("random-{seed:02}.exq")), net.builder.build()?)?;
        written += 1;
    }
    // A bare model and a checkpoint-shaped container with trainer sections around MODL.
    let net = nets::random_net(100);
    let model = net.builder.build_model()?;
    std::fs::write(dir.join("bare-model.exqm"), &model)?;
    let mut w = ContainerWriter::new();
    w.section(*b"TRNR", b"trainer state")?;
    w.section(MODEL_TAG, &model)?;
    w.section(*b"HIST", b"history")?;
    std::fs::write(dir.join("checkpoint.exq"), w.finish()?)?;
    written += 2;
    println!("wrote {written} seeds to {}", dir.display());
    Ok(())
}
