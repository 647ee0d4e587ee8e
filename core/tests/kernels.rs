//! Kernels against naive loop-nest oracles (i128 accumulators, the requantization oracles of
//! `common`) on random shapes, the SIMD inner products against the portable ones, and bad input.
mod common;

use common::Lcg;
use exactq_core::arith::activation::ActivationRange;
use exactq_core::arith::multiplier::{AddMultipliers, QuantizedMultiplier, SoftmaxMultiplier};
use exactq_core::arith::requantize::{Profile, Requant};
use exactq_core::kernels::dot::{dots_2xn, dots_2xn_portable};
use exactq_core::kernels::*;
use exactq_core::Error;
use proptest::prelude::*;

const KERNEL_CASES: u32 = 400;

fn requant_oracle(acc: i128, m: QuantizedMultiplier, profile: Profile) -> i32 {
    let acc = common::wrap_i32(acc);
    match profile {
        Profile::TfliteDouble => common::mbqm_double(acc, m.multiplier, m.shift),
        _ => common::mbqm_single(acc, m.multiplier, m.shift),
    }
}

fn out_i8(v: i32, zp: i32, act: ActivationRange) -> i8 {
    (v as i64 + zp as i64).clamp(act.min as i64, act.max as i64) as i8
}

fn profile_of(b: bool) -> Profile {
    if b {
        Profile::TfliteDouble
    } else {
        Profile::TfliteSingle
    }
}

fn multipliers(rng: &mut Lcg, n: usize) -> Vec<QuantizedMultiplier> {
    (0..n)
        .map(|_| QuantizedMultiplier::new(rng.range(1 << 30, i32::MAX), rng.range(-14, 1)))
        .collect()
}

fn activation(rng: &mut Lcg) -> ActivationRange {
    let a = rng.range(-128, 127);
    let b = rng.range(-128, 127);
    if rng.range(0, 2) == 0 {
        ActivationRange::FULL
    } else {
        ActivationRange::new(a.min(b), a.max(b))
    }
}

/// (in, kernel, stride, dilation, pad_before, pad_after) for one spatial dimension, valid.
fn dim() -> impl Strategy<Value = (usize, usize, usize, usize, usize, usize)> {
    (
        1usize..9,
        1usize..4,
        1usize..4,
        1usize..3,
        0usize..3,
        0usize..3,
    )
        .prop_filter("window fits", |(i, k, _, d, a, b)| i + a + b > (k - 1) * d)
}

fn out_size((i, k, s, d, a, b): (usize, usize, usize, usize, usize, usize)) -> usize {
    (i + a + b - ((k - 1) * d + 1)) / s + 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(KERNEL_CASES))]

    #[test]
    fn conv2d_matches_loop_nest(
        dy in dim(), dx in dim(), n in 1usize..3, cin_g in 1usize..6, groups in 1usize..4,
        out_g in 1usize..7, bias in any::<bool>(), double in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = Lcg(seed);
        let (in_c, out_c) = (cin_g * groups, out_g * groups);
        let p = Conv2dParams {
            input: Shape4::new(n, dy.0, dx.0, in_c),
            filter: Shape4::new(out_c, dy.1, dx.1, cin_g),
            output: Shape4::new(n, out_size(dy), out_size(dx), out_c),
            stride_h: dy.2, stride_w: dx.2, dilation_h: dy.3, dilation_w: dx.3,
            padding: Padding::new(dy.4, dx.4, dy.5, dx.5),
            input_zero_point: rng.range(-128, 127),
            output_zero_point: rng.range(-128, 127),
            activation: activation(&mut rng),
        };
        let x = rng.vec_i8(p.input.elements().unwrap());
        let w = rng.vec_i8(p.filter.elements().unwrap());
        let b: Vec<i32> = (0..out_c).map(|_| rng.range(-100_000, 100_000)).collect();
        let ms = multipliers(&mut rng, out_c);
        let profile = profile_of(double);
        let mut out = vec![0i8; p.output.elements().unwrap()];
        let mut scratch = vec![0i16; p.scratch_len()];
        let bias_opt = if bias { Some(&b[..]) } else { None };
        conv2d(&p, &Requant::per_channel(profile, &ms), &x, &w, bias_opt, &mut out, &mut scratch).unwrap();

        let (ih, iw, oh, ow) = (p.input.h as isize, p.input.w as isize, p.output.h, p.output.w);
        let mut expected = Vec::new();
        for bn in 0..n { for oy in 0..oh { for ox in 0..ow { for oc in 0..out_c {
            let g = oc / out_g;
            let mut acc: i128 = if bias { b[oc] as i128 } else { 0 };
            for fy in 0..dy.1 { for fx in 0..dx.1 {
                let iy = (oy * dy.2 + fy * dy.3) as isize - dy.4 as isize;
                let ix = (ox * dx.2 + fx * dx.3) as isize - dx.4 as isize;
                if iy < 0 || ix < 0 || iy >= ih || ix >= iw { continue; }
                for ic in 0..cin_g {
                    let xi = ((bn * dy.0 + iy as usize) * dx.0 + ix as usize) * in_c + g * cin_g + ic;
                    let wi = ((oc * dy.1 + fy) * dx.1 + fx) * cin_g + ic;
                    acc += (x[xi] as i128 - p.input_zero_point as i128) * w[wi] as i128;
                }
            }}
            expected.push(out_i8(requant_oracle(acc, ms[oc], profile), p.output_zero_point, p.activation));
        }}}}
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn depthwise_matches_loop_nest(
        dy in dim(), dx in dim(), n in 1usize..3, in_c in 1usize..7, dm in 1usize..4,
        bias in any::<bool>(), double in any::<bool>(), per_tensor in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = Lcg(seed);
        let out_c = in_c * dm;
        let p = DepthwiseConv2dParams {
            input: Shape4::new(n, dy.0, dx.0, in_c),
            filter: Shape4::new(1, dy.1, dx.1, out_c),
            output: Shape4::new(n, out_size(dy), out_size(dx), out_c),
            depth_multiplier: dm,
            stride_h: dy.2, stride_w: dx.2, dilation_h: dy.3, dilation_w: dx.3,
            padding: Padding::new(dy.4, dx.4, dy.5, dx.5),
            input_zero_point: rng.range(-128, 127),
            output_zero_point: rng.range(-128, 127),
            activation: activation(&mut rng),
        };
        let x = rng.vec_i8(p.input.elements().unwrap());
        let w = rng.vec_i8(p.filter.elements().unwrap());
        let b: Vec<i32> = (0..out_c).map(|_| rng.range(-100_000, 100_000)).collect();
        let ms = multipliers(&mut rng, if per_tensor { 1 } else { out_c });
        let profile = profile_of(double);
        let mut out = vec![0i8; p.output.elements().unwrap()];
        let mut scratch = vec![0i32; p.scratch_len()];
        let bias_opt = if bias { Some(&b[..]) } else { None };
        depthwise_conv2d(&p, &Requant::per_channel(profile, &ms), &x, &w, bias_opt, &mut out, &mut scratch).unwrap();

        let (ih, iw) = (dy.0 as isize, dx.0 as isize);
        let mut expected = Vec::new();
        for bn in 0..n { for oy in 0..p.output.h { for ox in 0..p.output.w { for oc in 0..out_c {
            let ic = oc / dm;
            let mut acc: i128 = if bias { b[oc] as i128 } else { 0 };
            for fy in 0..dy.1 { for fx in 0..dx.1 {
                let iy = (oy * dy.2 + fy * dy.3) as isize - dy.4 as isize;
                let ix = (ox * dx.2 + fx * dx.3) as isize - dx.4 as isize;
                if iy < 0 || ix < 0 || iy >= ih || ix >= iw { continue; }
                let xv = x[((bn * dy.0 + iy as usize) * dx.0 + ix as usize) * in_c + ic] as i128;
                acc += (xv - p.input_zero_point as i128) * w[(fy * dx.1 + fx) * out_c + oc] as i128;
            }}
            let m = if per_tensor { ms[0] } else { ms[oc] };
            expected.push(out_i8(requant_oracle(acc, m, profile), p.output_zero_point, p.activation));
        }}}}
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn fully_connected_matches_loop_nest(
        batches in 1usize..5, k in 1usize..70, o in 1usize..20, wzp in any::<bool>(),
        per_tensor in any::<bool>(), bias in any::<bool>(), double in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = Lcg(seed);
        let p = FullyConnectedParams {
            batches, input_depth: k, output_depth: o,
            input_zero_point: rng.range(-128, 127),
            weights_zero_point: if wzp { rng.range(-128, 127) } else { 0 },
            output_zero_point: rng.range(-128, 127),
            activation: activation(&mut rng),
        };
        let x = rng.vec_i8(batches * k);
        let w = rng.vec_i8(o * k);
        let b: Vec<i32> = (0..o).map(|_| rng.range(-100_000, 100_000)).collect();
        let ms = multipliers(&mut rng, if per_tensor { 1 } else { o });
        let profile = profile_of(double);
        let mut out = vec![0i8; batches * o];
        let mut scratch = vec![0i16; p.scratch_len()];
        let bias_opt = if bias { Some(&b[..]) } else { None };
        fully_connected(&p, &Requant::per_channel(profile, &ms), &x, &w, bias_opt, &mut out, &mut scratch).unwrap();
        let mut expected = Vec::new();
        for bn in 0..batches { for oc in 0..o {
            let mut acc: i128 = if bias { b[oc] as i128 } else { 0 };
            for d in 0..k {
                acc += (w[oc * k + d] as i128 - p.weights_zero_point as i128) * (x[bn * k + d] as i128 - p.input_zero_point as i128);
            }
            let m = if per_tensor { ms[0] } else { ms[oc] };
            expected.push(out_i8(requant_oracle(acc, m, profile), p.output_zero_point, p.activation));
        }}
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn pools_match_loop_nest(
        dy in dim(), dx in dim(), n in 1usize..3, c in 1usize..70, seed in any::<u64>(),
    ) {
        // Pools have no dilation; windows must touch the image.
        let (dy, dx) = ((dy.0, dy.1, dy.2, 1, dy.4.min(dy.1 - 1), dy.5.min(dy.1 - 1)), (dx.0, dx.1, dx.2, 1, dx.4.min(dx.1 - 1), dx.5.min(dx.1 - 1)));
        prop_assume!(dy.0 + dy.4 + dy.5 >= dy.1 && dx.0 + dx.4 + dx.5 >= dx.1);
        let mut rng = Lcg(seed);
        let input = Shape4::new(n, dy.0, dx.0, c);
        let output = Shape4::new(n, out_size(dy), out_size(dx), c);
        let act = activation(&mut rng);
        let x = rng.vec_i8(input.elements().unwrap());
        let ph = Padding::new(dy.4, dx.4, dy.5, dx.5);
        let avg_p = AvgPool2dParams { input, output, filter_h: dy.1, filter_w: dx.1, stride_h: dy.2, stride_w: dx.2, padding: ph, activation: act };
        let max_p = MaxPool2dParams { input, output, filter_h: dy.1, filter_w: dx.1, stride_h: dy.2, stride_w: dx.2, padding: ph, activation: act };
        let mut avg = vec![0i8; output.elements().unwrap()];
        let mut max = vec![0i8; output.elements().unwrap()];
        let avg_result = avg_pool2d(&avg_p, &x, &mut avg);
        max_pool2d(&max_p, &x, &mut max).unwrap();
        let mut want_avg = Vec::new();
        let mut want_max = Vec::new();
        let mut empty_window = false;
        for bn in 0..n { for oy in 0..output.h { for ox in 0..output.w { for ch in 0..c {
            let (mut sum, mut count, mut mx) = (0i128, 0i128, -128i32);
            for fy in 0..dy.1 { for fx in 0..dx.1 {
                let iy = (oy * dy.2 + fy) as isize - dy.4 as isize;
                let ix = (ox * dx.2 + fx) as isize - dx.4 as isize;
                if iy < 0 || ix < 0 || iy >= dy.0 as isize || ix >= dx.0 as isize { continue; }
                let v = x[((bn * dy.0 + iy as usize) * dx.0 + ix as usize) * c + ch] as i32;
                sum += v as i128; count += 1; mx = mx.max(v);
            }}
            if count == 0 { empty_window = true; count = 1; }
            want_avg.push((common::round_half_away_div(sum, count) as i32).clamp(act.min, act.max) as i8);
            want_max.push(mx.clamp(act.min, act.max) as i8);
        }}}}
        if empty_window {
            prop_assert_eq!(avg_result, Err(Error::InvalidParameter));
        } else {
            avg_result.unwrap();
            prop_assert_eq!(avg, want_avg);
            prop_assert_eq!(max, want_max);
        }
    }

    #[test]
    fn elementwise_ops_match_definitions(len in 1usize..200, double in any::<bool>(), seed in any::<u64>()) {
        let mut rng = Lcg(seed);
        let profile = profile_of(double);
        let a = rng.vec_i8(len);
        let b = rng.vec_i8(len);
        let (z1, z2, zo) = (rng.range(-128, 127), rng.range(-128, 127), rng.range(-128, 127));
        let act = activation(&mut rng);
        // ADD: three rescales with shifts <= 0 after a left shift of 20.
        let q = |rng: &mut Lcg, lo: i32| QuantizedMultiplier::new(rng.range(1 << 30, i32::MAX), rng.range(lo, 0));
        let am = AddMultipliers { left_shift: 20, input1: q(&mut rng, -3), input2: q(&mut rng, -3), output: q(&mut rng, -22) };
        let ap = AddParams { len, input1_zero_point: z1, input2_zero_point: z2, output_zero_point: zo, multipliers: am, profile, activation: act };
        let mut out = vec![0i8; len];
        add(&ap, &a, &b, &mut out).unwrap();
        for i in 0..len {
            let ra = requant_oracle(((a[i] as i32 - z1) as i128) << 20, am.input1, profile);
            let rb = requant_oracle(((b[i] as i32 - z2) as i128) << 20, am.input2, profile);
            let r = requant_oracle(ra as i128 + rb as i128, am.output, profile);
            prop_assert_eq!(out[i], out_i8(r, zo, act));
        }
        // MUL
        let mm = QuantizedMultiplier::new(rng.range(1 << 30, i32::MAX), rng.range(-16, 0));
        let mp = MulParams { len, input1_zero_point: z1, input2_zero_point: z2, output_zero_point: zo, activation: act };
        mul(&mp, &Requant::per_tensor(profile, &mm), &a, &b, &mut out).unwrap();
        for i in 0..len {
            let prod = (a[i] as i128 - z1 as i128) * (b[i] as i128 - z2 as i128);
            prop_assert_eq!(out[i], out_i8(requant_oracle(prod, mm, profile), zo, act));
        }
        // REQUANTIZE
        let rm = QuantizedMultiplier::new(rng.range(1 << 30, i32::MAX), rng.range(-6, 3));
        let rp = RequantizeParams { len, input_zero_point: z1, output_zero_point: zo };
        requantize(&rp, &Requant::per_tensor(profile, &rm), &a, &mut out).unwrap();
        for i in 0..len {
            prop_assert_eq!(out[i], out_i8(requant_oracle(a[i] as i128 - z1 as i128, rm, profile), zo, ActivationRange::FULL));
        }
    }

    #[test]
    fn mean_matches_definition(n in 1usize..3, h in 1usize..9, w in 1usize..9, c in 1usize..20, double in any::<bool>(), seed in any::<u64>()) {
        let mut rng = Lcg(seed);
        let profile = profile_of(double);
        let p = MeanParams { input: Shape4::new(n, h, w, c), input_zero_point: rng.range(-128, 127), output_zero_point: rng.range(-128, 127) };
        let m = QuantizedMultiplier::new(rng.range(1 << 30, i32::MAX), rng.range(-2, 1));
        let x = rng.vec_i8(n * h * w * c);
        let mut out = vec![0i8; n * c];
        let mut scratch = vec![0i32; p.scratch_len()];
        mean_hw(&p, &Requant::per_tensor(profile, &m), &x, &mut out, &mut scratch).unwrap();
        for bn in 0..n { for ch in 0..c {
            let sum: i128 = (0..h * w).map(|px| x[(bn * h * w + px) * c + ch] as i128 - p.input_zero_point as i128).sum();
            // TFLM `QuantizedMeanOrSum`: 1/n folded into the multiplier, then one requantization.
            let count = (h * w) as i64;
            let k = (63 - (count as u64).leading_zeros() as i32).min(32).min(31 + m.shift);
            let folded = QuantizedMultiplier::new((((m.multiplier as i64) << k) / count) as i32, m.shift - k);
            let avg = requant_oracle(sum, folded, profile);
            prop_assert_eq!(out[bn * c + ch], out_i8(avg, p.output_zero_point, ActivationRange::FULL));
        }}
    }

    #[test]
    fn softmax_tracks_float_softmax(rows in 1usize..4, depth in 1usize..40, scale in 0.01f32..0.2, double in any::<bool>(), seed in any::<u64>()) {
        let mut rng = Lcg(seed);
        let profile = profile_of(double);
        let x = rng.vec_i8(rows * depth);
        let multiplier = exactq_core::arith::multiplier::softmax_multiplier(1.0, scale, profile).unwrap();
        let p = SoftmaxParams { rows, depth, multiplier, profile };
        let mut out = vec![0i8; rows * depth];
        softmax(&p, &x, &mut out).unwrap();
        for r in 0..rows {
            let row = &x[r * depth..(r + 1) * depth];
            let mx = *row.iter().max().unwrap() as f64;
            let e: Vec<f64> = row.iter().map(|v| ((*v as f64 - mx) * scale as f64).exp()).collect();
            let total: f64 = e.iter().sum();
            for (i, ev) in e.iter().enumerate() {
                let want = ev / total * 256.0 - 128.0;
                let got = out[r * depth + i] as f64;
                prop_assert!((got - want.min(127.0)).abs() <= 1.01, "row {:?} i {} got {} want {}", row, i, got, want);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn simd_inner_products_equal_the_portable_ones(k in 0usize..300, rows in 0usize..11, first in 0usize..3, seed in any::<u64>(), extreme in any::<bool>()) {
        let mut rng = Lcg(seed);
        let a_val = |rng: &mut Lcg| if extreme { if rng.range(0, 1) == 0 { i16::MIN } else { i16::MAX } } else { rng.range(-255, 255) as i16 };
        let a0: Vec<i16> = (0..k).map(|_| a_val(&mut rng)).collect();
        let a1: Vec<i16> = (0..k).map(|_| a_val(&mut rng)).collect();
        let w: Vec<i8> = (0..(first + rows) * k).map(|_| if extreme { -128 } else { rng.i8() }).collect();
        let (mut f0, mut f1) = (vec![0i32; rows], vec![0i32; rows]);
        let (mut p0, mut p1) = (vec![0i32; rows], vec![0i32; rows]);
        dots_2xn(&a0, &a1, &w, k, first, &mut f0, &mut f1);
        dots_2xn_portable(&a0, &a1, &w, k, first, &mut p0, &mut p1);
        prop_assert_eq!(&f0, &p0);
        prop_assert_eq!(&f1, &p1);
        for j in 0..rows {
            let exact: i128 = (0..k).map(|i| a0[i] as i128 * w[(first + j) * k + i] as i128).sum();
            prop_assert_eq!(p0[j], common::wrap_i32(exact));
        }
    }
}

fn small_conv() -> Conv2dParams {
    Conv2dParams {
        input: Shape4::new(1, 4, 4, 2),
        filter: Shape4::new(3, 3, 3, 2),
        output: Shape4::new(1, 4, 4, 3),
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        padding: Padding::new(1, 1, 1, 1),
        input_zero_point: 0,
        output_zero_point: 0,
        activation: ActivationRange::FULL,
    }
}

#[test]
fn conv2d_rejects_bad_input_before_writing() {
    let ms = [QuantizedMultiplier::new(1 << 30, -3); 3];
    let rq = Requant::per_channel(Profile::TfliteDouble, &ms);
    let good = small_conv();
    let (x, w, b) = (vec![1i8; 32], vec![1i8; 54], vec![0i32; 3]);
    let mut scratch = vec![0i16; good.scratch_len()];
    let run = |p: &Conv2dParams,
               rq: &Requant,
               x: &[i8],
               w: &[i8],
               b: Option<&[i32]>,
               out_len: usize,
               scratch: &mut [i16]| {
        let mut out = vec![77i8; out_len];
        let r = conv2d(p, rq, x, w, b, &mut out, scratch);
        if r.is_err() {
            assert!(
                out.iter().all(|v| *v == 77),
                "output written before an error"
            );
        }
        r
    };
    assert_eq!(run(&good, &rq, &x, &w, Some(&b), 48, &mut scratch), Ok(()));
    let mut p = good;
    p.output.h = 3;
    assert_eq!(
        run(&p, &rq, &x, &w, Some(&b), 48, &mut scratch),
        Err(Error::ShapeMismatch)
    );
    let mut p = good;
    p.input.c = 0;
    assert_eq!(
        run(&p, &rq, &x, &w, Some(&b), 48, &mut scratch),
        Err(Error::ZeroSized)
    );
    let mut p = good;
    p.input_zero_point = 128;
    assert_eq!(
        run(&p, &rq, &x, &w, Some(&b), 48, &mut scratch),
        Err(Error::ZeroPointOutOfRange)
    );
    let mut p = good;
    p.output_zero_point = -129;
    assert_eq!(
        run(&p, &rq, &x, &w, Some(&b), 48, &mut scratch),
        Err(Error::ZeroPointOutOfRange)
    );
    let mut p = good;
    p.stride_h = 0;
    assert_eq!(
        run(&p, &rq, &x, &w, Some(&b), 48, &mut scratch),
        Err(Error::InvalidStride)
    );
    let mut p = good;
    p.input.c = 3; // not a multiple of the filter's 2 channels
    assert_eq!(
        run(&p, &rq, &[0; 48], &w, Some(&b), 48, &mut scratch),
        Err(Error::InvalidGroups)
    );
    let mut p = good;
    p.activation = ActivationRange::new(5, 4);
    assert_eq!(
        run(&p, &rq, &x, &w, Some(&b), 48, &mut scratch),
        Err(Error::InvalidActivationRange)
    );
    assert_eq!(
        run(&good, &rq, &x[..31], &w, Some(&b), 48, &mut scratch),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(
        run(&good, &rq, &x, &w[..53], Some(&b), 48, &mut scratch),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(
        run(&good, &rq, &x, &w, Some(&b[..2]), 48, &mut scratch),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(
        run(&good, &rq, &x, &w, Some(&b), 47, &mut scratch),
        Err(Error::BufferTooSmall)
    );
    let mut short = vec![0i16; good.scratch_len() - 1];
    assert_eq!(
        run(&good, &rq, &x, &w, Some(&b), 48, &mut short),
        Err(Error::BufferTooSmall)
    );
    let bad_shift = [QuantizedMultiplier::new(1 << 30, 31); 3];
    let rq_bad = Requant::per_channel(Profile::TfliteDouble, &bad_shift);
    assert_eq!(
        run(&good, &rq_bad, &x, &w, Some(&b), 48, &mut scratch),
        Err(Error::ShiftOutOfRange)
    );
    let two = [QuantizedMultiplier::new(1 << 30, 0); 2];
    let rq_two = Requant::per_channel(Profile::TfliteDouble, &two);
    assert_eq!(
        run(&good, &rq_two, &x, &w, Some(&b), 48, &mut scratch),
        Err(Error::ChannelCountMismatch)
    );
    let mut p = good;
    p.input.h = usize::MAX / 2;
    assert!(run(&p, &rq, &x, &w, Some(&b), 48, &mut scratch).is_err());
}

#[test]
fn other_kernels_reject_bad_input() {
    let m = QuantizedMultiplier::new(1 << 30, -1);
    let rq = Requant::per_tensor(Profile::TfliteSingle, &m);
    let dw = DepthwiseConv2dParams {
        input: Shape4::new(1, 3, 3, 2),
        filter: Shape4::new(1, 2, 2, 4),
        output: Shape4::new(1, 2, 2, 4),
        depth_multiplier: 2,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        padding: Padding::NONE,
        input_zero_point: 0,
        output_zero_point: 0,
        activation: ActivationRange::FULL,
    };
    let mut out = [0i8; 16];
    let mut s32 = [0i32; 4];
    assert_eq!(
        depthwise_conv2d(&dw, &rq, &[0; 18], &[0; 16], None, &mut out, &mut s32),
        Ok(())
    );
    let mut bad = dw;
    bad.depth_multiplier = 0;
    assert_eq!(
        depthwise_conv2d(&bad, &rq, &[0; 18], &[0; 16], None, &mut out, &mut s32),
        Err(Error::InvalidGroups)
    );
    let mut bad = dw;
    bad.filter.c = 3;
    assert_eq!(
        depthwise_conv2d(&bad, &rq, &[0; 18], &[0; 16], None, &mut out, &mut s32),
        Err(Error::ShapeMismatch)
    );
    assert_eq!(
        depthwise_conv2d(&dw, &rq, &[0; 18], &[0; 16], None, &mut out, &mut s32[..3]),
        Err(Error::BufferTooSmall)
    );

    let fc = FullyConnectedParams {
        batches: 2,
        input_depth: 3,
        output_depth: 2,
        input_zero_point: 0,
        weights_zero_point: 200,
        output_zero_point: 0,
        activation: ActivationRange::FULL,
    };
    let mut s16 = [0i16; 6];
    assert_eq!(
        fully_connected(&fc, &rq, &[0; 6], &[0; 6], None, &mut out[..4], &mut s16),
        Err(Error::ZeroPointOutOfRange)
    );
    let fc = FullyConnectedParams {
        weights_zero_point: 0,
        batches: 0,
        ..fc
    };
    assert_eq!(
        fully_connected(&fc, &rq, &[0; 6], &[0; 6], None, &mut out[..4], &mut s16),
        Err(Error::ZeroSized)
    );

    let pool = MaxPool2dParams {
        input: Shape4::new(1, 2, 2, 1),
        output: Shape4::new(1, 1, 1, 1),
        filter_h: 2,
        filter_w: 2,
        stride_h: 2,
        stride_w: 2,
        padding: Padding::NONE,
        activation: ActivationRange::FULL,
    };
    assert_eq!(max_pool2d(&pool, &[1, 5, -3, 2], &mut out[..1]), Ok(()));
    assert_eq!(out[0], 5);
    assert_eq!(
        max_pool2d(&pool, &[1, 5, -3], &mut out[..1]),
        Err(Error::BufferTooSmall)
    );
    let avg = AvgPool2dParams {
        input: Shape4::new(1, 2, 2, 1),
        output: Shape4::new(1, 2, 2, 1),
        filter_h: 1,
        filter_w: 1,
        stride_h: 1,
        stride_w: 1,
        padding: Padding::new(3, 0, 0, 0),
        activation: ActivationRange::FULL,
    };
    assert!(avg_pool2d(&avg, &[1, 5, -3, 2], &mut out[..4]).is_err());

    let am = AddMultipliers {
        left_shift: 20,
        input1: m,
        input2: m,
        output: QuantizedMultiplier::new(1 << 30, 2),
    };
    let ap = AddParams {
        len: 2,
        input1_zero_point: 0,
        input2_zero_point: 0,
        output_zero_point: 0,
        multipliers: am,
        profile: Profile::TfliteDouble,
        activation: ActivationRange::FULL,
    };
    assert_eq!(
        add(&ap, &[1, 2], &[3, 4], &mut out[..2]),
        Err(Error::ShiftOutOfRange)
    );
    let mp = MulParams {
        len: 3,
        input1_zero_point: 0,
        input2_zero_point: 0,
        output_zero_point: 0,
        activation: ActivationRange::FULL,
    };
    assert_eq!(
        mul(&mp, &rq, &[1, 2], &[3, 4, 5], &mut out[..3]),
        Err(Error::BufferTooSmall)
    );
    let sp = SoftmaxParams {
        rows: 1,
        depth: 5000,
        multiplier: SoftmaxMultiplier {
            input: QuantizedMultiplier::new(1 << 30, 5),
            diff_min: -100,
        },
        profile: Profile::TfliteDouble,
    };
    assert_eq!(
        softmax(&sp, &[0; 5000], &mut [0; 5000]),
        Err(Error::SizeOverflow)
    );
    let sp = SoftmaxParams {
        depth: 4,
        multiplier: SoftmaxMultiplier {
            input: QuantizedMultiplier::new(1 << 30, -2),
            diff_min: -100,
        },
        ..sp
    };
    assert_eq!(
        softmax(&sp, &[0; 4], &mut [0; 4]),
        Err(Error::ShiftOutOfRange)
    );
    let rp = RequantizeParams {
        len: 0,
        input_zero_point: 0,
        output_zero_point: 0,
    };
    assert_eq!(requantize(&rp, &rq, &[], &mut []), Err(Error::ZeroSized));
    let mp = MeanParams {
        input: Shape4::new(1, 2, 2, 3),
        input_zero_point: 0,
        output_zero_point: 0,
    };
    assert_eq!(
        mean_hw(&mp, &rq, &[0; 12], &mut out[..3], &mut s32[..2]),
        Err(Error::BufferTooSmall)
    );
}

#[test]
fn softmax_output_is_one_over_256_minus_128() {
    // Equal inputs: each output is 1/depth, i.e. 256/depth - 128.
    let m = exactq_core::arith::multiplier::softmax_multiplier(1.0, 0.1, Profile::TfliteDouble)
        .unwrap();
    let p = SoftmaxParams {
        rows: 1,
        depth: 4,
        multiplier: m,
        profile: Profile::TfliteDouble,
    };
    let mut out = [0i8; 4];
    softmax(&p, &[7; 4], &mut out).unwrap();
    assert_eq!(out, [-64; 4]);
    // One dominant value: 127 is the cap (1.0 is not representable), the rest -128.
    let m = exactq_core::arith::multiplier::softmax_multiplier(1.0, 1.0, Profile::TfliteDouble)
        .unwrap();
    let p = SoftmaxParams {
        rows: 1,
        depth: 3,
        multiplier: m,
        profile: Profile::TfliteDouble,
    };
    softmax(&p, &[127, -128, -128], &mut out[..3]).unwrap();
    assert_eq!(out[..3], [127, -128, -128]);
}
