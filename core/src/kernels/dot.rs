//! Inner products the conv-like kernels are built on, written so LLVM vectorises them
//! (i16 × sign-extended i8 → i32 lanes: `pmaddwd` on x86, `SMLAD`-like pairs on Cortex-M).
//!
//! Sums wrap in `i32`, as the C kernels' `int32_t` accumulators do in practice: the result is
//! exact whenever the true sum fits in `i32`.

/// `Σ a[i] * b[i]` over the common length.
#[inline(always)]
pub(crate) fn dot_i16_i8(a: &[i16], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    const LANES: usize = 16;
    let mut lanes = [0i32; LANES];
    let mut a_chunks = a.chunks_exact(LANES);
    let mut b_chunks = b.chunks_exact(LANES);
    for (ca, cb) in (&mut a_chunks).zip(&mut b_chunks) {
        for i in 0..LANES {
            lanes[i] = lanes[i].wrapping_add(ca[i] as i32 * cb[i] as i32);
        }
    }
    let mut sum = 0i32;
    for l in lanes {
        sum = sum.wrapping_add(l);
    }
    for (x, w) in a_chunks.remainder().iter().zip(b_chunks.remainder()) {
        sum = sum.wrapping_add(*x as i32 * *w as i32);
    }
    sum
}

/// Four inner products of one `a` with four rows `b0..b3` (all of `a`'s length), sharing the
/// loads of `a`.
#[inline(always)]
pub(crate) fn dot4_i16_i8(a: &[i16], b0: &[i8], b1: &[i8], b2: &[i8], b3: &[i8]) -> [i32; 4] {
    let n = a
        .len()
        .min(b0.len())
        .min(b1.len())
        .min(b2.len())
        .min(b3.len());
    let (a, b0, b1, b2, b3) = (&a[..n], &b0[..n], &b1[..n], &b2[..n], &b3[..n]);
    const LANES: usize = 16;
    let mut l0 = [0i32; LANES];
    let mut l1 = [0i32; LANES];
    let mut l2 = [0i32; LANES];
    let mut l3 = [0i32; LANES];
    let full = n - n % LANES;
    let mut i = 0;
    while i < full {
        let ca = &a[i..i + LANES];
        let (c0, c1, c2, c3) = (
            &b0[i..i + LANES],
            &b1[i..i + LANES],
            &b2[i..i + LANES],
            &b3[i..i + LANES],
        );
        for j in 0..LANES {
            let x = ca[j] as i32;
            l0[j] = l0[j].wrapping_add(x * c0[j] as i32);
            l1[j] = l1[j].wrapping_add(x * c1[j] as i32);
            l2[j] = l2[j].wrapping_add(x * c2[j] as i32);
            l3[j] = l3[j].wrapping_add(x * c3[j] as i32);
        }
        i += LANES;
    }
    let mut out = [0i32; 4];
    for j in 0..LANES {
        out[0] = out[0].wrapping_add(l0[j]);
        out[1] = out[1].wrapping_add(l1[j]);
        out[2] = out[2].wrapping_add(l2[j]);
        out[3] = out[3].wrapping_add(l3[j]);
    }
    while i < n {
        let x = a[i] as i32;
        out[0] = out[0].wrapping_add(x * b0[i] as i32);
        out[1] = out[1].wrapping_add(x * b1[i] as i32);
        out[2] = out[2].wrapping_add(x * b2[i] as i32);
        out[3] = out[3].wrapping_add(x * b3[i] as i32);
        i += 1;
    }
    out
}
