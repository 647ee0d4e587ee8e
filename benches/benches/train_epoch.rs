//! Training throughput of `resnet8` on Fashion-MNIST (batch 128, 2 threads), in samples/s.
//! One criterion iteration is one optimizer step (forward, backward, Adam) on the next batch
//! of the training split; an epoch is 55,000 samples, so epoch time = 55,000 / throughput.
//! The anchor (PyTorch 2.15, same network, 2 threads) trains at about 860 samples/s.
//!
//! `cargo bench -p exactq-benches --bench train_epoch`

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use exactq_trainer::data::{self, Dataset};
use exactq_trainer::nn::optim::OptimizerConfig;
use exactq_trainer::train::{RunConfig, Session};
use exactq_trainer::zoo::Arch;

const BATCH: usize = 128;

/// Fashion-MNIST from `../shared/data`; without it, random images of the same shape (the
/// step's cost does not depend on pixel values).
fn dataset() -> Dataset {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    match data::load("fashion-mnist", Some(&dir)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("Fashion-MNIST unavailable ({e}); benchmarking on random 28x28 images");
            data::synthetic_fashion(4096)
        }
    }
}

fn resnet8_training(c: &mut Criterion) {
    exactq_trainer::cli::tune_malloc();
    let _ = rayon::ThreadPoolBuilder::new().num_threads(2).build_global();
    let data = dataset();
    let cfg = RunConfig { arch: Arch::Resnet8, batch_size: BATCH, seed: 0, optimizer: OptimizerConfig::adam(1e-3), cosine_epochs: 0 };
    let mut session = Session::new(&cfg, &data).expect("session");
    let batches = data.train.len() / BATCH;
    let mut next = 0usize;
    let mut group = c.benchmark_group("resnet8_fashion_mnist");
    group.sample_size(10).measurement_time(Duration::from_secs(30)).warm_up_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("train_step_batch128_2threads", |b| {
        b.iter(|| {
            let idx: Vec<u32> = ((next * BATCH) as u32..((next + 1) * BATCH) as u32).collect();
            next = (next + 1) % batches;
            session.step(&data, &idx).expect("step")
        })
    });
    group.finish();
}

criterion_group!(benches, resnet8_training);
criterion_main!(benches);
