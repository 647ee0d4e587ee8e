//! Times one convolution layer (forward, and forward + backward) at resnet8's shapes, batch 128:
//! `cargo run --release -p exactq-trainer --example conv_probe -- [THREADS]`. Best of 7 runs.

use std::time::Instant;

use exactq_trainer::nn::graph::Conv2dSpec;
use exactq_trainer::nn::ops::conv2d::conv2d;
use exactq_trainer::nn::{loss, Tape};

fn main() {
    exactq_trainer::cli::tune_malloc();
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().unwrap();
    for (hw, c_in, c_out, stride, k) in [(28, 16, 16, 1, 3), (28, 16, 32, 2, 3), (14, 32, 32, 1, 3), (7, 64, 64, 1, 3), (28, 16, 32, 2, 1)] {
        let spec = Conv2dSpec::square(c_in, c_out, k, stride, k / 2, false);
        let x: Vec<f32> = (0..128 * hw * hw * c_in).map(|i| ((i % 97) as f32 - 48.0) / 50.0).collect();
        let w: Vec<f32> = (0..spec.weight_shape().iter().product()).map(|i| ((i % 13) as f32 - 6.0) / 20.0).collect();
        let (mut best_f, mut best_fb) = (f64::MAX, f64::MAX);
        for _ in 0..7 {
            let mut tape = Tape::recording();
            let xv = tape.var(x.clone(), vec![128, hw, hw, c_in]).unwrap();
            let wv = tape.var(w.clone(), spec.weight_shape()).unwrap();
            let t0 = Instant::now();
            let y = conv2d(&mut tape, &xv, &wv, None, &spec).unwrap();
            let t1 = Instant::now();
            let target = vec![0.0; y.len()];
            let (_, mut g) = loss::mse(&mut tape, &y, &target).unwrap();
            let _ = g.of(&wv);
            let t2 = Instant::now();
            best_f = best_f.min((t1 - t0).as_secs_f64());
            best_fb = best_fb.min((t2 - t0).as_secs_f64());
        }
        println!("{hw}x{hw} {c_in}->{c_out} k{k} s{stride}: forward {:.1} ms, forward+backward {:.1} ms", best_f * 1e3, best_fb * 1e3);
    }
}
