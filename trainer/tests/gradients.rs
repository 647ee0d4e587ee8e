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
        for k in 0..params.params[pi].data.len() {
            let mut p = params.clone();
            p.params[pi].data[k] += 1e-2;
            let mut m = params.clone();
            m.params[pi].data[k] -= 1e-2;
            let fd = f64::from(run(&mut p, false).0 - run(&mut m, false).0) / 2e-2;
            let an = f64::from(grads[gi][k]);
            assert!((fd - an).abs() < 2e-3 + 2e-2 * an.abs(), "{}[{k}]: fd {fd} vs {an}", params.params[pi].name);
        }
    }
}
