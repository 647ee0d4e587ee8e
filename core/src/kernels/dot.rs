//! Inner products the conv-like kernels are built on: `Σ a[k] * w[k]` of `i16` rows (input
//! minus zero point) with `i8` weight rows, wrapping in `i32` as the C kernels' `int32_t`
//! accumulators do in practice (so exact whenever the true sum fits in `i32`).
//!
//! [`dots_2xn_portable`] is the definition. On x86-64, [`dots_2xn`] computes the same sums with
//! `pmaddwd` (SSE2, part of the x86-64 baseline) or, when the `std` feature can detect AVX2 at
//! run time, `vpmaddwd`. Addition modulo 2^32 is associative, so every path gives the same
//! bits; `core/tests/kernels.rs` checks them against the portable loop.

/// For two input rows `a0`, `a1` (length `k_len`) and `n = acc0.len()` weight rows
/// `filter[(first_row + j) * k_len ..][..k_len]`: `acc0[j] = Σ a0·w_j`, `acc1[j] = Σ a1·w_j`.
///
/// `acc1` must be as long as `acc0`; `filter` must hold the rows. Portable Rust.
pub fn dots_2xn_portable(
    a0: &[i16],
    a1: &[i16],
    filter: &[i8],
    k_len: usize,
    first_row: usize,
    acc0: &mut [i32],
    acc1: &mut [i32],
) {
    let (a0, a1) = (&a0[..k_len], &a1[..k_len]);
    for (j, (s0, s1)) in acc0.iter_mut().zip(acc1.iter_mut()).enumerate() {
        let row = &filter[(first_row + j) * k_len..(first_row + j + 1) * k_len];
        *s0 = dot_i16_i8(a0, row);
        *s1 = dot_i16_i8(a1, row);
    }
}

/// One inner product over the shortest length, portable Rust.
#[inline]
pub fn dot_i16_i8(a: &[i16], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .fold(0i32, |s, (x, w)| s.wrapping_add(*x as i32 * *w as i32))
}

/// [`dots_2xn_portable`] on the fastest path this CPU offers.
#[inline]
pub fn dots_2xn(
    a0: &[i16],
    a1: &[i16],
    filter: &[i8],
    k_len: usize,
    first_row: usize,
    acc0: &mut [i32],
    acc1: &mut [i32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        x86::dots_2xn(a0, a1, filter, k_len, first_row, acc0, acc1)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        dots_2xn_portable(a0, a1, filter, k_len, first_row, acc0, acc1)
    }
}

/// Which instruction set [`dots_2xn`] uses here: `"avx2"`, `"sse2"` or `"portable"`.
pub fn dot_path() -> &'static str {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        if std::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        "sse2"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "portable"
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    pub(super) fn dots_2xn(
        a0: &[i16],
        a1: &[i16],
        filter: &[i8],
        k_len: usize,
        first_row: usize,
        acc0: &mut [i32],
        acc1: &mut [i32],
    ) {
        let rows = acc0.len().min(acc1.len());
        // Bounds are checked once here; the SIMD loops then index within them.
        let (a0, a1) = (&a0[..k_len], &a1[..k_len]);
        let filter = &filter[first_row * k_len..(first_row + rows) * k_len];
        let (acc0, acc1) = (&mut acc0[..rows], &mut acc1[..rows]);
        #[cfg(feature = "std")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present (checked just above).
                unsafe { dots_avx2(a0, a1, filter, k_len, acc0, acc1) };
                return;
            }
        }
        dots_sse2(a0, a1, filter, k_len, acc0, acc1);
    }

    /// Horizontal wrapping sum of four i32 lanes.
    #[inline(always)]
    fn hsum128(v: __m128i) -> i32 {
        let mut lanes = [0i32; 4];
        // SAFETY: `lanes` is 16 writable bytes; unaligned store; SSE2 is baseline.
        unsafe { _mm_storeu_si128(lanes.as_mut_ptr() as *mut __m128i, v) };
        lanes[0]
            .wrapping_add(lanes[1])
            .wrapping_add(lanes[2])
            .wrapping_add(lanes[3])
    }

    /// Scalar tail `[from, k_len)` of row `w` added to `(s0, s1)`.
    #[inline(always)]
    fn tail(a0: &[i16], a1: &[i16], w: &[i8], from: usize, s0: &mut i32, s1: &mut i32) {
        for k in from..w.len() {
            let wv = w[k] as i32;
            *s0 = s0.wrapping_add(a0[k] as i32 * wv);
            *s1 = s1.wrapping_add(a1[k] as i32 * wv);
        }
    }

    /// `R` weight rows × 2 input rows, SSE2 (8 values per step).
    #[inline(always)]
    fn block_sse2<const R: usize>(
        a0: &[i16],
        a1: &[i16],
        rows: &[i8],
        k_len: usize,
        s0: &mut [i32],
        s1: &mut [i32],
    ) {
        let steps = k_len / 8;
        // SAFETY: loads read `a0`/`a1` at `8*s..8*s+8` (16 bytes) and row `j` of `rows` at
        // `j*k_len + 8*s ..+8` (8 bytes), all within bounds since `8*s + 8 <= k_len`,
        // `a0.len() == a1.len() == k_len` and `rows.len() == R * k_len` (checked by callers).
        unsafe {
            let mut acc0 = [_mm_setzero_si128(); R];
            let mut acc1 = [_mm_setzero_si128(); R];
            for s in 0..steps {
                let x0 = _mm_loadu_si128(a0.as_ptr().add(8 * s) as *const __m128i);
                let x1 = _mm_loadu_si128(a1.as_ptr().add(8 * s) as *const __m128i);
                for j in 0..R {
                    let w8 =
                        _mm_loadl_epi64(rows.as_ptr().add(j * k_len + 8 * s) as *const __m128i);
                    // sign-extend 8 x i8 -> 8 x i16: duplicate each byte, arithmetic shift by 8.
                    let w16 = _mm_srai_epi16(_mm_unpacklo_epi8(w8, w8), 8);
                    acc0[j] = _mm_add_epi32(acc0[j], _mm_madd_epi16(x0, w16));
                    acc1[j] = _mm_add_epi32(acc1[j], _mm_madd_epi16(x1, w16));
                }
            }
            for j in 0..R {
                s0[j] = hsum128(acc0[j]);
                s1[j] = hsum128(acc1[j]);
            }
        }
        for j in 0..R {
            tail(
                a0,
                a1,
                &rows[j * k_len..(j + 1) * k_len],
                steps * 8,
                &mut s0[j],
                &mut s1[j],
            );
        }
    }

    fn dots_sse2(
        a0: &[i16],
        a1: &[i16],
        filter: &[i8],
        k_len: usize,
        acc0: &mut [i32],
        acc1: &mut [i32],
    ) {
        let rows = acc0.len();
        let mut j = 0;
        while j + 4 <= rows {
            block_sse2::<4>(
                a0,
                a1,
                &filter[j * k_len..(j + 4) * k_len],
                k_len,
                &mut acc0[j..j + 4],
                &mut acc1[j..j + 4],
            );
            j += 4;
        }
        while j < rows {
            block_sse2::<1>(
                a0,
                a1,
                &filter[j * k_len..(j + 1) * k_len],
                k_len,
                &mut acc0[j..j + 1],
                &mut acc1[j..j + 1],
            );
            j += 1;
        }
    }

    #[cfg(feature = "std")]
    /// `R` weight rows × 2 input rows, AVX2 (16 values per step).
    /// # Safety
    /// AVX2 must be available; lengths as in [`block_sse2`].
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn block_avx2<const R: usize>(
        a0: &[i16],
        a1: &[i16],
        rows: &[i8],
        k_len: usize,
        s0: &mut [i32],
        s1: &mut [i32],
    ) {
        let steps = k_len / 16;
        // SAFETY: as in `block_sse2` with 16-value steps (32 bytes of i16, 16 bytes of i8);
        // AVX2 is guaranteed by the caller.
        unsafe {
            let mut acc0 = [_mm256_setzero_si256(); R];
            let mut acc1 = [_mm256_setzero_si256(); R];
            for s in 0..steps {
                let x0 = _mm256_loadu_si256(a0.as_ptr().add(16 * s) as *const __m256i);
                let x1 = _mm256_loadu_si256(a1.as_ptr().add(16 * s) as *const __m256i);
                for j in 0..R {
                    let w8 =
                        _mm_loadu_si128(rows.as_ptr().add(j * k_len + 16 * s) as *const __m128i);
                    let w16 = _mm256_cvtepi8_epi16(w8);
                    acc0[j] = _mm256_add_epi32(acc0[j], _mm256_madd_epi16(x0, w16));
                    acc1[j] = _mm256_add_epi32(acc1[j], _mm256_madd_epi16(x1, w16));
                }
            }
            if R == 4 {
                reduce4_avx2(&acc0[..4], &mut s0[..4]);
                reduce4_avx2(&acc1[..4], &mut s1[..4]);
            } else {
                for j in 0..R {
                    let v0 = _mm_add_epi32(
                        _mm256_castsi256_si128(acc0[j]),
                        _mm256_extracti128_si256(acc0[j], 1),
                    );
                    let v1 = _mm_add_epi32(
                        _mm256_castsi256_si128(acc1[j]),
                        _mm256_extracti128_si256(acc1[j], 1),
                    );
                    s0[j] = hsum128(v0);
                    s1[j] = hsum128(v1);
                }
            }
        }
        for j in 0..R {
            tail(
                a0,
                a1,
                &rows[j * k_len..(j + 1) * k_len],
                steps * 16,
                &mut s0[j],
                &mut s1[j],
            );
        }
    }

    #[cfg(feature = "std")]
    /// Four row sums of four 8-lane accumulators, written to `out[..4]`: pairwise horizontal
    /// adds within each 128-bit half, then the two halves added.
    /// # Safety
    /// AVX2 must be available; `acc` and `out` hold at least 4 values.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn reduce4_avx2(acc: &[__m256i], out: &mut [i32]) {
        let (acc, out) = (&acc[..4], &mut out[..4]);
        let h01 = _mm256_hadd_epi32(acc[0], acc[1]);
        let h23 = _mm256_hadd_epi32(acc[2], acc[3]);
        let h = _mm256_hadd_epi32(h01, h23);
        let v = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        // SAFETY: `out` holds 4 i32 (16 bytes); unaligned store.
        unsafe { _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, v) };
    }

    #[cfg(feature = "std")]
    /// # Safety
    /// AVX2 must be available.
    #[target_feature(enable = "avx2")]
    unsafe fn dots_avx2(
        a0: &[i16],
        a1: &[i16],
        filter: &[i8],
        k_len: usize,
        acc0: &mut [i32],
        acc1: &mut [i32],
    ) {
        let rows = acc0.len();
        let mut j = 0;
        // SAFETY (both calls): AVX2 is guaranteed by our caller; slices are exact.
        while j + 4 <= rows {
            unsafe {
                block_avx2::<4>(
                    a0,
                    a1,
                    &filter[j * k_len..(j + 4) * k_len],
                    k_len,
                    &mut acc0[j..j + 4],
                    &mut acc1[j..j + 4],
                )
            };
            j += 4;
        }
        while j < rows {
            unsafe {
                block_avx2::<1>(
                    a0,
                    a1,
                    &filter[j * k_len..(j + 1) * k_len],
                    k_len,
                    &mut acc0[j..j + 1],
                    &mut acc1[j..j + 1],
                )
            };
            j += 1;
        }
    }
}
