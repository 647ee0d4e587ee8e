//! QAT against FP32 training cost, side by side in one run (issue 6: "QAT epoch time ≤ 2× the
//! FP32 epoch time of the same network").
//!
//! For `ecg-ae` on ECG5000, `digits-cnn` on digits and `resnet8` on Fashion-MNIST (2 threads,
//! the batch sizes `exactq run` uses: FP32 32, or 128 for resnet8; QAT 32) it builds the float
//! network (trained one epoch; resnet8 only 30 steps, timing does not need more), its PTQ
//! model (BN folded, min-max on 300 training samples, `tflite-double`) and fine-tuning state,
//! then times
//! - `fp32_step`: one Adam step of the float network (`Session::step`, the `exactq train` path);
//! - `qat_step`: one fine-tuning step with the exact int8 forward (`quant::qat::step`, the
//!   `exactq finetune` path)
//!
//! on the same samples. Criterion reports each; the ratio is printed last, per training sample,
//! from rounds that alternate 640 samples of FP32 steps and 640 of QAT steps (median over the
//! rounds), so both sides see the same machine load. An epoch is these steps over the training
//! split plus a validation pass, so the per-sample ratio is the epoch ratio's training part.
//!
//! `cargo bench -p exactq-benches --bench qat_step` (criterion flags such as
//! `-- --warm-up-time 1 --measurement-time 3` shorten it; `QAT_STEP_MODELS=ecg-ae,resnet8`
//! picks networks)

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

/// Fine-tuning batch (`exactq finetune`'s default).
const QAT_BATCH: usize = 32;
/// Training samples per side in one round of [`Pair::ratio`].
const ROUND_SAMPLES: usize = 640;

struct Pair {
    data: Dataset,
    fp32: Session,
    qat: QuantState,
    fp32_batch: usize,
}

impl Pair {
    /// `warm_steps`: FP32 steps before quantizing (`None`: one epoch).
    fn new(model: &str, dataset: &str, fp32_batch: usize, warm_steps: Option<usize>) -> Option<Pair> {
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
        let cfg = RunConfig { arch, batch_size: fp32_batch, seed: 0, optimizer: OptimizerConfig::adam(1e-3), cosine_epochs: 0 };
        let mut fp32 = Session::new(&cfg, &data).expect("session");
        match warm_steps {
            None => {
                fp32.train_epoch(&data, &mut |_| {}).expect("fp32 epoch");
            }
            Some(n) => {
                for i in 0..n {
                    fp32.step(&data, &batch(data.train.len(), fp32_batch, i)).expect("fp32 step");
                }
            }
        }
        let (mut qat, _) = exactq_trainer::cli::quantize::ptq(&fp32.state, &data, &PtqConfig::default()).expect("ptq");
        qat::begin(&mut qat, &QatConfig { lr: 1e-5, scale_lr: 1e-5, batch_size: QAT_BATCH, seed: 0 }).expect("qat state");
        Some(Pair { data, fp32, qat, fp32_batch })
    }

    fn fp32_step(&mut self, i: usize) -> f32 {
        let idx = batch(self.data.train.len(), self.fp32_batch, i);
        self.fp32.step(&self.data, &idx).expect("fp32 step")
    }

    fn qat_step(&mut self, i: usize) -> f32 {
        let idx = batch(self.data.train.len(), QAT_BATCH, i);
        qat::step(&mut self.qat, &self.data, &idx).expect("qat step")
    }

    /// Medians over `rounds` of (FP32 s/sample, QAT s/sample, their ratio), each round
    /// [`ROUND_SAMPLES`] samples of FP32 steps then as many of QAT steps.
    fn ratio(&mut self, rounds: usize) -> (f64, f64, f64) {
        let (mut f, mut q, mut r) = (Vec::new(), Vec::new(), Vec::new());
        let (fp32_steps, qat_steps) = (ROUND_SAMPLES.div_ceil(self.fp32_batch), ROUND_SAMPLES.div_ceil(QAT_BATCH));
        for round in 0..rounds {
            let t = Instant::now();
            for s in 0..fp32_steps {
                std::hint::black_box(self.fp32_step(round * fp32_steps + s));
            }
            let tf = t.elapsed().as_secs_f64() / (fp32_steps * self.fp32_batch) as f64;
            let t = Instant::now();
            for s in 0..qat_steps {
                std::hint::black_box(self.qat_step(round * qat_steps + s));
            }
            let tq = t.elapsed().as_secs_f64() / (qat_steps * QAT_BATCH) as f64;
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

/// Training samples of batch `i` (consecutive, wrapping over the split).
fn batch(len: usize, batch: usize, i: usize) -> Vec<u32> {
    let b = i % (len / batch).max(1);
    ((b * batch) as u32..((b + 1) * batch) as u32).collect()
}

fn bench_pair(c: &mut Criterion, model: &str, dataset: &str, fp32_batch: usize, warm_steps: Option<usize>) {
    // QAT_STEP_MODELS=ecg-ae (comma-separated) limits the run, setup included.
    if std::env::var("QAT_STEP_MODELS").is_ok_and(|m| !m.split(',').any(|m| m == model)) {
        return;
    }
    let Some(mut pair) = Pair::new(model, dataset, fp32_batch, warm_steps) else { return };
    let mut group = c.benchmark_group(format!("{model}_fp32batch{fp32_batch}_qatbatch{QAT_BATCH}"));
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
    let (f, q, r) = pair.ratio(15);
    println!(
        "{model}: alternating 15 rounds x {ROUND_SAMPLES} samples: fp32 (batch {fp32_batch}) {:.1} us/sample, qat (batch {QAT_BATCH}) {:.1} us/sample, median ratio qat/fp32 {r:.2}x",
        f * 1e6,
        q * 1e6
    );
}

fn qat_vs_fp32(c: &mut Criterion) {
    exactq_trainer::cli::tune_malloc();
    let _ = rayon::ThreadPoolBuilder::new().num_threads(2).build_global();
    bench_pair(c, "ecg-ae", "ecg5000", 32, None);
    bench_pair(c, "digits-cnn", "digits", 32, None);
    bench_pair(c, "resnet8", "fashion-mnist", 128, Some(30));
}

criterion_group!(benches, qat_vs_fp32);
criterion_main!(benches);
