//! Backward of a quantizer: the straight-through estimator with the clipping mask for the
//! quantized value, and the learned-step-size (LSQ, Esser et al. 2019) gradient for its scale.
//!
//! For `x̂ = s · (clamp(round(x/s) + zp, qmin, qmax) - zp)`:
//! - `∂x̂/∂x = 1` inside the range, `0` where the value was clipped;
//! - `∂x̂/∂s = (x̂ - x)/s` inside, `qmin - zp` below, `qmax - zp` above
//!   (PyTorch's learnable fake-quant; equals LSQ's `round(x/s) - x/s` inside);
//! - the scale gradient is multiplied by `g = 1/sqrt(N · Q_P)` (LSQ's gradient scaling), with
//!   `N` the number of values sharing the scale per sample (weights of one output channel, or
//!   features of one activation tensor) and `Q_P = qmax - zp` the positive levels.
//!
//! The forward value `x̂` is whatever the exact integer forward produced; these formulas only
//! need it and the float surrogate `x`.

/// Integer range and zero point of a quantizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub qmin: i32,
    pub qmax: i32,
    pub zero_point: i32,
}

impl Bounds {
    /// Per-channel symmetric int8 weights: [-127, 127], zero point 0.
    pub const WEIGHT: Bounds = Bounds { qmin: -127, qmax: 127, zero_point: 0 };

    /// Positive quantization levels `Q_P` (at least 1).
    pub fn positive_levels(&self) -> i32 {
        (self.qmax - self.zero_point).max(1)
    }
}

/// Where a value falls relative to the representable range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clip {
    Below,
    Inside,
    Above,
}

/// Classifies the real value `x` for a quantizer of step `scale`: clipped when `x/s + zp`
/// rounds outside `[qmin, qmax]` (ties at ±0.5 count as inside, where rounding still lands
/// on the bound).
pub fn classify(x: f32, scale: f32, b: Bounds) -> Clip {
    let r = f64::from(x) / f64::from(scale) + f64::from(b.zero_point);
    if r < f64::from(b.qmin) - 0.5 {
        Clip::Below
    } else if r > f64::from(b.qmax) + 0.5 {
        Clip::Above
    } else {
        Clip::Inside
    }
}

/// LSQ's gradient scaling `1/sqrt(N · Q_P)`.
pub fn grad_scaling(values_per_scale: usize, b: Bounds) -> f32 {
    (1.0 / ((values_per_scale.max(1) as f64) * f64::from(b.positive_levels())).sqrt()) as f32
}

/// How the values of a tensor share its scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Consecutive blocks of this many values share one scale (one scale per tensor: the
    /// whole length; conv OHWI / fully-connected `[out, in]` weights: one output channel).
    Blocks(usize),
    /// Value `i` uses scale `i % n` (depthwise `[1, kh, kw, out_c]` weights).
    Interleaved(usize),
}

impl Layout {
    /// Scale index of value `i`.
    pub fn channel(self, i: usize) -> usize {
        match self {
            Layout::Blocks(n) => i / n.max(1),
            Layout::Interleaved(n) => i % n.max(1),
        }
    }

    /// `dst[i] = f(src[i], scales[self.channel(i)])`; for blocks one tight loop per scale.
    /// Always inlined, so a caller's CPU-feature clone vectorises the loop.
    #[inline(always)]
    pub fn map_with_scales<T: Copy, U>(self, src: &[T], scales: &[f32], dst: &mut [U], f: impl Fn(T, f32) -> U) {
        match self {
            Layout::Blocks(n) => {
                for ((dst, src), &s) in dst.chunks_mut(n.max(1)).zip(src.chunks(n.max(1))).zip(scales) {
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = f(v, s);
                    }
                }
            }
            Layout::Interleaved(_) => {
                for (i, (d, &v)) in dst.iter_mut().zip(src).enumerate() {
                    *d = f(v, scales[self.channel(i)]);
                }
            }
        }
    }
}

/// The clipping thresholds of [`classify`] for a step `scale`, as values of `x`:
/// `Below ⟺ x < lo`, `Above ⟺ x > hi`. Only for a positive normal `scale` (else `None`).
///
/// Why this equals [`classify`]'s `r = f64(x)/f64(s) + zp` compared with `qmin - 0.5` and
/// `qmax + 0.5`: `lo = (qmin - 0.5 - zp)·s` and `hi = (qmax + 0.5 - zp)·s` are exact in f64
/// (a 24-bit significand times a half-integer below 2^9). With `B = qmin - 0.5 - zp` (or the
/// upper one; |B| ≥ 0.5), `x/s - B` is either 0 — then `r` lands exactly on the bound in
/// both forms — or at least 2^-25 in magnitude for f32 `x` and normal `s`, while the two f64
/// roundings in `r` move it by at most 2^-44 (|r| < 2^9): the comparison cannot flip.
/// `in_place_backward_is_bit_identical_to_the_reference` checks values on and next to the
/// bounds.
#[inline(always)]
fn thresholds(scale: f32, b: Bounds) -> Option<(f64, f64)> {
    (scale > 0.0 && scale.is_normal()).then(|| {
        let s = f64::from(scale);
        ((f64::from(b.qmin) - 0.5 - f64::from(b.zero_point)) * s, (f64::from(b.qmax) + 0.5 - f64::from(b.zero_point)) * s)
    })
}

/// One value of [`backward_in_place`]: `(∂x̂/∂x ∈ {0, 1} applied to dy, dy · ∂x̂/∂s)` with the
/// formulas of the module documentation, the clipping classified as [`classify`] does, or by
/// [`thresholds`] (no division) when given.
#[inline(always)]
fn backward_one(x: f32, x_hat: f32, dy: f32, scale: f32, t: Option<(f64, f64)>, b: Bounds) -> (f32, f64) {
    let clip = match t {
        Some((lo, hi)) => {
            let x = f64::from(x);
            if x < lo {
                Clip::Below
            } else if x > hi {
                Clip::Above
            } else {
                Clip::Inside
            }
        }
        None => classify(x, scale, b),
    };
    let d = match clip {
        Clip::Below => (b.qmin - b.zero_point) as f32,
        Clip::Above => (b.qmax - b.zero_point) as f32,
        Clip::Inside => return (dy, f64::from(dy) * f64::from((x_hat - x) / scale)),
    };
    (0.0, f64::from(dy) * f64::from(d))
}

/// Values per task when one scale's block is split across threads (an activation tensor of a
/// whole batch: resnet8's first layers hold 400 K values per batch of 32).
const PARALLEL_CHUNK: usize = 1 << 15;

/// [`backward_one`] for values sharing one normal scale, without branches: writes `dL/dx` over
/// `dy` and each value's f64 scale-gradient term into `out` (same length). The terms are
/// summed by the caller, in value order, the order that fixes the sum's bits.
///
/// The compiler vectorises this loop only with blends (AVX), so its callers have AVX2 clones
/// picked at run time, and it is always inlined into them. The same IEEE operations as
/// `backward_one` (Rust never fuses a multiply and an add on its own), so every clone gives the
/// same bits; the tests compare them with the oracle.
#[inline(always)]
fn terms(x: &[f32], x_hat: &[f32], dy: &mut [f32], out: &mut [f64], scale: f32, (lo, hi): (f64, f64), b: Bounds) {
    let d_below = f64::from((b.qmin - b.zero_point) as f32);
    let d_above = f64::from((b.qmax - b.zero_point) as f32);
    for (((&x, &xh), dy), term) in x.iter().zip(x_hat).zip(dy.iter_mut()).zip(out.iter_mut()) {
        let (below, above) = (f64::from(x) < lo, f64::from(x) > hi);
        let inside = !(below | above);
        // `dy · d` with `d` the step derivative of backward_one (selects, not branches).
        let d = if inside { f64::from((xh - x) / scale) } else if below { d_below } else { d_above };
        *term = f64::from(*dy) * d;
        *dy = if inside { *dy } else { 0.0 };
    }
}

/// One large block of [`backward_in_place`] on rayon's pool: tasks of [`PARALLEL_CHUNK`]
/// values compute their [`terms`] into one buffer, then this thread adds them in value order.
fn block_parallel(x: &[f32], x_hat: &[f32], dy: &mut [f32], scale: f32, t: (f64, f64), b: Bounds, acc: f64) -> f64 {
    use rayon::prelude::*;
    let mut buf = vec![0.0f64; dy.len()];
    dy.par_chunks_mut(PARALLEL_CHUNK)
        .zip(buf.par_chunks_mut(PARALLEL_CHUNK))
        .zip(x.par_chunks(PARALLEL_CHUNK).zip(x_hat.par_chunks(PARALLEL_CHUNK)))
        .for_each(|((dy, buf), (x, xh))| task_terms(x, xh, dy, buf, scale, t, b));
    buf.iter().fold(acc, |sum, &d| sum + d)
}

/// [`terms`] of one task of [`block_parallel`], in the best clone for this CPU.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn task_terms(x: &[f32], x_hat: &[f32], dy: &mut [f32], buf: &mut [f64], scale: f32, t: (f64, f64), b: Bounds) {
    terms(x, x_hat, dy, buf, scale, t, b);
}

/// Values whose [`terms`] [`block_serial`] computes together, on the stack, before adding them.
const TERMS: usize = 64;

/// One block of [`backward_in_place`] on this thread, in groups of [`TERMS`] values: their
/// terms, then their sum in value order. (Fused into one value-by-value loop, the sum was
/// spilled to the stack and each value waited on a store, a reload and a data-dependent clip
/// branch: about half of a ReLU layer's values are clipped below.)
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn block_serial(x: &[f32], x_hat: &[f32], dy: &mut [f32], scale: f32, t: (f64, f64), b: Bounds, mut sum: f64) -> f64 {
    let mut buf = [0.0f64; TERMS];
    for ((x, x_hat), dy) in x.chunks(TERMS).zip(x_hat.chunks(TERMS)).zip(dy.chunks_mut(TERMS)) {
        let buf = &mut buf[..x.len()];
        terms(x, x_hat, dy, buf, scale, t, b);
        for &term in buf.iter() {
            sum += term;
        }
    }
    sum
}

/// Backward of a quantizer whose scales are shared as `layout` says: returns `(dL/dx, dL/ds per
/// scale)`, `dL/dx` written over `dy`, `g` LSQ's gradient scaling. The scale sums are in f64 (they run
/// over whole batches of activations), in value order, also when a large block's terms are
/// computed in parallel; the tests check it bit for bit against the formulas value by value.
pub fn backward_in_place(x: &[f32], x_hat: &[f32], mut dy: Vec<f32>, scales: &[f32], layout: Layout, b: Bounds, g: f32) -> (Vec<f32>, Vec<f32>) {
    assert!(x.len() == dy.len() && x_hat.len() == dy.len(), "quantizer backward: lengths differ");
    let mut ds = vec![0.0f64; scales.len()];
    match layout {
        Layout::Blocks(n) => {
            let n = n.max(1);
            for (((x, xh), dy), (&s, acc)) in x.chunks(n).zip(x_hat.chunks(n)).zip(dy.chunks_mut(n)).zip(scales.iter().zip(ds.iter_mut())) {
                *acc = match thresholds(s, b) {
                    Some(t) if dy.len() >= 2 * PARALLEL_CHUNK && rayon::current_num_threads() > 1 => block_parallel(x, xh, dy, s, t, b, *acc),
                    Some(t) => block_serial(x, xh, dy, s, t, b, *acc),
                    None => x.iter().zip(xh).zip(dy.iter_mut()).fold(*acc, |sum, ((&x, &xh), dy)| {
                        let (dx, d) = backward_one(x, xh, *dy, s, None, b);
                        *dy = dx;
                        sum + d
                    }),
                };
            }
        }
        Layout::Interleaved(n) => {
            let n = n.max(1);
            for ((x, xh), dy) in x.chunks(n).zip(x_hat.chunks(n)).zip(dy.chunks_mut(n)) {
                for ((((&x, &xh), dy), &s), acc) in x.iter().zip(xh).zip(dy.iter_mut()).zip(scales).zip(ds.iter_mut()) {
                    let (dx, d) = backward_one(x, xh, *dy, s, thresholds(s, b), b);
                    *dy = dx;
                    *acc += d;
                }
            }
        }
    }
    (dy, ds.into_iter().map(|v| (v * f64::from(g)) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `∂x̂/∂s` of one value (before the gradient scaling).
    fn step_derivative(x: f32, x_hat: f32, scale: f32, b: Bounds) -> f32 {
        match classify(x, scale, b) {
            Clip::Below => (b.qmin - b.zero_point) as f32,
            Clip::Above => (b.qmax - b.zero_point) as f32,
            Clip::Inside => (x_hat - x) / scale,
        }
    }

    /// The oracle of [`backward_in_place`]: the module documentation's formulas value by value.
    /// `channel(i)` gives the scale index of element `i`; `scales[channel]` the step size;
    /// `g` LSQ's gradient scaling. Returns `(dL/dx, dL/ds per scale)`.
    fn backward(
        x: &[f32],
        x_hat: &[f32],
        dy: &[f32],
        scales: &[f32],
        channel: impl Fn(usize) -> usize,
        b: Bounds,
        g: f32,
    ) -> (Vec<f32>, Vec<f32>) {
        let mut dx = vec![0.0f32; x.len()];
        // f64 accumulation: the sums run over whole batches of activations.
        let mut ds = vec![0.0f64; scales.len()];
        for i in 0..x.len() {
            let c = channel(i);
            let s = scales[c];
            if classify(x[i], s, b) == Clip::Inside {
                dx[i] = dy[i];
            }
            ds[c] += f64::from(dy[i]) * f64::from(step_derivative(x[i], x_hat[i], s, b));
        }
        (dx, ds.into_iter().map(|v| (v * f64::from(g)) as f32).collect())
    }

    #[test]
    fn in_place_backward_is_bit_identical_to_the_reference() {
        // Values around the clipping bounds (ties included), zero, and a NaN.
        let b = Bounds { qmin: -128, qmax: 127, zero_point: -3 };
        let scales = [0.1f32, 0.037, 1.0e-3];
        let mut x: Vec<f32> = (0..600).map(|i| (i as f32 * 0.7919).sin() * 20.0).collect();
        x[5] = (127.5 + 3.0) * 0.1;
        x[7] = (-128.5 + 3.0) * 0.1;
        x[11] = 0.0;
        x[13] = f32::NAN;
        let x_hat: Vec<f32> = x.iter().map(|v| (v * 7.0).round() / 7.0).collect();
        let dy: Vec<f32> = (0..600).map(|i| (i as f32 * 1.3).cos()).collect();
        for layout in [Layout::Blocks(200), Layout::Interleaved(3)] {
            let (dx0, ds0) = backward(&x, &x_hat, &dy, &scales, |i| layout.channel(i), b, 0.01);
            let (dx1, ds1) = backward_in_place(&x, &x_hat, dy.clone(), &scales, layout, b, 0.01);
            assert_eq!(dx0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), dx1.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            assert_eq!(ds0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), ds1.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
        // On and one ulp either side of both clipping bounds, for many scales and zero points.
        for zp in [-128, -3, 0, 5, 127] {
            let b = Bounds { qmin: -128, qmax: 127, zero_point: zp };
            // Random scales, and short-significand ones (bound · s exact in f32: x on the bound).
            let short = (0..40).flat_map(|j| [0.5f32.powi(j), 0.375 * 0.5f32.powi(j)]);
            let random = (0..2000u32).map(|k| f32::from_bits(0x2B8C_BCCC + k.wrapping_mul(2_654_435_761) % 0x1800_0000)); // ~1e-12 .. ~1e2
            for s in short.chain(random) {
                let mut xs = Vec::new();
                for bound in [(-128.5 - zp as f64) * s as f64, (127.5 - zp as f64) * s as f64] {
                    let x = bound as f32;
                    xs.extend([x, f32::from_bits(x.to_bits() + 1), f32::from_bits(x.to_bits() - 1)]);
                }
                let x_hat: Vec<f32> = xs.iter().map(|v| v * 0.999).collect();
                let dy = vec![1.0f32; xs.len()];
                let (dx0, ds0) = backward(&xs, &x_hat, &dy, &[s], |_| 0, b, 1.0);
                let (dx1, ds1) = backward_in_place(&xs, &x_hat, dy, &[s], Layout::Blocks(xs.len()), b, 1.0);
                assert_eq!(dx0, dx1, "scale {s:e}, zero point {zp}");
                assert_eq!(ds0[0].to_bits(), ds1[0].to_bits(), "scale {s:e}, zero point {zp}");
            }
        }
        let one = [0.05f32];
        let (dx0, ds0) = backward(&x, &x_hat, &dy, &one, |_| 0, b, 0.5);
        let (dx1, ds1) = backward_in_place(&x, &x_hat, dy.clone(), &one, Layout::Blocks(x.len()), b, 0.5);
        assert_eq!(dx0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), dx1.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        assert_eq!(ds0[0].to_bits(), ds1[0].to_bits());
    }

    #[test]
    fn parallel_large_block_is_bit_identical_to_the_reference() {
        // One scale over 5.5 chunks (the parallel path), mixed signs so the f64 sum's order
        // matters, some values clipped on each side.
        let b = Bounds { qmin: -128, qmax: 127, zero_point: 7 };
        let n = 5 * PARALLEL_CHUNK + PARALLEL_CHUNK / 2;
        let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.6180339).sin() * 14.0 + (i % 97) as f32 * 1e-3).collect();
        let x_hat: Vec<f32> = x.iter().map(|v| (v * 10.0).round() / 10.0).collect();
        let dy: Vec<f32> = (0..n).map(|i| (i as f32 * 2.7).cos() * 1e-3).collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for scales in [vec![0.1f32], vec![0.1f32, 0.05]] {
            let layout = Layout::Blocks(n.div_ceil(scales.len()));
            let (dx0, ds0) = backward(&x, &x_hat, &dy, &scales, |i| layout.channel(i), b, 0.01);
            let (dx1, ds1) = pool.install(|| backward_in_place(&x, &x_hat, dy.clone(), &scales, layout, b, 0.01));
            assert!(dx0.iter().zip(&dx1).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(dx0.contains(&0.0) && dx0.iter().any(|&v| v != 0.0), "some clipped, some inside");
            assert_eq!(ds0.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), ds1.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn step_derivative_matches_lsq_formula() {
        let b = Bounds { qmin: -128, qmax: 127, zero_point: -3 };
        let s = 0.1f32;
        // Inside: round(x/s) - x/s with x̂ = s·round(x/s).
        let x = 0.537f32;
        let x_hat = s * (x / s).round();
        assert!((step_derivative(x, x_hat, s, b) - ((x / s).round() - x / s)).abs() < 1e-5);
        // Above: x/s + zp > 127.5 -> qmax - zp.
        assert_eq!(step_derivative(13.2, 13.0, s, b), 130.0);
        // Below: -12.6/0.1 - 3 = -129 < -128.5 -> qmin - zp.
        assert_eq!(step_derivative(-12.6, -12.5, s, b), -125.0);
        assert_eq!(classify(-12.6, s, b), Clip::Below);
    }

    #[test]
    fn gradient_scaling_is_inverse_sqrt() {
        let g = grad_scaling(100, Bounds::WEIGHT);
        assert!((g - 1.0 / (100.0f32 * 127.0).sqrt()).abs() < 1e-9);
    }
}
