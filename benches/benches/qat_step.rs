//! QAT against FP32 training cost, side by side in one run (issue 6: "QAT epoch time ≤ 2× the
//! FP32 epoch time of the same network").
//!
//! For `ecg-ae` on ECG5000 and `digits-cnn` on digits (batch 32, 2 threads, as `exactq run`
//! trains them) it builds the float network (trained one epoch), its PTQ model (BN folded,
//! min-max on 300 training samples, `tflite-double`) and fine-tuning state, then times
//! - `fp32_step`: one Adam step of the float network (`Session::step`, the `exactq train` path);
//! - `qat_step`: one fine-tuning step with the exact int8 forward (`quant::qat::step`, the
//!   `exactq finetune` path)
//!
//! on the same batches. Criterion reports each; the ratio is printed last, from rounds that
//! alternate 20 FP32 steps and 20 QAT steps (median over the rounds), so both sides see the same
//! machine load. An epoch of these networks is ~66 (ECG5000) or ~50 (digits) such steps plus a
//! validation pass, so the step ratio is the epoch ratio's training part.
//!
//! `cargo bench -p exactq-benches --bench qat_step` (criterion flags such as
//! `-- --warm-up-time 1 --measurement-time 3` shorten it; `QAT_STEP_MODELS=ecg-ae` runs one
//! network)

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use exactq_trainer::data::{self, Dataset};
use exactq_trainer::nn::optim::OptimizerConfig;
use exactq_trainer::quant::ptq::PtqConfig;
use exactq_trainer::quant::qat::{self, QatConfig};
use exactq_trainer::quant::state::QuantState;
use exactq_trainer::train::{RunConfig, Session};
use exactq_trainer::zoo::Arch;

const BATCH: usize = 32;

struct Pair {
    data: Dataset,
    fp32: Session,
    qat: QuantState,
    batches: usize,
}

impl Pair {
    fn new(model: &str, dataset: &str) -> Option<Pair> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
        let data = match data::load(dataset, Some(&dir)) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{dataset} unavailable ({e}); skipping {model}");
                return None;
            }
        };
        let classes = match data.task {
            data::Task::Classify { classes } => classes,
            data::Task::Reconstruct => data.sample_len(),
        };
        let arch = Arch::from_name(model, data.sample_len(), classes).expect("zoo model");
        let cfg = RunConfig { arch, batch_size: BATCH, seed: 0, optimizer: OptimizerConfig::adam(1e-3), cosine_epochs: 0 };
        let mut fp32 = Session::new(&cfg, &data).expect("session");
        fp32.train_epoch(&data, &mut |_| {}).expect("fp32 epoch");
        let (mut qat, _) = exactq_trainer::cli::quantize::ptq(&fp32.state, &data, &PtqConfig::default()).expect("ptq");
        qat::begin(&mut qat, &QatConfig { lr: 1e-5, scale_lr: 1e-5, batch_size: BATCH, seed: 0 }).expect("qat state");
        let batches = data.train.len() / BATCH;
        Some(Pair { data, fp32, qat, batches })
    }

    fn batch(&self, i: usize) -> Vec<u32> {
        let b = i % self.batches;
        ((b * BATCH) as u32..((b + 1) * BATCH) as u32).collect()
    }

    fn fp32_step(&mut self, i: usize) -> f32 {
        let idx = self.batch(i);
        self.fp32.step(&self.data, &idx).expect("fp32 step")
    }

    fn qat_step(&mut self, i: usize) -> f32 {
        let idx = self.batch(i);
        qat::step(&mut self.qat, &self.data, &idx).expect("qat step")
    }

    /// Median over `rounds` of (QAT time / FP32 time) for `steps` steps each, alternating.
    fn ratio(&mut self, rounds: usize, steps: usize) -> (f64, f64, f64) {
        let (mut f, mut q, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let t = Instant::now();
            for s in 0..steps {
                std::hint::black_box(self.fp32_step(round * steps + s));
            }
            let tf = t.elapsed().as_secs_f64() / steps as f64;
            let t = Instant::now();
            for s in 0..steps {
                std::hint::black_box(self.qat_step(round * steps + s));
            }
            let tq = t.elapsed().as_secs_f64() / steps as f64;
            f.push(tf);
            q.push(tq);
            r.push(tq / tf);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        (median(&mut f), median(&mut q), median(&mut r))
    }
}

fn bench_pair(c: &mut Criterion, model: &str, dataset: &str) {
    // QAT_STEP_MODELS=ecg-ae (comma-separated) limits the run, setup included.
    if std::env::var("QAT_STEP_MODELS").is_ok_and(|m| !m.split(',').any(|m| m == model)) {
        return;
    }
    let Some(mut pair) = Pair::new(model, dataset) else { return };
    let mut group = c.benchmark_group(format!("{model}_batch{BATCH}"));
    group.sample_size(20).measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(2));
    let mut i = 0usize;
    group.bench_function("fp32_step", |b| {
        b.iter(|| {
            i += 1;
            pair.fp32_step(i)
        })
    });
    let mut i = 0usize;
    group.bench_function("qat_step", |b| {
        b.iter(|| {
            i += 1;
            pair.qat_step(i)
        })
    });
    group.finish();
    let (f, q, r) = pair.ratio(15, 20);
    println!("{model}: alternating 15 rounds x 20 steps: fp32 {:.3} ms/step, qat {:.3} ms/step, median ratio qat/fp32 {r:.2}x", f * 1e3, q * 1e3);
}

fn qat_vs_fp32(c: &mut Criterion) {
    exactq_trainer::cli::tune_malloc();
    let _ = rayon::ThreadPoolBuilder::new().num_threads(2).build_global();
    bench_pair(c, "ecg-ae", "ecg5000");
    bench_pair(c, "digits-cnn", "digits");
}

criterion_group!(benches, qat_vs_fp32);
criterion_main!(benches);
