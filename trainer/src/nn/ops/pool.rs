//! Pooling on NHWC activations: max, average (over the in-bounds part of each window, as
//! TFLite's AVERAGE_POOL_2D) and global average (TFLite MEAN over height and width).

use rayon::prelude::*;

use super::conv2d::output_size;
use crate::nn::graph::Pool2dSpec;
use crate::nn::tape::{Tape, Var};
use crate::nn::NnError;

#[derive(Clone, Copy)]
struct Dims {
    h: usize,
    w: usize,
    c: usize,
    oh: usize,
    ow: usize,
}

fn dims(x: &Var, p: &Pool2dSpec) -> Result<(usize, Dims), NnError> {
    let &[n, h, w, c] = x.shape() else {
        return Err(NnError::Shape(format!("pooling expects NHWC input, got {:?}", x.shape())));
    };
    let oh = output_size(h, p.kh, p.stride_h, p.padding.top, p.padding.bottom, 1);
    let ow = output_size(w, p.kw, p.stride_w, p.padding.left, p.padding.right, 1);
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok((n, Dims { h, w, c, oh, ow })),
        _ => Err(NnError::Shape(format!("pooling window larger than padded input {h}x{w}"))),
    }
}

/// In-bounds input rows and columns of output pixel (oy, ox).
fn window(p: &Pool2dSpec, d: Dims, oy: usize, ox: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let y0 = (oy * p.stride_h) as isize - p.padding.top as isize;
    let x0 = (ox * p.stride_w) as isize - p.padding.left as isize;
    let ys = y0.max(0) as usize..((y0 + p.kh as isize).min(d.h as isize)).max(0) as usize;
    let xs = x0.max(0) as usize..((x0 + p.kw as isize).min(d.w as isize)).max(0) as usize;
    (ys, xs)
}

/// Maximum over each window; the gradient goes to the first maximal element.
pub fn max_pool2d(tape: &mut Tape, x: &Var, p: &Pool2dSpec) -> Result<Var, NnError> {
    let (n, d) = dims(x, p)?;
    let xd = x.data();
    let in_len = d.h * d.w * d.c;
    let out_len = d.oh * d.ow * d.c;
    let mut y = vec![0.0f32; n * out_len];
    let mut argmax = vec![0u32; n * out_len];
    let p = *p;
    y.par_chunks_mut(out_len).zip(argmax.par_chunks_mut(out_len)).enumerate().for_each(|(b, (yo, ao))| {
        let image = &xd[b * in_len..(b + 1) * in_len];
        for oy in 0..d.oh {
            for ox in 0..d.ow {
                let (ys, xs) = window(&p, d, oy, ox);
                for ch in 0..d.c {
                    let mut best = f32::NEG_INFINITY;
                    let mut at = 0usize;
                    for iy in ys.clone() {
                        for ix in xs.clone() {
                            let i = (iy * d.w + ix) * d.c + ch;
                            if image[i] > best {
                                best = image[i];
                                at = i;
                            }
                        }
                    }
                    let o = (oy * d.ow + ox) * d.c + ch;
                    yo[o] = best;
                    ao[o] = at as u32;
                }
            }
        }
    });
    tape.custom_op(
        &[x],
        y,
        vec![n, d.oh, d.ow, d.c],
        Box::new(move |dy| {
            let mut dx = vec![0.0f32; n * in_len];
            dx.par_chunks_mut(in_len).enumerate().for_each(|(b, dimage)| {
                for o in 0..out_len {
                    dimage[argmax[b * out_len + o] as usize] += dy[b * out_len + o];
                }
            });
            vec![Some(dx)]
        }),
    )
}

/// Mean over the in-bounds elements of each window.
pub fn avg_pool2d(tape: &mut Tape, x: &Var, p: &Pool2dSpec) -> Result<Var, NnError> {
    let (n, d) = dims(x, p)?;
    let xd = x.data();
    let in_len = d.h * d.w * d.c;
    let out_len = d.oh * d.ow * d.c;
    let p = *p;
    let mut y = vec![0.0f32; n * out_len];
    y.par_chunks_mut(out_len).enumerate().for_each(|(b, yo)| {
        let image = &xd[b * in_len..(b + 1) * in_len];
        for oy in 0..d.oh {
            for ox in 0..d.ow {
                let (ys, xs) = window(&p, d, oy, ox);
                let count = (ys.len() * xs.len()).max(1) as f32;
                let out = &mut yo[(oy * d.ow + ox) * d.c..(oy * d.ow + ox + 1) * d.c];
                for iy in ys {
                    for ix in xs.clone() {
                        let i = (iy * d.w + ix) * d.c;
                        for (o, v) in out.iter_mut().zip(&image[i..i + d.c]) {
                            *o += *v;
                        }
                    }
                }
                out.iter_mut().for_each(|o| *o /= count);
            }
        }
    });
    tape.custom_op(
        &[x],
        y,
        vec![n, d.oh, d.ow, d.c],
        Box::new(move |dy| {
            let mut dx = vec![0.0f32; n * in_len];
            dx.par_chunks_mut(in_len).enumerate().for_each(|(b, dimage)| {
                for oy in 0..d.oh {
                    for ox in 0..d.ow {
                        let (ys, xs) = window(&p, d, oy, ox);
                        let count = (ys.len() * xs.len()).max(1) as f32;
                        let o = b * out_len + (oy * d.ow + ox) * d.c;
                        for iy in ys {
                            for ix in xs.clone() {
                                let i = (iy * d.w + ix) * d.c;
                                for (g, go) in dimage[i..i + d.c].iter_mut().zip(&dy[o..o + d.c]) {
                                    *g += *go / count;
                                }
                            }
                        }
                    }
                }
            });
            vec![Some(dx)]
        }),
    )
}

/// `[n, h, w, c] -> [n, c]`: the mean over all pixels of each channel.
pub fn global_avg_pool(tape: &mut Tape, x: &Var) -> Result<Var, NnError> {
    let &[n, h, w, c] = x.shape() else {
        return Err(NnError::Shape(format!("global_avg_pool expects NHWC input, got {:?}", x.shape())));
    };
    let pixels = h * w;
    let inv = 1.0 / pixels.max(1) as f32;
    let xd = x.data();
    let mut y = vec![0.0f32; n * c];
    y.par_chunks_mut(c).enumerate().for_each(|(b, yo)| {
        for px in xd[b * pixels * c..(b + 1) * pixels * c].chunks(c) {
            for (o, v) in yo.iter_mut().zip(px) {
                *o += *v;
            }
        }
        yo.iter_mut().for_each(|o| *o *= inv);
    });
    tape.custom_op(
        &[x],
        y,
        vec![n, c],
        Box::new(move |dy| {
            let mut dx = vec![0.0f32; n * pixels * c];
            dx.par_chunks_mut(pixels * c).enumerate().for_each(|(b, dimage)| {
                let g = &dy[b * c..(b + 1) * c];
                for px in dimage.chunks_mut(c) {
                    for (d, v) in px.iter_mut().zip(g) {
                        *d = *v * inv;
                    }
                }
            });
            vec![Some(dx)]
        }),
    )
}
