//! One op per file, each a pure function from values to a value, recording its backward.

pub mod activation;
pub mod add;
pub mod batch_norm;
pub mod conv2d;
pub(crate) mod gemm;
pub mod linear;
pub mod pool;

use rayon::prelude::*;

/// Elements per parallel task of the element-wise helpers.
const CHUNK: usize = 1 << 14;

/// `f(a[i], b[i], i % channels)` for every `i` (`b` empty: `b[i] = a[i]`), in parallel over
/// tasks of whole rows, into a new vector. The vector is written once: zero-filling it first
/// would cost an extra pass over a buffer of several MB, and these ops are memory-bound.
pub(crate) fn map_rows(a: &[f32], b: &[f32], channels: usize, f: impl Fn(f32, f32, usize) -> f32 + Sync) -> Vec<f32> {
    assert!(a.len() == b.len() || b.is_empty(), "map_rows lengths");
    assert!(channels > 0 && a.len().is_multiple_of(channels), "map_rows channels");
    let task = channels * CHUNK.div_ceil(channels);
    let mut out: Vec<f32> = Vec::with_capacity(a.len());
    out.spare_capacity_mut()[..a.len()].par_chunks_mut(task).enumerate().for_each(|(t, o)| {
        let start = t * task;
        let a = &a[start..start + o.len()];
        if channels == 1 {
            // Plain element-wise loop (vectorises).
            let b = if b.is_empty() { a } else { &b[start..start + o.len()] };
            for ((o, x), y) in o.iter_mut().zip(a).zip(b) {
                o.write(f(*x, *y, 0));
            }
            return;
        }
        for ((orow, arow), r) in o.chunks_mut(channels).zip(a.chunks(channels)).zip(0..) {
            let brow = if b.is_empty() { arow } else { &b[start + r * channels..start + (r + 1) * channels] };
            for (ch, ((o, x), y)) in orow.iter_mut().zip(arow).zip(brow).enumerate() {
                o.write(f(*x, *y, ch));
            }
        }
    });
    // SAFETY: the tasks above cover all `a.len()` spare elements (chunks of `o`, zipped with
    // rows of `a` of the same length) and wrote each one.
    unsafe { out.set_len(a.len()) };
    out
}

/// `f(x)` element-wise into a new vector (see [`map_rows`]).
pub(crate) fn map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    map_rows(x, &[], 1, |v, _, _| f(v))
}

/// `f(a, b)` element-wise into a new vector (see [`map_rows`]).
pub(crate) fn map2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    map_rows(a, b, 1, |x, y, _| f(x, y))
}

/// `x * scale[ch] + shift[ch]` over rows of `scale.len()` channels, into a new vector.
pub(crate) fn affine(x: &[f32], scale: &[f32], shift: &[f32]) -> Vec<f32> {
    map_rows(x, &[], scale.len(), |v, _, ch| v * scale[ch] + shift[ch])
}
