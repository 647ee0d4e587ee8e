//! f32 <-> int8, the converter's weight and bias quantizers and activation ranges, against
//! oracles that round with exact integer arithmetic on the float bits.
mod common;

use exactq_core::arith::activation::*;
use exactq_core::arith::quantize::*;
use exactq_core::Error;
use proptest::prelude::*;

const CASES: u32 = 100_000;

fn scale() -> impl Strategy<Value = f32> {
    prop_oneof![
        1e-4f32..1.0,
        (1u32..200).prop_map(|k| 1.0 / k as f32),
        Just(1.0f32 / 256.0)
    ]
}

/// Values near rounding ties `(k + 1/2) * s`, and ordinary ones.
fn value(s: f32) -> impl Strategy<Value = f32> {
    prop_oneof![
        -200.0f32..200.0,
        (-300i32..300, -3i32..=3).prop_map(move |(k, ulps)| {
            let v = (k as f32 + 0.5) * s;
            f32::from_bits((v.to_bits() as i32 + ulps) as u32)
        }),
    ]
}

fn oracle_quantize(x: f32, s: f32, zp: i32) -> i8 {
    let q = common::round_half_away_f32(x / s) + zp as i128;
    q.clamp(-128, 127) as i8
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn quantize_is_half_away_rounding_of_the_f32_quotient((s, x) in scale().prop_flat_map(|s| (Just(s), value(s))), zp in -128i32..=127) {
        prop_assert_eq!(quantize_f32(x, s, zp), oracle_quantize(x, s, zp));
    }

    #[test]
    fn weight_quantizer_is_quantize_clamped_to_minus_127((s, w) in scale().prop_flat_map(|s| (Just(s), value(s)))) {
        prop_assert_eq!(quantize_weight_symmetric(w, s), oracle_quantize(w, s, 0).max(-127));
    }

    #[test]
    fn round_half_away_is_exact(bits in 0u32..0x5D00_0000, negative in any::<bool>(), half in -2000i32..2000, pick in 0u8..3) {
        // Arbitrary magnitudes below ~5.7e17 (all exponents), and exact ties k + 1/2.
        let v = if pick == 0 { half as f32 + 0.5 } else { f32::from_bits(bits) };
        let v = if negative { -v } else { v };
        prop_assert_eq!(round_half_away_f32(v) as i128, common::round_half_away_f32(v));
    }

    #[test]
    fn dequantize_is_the_f64_product_rounded_to_f32(q in any::<i8>(), s in scale(), zp in -128i32..=127) {
        // f64(s) * (q - zp) is exact in f64 (24-bit by 9-bit), so one rounding to f32 remains.
        let exact = s as f64 * (q as i32 - zp) as f64;
        prop_assert_eq!(dequantize_i8(q, s, zp), exact as f32);
        let back = quantize_f32(dequantize_i8(q, s, zp), s, zp);
        prop_assert_eq!(back, q);
    }

    #[test]
    fn bias_quantizer_matches_oracle(b in -100.0f32..100.0, s_in in scale(), s_w in 1e-4f32..0.1) {
        let s = s_in * s_w;
        let inv = (1.0 / s as f64) as f32;
        let expected = common::round_half_away_f32(b * inv).clamp(-(i32::MAX as i128), i32::MAX as i128) as i32;
        prop_assert_eq!(quantize_bias_value(b, s_in, s_w), expected);
    }

    #[test]
    fn weight_quantizer_matches_oracle(w in proptest::collection::vec(-3.0f32..3.0, 4..40), channels in 1usize..4, last in any::<bool>()) {
        let n = w.len() - w.len() % channels;
        prop_assume!(n > 0);
        let w = &w[..n];
        let axis = if last { ChannelAxis::Last } else { ChannelAxis::First };
        let mut q = vec![0i8; n];
        let mut scales = vec![0f32; channels];
        quantize_weights_per_channel(w, channels, axis, &mut q, &mut scales).unwrap();
        let per = n / channels;
        let channel = |i: usize| if last { i % channels } else { i / per };
        for (c, scale) in scales.iter().enumerate() {
            let amax = (0..n).filter(|&i| channel(i) == c).map(|i| w[i].abs()).fold(0f32, f32::max);
            prop_assert_eq!(*scale, amax / 127.0);
            let inv = if amax == 0.0 { 0.0 } else { 127.0 / amax };
            for i in (0..n).filter(|&i| channel(i) == c) {
                let expected = common::round_half_away_f32(w[i] * inv).clamp(-127, 127) as i8;
                prop_assert_eq!(q[i], expected);
            }
        }
    }

    #[test]
    fn activation_ranges_match_oracle(s in scale(), zp in -128i32..=127) {
        let q = |f: f32| (zp as i128 + common::round_half_away_f32(f / s)) as i32;
        let relu = activation_range(Activation::Relu, s, zp).unwrap();
        prop_assert_eq!((relu.min, relu.max), (q(0.0).max(-128), 127));
        let r6 = activation_range(Activation::Relu6, s, zp);
        let want6 = (q(0.0).max(-128), q(6.0).min(127));
        if want6.0 <= want6.1 {
            let r6 = r6.unwrap();
            prop_assert_eq!((r6.min, r6.max), want6);
        } else {
            prop_assert_eq!(r6, Err(Error::InvalidActivationRange));
        }
        let none = activation_range(Activation::None, s, zp).unwrap();
        prop_assert_eq!((none.min, none.max), (-128, 127));
    }
}

#[test]
fn quantize_known_values() {
    // Ties go away from zero (TfLiteRound = std::round).
    assert_eq!(quantize_f32(0.5, 1.0, 0), 1);
    assert_eq!(quantize_f32(-0.5, 1.0, 0), -1);
    assert_eq!(quantize_f32(2.5, 1.0, 0), 3);
    assert_eq!(quantize_f32(1000.0, 0.1, 0), 127);
    assert_eq!(quantize_f32(-1000.0, 0.1, 5), -128);
    assert_eq!(quantize_f32(f32::NAN, 0.1, 5), 5);
    assert_eq!(quantize_f32(f32::INFINITY, 0.1, -128), 127);
    let mut out = [0i8; 2];
    assert_eq!(
        quantize_slice(&[1.0, 2.0], 0.0, 0, &mut out),
        Err(Error::InvalidScale)
    );
    assert_eq!(
        quantize_slice(&[1.0, 2.0], 0.1, 128, &mut out),
        Err(Error::ZeroPointOutOfRange)
    );
    assert_eq!(
        quantize_slice(&[1.0, 2.0, 3.0], 0.1, 0, &mut out),
        Err(Error::BufferTooSmall)
    );
    // The converter's weight quantizer: the largest magnitude maps to +-127; zero channels to 0.
    let mut q = [0i8; 4];
    let mut s = [0f32; 2];
    quantize_weights_per_channel(
        &[0.5, -1.0, 0.0, 0.0],
        2,
        ChannelAxis::First,
        &mut q,
        &mut s,
    )
    .unwrap();
    assert_eq!(q, [64, -127, 0, 0]);
    assert_eq!(s, [1.0 / 127.0, 0.0]);
    assert_eq!(
        quantize_weights_per_channel(&[1.0; 3], 2, ChannelAxis::First, &mut q, &mut s),
        Err(Error::ShapeMismatch)
    );
    assert_eq!(quantize_bias_value(1e30, 1e-3, 1e-3), i32::MAX);
    assert_eq!(quantize_bias_value(-1e30, 1e-3, 1e-3), -i32::MAX);
}

/// The reference: libm's `roundf`, then Rust's saturating `as i32`.
fn round_to_i32_reference(x: f32) -> i32 {
    round_half_away_f32(x) as i32
}

#[test]
fn round_half_away_to_i32_matches_roundf_on_edges_and_a_sample_of_all_floats() {
    let edges = [
        0.0f32, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 0.50000006, -0.50000006,
        8388607.5, -8388607.5, 8388608.0, 16777215.0, 2147483520.0, -2147483520.0, 2147483648.0,
        -2147483648.0, 2147483904.0, -2147483904.0, 3e9, -3e9, f32::MAX, f32::MIN, f32::MIN_POSITIVE,
        f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN, f32::EPSILON, 1e-45, -1e-45,
    ];
    for x in edges {
        assert_eq!(round_half_away_f32_to_i32(x), round_to_i32_reference(x), "{x:e}");
        for bits in [x.to_bits().wrapping_sub(1), x.to_bits().wrapping_add(1)] {
            let y = f32::from_bits(bits);
            assert_eq!(round_half_away_f32_to_i32(y), round_to_i32_reference(y), "{y:e}");
        }
    }
    // Every 4099th bit pattern (about a million floats of every sign and exponent).
    for bits in (0..=u32::MAX).step_by(4099) {
        let x = f32::from_bits(bits);
        assert_eq!(round_half_away_f32_to_i32(x), round_to_i32_reference(x), "{bits:#010x}");
    }
}

/// All 2^32 floats (about a minute in release): `cargo test -p exactq-core --release
/// --test arith_quantize -- --ignored round_half_away_to_i32_on_every_float`.
#[test]
#[ignore]
fn round_half_away_to_i32_on_every_float() {
    for bits in 0..=u32::MAX {
        let x = f32::from_bits(bits);
        assert_eq!(round_half_away_f32_to_i32(x), round_to_i32_reference(x), "{bits:#010x}");
    }
}

/// [`quantize_weight_symmetric`] against `quantize_f32(.., 0).max(-127)` for the quotient `y`
/// (scale 1: `y / 1 == y`) of every `step`th float, and of edges around ties and the bounds.
fn weight_quantizer_agrees(step: usize) {
    let edges = [
        0.0f32, -0.0, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 127.0, -127.0, 127.5, -127.5, 128.0, -128.0,
        128.5, -128.5, 0.49999997, -0.49999997, 4194303.5, 8388607.5, 3e9, f32::MAX, f32::MIN,
        f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN, 1e-45, -1e-45,
    ];
    let check = |y: f32| assert_eq!(quantize_weight_symmetric(y, 1.0), quantize_f32(y, 1.0, 0).max(-127), "{:#010x}", y.to_bits());
    for y in edges {
        check(y);
        check(f32::from_bits(y.to_bits().wrapping_sub(1)));
        check(f32::from_bits(y.to_bits().wrapping_add(1)));
    }
    for bits in (0..=u32::MAX).step_by(step) {
        check(f32::from_bits(bits));
    }
}

#[test]
fn weight_quantizer_matches_quantize_on_edges_and_a_sample_of_all_floats() {
    weight_quantizer_agrees(4099);
}

/// All 2^32 quotients: `cargo test -p exactq-core --release --test arith_quantize -- --ignored
/// weight_quantizer_on_every_float`.
#[test]
#[ignore]
fn weight_quantizer_on_every_float() {
    weight_quantizer_agrees(1);
}
