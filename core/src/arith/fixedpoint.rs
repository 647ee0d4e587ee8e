//! gemmlowp-style fixed-point primitives on raw `i32` values (gemmlowp `fixedpoint/fixedpoint.h`).
//!
//! A value "Qi.f" is a raw `i32` holding `raw / 2^f` with `i + f = 31`. Every function here is
//! total: it never panics and never overflows in Rust's sense (wrapping where the C code would
//! wrap, saturating where gemmlowp saturates).

/// `round_half_up(a * b / 2^31)`, saturating the single overflowing case
/// `a == b == i32::MIN` to `i32::MAX` (gemmlowp `SaturatingRoundingDoublingHighMul`, ARM VQRDMULH).
///
/// Note the rounding: gemmlowp adds `2^30` (or `1 - 2^30` for negative products) and then
/// divides with truncation, which is the same as rounding ties toward +infinity.
#[inline(always)]
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // |ab + nudge| < 2^62, and the quotient fits in i32 except for MIN*MIN handled above.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `round_half_away_from_zero(x / 2^exponent)` (gemmlowp `RoundingDivideByPOT`).
///
/// Defined for every exponent: gemmlowp requires `exponent <= 31`; beyond that the exact
/// quotient is below one half in magnitude except for `i32::MIN / 2^32 = -1/2`, which rounds to -1.
#[inline(always)]
pub const fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    if exponent >= 32 {
        return if exponent == 32 && x == i32::MIN {
            -1
        } else {
            0
        };
    }
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// `x * 2^exponent` with saturation to the i32 range for `exponent > 0`, and
/// [`rounding_divide_by_pot`] for `exponent < 0` (gemmlowp `SaturatingRoundingMultiplyByPOT`).
#[inline(always)]
pub const fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent == 0 {
        x
    } else if exponent < 0 {
        rounding_divide_by_pot(x, exponent.unsigned_abs())
    } else if exponent >= 31 {
        if x > 0 {
            i32::MAX
        } else if x < 0 {
            i32::MIN
        } else {
            0
        }
    } else {
        // gemmlowp: saturate when x > 2^(31-e) - 1 or x < -(2^(31-e) - 1).
        let threshold = (1i32 << (31 - exponent)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    }
}

/// `round((a + b) / 2)` with ties away from zero, computed without overflow
/// (gemmlowp `RoundingHalfSum` for int32).
#[inline(always)]
pub const fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign: i64 = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// Fixed-point multiply of a Qa.(31-a) by a Qb.(31-b) value, giving Q(a+b).(31-a-b):
/// the raw result is exactly [`saturating_rounding_doubling_high_mul`] of the raws.
#[inline(always)]
const fn fx_mul(a: i32, b: i32) -> i32 {
    saturating_rounding_doubling_high_mul(a, b)
}

/// The raw value of 1.0 in Q0.31: gemmlowp uses the largest raw value (1 - 2^-31).
pub const Q0_ONE: i32 = i32::MAX;

/// `exp(a)` for `a` in `[-1/4, 0)`, both Q0.31: a 4th-order Taylor expansion around -1/8
/// (gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl`).
#[inline]
pub const fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668; // exp(-1/8) in Q0.31
    const ONE_THIRD: i32 = 715_827_883; // 1/3 in Q0.31
    let x = a.wrapping_add(1 << 28); // x = a + 1/8
    let x2 = fx_mul(x, x);
    let x3 = fx_mul(x2, x);
    let x4 = fx_mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let x4_over_24_plus_x3_over_6_plus_x2_over_2 = saturating_rounding_multiply_by_pot(
        fx_mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        -1,
    );
    EXP_MINUS_ONE_EIGHTH.wrapping_add(fx_mul(
        EXP_MINUS_ONE_EIGHTH,
        x.wrapping_add(x4_over_24_plus_x3_over_6_plus_x2_over_2),
    ))
}

/// `exp(a)` for `a <= 0` given as Q(INTEGER_BITS).(31-INTEGER_BITS); result Q0.31
/// (gemmlowp `exp_on_negative_values`). `exp(0)` is [`Q0_ONE`].
///
/// The argument is split into a multiple of 1/4 and a remainder in `[-1/4, 0)`; the multiple
/// is applied bit by bit with the constants `exp(-2^k)`. Softmax uses `INTEGER_BITS = 5`.
#[inline]
pub const fn exp_on_negative_values<const INTEGER_BITS: u32>(a: i32) -> i32 {
    let fractional_bits = 31 - INTEGER_BITS;
    let one_quarter: i32 = 1 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, INTEGER_BITS as i32),
    );
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);

    // (exponent k, exp(-2^k) in Q0.31) for k = -2..=4.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    let mut i = 0;
    while i < BARREL.len() {
        let (exponent, multiplier) = BARREL[i];
        if (INTEGER_BITS as i32) > exponent {
            let bit = (fractional_bits as i32 + exponent) as u32;
            if remainder & (1i32 << bit) != 0 {
                result = fx_mul(result, multiplier);
            }
        }
        i += 1;
    }

    if INTEGER_BITS > 5 {
        // Below -32 the result is 0 in Q0.31.
        let clamp = -(1i32 << (36 - INTEGER_BITS));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = Q0_ONE;
    }
    result
}

/// `1 / (1 + a)` for `a` in `[0, 1)`, argument and result Q0.31
/// (gemmlowp `one_over_one_plus_x_for_x_in_0_1`).
///
/// Newton-Raphson on the half denominator `(1 + a)/2`, three iterations in Q2.29, starting from
/// `48/17 - 32/17 * d`.
#[inline]
pub const fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    const CONSTANT_48_OVER_17: i32 = 1_515_870_810; // Q2.29
    const CONSTANT_NEG_32_OVER_17: i32 = -1_010_580_540; // Q2.29
    const Q2_ONE: i32 = 1 << 29;
    let half_denominator = rounding_half_sum(a, Q0_ONE); // Q0.31
    let mut x = CONSTANT_48_OVER_17.wrapping_add(fx_mul(half_denominator, CONSTANT_NEG_32_OVER_17));
    let mut i = 0;
    while i < 3 {
        let half_denominator_times_x = fx_mul(half_denominator, x); // Q2.29
        let one_minus_half_denominator_times_x = Q2_ONE.wrapping_sub(half_denominator_times_x);
        // Q2 * Q2 = Q4, rescaled to Q2 with a saturating shift left by 2.
        x = x.wrapping_add(saturating_rounding_multiply_by_pot(
            fx_mul(x, one_minus_half_denominator_times_x),
            2,
        ));
        i += 1;
    }
    // 1/(1+a) = x/2: reinterpret the Q2.29 raw as Q1.30 (exact halving), then Q1 -> Q0
    // with a saturating shift left by 1.
    saturating_rounding_multiply_by_pot(x, 1)
}

/// The reciprocal of a positive Q(x_integer_digits).(31-x_integer_digits) value, as TFLite's
/// `GetReciprocal` (`tensorflow/lite/kernels/internal/common.h`): returns the Q0.31 value
/// `1 / (x * 2^-num_bits_over_unit)` and `num_bits_over_unit`, so that
/// `1/x = result * 2^-num_bits_over_unit`.
#[inline]
pub const fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let num_bits_over_unit = x_integer_digits - headroom_plus_one as i32;
    // (x << headroom) lands in [2^31, 2^32): subtracting 1.0 (2^31) leaves a Q0.31 in [0, 1).
    let shifted_sum_minus_one = (x as u32)
        .wrapping_shl(headroom_plus_one)
        .wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}
