//! The `float-requant` primitives against independent oracles: f64 arithmetic (exact for the
//! products involved) and std's `round_ties_even`.

use exactq_core::arith::requantize::{requantize_fp32, round_half_even_small};
use exactq_core::arith::{FloatScales, Profile, Requant};
use proptest::prelude::*;

/// Oracle: the f32 product `f32(acc) · scale` computed exactly in f64 then rounded once to
/// f32 (both factors have 24-bit significands, so the f64 product is exact), clamped, rounded
/// half to even in f64, plus the zero point.
fn oracle(acc: i32, scale: f32, zp: i32, qmin: i32, qmax: i32) -> i32 {
    let product = ((acc as f32) as f64 * scale as f64) as f32 as f64;
    let clamped = product.clamp((qmin - zp) as f64, (qmax - zp) as f64);
    clamped.round_ties_even() as i32 + zp
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 100_000, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn requantize_fp32_matches_the_f64_oracle(
        acc in prop_oneof![any::<i32>(), -100_000i32..100_000, -(1i32 << 25)..(1 << 25)],
        scale_exp in -20i32..8,
        scale_mantissa in 1.0f32..2.0,
        zp in -128i32..=127,
        (qmin, qmax) in prop_oneof![Just((-128, 127)), (-128i32..=0, 0i32..=127)],
    ) {
        let scale = scale_mantissa * 2f32.powi(scale_exp);
        prop_assert_eq!(requantize_fp32(acc, scale, zp, qmin, qmax), oracle(acc, scale, zp, qmin, qmax));
    }

    #[test]
    fn exact_ties_round_to_even(k in -300i32..300, zp in -128i32..=127) {
        // acc · 0.5 = k + 0.5 exactly: the tie goes to the even neighbour.
        let acc = 2 * k + 1;
        let want = (((k as f64) + 0.5).round_ties_even() as i32 + zp).clamp(-128, 127);
        prop_assert_eq!(requantize_fp32(acc, 0.5, zp, -128, 127), want);
    }

    #[test]
    fn magic_rounding_matches_round_ties_even(x in -4_194_304.0f32..4_194_304.0) {
        prop_assert_eq!(round_half_even_small(x), x.round_ties_even() as i32);
    }

    #[test]
    fn magic_rounding_on_half_integers(k in -4_194_303i32..4_194_303) {
        let x = k as f32 + 0.5;
        prop_assert_eq!(round_half_even_small(x), x.round_ties_even() as i32);
    }

    #[test]
    fn requant_output_row_forms_the_scale_in_f32_order(
        accs in proptest::collection::vec(-200_000i32..200_000, 1..16),
        s_in in 1e-4f32..1.0, s_out in 1e-3f32..1.0,
        s_w in proptest::collection::vec(1e-4f32..0.1, 16),
        zp in -128i32..=127,
    ) {
        let r = Requant::float(FloatScales { numerator: s_in, per_channel: &s_w, denominator: s_out });
        prop_assert_eq!(r.profile(), Profile::FloatRequant);
        r.validate(16).unwrap();
        let mut out = vec![0i8; accs.len()];
        r.output_row(&accs, 0, zp, -128, 127, &mut out);
        for (c, (a, o)) in accs.iter().zip(&out).enumerate() {
            // ONNX Runtime's `X_scale * W_scale[c] / Y_scale`, each step rounded to f32.
            let scale = ((s_in as f64 * s_w[c] as f64) as f32 as f64 / s_out as f64) as f32;
            prop_assert_eq!(*o as i32, oracle(*a, scale, zp, -128, 127));
        }
    }
}

#[test]
fn large_accumulators_round_through_f32_like_the_c_cast() {
    // 2^24 + 1 is not an f32: the cast rounds to even (2^24) before the multiply.
    assert_eq!(requantize_fp32((1 << 24) + 1, 1.0 / 131_072.0, 0, -128, 127), 127);
    assert_eq!(requantize_fp32((1 << 24) + 1, 1.0 / 262_144.0, 0, -128, 127), 64);
    assert_eq!(requantize_fp32(i32::MIN, 1.0, 5, -128, 127), -128);
    assert_eq!(requantize_fp32(i32::MAX, 1.0, 5, -128, 127), 127);
}

#[test]
fn float_requant_is_parsed_and_refuses_fixed_multipliers() {
    assert_eq!(Profile::parse("float-requant").unwrap(), Profile::FloatRequant);
    assert_eq!(Profile::from_u8(2).unwrap(), Profile::FloatRequant);
    let m = exactq_core::arith::QuantizedMultiplier { multiplier: 1 << 30, shift: 0 };
    assert!(Requant::per_tensor(Profile::FloatRequant, &m).validate(1).is_err());
    let bad = [f32::NAN];
    assert!(Requant::float(FloatScales { numerator: 1.0, per_channel: &bad, denominator: 1.0 }).validate(1).is_err());
}
