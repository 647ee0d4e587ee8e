//! Adam's state over a long fine-tuning: counts the subnormal and the zero values in the Adam
//! moments of ecg-ae's fine-tuning (lr 1e-5, batch 32) every 250 steps, with the step time of
//! the last 250. Weights whose gradient stays exactly 0 (clipped or dead units) see their first
//! moment decay by 0.9 per step; without a flush it would reach the subnormal range after ~700
//! steps and stick at the smallest subnormal (0.9 * 2^-149 rounds back to 2^-149), costing
//! x86 a microcode assist per value and step. `nn::optim` flushes subnormal moments to 0, so
//! the subnormal counts here stay 0 and the zero counts grow instead (docs/performance.md,
//! "QAT step").
//!
//! `cargo run --release -p exactq-benches --example qat_adam_subnormals` (data in ../shared/data)

use std::path::PathBuf;
use std::time::Instant;
use exactq_trainer::data;
use exactq_trainer::nn::optim::OptimizerConfig;
use exactq_trainer::quant::ptq::PtqConfig;
use exactq_trainer::quant::qat::{self, QatConfig};
use exactq_trainer::train::{RunConfig, Session};
use exactq_trainer::zoo::Arch;
fn main() {
    exactq_trainer::cli::tune_malloc();
    let _ = rayon::ThreadPoolBuilder::new().num_threads(2).build_global();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let data = data::load("ecg5000", Some(&dir)).unwrap();
    let arch = Arch::from_name("ecg-ae", data.sample_len(), data.sample_len()).unwrap();
    let cfg = RunConfig { arch, batch_size: 32, seed: 0, optimizer: OptimizerConfig::adam(1e-3), cosine_epochs: 0 };
    let mut fp32 = Session::new(&cfg, &data).unwrap();
    fp32.train_epoch(&data, &mut |_| {}).unwrap();
    let (mut q, _) = exactq_trainer::cli::quantize::ptq(&fp32.state, &data, &PtqConfig::default()).unwrap();
    qat::begin(&mut q, &QatConfig { lr: 1e-5, scale_lr: 1e-5, batch_size: 32, seed: 0 }).unwrap();
    let batches = data.train.len() / 32;
    let mut t = Instant::now();
    for i in 1..=3000usize {
        let b = i % batches;
        let idx: Vec<u32> = ((b * 32) as u32..((b + 1) * 32) as u32).collect();
        qat::step(&mut q, &data, &idx).unwrap();
        if i % 250 == 0 {
            let o = &q.qat.as_ref().unwrap().weights_opt;
            let sub = |v: &Vec<Vec<f32>>| v.iter().flatten().filter(|x| x.is_subnormal()).count();
            let zero = |v: &Vec<Vec<f32>>| v.iter().flatten().filter(|x| **x == 0.0).count();
            let n: usize = o.first.iter().map(|v| v.len()).sum();
            println!("step {i}: {:.3} ms/step; Adam m subnormal {} zero {}, v subnormal {} zero {} of {n}", t.elapsed().as_secs_f64() * 1e3 / 250.0, sub(&o.first), zero(&o.first), sub(&o.second), zero(&o.second));
            t = Instant::now();
        }
    }
}
