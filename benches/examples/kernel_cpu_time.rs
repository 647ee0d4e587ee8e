//! GMAC/s per CPU-second of the conv2d, depthwise and fully-connected kernels on the ResNet-8
//! shapes, measured with the thread's own on-CPU time (`/proc/thread-self/schedstat`, Linux)
//! so that a loaded, shared machine still gives per-core figures. Criterion (`benches/kernels.rs`)
//! measures wall time; this complements it.
//!
//! `cargo run --release -p exactq-benches --example kernel_cpu_time`

use std::hint::black_box;

use exactq_benches as fx;
use exactq_core::arith::requantize::{Profile, Requant};
use exactq_core::kernels::{conv2d, depthwise_conv2d, dot::dot_path, fully_connected};

fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .expect("/proc/thread-self/schedstat is readable on Linux")
}

/// Runs `f` for at least 0.5 s of CPU time; returns MAC per CPU-nanosecond (= GMAC/s).
fn measure(macs: u64, mut f: impl FnMut()) -> f64 {
    f();
    let start = on_cpu_ns();
    let mut iters = 0u64;
    while on_cpu_ns() - start < 500_000_000 {
        for _ in 0..10 {
            f();
        }
        iters += 10;
    }
    macs as f64 * iters as f64 / (on_cpu_ns() - start) as f64
}

fn main() {
    println!("inner-product path: {}", dot_path());
    for (size, ch) in fx::RESNET8_STAGES {
        let m = fx::multipliers(ch);
        let requant = Requant::per_channel(Profile::TfliteDouble, &m);
        let (x, bias) = (fx::data(size * size * ch, 1), fx::bias(ch));
        let mut out = vec![0i8; size * size * ch];

        let p = fx::conv3x3(size, ch);
        let w = fx::data(ch * 9 * ch, 2);
        let mut scratch = vec![0i16; p.scratch_len()];
        let g = measure(fx::conv_macs(&p), || {
            conv2d(
                &p,
                &requant,
                black_box(&x),
                &w,
                Some(&bias),
                &mut out,
                &mut scratch,
            )
            .unwrap()
        });
        println!("conv2d 3x3 {size}x{size}x{ch} -> {ch}: {g:.2} GMAC/s per CPU-second");

        let p = fx::depthwise3x3(size, ch);
        let w = fx::data(9 * ch, 3);
        let mut scratch = vec![0i32; p.scratch_len()];
        let g = measure(fx::depthwise_macs(&p), || {
            depthwise_conv2d(
                &p,
                &requant,
                black_box(&x),
                &w,
                Some(&bias),
                &mut out,
                &mut scratch,
            )
            .unwrap()
        });
        println!("depthwise 3x3 {size}x{size}x{ch}: {g:.2} GMAC/s per CPU-second");
    }
    for (batches, k, o) in fx::FC_SHAPES {
        let p = fx::fully_connected(batches, k, o);
        let m = fx::multipliers(o);
        let requant = Requant::per_channel(Profile::TfliteDouble, &m);
        let (x, w, bias) = (fx::data(batches * k, 4), fx::data(o * k, 5), fx::bias(o));
        let mut out = vec![0i8; batches * o];
        let mut scratch = vec![0i16; p.scratch_len()];
        let g = measure(fx::fc_macs(&p), || {
            fully_connected(
                &p,
                &requant,
                black_box(&x),
                &w,
                Some(&bias),
                &mut out,
                &mut scratch,
            )
            .unwrap()
        });
        println!("fully_connected {batches}x{k} -> {o}: {g:.2} GMAC/s per CPU-second");
    }
}
