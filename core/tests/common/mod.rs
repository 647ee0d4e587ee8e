//! Independent oracles for the core's tests: wide integers (i128) and exact rational reasoning
//! on float bit patterns. Nothing here calls the code under test.
#![allow(dead_code)]

/// `floor(n / 2^e)` for any i128 `n`, `e` in 0..=126.
pub fn floor_div_pow2(n: i128, e: u32) -> i128 {
    n.div_euclid(1i128 << e)
}

/// Round half up (toward +inf) of `n / 2^e`.
pub fn round_half_up_div_pow2(n: i128, e: u32) -> i128 {
    if e == 0 {
        n
    } else {
        floor_div_pow2(n + (1i128 << (e - 1)), e)
    }
}

/// Round half away from zero of `n / 2^e`.
pub fn round_half_away_div_pow2(n: i128, e: u32) -> i128 {
    if e == 0 {
        return n;
    }
    let mag = floor_div_pow2(n.abs() + (1i128 << (e - 1)), e);
    if n < 0 {
        -mag
    } else {
        mag
    }
}

/// Round half away from zero of `n / d`, `d > 0`.
pub fn round_half_away_div(n: i128, d: i128) -> i128 {
    let mag = (2 * n.abs() + d) / (2 * d);
    if n < 0 {
        -mag
    } else {
        mag
    }
}

/// Two's-complement wrap to i32.
pub fn wrap_i32(v: i128) -> i32 {
    v as i32
}

/// gemmlowp SaturatingRoundingDoublingHighMul by definition: `round_half_up(a*b / 2^31)`,
/// saturated to i32.
pub fn srdhm(a: i32, b: i32) -> i32 {
    let v = round_half_up_div_pow2(a as i128 * b as i128, 31);
    v.clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// RoundingDivideByPOT by definition: round half away of `x / 2^e`.
pub fn rdbpot(x: i32, e: u32) -> i32 {
    round_half_away_div_pow2(x as i128, e) as i32
}

/// TFLite double rounding: `x * 2^l` wrapped to i32, srdhm, round-away divide by `2^r`.
pub fn mbqm_double(x: i32, m: i32, shift: i32) -> i32 {
    let l = shift.max(0) as u32;
    let r = (-shift).max(0) as u32;
    let xl = wrap_i32((x as i128) << l);
    rdbpot(srdhm(xl, m), r)
}

/// TFLite single rounding: `floor(x*m / 2^(31-shift) + 1/2)` wrapped to i32.
pub fn mbqm_single(x: i32, m: i32, shift: i32) -> i32 {
    let t = (31 - shift) as u32;
    wrap_i32(round_half_up_div_pow2(x as i128 * m as i128, t))
}

/// An f64 as `(negative, mantissa, exponent)` with `|v| = mantissa * 2^exponent` exactly.
pub fn f64_parts(v: f64) -> (bool, u64, i32) {
    let bits = v.to_bits();
    let neg = bits >> 63 == 1;
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        (neg, frac, -1074)
    } else {
        (neg, frac | (1u64 << 52), exp - 1075)
    }
}

/// An f32 as `(negative, mantissa, exponent)` with `|v| = mantissa * 2^exponent` exactly.
pub fn f32_parts(v: f32) -> (bool, u64, i32) {
    let bits = v.to_bits();
    let neg = bits >> 31 == 1;
    let exp = ((bits >> 23) & 0xff) as i32;
    let frac = (bits & ((1u32 << 23) - 1)) as u64;
    if exp == 0 {
        (neg, frac, -149)
    } else {
        (neg, frac | (1u64 << 23), exp - 150)
    }
}

/// Round half away from zero of a finite f32, as an exact integer (saturated to i64 range
/// for huge values, which callers clamp anyway).
pub fn round_half_away_f32(v: f32) -> i128 {
    let (neg, mant, exp) = f32_parts(v);
    let mag: i128 = if exp >= 0 {
        if exp > 60 {
            i64::MAX as i128
        } else {
            (mant as i128) << exp
        }
    } else {
        let e = (-exp) as u32;
        if e > 100 {
            0
        } else {
            floor_div_pow2(mant as i128 + (1i128 << (e - 1)), e)
        }
    };
    if neg {
        -mag
    } else {
        mag
    }
}

/// TFLite QuantizeMultiplier, computed from the exact bits of `real`.
pub fn quantize_multiplier(real: f64, single: bool) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let (neg, mant, exp) = f64_parts(real);
    let bit_len = 64 - mant.leading_zeros() as i32;
    // |real| = (mant / 2^bit_len) * 2^(bit_len + exp), first factor in [0.5, 1).
    let mut shift = bit_len + exp;
    // round_half_away(mant / 2^bit_len * 2^31)
    let mut q: i128 = if bit_len <= 31 {
        (mant as i128) << (31 - bit_len)
    } else {
        round_half_away_div_pow2(mant as i128, (bit_len - 31) as u32)
    };
    if neg {
        q = -q;
    }
    if q == 1i128 << 31 {
        q = 1 << 30;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q = 0;
    }
    if single && shift > 30 {
        shift = 30;
        q = (1 << 31) - 1;
    }
    (q as i32, shift)
}

/// A small deterministic generator for kernel test data.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    pub fn i8(&mut self) -> i8 {
        self.next_u32() as u8 as i8
    }
    pub fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next_u32() % ((hi - lo + 1) as u32)) as i32
    }
    pub fn vec_i8(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.i8()).collect()
    }
}
