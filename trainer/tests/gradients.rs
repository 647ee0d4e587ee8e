//! Every layer's backward against central finite differences of its forward.

use exactq_trainer::nn::graph::{Conv2dSpec, LinearSpec, Padding, Pool2dSpec};
use exactq_trainer::nn::ops::{activation, add, batch_norm, conv2d, linear, pool};
use exactq_trainer::nn::{loss, Builtin, ForwardCtx, Graph, Mode, NnError, Op, ParamStore, Tape, Var};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| lo + (hi - lo) * ((rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32)).collect()
}

/// Loss `sum(y * r)` for a fixed random `r`, through the crate's MSE: `mse(y, y0 - r/2)` has the
/// same gradient up to a constant, so use MSE against a random target instead.
fn check_op(name: &str, inputs: &[(Vec<f32>, Vec<usize>)], op: impl Fn(&mut Tape, &[Var]) -> Result<Var, NnError>) {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let loss_of = |data: &[Vec<f32>], target: Option<&[f32]>| -> (f32, Vec<Vec<f32>>, Vec<f32>) {
        let mut tape = if target.is_some() { Tape::recording() } else { Tape::inference() };
        let vars: Vec<Var> = data.iter().zip(inputs).map(|(d, (_, s))| tape.var(d.clone(), s.clone()).unwrap()).collect();
        let y = op(&mut tape, &vars).unwrap();
        match target {
            Some(t) => {
                let (l, mut g) = loss::mse(&mut tape, &y, t).unwrap();
                (l, vars.iter().map(|v| g.of(v)).collect(), y.to_vec())
            }
            None => (0.0, vec![], y.to_vec()),
        }
    };
    let base: Vec<Vec<f32>> = inputs.iter().map(|(d, _)| d.clone()).collect();
    let (_, _, y0) = loss_of(&base, None);
    let target = uniform(&mut rng, y0.len(), -1.0, 1.0);
    let (_, analytic, _) = loss_of(&base, Some(&target));
    let mse = |y: &[f32]| -> f64 {
        y.iter().zip(&target).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>() / y.len() as f64
    };
    let eps = 1e-2f32;
    for (which, grad) in analytic.iter().enumerate() {
        let mut worst = 0.0f64;
        let scale = grad.iter().fold(1e-3f64, |m, g| m.max(f64::from(g.abs())));
        for i in 0..grad.len() {
            let mut plus = base.clone();
            plus[which][i] += eps;
            let mut minus = base.clone();
            minus[which][i] -= eps;
            let fd = (mse(&loss_of(&plus, None).2) - mse(&loss_of(&minus, None).2)) / (2.0 * f64::from(eps));
            worst = worst.max((fd - f64::from(grad[i])).abs() / scale);
        }
        assert!(worst < 2e-2, "{name}: input {which}: max error {worst:.3e} relative to max |grad| {scale:.3e}");
        println!("{name}: input {which}: {} elements, max error / max|grad| = {worst:.2e}", grad.len());
    }
}

fn rand_input(seed: u64, shape: &[usize]) -> (Vec<f32>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (uniform(&mut rng, shape.iter().product(), -1.0, 1.0), shape.to_vec())
}

#[test]
fn conv2d_regular_strided_padded() {
    let spec = Conv2dSpec {
        padding: Padding { top: 1, left: 0, bottom: 1, right: 2 },
        stride_w: 1,
        ..Conv2dSpec::square(3, 4, 3, 2, 0, true)
    };
    check_op("conv2d 3x3 s2", &[rand_input(1, &[2, 5, 6, 3]), rand_input(2, &spec.weight_shape()), rand_input(3, &[4])], |t, v| {
        conv2d::conv2d(t, &v[0], &v[1], Some(&v[2]), &spec)
    });
}

#[test]
fn conv2d_stride1_same_and_asymmetric() {
    let same = Conv2dSpec::square(3, 4, 3, 1, 1, true);
    check_op("conv2d 3x3 s1 p1", &[rand_input(40, &[2, 5, 4, 3]), rand_input(41, &same.weight_shape()), rand_input(42, &[4])], |t, v| {
        conv2d::conv2d(t, &v[0], &v[1], Some(&v[2]), &same)
    });
    let odd = Conv2dSpec { kw: 2, padding: Padding { top: 0, left: 1, bottom: 2, right: 0 }, ..Conv2dSpec::square(2, 3, 3, 1, 0, false) };
    check_op("conv2d 3x2 s1 asymmetric", &[rand_input(43, &[2, 4, 5, 2]), rand_input(44, &odd.weight_shape())], |t, v| {
        conv2d::conv2d(t, &v[0], &v[1], None, &odd)
    });
}

#[test]
fn conv2d_dilated_and_pointwise() {
    let dilated = Conv2dSpec { dilation_h: 2, dilation_w: 2, ..Conv2dSpec::square(2, 3, 3, 1, 2, false) };
    check_op("conv2d dilated", &[rand_input(4, &[2, 5, 5, 2]), rand_input(5, &dilated.weight_shape())], |t, v| {
        conv2d::conv2d(t, &v[0], &v[1], None, &dilated)
    });
    let pointwise = Conv2dSpec::square(3, 2, 1, 1, 0, true);
    check_op("conv2d 1x1", &[rand_input(6, &[2, 3, 3, 3]), rand_input(7, &[2, 1, 1, 3]), rand_input(8, &[2])], |t, v| {
        conv2d::conv2d(t, &v[0], &v[1], Some(&v[2]), &pointwise)
    });
}

#[test]
fn conv2d_depthwise() {
    let spec = Conv2dSpec { groups: 3, ..Conv2dSpec::square(3, 6, 3, 2, 1, true) };
    assert_eq!(spec.weight_shape(), vec![1, 3, 3, 6]);
    check_op("depthwise", &[rand_input(9, &[2, 5, 5, 3]), rand_input(10, &[1, 3, 3, 6]), rand_input(11, &[6])], |t, v| {
        conv2d::conv2d(t, &v[0], &v[1], Some(&v[2]), &spec)
    });
}

#[test]
fn linear_layer() {
    let spec = LinearSpec { in_f: 5, out_f: 3, bias: true };
    check_op("linear", &[rand_input(12, &[4, 5]), rand_input(13, &[3, 5]), rand_input(14, &[3])], |t, v| {
        linear::linear(t, &v[0], &v[1], Some(&v[2]), &spec)
    });
}

#[test]
fn batch_norm_train_and_eval() {
    let inputs = [rand_input(15, &[3, 2, 2, 4]), rand_input(16, &[4]), rand_input(17, &[4])];
    check_op("batch_norm train", &inputs, |t, v| Ok(batch_norm::batch_norm_train(t, &v[0], &v[1], &v[2], 1e-5)?.0));
    check_op("batch_norm eval", &inputs, |t, v| {
        batch_norm::batch_norm_eval(t, &v[0], &v[1], &v[2], &[0.1, -0.2, 0.3, 0.0], &[0.5, 1.5, 2.0, 1.0], 1e-5)
    });
}

#[test]
fn activations_and_add() {
    // Values kept away from the kinks at 0 and 6 by more than the FD step.
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let x: Vec<f32> = uniform(&mut rng, 40, -8.0, 8.0).into_iter().map(|v| if (v.abs() < 0.1) || ((v - 6.0).abs() < 0.1) { v + 0.3 } else { v }).collect();
    check_op("relu", &[(x.clone(), vec![4, 10])], |t, v| activation::relu(t, &v[0]));
    check_op("relu6", &[(x, vec![4, 10])], |t, v| activation::relu6(t, &v[0]));
    check_op("add", &[rand_input(19, &[2, 3]), rand_input(20, &[2, 3])], |t, v| add::add(t, &v[0], &v[1]));
}

#[test]
fn pooling() {
    let p = Pool2dSpec { kh: 3, kw: 2, stride_h: 2, stride_w: 2, padding: Padding { top: 1, left: 0, bottom: 1, right: 1 } };
    // Distinct values 0.05 apart, shuffled, so no FD step changes which element is the maximum.
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut distinct: Vec<f32> = (0..150).map(|i| i as f32 * 0.05 - 3.0).collect();
    for i in (1..distinct.len()).rev() {
        distinct.swap(i, rng.next_u32() as usize % (i + 1));
    }
    check_op("max_pool", &[(distinct, vec![2, 5, 5, 3])], |t, v| pool::max_pool2d(t, &v[0], &p));
    check_op("avg_pool", &[rand_input(22, &[2, 5, 5, 3])], |t, v| pool::avg_pool2d(t, &v[0], &p));
    check_op("global_avg_pool", &[rand_input(23, &[2, 3, 4, 5])], |t, v| pool::global_avg_pool(t, &v[0]));
}

#[test]
fn cross_entropy_loss() {
    let (logits, shape) = rand_input(24, &[4, 5]);
    let labels = [0u32, 4, 2, 2];
    let ce = |z: &[f32]| -> f64 {
        let mut tape2 = Tape::recording();
        let v = tape2.var(z.to_vec(), shape.clone()).unwrap();
        f64::from(loss::softmax_cross_entropy(&mut tape2, &v, &labels).unwrap().0)
    };
    let mut tape = Tape::recording();
    let v = tape.var(logits.clone(), shape.clone()).unwrap();
    let (_, mut g) = loss::softmax_cross_entropy(&mut tape, &v, &labels).unwrap();
    let grad = g.of(&v);
    for i in 0..logits.len() {
        let (mut p, mut m) = (logits.clone(), logits.clone());
        p[i] += 1e-2;
        m[i] -= 1e-2;
        let fd = (ce(&p) - ce(&m)) / 2e-2;
        assert!((fd - f64::from(grad[i])).abs() < 1e-3, "logit {i}: fd {fd} vs {}", grad[i]);
    }
}

/// A residual block through the graph API: parameter gradients (read by name) against FD.
#[test]
fn residual_graph_param_gradients() {
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![4, 4, 2] }, &[]);
    let c1 = g.push("c1", Op::Conv2d(Conv2dSpec::square(2, 3, 3, 2, 1, true)), &[x]);
    let r = g.push("r", Op::Relu, &[c1]);
    let proj = g.push("proj", Op::Conv2d(Conv2dSpec::square(2, 3, 1, 2, 0, false)), &[x]);
    let sum = g.push("sum", Op::Add, &[r, proj]);
    let gap = g.push("gap", Op::GlobalAvgPool, &[sum]);
    g.push("fc", Op::Linear(LinearSpec { in_f: 3, out_f: 2, bias: true }), &[gap]);
    let mut params = ParamStore::init(&g, &mut ChaCha8Rng::seed_from_u64(5));
    let (input, _) = rand_input(30, &[2, 4, 4, 2]);
    let target = [0.3f32, -0.2, 0.1, 0.4];
    let run = |params: &mut ParamStore, record: bool| {
        let mut tape = if record { Tape::recording() } else { Tape::inference() };
        let xin = tape.var(input.clone(), vec![2, 4, 4, 2]).unwrap();
        let mut ctx = ForwardCtx::new(&mut tape, params, Mode::Eval);
        let outs = g.forward(&mut ctx, xin, &mut Builtin).unwrap();
        let vars = ctx.into_param_vars();
        let out = outs.last().unwrap().clone();
        if record {
            let (l, mut grads) = loss::mse(&mut tape, &out, &target).unwrap();
            (l, vars.trainable_grads(params, &mut grads))
        } else {
            let y = out.to_vec();
            (y.iter().zip(&target).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / 4.0, vec![])
        }
    };
    let (_, grads) = run(&mut params, true);
    let trainable: Vec<usize> = (0..params.params.len()).filter(|&i| params.params[i].kind == exactq_trainer::nn::ParamKind::Trainable).collect();
    for (gi, &pi) in trainable.iter().enumerate() {
        for (k, &g) in grads[gi].iter().enumerate() {
            let mut p = params.clone();
            p.params[pi].data[k] += 1e-2;
            let mut m = params.clone();
            m.params[pi].data[k] -= 1e-2;
            let fd = f64::from(run(&mut p, false).0 - run(&mut m, false).0) / 2e-2;
            let an = f64::from(g);
            assert!((fd - an).abs() < 2e-3 + 2e-2 * an.abs(), "{}[{k}]: fd {fd} vs {an}", params.params[pi].name);
        }
    }
}

/// A `NodeForward` hook that re-implements every ReLU with `Tape::custom_op` on plain slices
/// and every convolution as "transform the weight with a custom op, then the builtin conv"
/// (the shape of a QAT forward) gives exactly the builtin outputs and gradients.
#[test]
fn node_forward_hook_replaces_ops() {
    use exactq_trainer::nn::{Node, NodeForward};
    struct Hook {
        replaced: usize,
    }
    impl NodeForward for Hook {
        fn forward(&mut self, ctx: &mut ForwardCtx<'_>, _: usize, node: &Node, inputs: &[Var]) -> Result<Option<Var>, NnError> {
            match &node.op {
                Op::Relu => {
                    self.replaced += 1;
                    let x = inputs[0].to_vec();
                    let y: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
                    let out = ctx.tape.custom_op(
                        &[&inputs[0]],
                        y,
                        inputs[0].shape().to_vec(),
                        Box::new(move |g| vec![Some(g.iter().zip(&x).map(|(g, x)| if *x > 0.0 { *g } else { 0.0 }).collect())]),
                    )?;
                    Ok(Some(out))
                }
                Op::Conv2d(spec) => {
                    self.replaced += 1;
                    let w = ctx.param(&format!("{}.weight", node.name))?;
                    // Identity "quantizer" with a straight-through backward.
                    let w2 = ctx.tape.custom_op(&[&w], w.to_vec(), w.shape().to_vec(), Box::new(|g| vec![Some(g.to_vec())]))?;
                    let b = if spec.bias { Some(ctx.param(&format!("{}.bias", node.name))?) } else { None };
                    Ok(Some(conv2d::conv2d(ctx.tape, &inputs[0], &w2, b.as_ref(), spec)?))
                }
                _ => Ok(None),
            }
        }
    }
    let graph = exactq_trainer::zoo::Arch::DigitsCnn.graph();
    let (input, _) = rand_input(50, &[3, 8, 8, 1]);
    let labels = [1u32, 7, 3];
    let run = |hook: &mut dyn NodeForward| {
        let mut params = ParamStore::init(&graph, &mut ChaCha8Rng::seed_from_u64(1));
        let mut tape = Tape::recording();
        let x = tape.var(input.clone(), vec![3, 8, 8, 1]).unwrap();
        let mut ctx = ForwardCtx::new(&mut tape, &mut params, Mode::Train);
        let outs = graph.forward(&mut ctx, x, hook).unwrap();
        let vars = ctx.into_param_vars();
        let (l, mut g) = loss::softmax_cross_entropy(&mut tape, outs.last().unwrap(), &labels).unwrap();
        (l, vars.trainable_grads(&params, &mut g), params)
    };
    let (l0, g0, p0) = run(&mut Builtin);
    let mut hook = Hook { replaced: 0 };
    let (l1, g1, p1) = run(&mut hook);
    assert_eq!(hook.replaced, 4);
    assert_eq!(l0.to_bits(), l1.to_bits());
    assert_eq!(g0, g1);
    assert_eq!(p0, p1, "running statistics differ");
}

/// Forward and gradients of a regular convolution by direct loops in f64 (no im2col), for a
/// loss whose output gradient is `dy`: `(y, dL/dx, dL/dw)`.
fn conv_direct(x: &[f32], xs: &[usize], w: &[f32], spec: &Conv2dSpec, dy: Option<&[f64]>) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (n, h, wd, c) = (xs[0], xs[1], xs[2], xs[3]);
    let out = |i: usize, k: usize, s: usize, pb: usize, pa: usize| (i + pb + pa - k) / s + 1;
    let p = spec.padding;
    let (oh, ow, oc) = (out(h, spec.kh, spec.stride_h, p.top, p.bottom), out(wd, spec.kw, spec.stride_w, p.left, p.right), spec.out_c);
    let mut y = vec![0.0f64; n * oh * ow * oc];
    let (mut dx, mut dw) = (vec![0.0f64; x.len()], vec![0.0f64; w.len()]);
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..oc {
                    let yi = ((b * oh + oy) * ow + ox) * oc + o;
                    for ky in 0..spec.kh {
                        for kx in 0..spec.kw {
                            let iy = (oy * spec.stride_h + ky) as isize - p.top as isize;
                            let ix = (ox * spec.stride_w + kx) as isize - p.left as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue;
                            }
                            for ci in 0..c {
                                let xi = ((b * h + iy as usize) * wd + ix as usize) * c + ci;
                                let wi = ((o * spec.kh + ky) * spec.kw + kx) * c + ci;
                                y[yi] += f64::from(x[xi]) * f64::from(w[wi]);
                                if let Some(dy) = dy {
                                    dx[xi] += dy[yi] * f64::from(w[wi]);
                                    dw[wi] += dy[yi] * f64::from(x[xi]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (y, dx, dw)
}

/// Inputs large enough that the convolution splits the batch into several chunks of images
/// (the last one shorter): forward, dL/dx and dL/dw against direct loops. Covers the stride-1
/// input gradient (a convolution of dy), the strided one (col2im) and the pointwise one.
#[test]
fn conv2d_chunked_batches_match_direct_loops() {
    let cases = [
        ("3x3 s1 p1, 40x40x8", Conv2dSpec::square(8, 8, 3, 1, 1, false), vec![3, 40, 40, 8]),
        ("3x3 s2 p1, 80x80x8", Conv2dSpec::square(8, 8, 3, 2, 1, false), vec![3, 80, 80, 8]),
        ("1x1 s1, 100x100x16", Conv2dSpec::square(16, 4, 1, 1, 0, false), vec![3, 100, 100, 16]),
    ];
    for (name, spec, xs) in cases {
        let (x, _) = rand_input(30, &xs);
        let (w, _) = rand_input(31, &spec.weight_shape());
        let mut tape = Tape::recording();
        let xv = tape.var(x.clone(), xs.clone()).unwrap();
        let wv = tape.var(w.clone(), spec.weight_shape()).unwrap();
        let y = conv2d::conv2d(&mut tape, &xv, &wv, None, &spec).unwrap();
        let target = vec![0.0f32; y.len()];
        let (_, mut g) = loss::mse(&mut tape, &y, &target).unwrap();
        let yd = y.to_vec();
        // d mse / dy = 2 y / len
        let dy: Vec<f64> = yd.iter().map(|v| 2.0 * f64::from(*v) / yd.len() as f64).collect();
        let (y_ref, dx_ref, dw_ref) = conv_direct(&x, &xs, &w, &spec, Some(&dy));
        let worst = |got: &[f32], want: &[f64]| {
            let scale = want.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
            got.iter().zip(want).map(|(a, b)| (f64::from(*a) - b).abs() / scale).fold(0.0, f64::max)
        };
        let (ey, ex, ew) = (worst(&yd, &y_ref), worst(&g.of(&xv), &dx_ref), worst(&g.of(&wv), &dw_ref));
        println!("{name}: max error / max value: y {ey:.2e}, dx {ex:.2e}, dw {ew:.2e}");
        assert!(ey < 1e-5 && ex < 1e-5 && ew < 1e-5, "{name}: y {ey:.2e}, dx {ex:.2e}, dw {ew:.2e}");
    }
}
