//! Fixed-point primitives against definitions computed with i128.
mod common;

use exactq_core::arith::fixedpoint::*;
use proptest::prelude::*;

const CASES: u32 = 100_000;

fn any_edge_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => any::<i32>(),
        1 => prop_oneof![Just(i32::MIN), Just(i32::MIN + 1), Just(-1), Just(0), Just(1), Just(i32::MAX), Just(1 << 30), Just(-(1 << 30))],
        2 => -70_000i32..70_000,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn srdhm_is_round_half_up_of_the_doubled_high_product(a in any_edge_i32(), b in any_edge_i32()) {
        prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), common::srdhm(a, b));
    }

    #[test]
    fn rdbpot_is_round_half_away_division(x in any_edge_i32(), e in 0u32..=40) {
        prop_assert_eq!(rounding_divide_by_pot(x, e), common::rdbpot(x, e));
    }

    #[test]
    fn saturating_multiply_by_pot_matches_definition(x in any_edge_i32(), e in -31i32..=31) {
        let expected = if e >= 0 {
            ((x as i128) << e).clamp(i32::MIN as i128, i32::MAX as i128) as i32
        } else {
            common::rdbpot(x, (-e) as u32)
        };
        prop_assert_eq!(saturating_rounding_multiply_by_pot(x, e), expected);
    }

    #[test]
    fn rounding_half_sum_is_round_half_away_of_the_mean(a in any_edge_i32(), b in any_edge_i32()) {
        let expected = common::round_half_away_div(a as i128 + b as i128, 2) as i32;
        prop_assert_eq!(rounding_half_sum(a, b), expected);
    }

    #[test]
    fn exp_on_negative_values_tracks_exp(a in -(31i32 << 26)..=0) {
        // Q5.26 input, Q0.31 output.
        let got = exp_on_negative_values::<5>(a) as f64 / 2f64.powi(31);
        let want = (a as f64 / 2f64.powi(26)).exp();
        // The 4th-order Taylor step around -1/8 is accurate to about 1.2e-7 on [-1/4, 0).
        prop_assert!((got - want).abs() < 3e-7, "a={} got {} want {}", a, got, want);
    }

    #[test]
    fn one_over_one_plus_x_tracks_the_reciprocal(a in 0i32..=i32::MAX) {
        let x = a as f64 / 2f64.powi(31);
        let got = one_over_one_plus_x_for_x_in_0_1(a) as f64 / 2f64.powi(31);
        prop_assert!((got - 1.0 / (1.0 + x)).abs() < 1e-8, "x={} got {}", x, got);
    }

    #[test]
    fn reciprocal_of_q12_19_sums(x in 1i32..=i32::MAX) {
        let (recip, bits_over_unit) = get_reciprocal(x, 12);
        // 1/v with v = x / 2^19 equals recip / 2^31 * 2^-bits_over_unit.
        let v = x as f64 / 2f64.powi(19);
        let got = recip as f64 / 2f64.powi(31) * 2f64.powi(-bits_over_unit);
        prop_assert!(((got - 1.0 / v) * v).abs() < 1e-7, "x={} got {} want {}", x, got, 1.0 / v);
    }
}

#[test]
fn known_values() {
    // The single overflowing product saturates.
    assert_eq!(
        saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
        i32::MAX
    );
    // Ties go up, not away: +0.5 -> 1, -0.5 -> 0.
    assert_eq!(saturating_rounding_doubling_high_mul(1 << 15, 1 << 15), 1);
    assert_eq!(
        saturating_rounding_doubling_high_mul(-(1 << 15), 1 << 15),
        0
    );
    // RoundingDivideByPOT ties go away from zero.
    assert_eq!(rounding_divide_by_pot(-1, 1), -1);
    assert_eq!(rounding_divide_by_pot(-3, 1), -2);
    assert_eq!(rounding_divide_by_pot(3, 1), 2);
    assert_eq!(rounding_divide_by_pot(-5, 2), -1);
    assert_eq!(rounding_divide_by_pot(-6, 2), -2);
    assert_eq!(rounding_divide_by_pot(i32::MIN, 32), -1);
    assert_eq!(rounding_divide_by_pot(i32::MAX, 32), 0);
    // exp(0) is gemmlowp's "one" in Q0.31.
    assert_eq!(exp_on_negative_values::<5>(0), i32::MAX);
    // exp(-1/4) and exp(-1) through the barrel shifter constants (Q5.26 inputs).
    let e = exp_on_negative_values::<5>(-(1 << 24)) as f64 / 2f64.powi(31);
    assert!((e - (-0.25f64).exp()).abs() < 3e-7);
    let e = exp_on_negative_values::<5>(-(1 << 26)) as f64 / 2f64.powi(31);
    assert!((e - (-1f64).exp()).abs() < 3e-7);
}
