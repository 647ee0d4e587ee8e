//! 2-D convolution on NHWC activations with TFLite filter layouts.
//!
//! Regular convolution (groups = 1): filter OHWI `[out_c, kh, kw, in_c]`; forward is im2col
//! followed by one GEMM against the filter (its rows are already the im2col column order
//! `(ky, kx, cin)`), backward is two GEMMs and a col2im scatter-add.
//! Depthwise convolution (groups = in_c): filter `[1, kh, kw, out_c]`, output channel
//! `oc = ic * multiplier + m` as in TFLite; direct loops.

use rayon::prelude::*;

use super::gemm::{matmul_serial, matmul_serial_uninit, View};
use crate::nn::graph::{Conv2dSpec, Padding};
use crate::nn::tape::{Tape, Var};
use crate::nn::NnError;

/// Geometry of one convolution call, derived from the spec and the input shape.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    oh: usize,
    ow: usize,
    oc: usize,
}

/// Output spatial size along one axis (floor division, as TFLite and PyTorch).
pub fn output_size(input: usize, kernel: usize, stride: usize, pad_before: usize, pad_after: usize, dilation: usize) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    let padded = input + pad_before + pad_after;
    if padded < span || stride == 0 {
        return None;
    }
    Some((padded - span) / stride + 1)
}

fn geometry(spec: &Conv2dSpec, x: &[usize]) -> Result<Geometry, NnError> {
    let &[n, h, w, c] = x else {
        return Err(NnError::Shape(format!("conv2d expects NHWC input, got {x:?}")));
    };
    if c != spec.in_c {
        return Err(NnError::Shape(format!("conv2d expects {} input channels, got {c}", spec.in_c)));
    }
    let p = spec.padding;
    let oh = output_size(h, spec.kh, spec.stride_h, p.top, p.bottom, spec.dilation_h);
    let ow = output_size(w, spec.kw, spec.stride_w, p.left, p.right, spec.dilation_w);
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok(Geometry { n, h, w, c, oh, ow, oc: spec.out_c }),
        _ => Err(NnError::Shape(format!("conv2d kernel larger than padded input {h}x{w}"))),
    }
}

/// Input row/column of output position `o`, kernel tap `k` (may be out of bounds).
#[inline]
fn tap(o: usize, k: usize, stride: usize, dilation: usize, pad: usize) -> isize {
    (o * stride + k * dilation) as isize - pad as isize
}

/// Applies a convolution. `bias` is `[out_c]` when the spec has one.
pub fn conv2d(tape: &mut Tape, x: &Var, weight: &Var, bias: Option<&Var>, spec: &Conv2dSpec) -> Result<Var, NnError> {
    let g = geometry(spec, x.shape())?;
    let expect = spec.weight_shape();
    if weight.shape() != expect.as_slice() {
        return Err(NnError::Shape(format!("conv2d weight {:?}, expected {expect:?}", weight.shape())));
    }
    if let Some(b) = bias {
        if b.shape() != [spec.out_c] {
            return Err(NnError::Shape(format!("conv2d bias {:?}, expected [{}]", b.shape(), spec.out_c)));
        }
    }
    if spec.groups == 1 {
        regular(tape, x, weight, bias, spec, g)
    } else if spec.is_depthwise() {
        depthwise(tape, x, weight, bias, spec, g)
    } else {
        Err(NnError::Unsupported(format!("conv2d with groups = {} (only 1 or in_c)", spec.groups)))
    }
}

fn is_pointwise(spec: &Conv2dSpec) -> bool {
    spec.kh == 1 && spec.kw == 1 && spec.stride_h == 1 && spec.stride_w == 1 && spec.padding.is_zero()
}

/// Patch rows of images `first..first + cols.len() / (oh * ow * k)` of `x` into `cols`
/// (`[images * oh * ow, kh * kw * c]`, row order `(ky, kx, c)`: the filter's OHWI row order).
fn im2col(x: &[f32], spec: &Conv2dSpec, g: Geometry, first: usize, cols: &mut [f32]) {
    let k = spec.kh * spec.kw * g.c;
    let image_len = g.h * g.w * g.c;
    for (i, image_cols) in cols.chunks_mut(g.oh * g.ow * k).enumerate() {
        let image = &x[(first + i) * image_len..(first + i + 1) * image_len];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let row = &mut image_cols[(oy * g.ow + ox) * k..(oy * g.ow + ox + 1) * k];
                let ix0 = tap(ox, 0, spec.stride_w, spec.dilation_w, spec.padding.left);
                let run = spec.kw * g.c;
                for ky in 0..spec.kh {
                    let iy = tap(oy, ky, spec.stride_h, spec.dilation_h, spec.padding.top);
                    if spec.dilation_w == 1 && iy >= 0 && iy < g.h as isize && ix0 >= 0 && ix0 as usize + spec.kw <= g.w {
                        // The kw taps of this kernel row are adjacent pixels: one copy of
                        // kw * c floats instead of kw copies of c (c is often 16, and each
                        // copy_from_slice is a memcpy call).
                        let src = (iy as usize * g.w + ix0 as usize) * g.c;
                        row[ky * run..(ky + 1) * run].copy_from_slice(&image[src..src + run]);
                        continue;
                    }
                    for kx in 0..spec.kw {
                        let ix = tap(ox, kx, spec.stride_w, spec.dilation_w, spec.padding.left);
                        let dst = (ky * spec.kw + kx) * g.c;
                        if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                            // Padding (the scratch buffer holds stale values).
                            row[dst..dst + g.c].iter_mut().for_each(|v| *v = 0.0);
                            continue;
                        }
                        let src = (iy as usize * g.w + ix as usize) * g.c;
                        row[dst..dst + g.c].copy_from_slice(&image[src..src + g.c]);
                    }
                }
            }
        }
    }
}

/// Scatter-adds patch rows (`[images * oh * ow, kh * kw * c]`) back onto the images `dx`
/// (`[images, h, w, c]`, zero or holding earlier contributions).
fn col2im(cols: &[f32], spec: &Conv2dSpec, g: Geometry, dx: &mut [f32]) {
    let k = spec.kh * spec.kw * g.c;
    for (image, image_cols) in dx.chunks_mut(g.h * g.w * g.c).zip(cols.chunks(g.oh * g.ow * k)) {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let row = &image_cols[(oy * g.ow + ox) * k..(oy * g.ow + ox + 1) * k];
                for ky in 0..spec.kh {
                    let iy = tap(oy, ky, spec.stride_h, spec.dilation_h, spec.padding.top);
                    for kx in 0..spec.kw {
                        let ix = tap(ox, kx, spec.stride_w, spec.dilation_w, spec.padding.left);
                        if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                            continue;
                        }
                        let dst = (iy as usize * g.w + ix as usize) * g.c;
                        let src = (ky * spec.kw + kx) * g.c;
                        for (d, s) in image[dst..dst + g.c].iter_mut().zip(&row[src..src + g.c]) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

/// Adds `bias[c]` to every row of a row-major `[rows, c]` matrix.
fn add_bias(y: &mut [f32], bias: &[f32]) {
    y.par_chunks_mut(bias.len() * 256).for_each(|rows| {
        for row in rows.chunks_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += *b;
            }
        }
    });
}

/// Sums a row-major `[rows, c]` matrix over its rows, in row order (deterministic).
pub(crate) fn column_sums(m: &[f32], c: usize) -> Vec<f32> {
    let mut acc = vec![0.0f32; c];
    for row in m.chunks(c) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += *v;
        }
    }
    acc
}

/// With stride 1, dL/dx is itself a convolution: of dy with the filter flipped in space and
/// with its channel axes swapped, padded by `dilation * (k - 1) - pad`. Computing it that way
/// is one im2col and one GEMM with a wide inner dimension (`kh * kw * out_c`), instead of a
/// GEMM with inner dimension `out_c` into a `kh * kw * in_c` wide matrix plus col2im: gemm is
/// several times slower on that tall, thin product. Returns the spec, geometry and filter.
fn input_grad_conv(spec: &Conv2dSpec, g: Geometry, w: &[f32]) -> Option<(Conv2dSpec, Geometry, Vec<f32>)> {
    if spec.stride_h != 1 || spec.stride_w != 1 || is_pointwise(spec) {
        return None;
    }
    let span_h = spec.dilation_h * (spec.kh - 1);
    let span_w = spec.dilation_w * (spec.kw - 1);
    let p = spec.padding;
    let padding = Padding {
        top: span_h.checked_sub(p.top)?,
        bottom: span_h.checked_sub(p.bottom)?,
        left: span_w.checked_sub(p.left)?,
        right: span_w.checked_sub(p.right)?,
    };
    let back = Conv2dSpec { in_c: g.oc, out_c: g.c, padding, bias: false, groups: 1, ..*spec };
    let gb = Geometry { n: g.n, h: g.oh, w: g.ow, c: g.oc, oh: g.h, ow: g.w, oc: g.c };
    if output_size(gb.h, back.kh, 1, padding.top, padding.bottom, back.dilation_h) != Some(g.h)
        || output_size(gb.w, back.kw, 1, padding.left, padding.right, back.dilation_w) != Some(g.w)
    {
        return None;
    }
    // flipped[ci][ky][kx][co] = w[co][kh-1-ky][kw-1-kx][ci]
    let (kh, kw, c, oc) = (spec.kh, spec.kw, g.c, g.oc);
    let mut flipped = vec![0.0f32; w.len()];
    for co in 0..oc {
        for ky in 0..kh {
            for kx in 0..kw {
                for ci in 0..c {
                    flipped[((ci * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx)) * oc + co] = w[((co * kh + ky) * kw + kx) * c + ci];
                }
            }
        }
    }
    Some((back, gb, flipped))
}

/// Patch matrices are built for a few images at a time, sized to stay in the core's L2 cache,
/// and each chunk's GEMM runs right after its im2col on the same thread. Before, one im2col
/// matrix covered the whole batch (58 MB for the 28x28x16 3x3 layers at batch 128) and was
/// kept from forward to backward: writing it, reading it back from memory and faulting its
/// pages in were together about as costly as the GEMMs. The backward now rebuilds the
/// patches of its chunk for dW (cheap when cache-resident) instead of keeping them.
const CHUNK_FLOATS: usize = 1 << 18;

/// Images per chunk for per-image patch matrices of `per_image` floats (at least one).
fn images_per_chunk(per_image: usize) -> usize {
    (CHUNK_FLOATS / per_image.max(1)).max(1)
}

thread_local! {
    /// Each worker thread's patch buffer, grown to the largest chunk seen and reused.
    static PATCHES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's patch buffer of `len` floats (stale contents).
fn with_patches<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    PATCHES.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < len {
            p.resize(len, 0.0);
        }
        f(&mut p[..len])
    })
}

fn regular(tape: &mut Tape, x: &Var, weight: &Var, bias: Option<&Var>, spec: &Conv2dSpec, g: Geometry) -> Result<Var, NnError> {
    let k = spec.kh * spec.kw * g.c;
    let pixels = g.oh * g.ow;
    let image_len = g.h * g.w * g.c;
    let wd = weight.to_vec();
    let pointwise = is_pointwise(spec);
    let xd = x.shared();
    // The stride-1 input gradient is a convolution too (its patches are kh * kw * out_c wide):
    // one chunk size fits both.
    let back = input_grad_conv(spec, g, &wd);
    let per_image = pixels * k.max(back.as_ref().map_or(0, |(b, gb, _)| gb.oh * gb.ow * b.kh * b.kw * gb.c));
    let ipc = images_per_chunk(per_image);
    // Each chunk's GEMM is single-threaded: the chunks are the parallel work, and a chunk's
    // result does not depend on the number of threads.
    let y_len = g.n * pixels * g.oc;
    let mut y: Vec<f32> = Vec::with_capacity(y_len);
    // Every chunk's GEMM writes all of its rows, so the output is not zero-filled first.
    y.spare_capacity_mut()[..y_len].par_chunks_mut(ipc * pixels * g.oc).enumerate().for_each(|(ci, ys)| {
        let (first, m) = (ci * ipc, ys.len() / g.oc);
        let w_t = View::rows(&wd, g.oc, k).t();
        if pointwise {
            matmul_serial_uninit(ys, View::rows(&xd[first * image_len..], m, k), w_t);
        } else {
            with_patches(m * k, |cols| {
                im2col(&xd, spec, g, first, cols);
                matmul_serial_uninit(ys, View::rows(cols, m, k), w_t);
            });
        }
    });
    // SAFETY: the chunks cover the first y_len elements and matmul_serial_uninit wrote each.
    unsafe { y.set_len(y_len) };
    if let Some(b) = bias {
        add_bias(&mut y, b.data());
    }
    let spec = *spec;
    let has_bias = bias.is_some();
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    tape.custom_op_owned(
        &inputs,
        y,
        vec![g.n, g.oh, g.ow, g.oc],
        Box::new(move |dy| {
            let out_len = pixels * g.oc;
            // dW = dYᵀ · patches: one partial per chunk, summed in chunk order (deterministic).
            let chunks = g.n.div_ceil(ipc);
            let partial_dw: Vec<Vec<f32>> = (0..chunks)
                .into_par_iter()
                .map(|ci| {
                    let first = ci * ipc;
                    let images = ipc.min(g.n - first);
                    let m = images * pixels;
                    let dys = View::rows(&dy[first * out_len..(first + images) * out_len], m, g.oc).t();
                    let mut dw = vec![0.0f32; g.oc * k];
                    if pointwise {
                        matmul_serial(&mut dw, false, dys, View::rows(&xd[first * image_len..], m, k));
                    } else {
                        with_patches(m * k, |cols| {
                            im2col(&xd, &spec, g, first, cols);
                            matmul_serial(&mut dw, false, dys, View::rows(cols, m, k));
                        });
                    }
                    dw
                })
                .collect();
            let mut dw = vec![0.0f32; g.oc * k];
            for p in &partial_dw {
                for (a, v) in dw.iter_mut().zip(p) {
                    *a += *v;
                }
            }
            let mut dx = vec![0.0f32; g.n * image_len];
            dx.par_chunks_mut(ipc * image_len).enumerate().for_each(|(ci, dxs)| {
                let first = ci * ipc;
                let images = dxs.len() / image_len;
                let dys = &dy[first * out_len..(first + images) * out_len];
                if let Some((back, gb, flipped)) = &back {
                    let kb = back.kh * back.kw * gb.c;
                    let m = images * g.h * g.w;
                    with_patches(m * kb, |cols| {
                        im2col(&dy, back, *gb, first, cols);
                        matmul_serial(dxs, false, View::rows(cols, m, kb), View::rows(flipped, g.c, kb).t());
                    });
                } else if pointwise {
                    matmul_serial(dxs, false, View::rows(dys, images * pixels, g.oc), View::rows(&wd, g.oc, k));
                } else {
                    let m = images * pixels;
                    with_patches(m * k, |dcols| {
                        matmul_serial(dcols, false, View::rows(dys, m, g.oc), View::rows(&wd, g.oc, k));
                        col2im(dcols, &spec, g, dxs);
                    });
                }
            });
            let mut grads = vec![Some(dx), Some(dw)];
            if has_bias {
                grads.push(Some(column_sums(&dy, g.oc)));
            }
            grads
        }),
    )
}

fn depthwise(tape: &mut Tape, x: &Var, weight: &Var, bias: Option<&Var>, spec: &Conv2dSpec, g: Geometry) -> Result<Var, NnError> {
    let mult = g.oc / g.c;
    let xd = x.shared();
    let wd = weight.to_vec();
    let bd = bias.map(|b| b.to_vec());
    let spec = *spec;
    // Visits every (output pixel, kernel tap) pair of image n that reads inside the input.
    let for_each_tap = move |f: &mut dyn FnMut(usize, usize, usize)| {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                for ky in 0..spec.kh {
                    let iy = tap(oy, ky, spec.stride_h, spec.dilation_h, spec.padding.top);
                    for kx in 0..spec.kw {
                        let ix = tap(ox, kx, spec.stride_w, spec.dilation_w, spec.padding.left);
                        if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                            continue;
                        }
                        // (output pixel, input pixel, tap)
                        f(oy * g.ow + ox, iy as usize * g.w + ix as usize, ky * spec.kw + kx);
                    }
                }
            }
        }
    };
    let mut y = vec![0.0f32; g.n * g.oh * g.ow * g.oc];
    y.par_chunks_mut(g.oh * g.ow * g.oc).enumerate().for_each(|(n, out)| {
        let image = &xd[n * g.h * g.w * g.c..(n + 1) * g.h * g.w * g.c];
        if let Some(b) = &bd {
            for px in out.chunks_mut(g.oc) {
                px.copy_from_slice(b);
            }
        }
        for_each_tap(&mut |o, i, t| {
            for oc in 0..g.oc {
                out[o * g.oc + oc] += image[i * g.c + oc / mult] * wd[t * g.oc + oc];
            }
        });
    });
    let has_bias = bias.is_some();
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    tape.custom_op(
        &inputs,
        y,
        vec![g.n, g.oh, g.ow, g.oc],
        Box::new(move |dy| {
            let taps = spec.kh * spec.kw;
            let image_len = g.h * g.w * g.c;
            let out_len = g.oh * g.ow * g.oc;
            let mut dx = vec![0.0f32; g.n * image_len];
            // Per-image weight gradients, summed afterwards in image order (deterministic).
            let partial_dw: Vec<Vec<f32>> = dx
                .par_chunks_mut(image_len)
                .enumerate()
                .map(|(n, dimage)| {
                    let image = &xd[n * image_len..(n + 1) * image_len];
                    let dout = &dy[n * out_len..(n + 1) * out_len];
                    let mut dw = vec![0.0f32; taps * g.oc];
                    for_each_tap(&mut |o, i, t| {
                        for oc in 0..g.oc {
                            let go = dout[o * g.oc + oc];
                            dimage[i * g.c + oc / mult] += go * wd[t * g.oc + oc];
                            dw[t * g.oc + oc] += go * image[i * g.c + oc / mult];
                        }
                    });
                    dw
                })
                .collect();
            let mut dw = vec![0.0f32; taps * g.oc];
            for p in &partial_dw {
                for (a, v) in dw.iter_mut().zip(p) {
                    *a += *v;
                }
            }
            let mut grads = vec![Some(dx), Some(dw)];
            if has_bias {
                grads.push(Some(column_sums(dy, g.oc)));
            }
            grads
        }),
    )
}
