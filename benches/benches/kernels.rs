//! Kernel throughput on the ResNet-8 layer shapes (28x28x16, 14x14x32, 7x7x64, 3x3 kernels),
//! in multiply-accumulates per second, beside a naive scalar loop as the ratio baseline.
//!
//! `cargo bench -p exactq-benches --bench kernels`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use exactq_benches as fx;
use exactq_core::arith::multiplier::QuantizedMultiplier;
use exactq_core::arith::requantize::{multiply_by_quantized_multiplier_double, Profile, Requant};
use exactq_core::kernels::{
    conv2d, depthwise_conv2d, fully_connected, Conv2dParams, DepthwiseConv2dParams,
    FullyConnectedParams,
};

/// The baseline: the reference loop nest, scalar, with bounds checks, one output at a time.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    p: &Conv2dParams,
    m: &[QuantizedMultiplier],
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    out: &mut [i8],
) {
    let (ih, iw, ic) = (p.input.h, p.input.w, p.input.c);
    let (kh, kw) = (p.filter.h, p.filter.w);
    for oy in 0..p.output.h {
        for ox in 0..p.output.w {
            for oc in 0..p.output.c {
                let mut acc = bias[oc];
                for fy in 0..kh {
                    for fx in 0..kw {
                        let iy = (oy * p.stride_h + fy) as isize - p.padding.top as isize;
                        let ix = (ox * p.stride_w + fx) as isize - p.padding.left as isize;
                        if iy < 0 || ix < 0 || iy >= ih as isize || ix >= iw as isize {
                            continue;
                        }
                        for c in 0..ic {
                            let xv = x[(iy as usize * iw + ix as usize) * ic + c] as i32
                                - p.input_zero_point;
                            acc += xv * w[((oc * kh + fy) * kw + fx) * ic + c] as i32;
                        }
                    }
                }
                let v = multiply_by_quantized_multiplier_double(acc, m[oc].multiplier, m[oc].shift);
                out[(oy * p.output.w + ox) * p.output.c + oc] =
                    (v + p.output_zero_point).clamp(-128, 127) as i8;
            }
        }
    }
}

fn naive_depthwise(
    p: &DepthwiseConv2dParams,
    m: &[QuantizedMultiplier],
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    out: &mut [i8],
) {
    let (ih, iw, c) = (p.input.h, p.input.w, p.input.c);
    let (kh, kw) = (p.filter.h, p.filter.w);
    for oy in 0..p.output.h {
        for ox in 0..p.output.w {
            for ch in 0..c {
                let mut acc = bias[ch];
                for fy in 0..kh {
                    for fx in 0..kw {
                        let iy = (oy * p.stride_h + fy) as isize - p.padding.top as isize;
                        let ix = (ox * p.stride_w + fx) as isize - p.padding.left as isize;
                        if iy < 0 || ix < 0 || iy >= ih as isize || ix >= iw as isize {
                            continue;
                        }
                        let xv = x[(iy as usize * iw + ix as usize) * c + ch] as i32
                            - p.input_zero_point;
                        acc += xv * w[(fy * kw + fx) * c + ch] as i32;
                    }
                }
                let v = multiply_by_quantized_multiplier_double(acc, m[ch].multiplier, m[ch].shift);
                out[(oy * p.output.w + ox) * c + ch] =
                    (v + p.output_zero_point).clamp(-128, 127) as i8;
            }
        }
    }
}

fn naive_fc(
    p: &FullyConnectedParams,
    m: &[QuantizedMultiplier],
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    out: &mut [i8],
) {
    for b in 0..p.batches {
        for o in 0..p.output_depth {
            let mut acc = bias[o];
            for k in 0..p.input_depth {
                acc += (x[b * p.input_depth + k] as i32 - p.input_zero_point)
                    * w[o * p.input_depth + k] as i32;
            }
            let v = multiply_by_quantized_multiplier_double(acc, m[o].multiplier, m[o].shift);
            out[b * p.output_depth + o] = (v + p.output_zero_point).clamp(-128, 127) as i8;
        }
    }
}

fn bench_conv(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv2d_3x3");
    for (size, ch) in fx::RESNET8_STAGES {
        let p = fx::conv3x3(size, ch);
        let x = fx::data(size * size * ch, 1);
        let w = fx::data(ch * 9 * ch, 2);
        let bias = fx::bias(ch);
        let m = fx::multipliers(ch);
        let requant = Requant::per_channel(Profile::TfliteDouble, &m);
        let mut out = vec![0i8; size * size * ch];
        let mut scratch = vec![0i16; p.scratch_len()];
        group.throughput(Throughput::Elements(fx::conv_macs(&p)));
        let id = format!("{size}x{size}x{ch}");
        group.bench_function(BenchmarkId::new("exactq", &id), |b| {
            b.iter(|| {
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
            })
        });
        let mut naive_out = vec![0i8; out.len()];
        conv2d(&p, &requant, &x, &w, Some(&bias), &mut out, &mut scratch).unwrap();
        naive_conv(&p, &m, &x, &w, &bias, &mut naive_out);
        assert_eq!(out, naive_out, "benchmarked kernel and baseline disagree");
        group.bench_function(BenchmarkId::new("naive", &id), |b| {
            b.iter(|| naive_conv(&p, &m, black_box(&x), &w, &bias, &mut naive_out))
        });
    }
    group.finish();
}

fn bench_depthwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("depthwise_3x3");
    for (size, ch) in fx::RESNET8_STAGES {
        let p = fx::depthwise3x3(size, ch);
        let x = fx::data(size * size * ch, 3);
        let w = fx::data(9 * ch, 4);
        let bias = fx::bias(ch);
        let m = fx::multipliers(ch);
        let requant = Requant::per_channel(Profile::TfliteDouble, &m);
        let mut out = vec![0i8; size * size * ch];
        let mut scratch = vec![0i32; p.scratch_len()];
        group.throughput(Throughput::Elements(fx::depthwise_macs(&p)));
        let id = format!("{size}x{size}x{ch}");
        group.bench_function(BenchmarkId::new("exactq", &id), |b| {
            b.iter(|| {
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
            })
        });
        let mut naive_out = vec![0i8; out.len()];
        depthwise_conv2d(&p, &requant, &x, &w, Some(&bias), &mut out, &mut scratch).unwrap();
        naive_depthwise(&p, &m, &x, &w, &bias, &mut naive_out);
        assert_eq!(out, naive_out, "benchmarked kernel and baseline disagree");
        group.bench_function(BenchmarkId::new("naive", &id), |b| {
            b.iter(|| naive_depthwise(&p, &m, black_box(&x), &w, &bias, &mut naive_out))
        });
    }
    group.finish();
}

fn bench_fc(c: &mut Criterion) {
    let mut group = c.benchmark_group("fully_connected");
    for (batches, k, o) in fx::FC_SHAPES {
        let p = fx::fully_connected(batches, k, o);
        let x = fx::data(batches * k, 5);
        let w = fx::data(o * k, 6);
        let bias = fx::bias(o);
        let m = fx::multipliers(o);
        let requant = Requant::per_channel(Profile::TfliteDouble, &m);
        let mut out = vec![0i8; batches * o];
        let mut scratch = vec![0i16; p.scratch_len()];
        group.throughput(Throughput::Elements(fx::fc_macs(&p)));
        let id = format!("{batches}x{k}->{o}");
        group.bench_function(BenchmarkId::new("exactq", &id), |b| {
            b.iter(|| {
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
            })
        });
        let mut naive_out = vec![0i8; out.len()];
        fully_connected(&p, &requant, &x, &w, Some(&bias), &mut out, &mut scratch).unwrap();
        naive_fc(&p, &m, &x, &w, &bias, &mut naive_out);
        assert_eq!(out, naive_out, "benchmarked kernel and baseline disagree");
        group.bench_function(BenchmarkId::new("naive", &id), |b| {
            b.iter(|| naive_fc(&p, &m, black_box(&x), &w, &bias, &mut naive_out))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_conv, bench_depthwise, bench_fc);
criterion_main!(benches);
