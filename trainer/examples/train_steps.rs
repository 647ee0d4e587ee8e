//! Throughput of resnet8 training steps (forward, backward, Adam) through the real training
//! path (`Session::step`), on random 28x28x1 images: a step's cost does not depend on the
//! pixel values. Prints samples/s (wall clock) and the process's CPU seconds per step, the
//! figure that is least disturbed by other load on a shared machine. Pairs with
//! `tools/torch-anchor/resnet8_epoch.py` (same network, batch, optimizer and thread count).
//!
//! `cargo run --release -p exactq-trainer --example train_steps -- [STEPS] [WARMUP] [THREADS]`

use std::time::Instant;

use exactq_trainer::data;
use exactq_trainer::nn::optim::OptimizerConfig;
use exactq_trainer::train::{RunConfig, Session};
use exactq_trainer::zoo::Arch;

/// User + system CPU time of the whole process so far, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn main() {
    exactq_trainer::cli::tune_malloc();
    let args: Vec<String> = std::env::args().collect();
    let steps: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let warmup: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().unwrap();
    let bs = 128;
    let data = data::synthetic_fashion(8 * bs);
    let cfg = RunConfig { arch: Arch::Resnet8, batch_size: bs, seed: 0, optimizer: OptimizerConfig::adam(1e-3), cosine_epochs: 0 };
    let mut session = Session::new(&cfg, &data).expect("session");
    let mut step = |i: usize| {
        let b = (i % 8) as u32;
        let idx: Vec<u32> = (b * bs as u32..(b + 1) * bs as u32).collect();
        session.step(&data, &idx).expect("step");
    };
    for i in 0..warmup {
        step(i);
    }
    let (c0, t0) = (cpu_seconds(), Instant::now());
    for i in 0..steps {
        step(i);
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    println!(
        "exactq: {steps} steps of {bs}, {threads} threads: {:.1} samples/s, {:.1} ms/step wall, {:.3} CPU-s/step",
        (steps * bs) as f64 / wall,
        wall / steps as f64 * 1e3,
        cpu / steps as f64
    );
}
