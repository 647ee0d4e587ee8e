//! Multiplier derivation and requantization against i128 / exact-bit oracles.
mod common;

use exactq_core::arith::multiplier::*;
use exactq_core::arith::requantize::*;
use exactq_core::Error;
use proptest::prelude::*;

const CASES: u32 = 100_000;

/// Positive finite reals over the whole f64 range, plus the everyday [1e-6, 10).
fn any_real() -> impl Strategy<Value = f64> {
    prop_oneof![
        (1u64..0x7ff0_0000_0000_0000u64).prop_map(f64::from_bits),
        1e-6f64..10.0,
        (0u32..64, 0u64..(1 << 20))
            .prop_map(|(e, k)| (1.0 - k as f64 * 2f64.powi(-40)) * 2f64.powi(e as i32 - 40)),
    ]
}

fn any_profile() -> impl Strategy<Value = Profile> {
    prop_oneof![Just(Profile::TfliteDouble), Just(Profile::TfliteSingle)]
}

fn normal_multiplier() -> impl Strategy<Value = i32> {
    prop_oneof![(1i32 << 30)..=i32::MAX, Just(1 << 30), Just(i32::MAX)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn quantize_multiplier_matches_exact_oracle(real in any_real(), negate in proptest::bool::weighted(0.05), profile in any_profile()) {
        let real = if negate { -real } else { real };
        let q = quantize_multiplier(real, profile).unwrap();
        let (m, s) = common::quantize_multiplier(real, profile == Profile::TfliteSingle);
        prop_assert_eq!((q.multiplier, q.shift), (m, s));
    }

    #[test]
    fn double_rounding_matches_definition(x in any::<i32>(), m in normal_multiplier(), shift in -31i32..=30) {
        prop_assert_eq!(multiply_by_quantized_multiplier_double(x, m, shift), common::mbqm_double(x, m, shift));
    }

    #[test]
    fn single_rounding_matches_definition(x in any::<i32>(), m in 0i32..=i32::MAX, shift in -31i32..=30) {
        prop_assert_eq!(multiply_by_quantized_multiplier_single(x, m, shift), common::mbqm_single(x, m, shift));
    }

    #[test]
    fn double_and_single_differ_by_at_most_one_away_from_zero(x in any::<i32>(), m in normal_multiplier(), shift in -31i32..=0) {
        let d = multiply_by_quantized_multiplier_double(x, m, shift);
        let s = multiply_by_quantized_multiplier_single(x, m, shift);
        let diff = d as i64 - s as i64;
        prop_assert!(diff == 0 || diff == x.signum() as i64, "x={} m={} shift={} double={} single={}", x, m, shift, d, s);
    }

    #[test]
    fn left_shifts_round_once_in_both_profiles(x in -(1i32 << 16)..(1 << 16), m in normal_multiplier(), shift in 0i32..=14) {
        // Without a right shift there is only one rounding: the profiles agree.
        prop_assert_eq!(
            multiply_by_quantized_multiplier_double(x, m, shift),
            multiply_by_quantized_multiplier_single(x, m, shift)
        );
    }

    #[test]
    fn quantized_multiplier_approximates_the_real(real in 1e-9f64..1e4) {
        let q = quantize_multiplier(real, Profile::TfliteDouble).unwrap();
        let approx = q.multiplier as f64 * 2f64.powi(q.shift - 31);
        // Rounding the 31-bit mantissa: relative error at most 2^-31.
        prop_assert!(((approx - real) / real).abs() <= 2f64.powi(-31) * 1.0000001);
    }

    #[test]
    fn requant_per_tensor_and_per_channel_agree(x in any::<i32>(), m in normal_multiplier(), shift in -31i32..=0, profile in any_profile()) {
        let qm = QuantizedMultiplier::new(m, shift);
        let per_channel = [QuantizedMultiplier::ZERO, qm];
        let expected = match profile {
            Profile::TfliteDouble => common::mbqm_double(x, m, shift),
            _ => common::mbqm_single(x, m, shift),
        };
        prop_assert_eq!(Requant::per_tensor(profile, &qm).apply(x, 7), expected);
        prop_assert_eq!(Requant::per_channel(profile, &per_channel).apply(x, 1), expected);
    }
}

#[test]
fn known_quantize_multiplier_values() {
    let cases: [(f64, (i32, i32)); 7] = [
        (1.0, (1073741824, 1)),
        (0.5, (1073741824, 0)),
        (1.0 - 2f64.powi(-40), (1073741824, 1)),
        (1.5, (1610612736, 1)),
        (0.011111111910680305, (1527099593, -6)),
        (2f64.powi(-32), (1073741824, -31)),
        (2e-10, (0, 0)),
    ];
    for (real, (m, s)) in cases {
        for profile in Profile::FIXED_POINT {
            let q = quantize_multiplier(real, profile).unwrap();
            assert_eq!((q.multiplier, q.shift), (m, s), "real {real}");
        }
    }
    assert_eq!(
        quantize_multiplier(0.0, Profile::TfliteDouble).unwrap(),
        QuantizedMultiplier::ZERO
    );
    // Single rounding caps the shift at 30; double rounding does not.
    let big = 2f64.powi(40);
    assert_eq!(
        quantize_multiplier(big, Profile::TfliteSingle).unwrap(),
        QuantizedMultiplier::new(i32::MAX, 30)
    );
    assert_eq!(
        quantize_multiplier(big, Profile::TfliteDouble).unwrap(),
        QuantizedMultiplier::new(1 << 30, 41)
    );
    assert_eq!(
        quantize_multiplier(f64::NAN, Profile::TfliteDouble),
        Err(Error::InvalidScale)
    );
    assert_eq!(
        quantize_multiplier(f64::INFINITY, Profile::TfliteSingle),
        Err(Error::InvalidScale)
    );
}

#[test]
fn known_rounding_differences() {
    // reference 2.8: exact -255.48 -> single -255, double -256.
    assert_eq!(
        multiply_by_quantized_multiplier_single(-563, 1949004333, -1),
        -255
    );
    assert_eq!(
        multiply_by_quantized_multiplier_double(-563, 1949004333, -1),
        -256
    );
    // exact -0.5: single rounds up to 0, double away to -1; +0.5 gives 1 in both.
    assert_eq!(multiply_by_quantized_multiplier_single(-2, 1 << 30, -1), 0);
    assert_eq!(multiply_by_quantized_multiplier_double(-2, 1 << 30, -1), -1);
    assert_eq!(multiply_by_quantized_multiplier_single(2, 1 << 30, -1), 1);
    assert_eq!(multiply_by_quantized_multiplier_double(2, 1 << 30, -1), 1);
    // tensorflow#102943: x = 585, M0 = 1527099593, shift -6.
    let d = multiply_by_quantized_multiplier_double(585, 1527099593, -6);
    let s = multiply_by_quantized_multiplier_single(585, 1527099593, -6);
    assert_eq!(
        (d, s),
        (
            common::mbqm_double(585, 1527099593, -6),
            common::mbqm_single(585, 1527099593, -6)
        )
    );
}

#[test]
fn per_op_derivations() {
    let p = Profile::TfliteDouble;
    // Conv: double product.
    let (s_in, s_w, s_out) = (0.1f32, 0.003f32, 0.07f32);
    let mut out = [QuantizedMultiplier::ZERO; 2];
    conv_per_channel_multipliers(s_in, &[s_w, 2.0 * s_w], s_out, p, &mut out).unwrap();
    let m0 = common::quantize_multiplier(s_in as f64 * s_w as f64 / s_out as f64, false);
    assert_eq!((out[0].multiplier, out[0].shift), m0);
    // FC per tensor: the product is rounded to f32 first.
    let fc = fully_connected_per_tensor_multiplier(s_in, s_w, s_out, p).unwrap();
    assert_eq!(
        (fc.multiplier, fc.shift),
        common::quantize_multiplier((s_in * s_w) as f64 / s_out as f64, false)
    );
    // ADD: left shift 20; the larger input scale maps to exactly 0.5.
    let add = add_multipliers(0.02, 0.05, 0.06, p).unwrap();
    assert_eq!(add.left_shift, 20);
    assert_eq!(add.input2, QuantizedMultiplier::new(1 << 30, 0));
    let twice = 2.0 * 0.05f32 as f64;
    assert_eq!(
        (add.input1.multiplier, add.input1.shift),
        common::quantize_multiplier(0.02f32 as f64 / twice, false)
    );
    assert_eq!(
        (add.output.multiplier, add.output.shift),
        common::quantize_multiplier(twice / (1048576.0 * 0.06f32 as f64), false)
    );
    // MUL and requantize.
    let mul = mul_multiplier(0.02, 0.05, 0.003, p).unwrap();
    assert_eq!(
        (mul.multiplier, mul.shift),
        common::quantize_multiplier(0.02f32 as f64 * 0.05f32 as f64 / 0.003f32 as f64, false)
    );
    let rq = requantize_multiplier(0.02, 0.03, p).unwrap();
    assert_eq!(
        (rq.multiplier, rq.shift),
        common::quantize_multiplier(0.02f32 as f64 / 0.03f32 as f64, false)
    );
    // Softmax: the CMSIS-NN case's integers come from beta = 1 and its input scale.
    let sm = softmax_multiplier(1.0, 0.0625, p).unwrap();
    let real = 0.0625f64 * 2f64.powi(26);
    assert_eq!(
        (sm.input.multiplier, sm.input.shift),
        common::quantize_multiplier(real, false)
    );
    assert_eq!(sm.diff_min, -((31i64 << 26) >> sm.input.shift) as i32);
    // Softmax caps: 2^31-1 (double), 2^30-1 (single).
    let capped = softmax_multiplier(1000.0, 1000.0, Profile::TfliteSingle).unwrap();
    assert_eq!(
        (capped.input.multiplier, capped.input.shift),
        common::quantize_multiplier((1u64 << 30) as f64 - 1.0, true)
    );
    assert_eq!(add_multipliers(1.0, 1.0, 1e-9, p), Err(Error::InvalidScale));
    assert_eq!(
        conv_per_channel_multipliers(0.0, &[1.0], 1.0, p, &mut out),
        Err(Error::InvalidScale)
    );
    assert_eq!(
        conv_per_channel_multipliers(1.0, &[1.0; 3], 1.0, p, &mut out),
        Err(Error::ChannelCountMismatch)
    );
}

#[test]
fn profile_names_round_trip() {
    for p in Profile::FIXED_POINT {
        assert_eq!(Profile::parse(p.as_str()), Ok(p));
        assert_eq!(Profile::from_u8(p.to_u8()), Ok(p));
        assert_eq!(p.as_str().parse::<Profile>(), Ok(p));
    }
    assert_eq!(Profile::parse("tflite"), Err(Error::UnknownProfile));
    assert_eq!(Profile::from_u8(9), Err(Error::UnknownProfile));
    assert_eq!(Profile::TfliteDouble as u8, 0);
    assert_eq!(Profile::TfliteSingle as u8, 1);
}

#[test]
fn multiplier_validation() {
    let p = Profile::TfliteSingle;
    assert_eq!(
        QuantizedMultiplier::new(-1, 0).validate(p),
        Err(Error::MultiplierOutOfRange)
    );
    assert_eq!(
        QuantizedMultiplier::new(1 << 30, 31).validate(p),
        Err(Error::ShiftOutOfRange)
    );
    assert_eq!(
        QuantizedMultiplier::new(1 << 30, -32).validate(p),
        Err(Error::ShiftOutOfRange)
    );
    assert_eq!(QuantizedMultiplier::new(1 << 30, -31).validate(p), Ok(()));
    let ms = [QuantizedMultiplier::new(1 << 30, 0); 3];
    assert_eq!(
        Requant::per_channel(p, &ms).validate(4),
        Err(Error::ChannelCountMismatch)
    );
    assert_eq!(Requant::per_channel(p, &ms).validate(3), Ok(()));
    assert_eq!(Requant::per_channel(p, &ms[..1]).validate(9), Ok(()));
    assert_eq!(
        Requant::per_channel(p, &[]).validate(1),
        Err(Error::ChannelCountMismatch)
    );
}
