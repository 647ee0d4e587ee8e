//! GMAC/s per CPU-second of the conv2d, depthwise and fully-connected kernels on the ResNet-8
//! shapes, measured with the thread's own on-CPU time (`/proc/thread-self/schedstat`, Linux)
//! so that a loaded, shared machine still gives per-core figures. Criterion (`benches/kernels.rs`)
//! measures wall time; this complements it.
//!
//! `cargo run --release -p exactq-benches --example kernel_cpu_time`

use std::hint::black_box;

use exactq_core::arith::activation::ActivationRange;
use exactq_core::arith::multiplier::QuantizedMultiplier;
use exactq_core::arith::requantize::{Profile, Requant};
use exactq_core::kernels::{
    conv2d, depthwise_conv2d, dot::dot_path, fully_connected, Conv2dParams, DepthwiseConv2dParams,
    FullyConnectedParams, Padding, Shape4,
};

fn on_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .expect("/proc/thread-self/schedstat is readable on Linux")
}

fn data(len: usize, seed: u32) -> Vec<i8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 24) as u8 as i8
        })
        .collect()
}

/// Runs `f` until at least 0.5 s of CPU time, returns MAC/s per CPU-second.
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
    let ns = (on_cpu_ns() - start) as f64;
    macs as f64 * iters as f64 / ns // MAC per ns = GMAC/s
}

fn main() {
    println!("dot path: {}", dot_path());
    for (size, ch) in [(28usize, 16usize), (14, 32), (7, 64)] {
        let m: Vec<QuantizedMultiplier> = (0..ch)
            .map(|i| QuantizedMultiplier::new(1_200_000_000 + i as i32, -9))
            .collect();
        let requant = Requant::per_channel(Profile::TfliteDouble, &m);
        let bias: Vec<i32> = (0..ch as i32).map(|i| i * 37 - 200).collect();
        let x = data(size * size * ch, 1);
        let conv = Conv2dParams {
            input: Shape4::new(1, size, size, ch),
            filter: Shape4::new(ch, 3, 3, ch),
            output: Shape4::new(1, size, size, ch),
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            padding: Padding::new(1, 1, 1, 1),
            input_zero_point: -3,
            output_zero_point: 5,
            activation: ActivationRange::FULL,
        };
        let w = data(ch * 9 * ch, 2);
        let mut out = vec![0i8; size * size * ch];
        let mut scratch = vec![0i16; conv.scratch_len()];
        let g = measure((size * size * ch * 9 * ch) as u64, || {
            conv2d(
                &conv,
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

        let dw = DepthwiseConv2dParams {
            input: Shape4::new(1, size, size, ch),
            filter: Shape4::new(1, 3, 3, ch),
            output: Shape4::new(1, size, size, ch),
            depth_multiplier: 1,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            padding: Padding::new(1, 1, 1, 1),
            input_zero_point: -3,
            output_zero_point: 5,
            activation: ActivationRange::FULL,
        };
        let wd = data(9 * ch, 3);
        let mut scratch32 = vec![0i32; dw.scratch_len()];
        let g = measure((size * size * ch * 9) as u64, || {
            depthwise_conv2d(
                &dw,
                &requant,
                black_box(&x),
                &wd,
                Some(&bias),
                &mut out,
                &mut scratch32,
            )
            .unwrap()
        });
        println!("depthwise 3x3 {size}x{size}x{ch}: {g:.2} GMAC/s per CPU-second");
    }
    for (batches, k, o) in [(32usize, 64usize, 10usize), (32, 576, 64)] {
        let fc = FullyConnectedParams {
            batches,
            input_depth: k,
            output_depth: o,
            input_zero_point: -3,
            weights_zero_point: 0,
            output_zero_point: 5,
            activation: ActivationRange::FULL,
        };
        let m: Vec<QuantizedMultiplier> = (0..o)
            .map(|i| QuantizedMultiplier::new(1_200_000_000 + i as i32, -9))
            .collect();
        let requant = Requant::per_channel(Profile::TfliteDouble, &m);
        let bias: Vec<i32> = (0..o as i32).collect();
        let x = data(batches * k, 4);
        let w = data(o * k, 5);
        let mut out = vec![0i8; batches * o];
        let mut scratch = vec![0i16; fc.scratch_len()];
        let g = measure((batches * k * o) as u64, || {
            fully_connected(
                &fc,
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
