//! QAT layer gradients (against finite differences of the float surrogate and the LSQ
//! formula), exact resume, and bad input to the quantizer.

use exactq_trainer::data::{self, Split};
use exactq_trainer::nn::graph::{Conv2dSpec, Graph, LinearSpec, Op};
use exactq_trainer::nn::{loss, ForwardCtx, Mode, ParamStore, Tape};
use exactq_trainer::quant::exact::ExactForward;
use exactq_trainer::quant::ptq::{quantize, PtqConfig};
use exactq_trainer::quant::qat::{self, QatConfig};
use exactq_trainer::quant::state::{QuantState, Stage, QUNT_VERSION};
use exactq_trainer::quant::QuantError;
use exactq_trainer::train::{RunConfig, Session};
use exactq_trainer::nn::optim::OptimizerConfig;
use exactq_trainer::zoo::Arch;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| lo + (hi - lo) * ((rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32)).collect()
}

fn linear_net() -> Graph {
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![6] }, &[]);
    g.push("fc", Op::Linear(LinearSpec { in_f: 6, out_f: 4, bias: true }), &[x]);
    g
}

#[test]
fn qat_linear_gradients_match_surrogate_and_lsq_formula() {
    let graph = linear_net();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let params = ParamStore::init(&graph, &mut rng);
    let calib = Split { x: uniform(&mut rng, 6 * 50, -1.0, 1.0), y: vec![0; 50] };
    // Calibrate on a narrower range than the batch so some outputs clip.
    let mut q = quantize(&graph, &params, &calib, &PtqConfig { samples: 50, ..PtqConfig::default() }).unwrap();
    let out_scale_name = "fc.scale";
    let s_out = q.model.scales.get(out_scale_name).unwrap().data[0];
    q.model.scales.get_mut(out_scale_name).unwrap().data[0] = s_out * 0.6;
    let n = 8;
    let x = uniform(&mut rng, 6 * n, -1.0, 1.0);
    let target = uniform(&mut rng, 4 * n, -1.0, 1.0);

    let mut tape = Tape::recording();
    let input = tape.var(x.clone(), vec![n, 6]).unwrap();
    let mut p = q.folded.params.clone();
    let mut ctx = ForwardCtx::new(&mut tape, &mut p, Mode::Train);
    let mut hook = ExactForward::new(&q.model);
    let outs = q.folded.graph.forward(&mut ctx, input, &mut hook).unwrap();
    let vars = ctx.into_param_vars();
    let y = outs.last().unwrap().to_vec();
    let xhat = outs[0].to_vec();
    let (_, mut grads) = loss::mse(&mut tape, outs.last().unwrap(), &target).unwrap();
    let g = vars.trainable_grads(&q.folded.params, &mut grads);
    let sg = hook.scale_grads(&mut grads);
    let (gw, gb) = (&g[0], &g[1]);

    // Upstream gradient at the exact output, and the float surrogate v = x̂·ŵᵀ + b.
    let dy: Vec<f64> = y.iter().zip(&target).map(|(a, t)| 2.0 * f64::from(a - t) / y.len() as f64).collect();
    let w = q.folded.params.get("fc.weight").unwrap().data.clone();
    let b = q.folded.params.get("fc.bias").unwrap().data.clone();
    let ws = q.model.scales.get("fc.weight_scale").unwrap().data.clone();
    let what: Vec<f64> = w.iter().enumerate().map(|(i, &v)| {
        let s = f64::from(ws[i / 6]);
        (f64::from(v) / s).round().clamp(-127.0, 127.0) * s
    }).collect();
    let s = f64::from(q.model.scales.get(out_scale_name).unwrap().data[0]);
    let zp = f64::from(q.model.quantizers[q.model.tensors[q.model.output].quantizer].zero_point);
    let surrogate = |wv: &[f64]| -> Vec<f64> {
        (0..n * 4).map(|k| {
            let (r, o) = (k / 4, k % 4);
            (0..6).map(|i| f64::from(xhat[r * 6 + i]) * wv[o * 6 + i]).sum::<f64>() + f64::from(b[o])
        }).collect()
    };
    let v = surrogate(&what);
    let inside: Vec<bool> = v.iter().map(|&v| { let r = v / s + zp; (-128.5..=127.5).contains(&r) }).collect();
    assert!(inside.iter().any(|&i| !i) && inside.iter().any(|&i| i), "test needs clipped and unclipped outputs");
    // S(w) = Σ dy·mask·v(w + (ŵ0 - w0)): the STE surrogate, linearised at the exact output.
    let s_of = |wv: &[f64]| -> f64 { surrogate(wv).iter().zip(&dy).zip(&inside).map(|((v, d), m)| if *m { v * d } else { 0.0 }).sum() };
    let eps = 1e-3;
    for i in 0..w.len() {
        let (mut plus, mut minus) = (what.clone(), what.clone());
        plus[i] += eps;
        minus[i] -= eps;
        let fd = (s_of(&plus) - s_of(&minus)) / (2.0 * eps);
        let w_inside = (f64::from(w[i]) / f64::from(ws[i / 6])).abs() <= 127.5;
        let expect = if w_inside { fd } else { 0.0 };
        assert!((f64::from(gw[i]) - expect).abs() < 1e-5, "dL/dw[{i}] = {} vs finite difference {expect}", gw[i]);
    }
    for o in 0..4 {
        let expect: f64 = (0..n).filter(|r| inside[r * 4 + o]).map(|r| dy[r * 4 + o]).sum();
        assert!((f64::from(gb[o]) - expect).abs() < 1e-6, "dL/db[{o}]");
    }
    // LSQ: dL/ds = g · Σ dy · {(y - v)/s inside; qmin - zp below; qmax - zp above}, g = 1/sqrt(N·Q_P).
    let qp = 127.0 - zp;
    let gscale = 1.0 / (4.0 * qp).sqrt();
    let expect: f64 = v.iter().zip(&y).zip(&dy).map(|((&v, &y), &d)| {
        let r = v / s + zp;
        d * if r < -128.5 { -128.0 - zp } else if r > 127.5 { 127.0 - zp } else { (f64::from(y) - v) / s }
    }).sum::<f64>() * gscale;
    let idx = q.model.scales.params.iter().position(|p| p.name == out_scale_name).unwrap();
    assert!((f64::from(sg[idx][0]) - expect).abs() < 1e-4 * expect.abs().max(1.0), "dL/ds_out {} vs LSQ formula {expect}", sg[idx][0]);
    let wsi = q.model.scales.params.iter().position(|p| p.name == "fc.weight_scale").unwrap();
    assert!(sg[wsi].iter().any(|&g| g != 0.0), "weight scales receive LSQ gradients");
}

fn digits_ptq() -> (data::Dataset, QuantState) {
    let data = data::load("digits", None).expect("embedded digits");
    let cfg = RunConfig { arch: Arch::DigitsCnn, batch_size: 32, seed: 1, optimizer: OptimizerConfig::adam(2e-3), cosine_epochs: 0 };
    let mut session = Session::new(&cfg, &data).unwrap();
    session.train_epoch(&data, &mut |_| {}).unwrap();
    let ptq = PtqConfig::default();
    let calib = exactq_trainer::quant::ptq::calibration_set(&data.train, 300, 0).unwrap();
    let q = quantize(&session.state.graph, &session.state.params, &calib, &ptq).unwrap();
    let state = QuantState {
        version: QUNT_VERSION,
        stage: Stage::Ptq,
        arch: Arch::DigitsCnn,
        dataset: "digits".into(),
        ptq,
        graph: q.folded.graph,
        params: q.folded.params,
        model: q.model,
        fp32_metric: 0.0,
        qat: None,
    };
    (data, state)
}

#[test]
fn qat_resume_is_bit_exact() {
    let (data, ptq_double) = digits_ptq();
    // The default profile, and float-requant (its checkpoint is QUNT version 2).
    let mut ptq_float = ptq_double.clone();
    ptq_float.model.profile = exactq_trainer::quant::qmodel::ProfileName::FloatRequant;
    ptq_float.ptq.profile = ptq_float.model.profile;
    for ptq in [ptq_double, ptq_float] {
        let profile = ptq.model.profile;
        let cfg = QatConfig { lr: 1e-4, scale_lr: 1e-4, batch_size: 64, seed: 9 };
        let mut straight = ptq.clone();
        qat::begin(&mut straight, &cfg).unwrap();
        qat::epoch(&mut straight, &data, &mut |_, _| {}).unwrap();
        qat::epoch(&mut straight, &data, &mut |_, _| {}).unwrap();

        let mut first = ptq.clone();
        qat::begin(&mut first, &cfg).unwrap();
        qat::epoch(&mut first, &data, &mut |_, _| {}).unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exactq-resume-{}", profile.as_str()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("qat1.ckpt");
        first.save(&path, true).unwrap();
        let mut resumed = QuantState::load(&path).unwrap();
        assert_eq!(resumed.model.profile, profile);
        qat::begin(&mut resumed, &cfg).unwrap();
        qat::epoch(&mut resumed, &data, &mut |_, _| {}).unwrap();
        std::fs::remove_dir_all(&dir).ok();

        let bits = |s: &QuantState| -> Vec<u32> {
            let mut v: Vec<u32> = s.params.params.iter().chain(&s.model.scales.params).flat_map(|p| p.data.iter().map(|x| x.to_bits())).collect();
            let q = s.qat.as_ref().unwrap();
            for o in [&q.weights_opt, &q.scales_opt] {
                v.extend(o.first.iter().chain(&o.second).flatten().map(|x| x.to_bits()));
            }
            v
        };
        assert_eq!(bits(&straight), bits(&resumed), "2 epochs straight vs 1 + resume + 1 ({profile:?})");
        assert_eq!(straight.qat.as_ref().unwrap().step, resumed.qat.as_ref().unwrap().step);
        assert_ne!(bits(&straight), bits(&ptq.clone().tap_begin(&cfg)), "fine-tuning changed the network");
    }
}

trait TapBegin {
    fn tap_begin(self, cfg: &QatConfig) -> Self;
}
impl TapBegin for QuantState {
    fn tap_begin(mut self, cfg: &QatConfig) -> Self {
        qat::begin(&mut self, cfg).unwrap();
        self
    }
}

#[test]
fn bad_input_is_reported() {
    // Calibration set smaller than requested.
    let (data, _) = digits_ptq();
    assert!(matches!(
        exactq_trainer::quant::ptq::calibration_set(&data.train, data.train.len() + 1, 0),
        Err(QuantError::CalibrationTooSmall { .. })
    ));
    // Constant (all-zero) activations: a conv with zero weights and bias, then ReLU.
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![4, 4, 1] }, &[]);
    let c = g.push("conv", Op::Conv2d(Conv2dSpec::square(1, 2, 3, 1, 1, true)), &[x]);
    let r = g.push("relu", Op::Relu, &[c]);
    let f = g.push("flatten", Op::Flatten, &[r]);
    g.push("fc", Op::Linear(LinearSpec { in_f: 32, out_f: 2, bias: true }), &[f]);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut params = ParamStore::init(&g, &mut rng);
    params.get_mut("conv.weight").unwrap().data.iter_mut().for_each(|v| *v = 0.0);
    params.get_mut("conv.bias").unwrap().data.iter_mut().for_each(|v| *v = 0.0);
    let calib = Split { x: uniform(&mut rng, 16 * 10, 0.0, 1.0), y: vec![0; 10] };
    let cfg = PtqConfig { samples: 10, ..PtqConfig::default() };
    let e = quantize(&g, &params, &calib, &cfg).unwrap_err();
    assert!(matches!(e, QuantError::ZeroRange { ref tensor } if tensor == "conv"), "{e}");
    // NaN in weights, NaN in data.
    let mut bad = ParamStore::init(&g, &mut rng);
    bad.get_mut("fc.weight").unwrap().data[3] = f32::NAN;
    assert!(matches!(quantize(&g, &bad, &calib, &cfg), Err(QuantError::NonFinite(_))));
    let good = ParamStore::init(&g, &mut rng);
    let mut nan_calib = calib.clone();
    nan_calib.x[5] = f32::INFINITY;
    assert!(matches!(quantize(&g, &good, &nan_calib, &cfg), Err(QuantError::NonFinite(_))));
}

/// `QUNT` versions: a checkpoint is written with the oldest version that holds it (1 for the
/// fixed-point profiles, which exactq builds before float-requant also read; 2 for
/// float-requant), both load, and a newer or inconsistent version is refused with a message.
#[test]
fn checkpoint_versions_are_compatible_and_checked() {
    use exactq_trainer::checkpoint::container::{decode, encode};
    use exactq_trainer::quant::qmodel::ProfileName;
    use exactq_trainer::quant::state::QUNT;
    let (_, mut state) = digits_ptq();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("exactq-qunt-version");
    std::fs::create_dir_all(&dir).unwrap();
    let qunt = |bytes: &[u8]| decode(&dir, bytes).unwrap().into_iter().find(|s| s.tag == QUNT).unwrap().payload;
    // Re-encodes a checkpoint with its QUNT version replaced (a u32 varint < 128 is one byte).
    let with_version = |bytes: &[u8], v: u8| {
        let mut sections = decode(&dir, bytes).unwrap();
        sections.iter_mut().filter(|s| s.tag == QUNT).for_each(|s| s.payload[0] = v);
        encode(&sections).unwrap()
    };
    let load = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        QuantState::load(&path)
    };
    let fixed = state.to_bytes().unwrap();
    assert_eq!(qunt(&fixed)[0], 1, "fixed-point profiles stay readable by version-1 builds");
    assert_eq!(load("fixed.ckpt", &fixed).unwrap().model.profile, ProfileName::TfliteDouble);
    state.model.profile = ProfileName::FloatRequant;
    state.ptq.profile = ProfileName::FloatRequant;
    let float = state.to_bytes().unwrap();
    assert_eq!(qunt(&float)[0], 2);
    assert_eq!(load("float.ckpt", &float).unwrap().model.profile, ProfileName::FloatRequant);
    let e = load("newer.ckpt", &with_version(&float, QUNT_VERSION as u8 + 1)).unwrap_err().to_string();
    assert!(e.contains("newer exactq"), "{e}");
    let e = load("mislabelled.ckpt", &with_version(&float, 1)).unwrap_err().to_string();
    assert!(e.contains("cannot hold profile float-requant"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// One layer (node 1, optionally followed by its fused activation) between the network input and
/// the output; for a weighted layer, the output channel of each weight element.
struct LayerCase {
    name: &'static str,
    graph: Graph,
    channel: Option<Box<dyn Fn(usize) -> usize>>,
}

fn layer_cases() -> Vec<LayerCase> {
    let mut cases = Vec::new();
    // Regular conv 3x3, padding 1, bias, fused ReLU: weights OHWI, channel = i / (kh·kw·in_c).
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![5, 5, 2] }, &[]);
    let c = g.push("conv", Op::Conv2d(Conv2dSpec::square(2, 3, 3, 1, 1, true)), &[x]);
    g.push("relu", Op::Relu, &[c]);
    cases.push(LayerCase { name: "conv+relu", graph: g, channel: Some(Box::new(|i| i / 18)) });
    // Depthwise 3x3 with depth multiplier 2, stride 2, no activation: weights [1,kh,kw,oc].
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![6, 6, 2] }, &[]);
    let mut dw = Conv2dSpec::square(2, 4, 3, 2, 1, true);
    dw.groups = 2;
    g.push("dw", Op::Conv2d(dw), &[x]);
    cases.push(LayerCase { name: "depthwise", graph: g, channel: Some(Box::new(|i| i % 4)) });
    // Fully connected without bias, fused ReLU6: weights [out, in].
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![10] }, &[]);
    let f = g.push("fc", Op::Linear(LinearSpec { in_f: 10, out_f: 5, bias: false }), &[x]);
    g.push("relu6", Op::Relu6, &[f]);
    cases.push(LayerCase { name: "linear+relu6", graph: g, channel: Some(Box::new(|i| i / 10)) });
    // MEAN over height and width (global average pool, its own output quantizer).
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![2, 2, 3] }, &[]);
    g.push("mean", Op::GlobalAvgPool, &[x]);
    cases.push(LayerCase { name: "mean", graph: g, channel: None });
    cases
}

/// LSQ's step-size derivative, written out from Esser et al. (2020), for `x̂ = s·(clamp(round(x/s)
/// + zp, qmin, qmax) − zp)`: `round(x/s + zp) − zp − x/s` inside (`round(x/s) − x/s` for zp = 0),
/// `qmin − zp` below, `qmax − zp` above (f64, rounding half away like TFLite).
fn lsq_formula(x: f64, s: f64, qmin: i32, qmax: i32, zp: i32) -> f64 {
    let q = (x / s + f64::from(zp)).round();
    if q < f64::from(qmin) {
        f64::from(qmin - zp)
    } else if q > f64::from(qmax) {
        f64::from(qmax - zp)
    } else {
        q - f64::from(zp) - x / s
    }
}

/// QAT layer gradients against finite differences of the float surrogate and against LSQ's
/// formulas, for conv, depthwise, fully connected and mean layers under every profile
/// (weights and biases only where the layer has them; ADD is left out: an add of one tensor to
/// itself, the only two-operand layer this one-layer harness can build, panics in dfdx's
/// backward, and the zoo's adds are covered by the parity and resume tests):
/// - `dL/dx`, `dL/dw`, `dL/db`: the STE surrogate `S = Σ dy · mask_out · v(x̂, ŵ, b)` (the
///   layer's float function at the quantized operands, masked where the output clips),
///   differentiated by central differences, times the input's and weights' clipping masks;
/// - `dL/ds_w[c]` (per output channel): `g_w · Σ_{i ∈ c} ∂S/∂ŵ_i · (round(w_i/s_c) − w_i/s_c |
///   −127 | 127)`, `g_w = 1/sqrt(N_c · 127)`;
/// - `dL/ds_in`: `g_in · Σ ∂S/∂x̂_i · lsq(x_i)`, `g_in = 1/sqrt(N_in · (127 − zp_in))`;
/// - `dL/ds_out`: `g_out · Σ dy_k · lsq(v_k)` with `Q_P = act_max − zp_out`. The exact forward's
///   output is the device's integer `q_k`, not `round(v_k/s)`; the implementation's term is
///   `q_k − zp − v_k/s` (LSQ's formula at the value actually produced), which equals LSQ's
///   wherever `q_k = round(v_k/s + zp)`: checked exactly against that, and against strict LSQ
///   within the few elements where the device rounds differently from the surrogate.
#[test]
fn qat_layer_gradients_match_finite_differences_and_lsq() {
    use exactq_core::arith::activation_range;
    use exactq_core::arith::quantize::{dequantize_i8, quantize_f32};
    use exactq_trainer::nn::Builtin;
    use exactq_trainer::quant::qmodel::{ProfileName, QOp};
    let close = |got: f32, expect: f64, magnitude: f64, what: &str| {
        assert!((f64::from(got) - expect).abs() <= 2e-4 * magnitude + 1e-6, "{what}: {got} vs expected {expect} (terms {magnitude})");
    };
    for case in layer_cases() {
        for profile in ProfileName::ALL {
            let what = |s: &str| format!("{} ({}): {s}", case.name, profile.as_str());
            let graph = &case.graph;
            let layer_name = graph.nodes[1].name.clone();
            let in_len: usize = graph.shapes().unwrap()[0].iter().product();
            let mut rng = ChaCha8Rng::seed_from_u64(17);
            let params = ParamStore::init(graph, &mut rng);
            let calib = Split { x: uniform(&mut rng, in_len * 40, -1.0, 1.0), y: vec![0; 40] };
            let mut q = quantize(graph, &params, &calib, &PtqConfig { profile, samples: 40, ..PtqConfig::default() }).unwrap();
            // Narrow the ranges so every quantizer clips somewhere: the input (batch in ±1.3),
            // channel 0's weights (its largest weights land beyond ±127), and the output.
            for (name, factor) in [("input.scale", 0.8f32), (&format!("{layer_name}.scale") as &str, 0.6)] {
                q.model.scales.get_mut(name).unwrap().data[0] *= factor;
            }
            if case.channel.is_some() {
                q.model.scales.get_mut(&format!("{layer_name}.weight_scale")).unwrap().data[0] *= 0.6;
            }
            let n = 6;
            let x = uniform(&mut rng, in_len * n, -1.3, 1.3);

            // The QAT pass and its gradients.
            let mut tape = Tape::recording();
            let mut in_shape = vec![n];
            in_shape.extend(&graph.shapes().unwrap()[0]);
            let input = tape.var(x.clone(), in_shape.clone()).unwrap();
            let mut p = q.folded.params.clone();
            let mut ctx = ForwardCtx::new(&mut tape, &mut p, Mode::Train);
            let mut hook = ExactForward::new(&q.model);
            let outs = q.folded.graph.forward(&mut ctx, input.clone(), &mut hook).unwrap();
            let vars = ctx.into_param_vars();
            let y = outs.last().unwrap().to_vec();
            let x_hat = outs[0].to_vec();
            let target = uniform(&mut rng, y.len(), -0.5, 0.5);
            let (_, mut grads) = loss::mse(&mut tape, outs.last().unwrap(), &target).unwrap();
            let g_x = grads.of(&input);
            let trainable: Vec<String> = q.folded.params.params.iter().filter(|p| p.kind == exactq_trainer::nn::ParamKind::Trainable).map(|p| p.name.clone()).collect();
            let g_params = vars.trainable_grads(&q.folded.params, &mut grads);
            let g_of = |name: &str| g_params[trainable.iter().position(|t| t == name).unwrap()].clone();
            let g_scales = hook.scale_grads(&mut grads);
            let gs_of = |name: &str| g_scales[q.model.scales.params.iter().position(|p| p.name == name).unwrap()].clone();
            let dy: Vec<f64> = y.iter().zip(&target).map(|(a, t)| 2.0 * f64::from(a - t) / y.len() as f64).collect();

            // Quantizer parameters, and the quantized operands as the forward defines them.
            let layer = q.model.layers.iter().find(|l| l.name == layer_name).unwrap();
            let act = match &layer.op {
                QOp::Conv { act, .. } | QOp::Linear { act, .. } => *act,
                QOp::Mean => exactq_trainer::quant::qmodel::Fused::None,
                other => unreachable!("{other:?}"),
            };
            let (s_in, zp_in) = q.model.tensor_quant(0).unwrap();
            let (s_out, zp_out) = q.model.tensor_quant(layer.output).unwrap();
            let range = activation_range(act.core(), s_out, zp_out).unwrap();
            let channel = case.channel.as_deref().unwrap_or(&|_| 0);
            let (w, ws) = match case.channel {
                Some(_) => (
                    q.folded.params.get(&format!("{layer_name}.weight")).unwrap().data.clone(),
                    q.model.scales.get(&format!("{layer_name}.weight_scale")).unwrap().data.clone(),
                ),
                None => (Vec::new(), Vec::new()),
            };
            let w_hat: Vec<f32> = w.iter().enumerate().map(|(i, &v)| {
                let s = ws[channel(i)];
                dequantize_i8(quantize_f32(v, s, 0).max(-127), s, 0)
            }).collect();
            assert_eq!(x_hat, x.iter().map(|&v| dequantize_i8(quantize_f32(v, s_in, zp_in), s_in, zp_in)).collect::<Vec<_>>(), "{}", what("x̂"));

            // The float surrogate v(x̂, ŵ, b) of the layer (builtin float forward, node 1).
            let surrogate = |xh: &[f32], wh: &[f32], b: Option<&[f32]>| -> Vec<f32> {
                let mut ps = q.folded.params.clone();
                if !wh.is_empty() {
                    ps.get_mut(&format!("{layer_name}.weight")).unwrap().data = wh.to_vec();
                }
                if let Some(b) = b {
                    ps.get_mut(&format!("{layer_name}.bias")).unwrap().data = b.to_vec();
                }
                let mut t = Tape::inference();
                let inp = t.var(xh.to_vec(), in_shape.clone()).unwrap();
                let mut c = ForwardCtx::new(&mut t, &mut ps, Mode::Eval);
                q.folded.graph.forward(&mut c, inp, &mut Builtin).unwrap()[1].to_vec()
            };
            let v = surrogate(&x_hat, &w_hat, None);
            let out_lsq = |v: f32| lsq_formula(f64::from(v), f64::from(s_out), range.min, range.max, zp_out);
            let inside_out: Vec<bool> = v.iter().map(|&v| {
                let r = (f64::from(v) / f64::from(s_out) + f64::from(zp_out)).round();
                r >= f64::from(range.min) && r <= f64::from(range.max)
            }).collect();
            assert!(inside_out.iter().any(|&m| m) && inside_out.iter().any(|&m| !m), "{}", what("needs clipped and unclipped outputs"));
            // S and its central differences (v is affine in each operand: eps need not be small).
            let s_of = |v: &[f32]| -> f64 { v.iter().zip(&dy).zip(&inside_out).filter(|(_, m)| **m).map(|((v, d), _)| f64::from(*v) * d).sum() };
            let eps = 0.05f32;
            let fd = |f: &dyn Fn(f32) -> Vec<f32>| (s_of(&f(eps)) - s_of(&f(-eps))) / (2.0 * f64::from(eps));
            let bump = |a: &[f32], i: usize, e: f32| { let mut a = a.to_vec(); a[i] += e; a };
            let ds_dw: Vec<f64> = (0..w.len()).map(|i| fd(&|e| surrogate(&x_hat, &bump(&w_hat, i, e), None))).collect();
            let ds_dx: Vec<f64> = (0..x.len()).map(|i| fd(&|e| surrogate(&bump(&x_hat, i, e), &w_hat, None))).collect();
            let magnitude = |t: &mut dyn Iterator<Item = f64>| t.map(f64::abs).sum::<f64>().max(1e-3);

            // Weights: STE with the clipping mask; per-channel step sizes: LSQ.
            let lsq_w: Vec<f64> = w.iter().enumerate().map(|(i, &v)| lsq_formula(f64::from(v), f64::from(ws[channel(i)]), -127, 127, 0)).collect();
            let w_inside: Vec<bool> = w.iter().enumerate().map(|(i, &v)| (f64::from(v) / f64::from(ws[channel(i)])).round().abs() <= 127.0).collect();
            assert!(case.channel.is_none() || w_inside.iter().any(|&m| !m), "{}", what("needs clipped weights"));
            let g_w = if w.is_empty() { Vec::new() } else { g_of(&format!("{layer_name}.weight")) };
            let scale_of_w = magnitude(&mut ds_dw.iter().copied());
            for i in 0..w.len() {
                close(g_w[i], if w_inside[i] { ds_dw[i] } else { 0.0 }, scale_of_w, &what(&format!("dL/dw[{i}]")));
            }
            let gs_w = if w.is_empty() { Vec::new() } else { gs_of(&format!("{layer_name}.weight_scale")) };
            for (c, &got) in gs_w.iter().enumerate() {
                let members: Vec<usize> = (0..w.len()).filter(|&i| channel(i) == c).collect();
                let g = 1.0 / ((members.len() * 127) as f64).sqrt();
                let expect = g * members.iter().map(|&i| ds_dw[i] * lsq_w[i]).sum::<f64>();
                close(got, expect, g * magnitude(&mut members.iter().map(|&i| ds_dw[i] * lsq_w[i])), &what(&format!("dL/ds_w[{c}]")));
            }
            // Bias: the surrogate's derivative (no quantizer of its own).
            if let Some(b) = q.folded.params.get(&format!("{layer_name}.bias")).ok().map(|p| p.data.clone()) {
                let g_b = g_of(&format!("{layer_name}.bias"));
                for (o, &got) in g_b.iter().enumerate().take(b.len()) {
                    let expect = fd(&|e| surrogate(&x_hat, &w_hat, Some(&bump(&b, o, e))));
                    close(got, expect, magnitude(&mut dy.iter().copied()), &what(&format!("dL/db[{o}]")));
                }
            }
            // Network input: STE with the input quantizer's mask; its step size: LSQ.
            let x_inside: Vec<bool> = x.iter().map(|&v| { let r = (f64::from(v) / f64::from(s_in) + f64::from(zp_in)).round(); (-128.0..=127.0).contains(&r) }).collect();
            assert!(x_inside.iter().any(|&m| !m), "{}", what("needs clipped inputs"));
            let scale_of_x = magnitude(&mut ds_dx.iter().copied());
            for i in 0..x.len() {
                close(g_x[i], if x_inside[i] { ds_dx[i] } else { 0.0 }, scale_of_x, &what(&format!("dL/dx[{i}]")));
            }
            let g_in = 1.0 / ((in_len * (127 - zp_in) as usize) as f64).sqrt();
            let terms_in: Vec<f64> = x.iter().zip(&ds_dx).map(|(&v, d)| d * lsq_formula(f64::from(v), f64::from(s_in), -128, 127, zp_in)).collect();
            close(gs_of("input.scale")[0], g_in * terms_in.iter().sum::<f64>(), g_in * magnitude(&mut terms_in.iter().copied()), &what("dL/ds_in"));
            // Output step size: LSQ at the produced integer, and strict LSQ where they coincide.
            let out_len = y.len() / n;
            let g_out = 1.0 / ((out_len * (range.max - zp_out).max(1) as usize) as f64).sqrt();
            let produced: Vec<f64> = y.iter().zip(&v).zip(&inside_out).map(|((&y, &v), &m)| if m { (f64::from(y) - f64::from(v)) / f64::from(s_out) } else { out_lsq(v) }).collect();
            let terms: Vec<f64> = produced.iter().zip(&dy).map(|(t, d)| t * d).collect();
            let got = gs_of(&format!("{layer_name}.scale"))[0];
            close(got, g_out * terms.iter().sum::<f64>(), g_out * magnitude(&mut terms.iter().copied()), &what("dL/ds_out (produced integer)"));
            let strict: f64 = v.iter().zip(&dy).map(|(&v, d)| out_lsq(v) * d).sum::<f64>() * g_out;
            let off: Vec<usize> = (0..y.len()).filter(|&k| (produced[k] - out_lsq(v[k])).abs() > 1e-3).collect();
            let slack: f64 = off.iter().map(|&k| dy[k].abs() * (produced[k] - out_lsq(v[k])).abs()).sum::<f64>() * g_out;
            assert!(off.len() * 10 <= y.len(), "{}: {} of {} outputs where the device's integer is not round(v/s)", what("ds_out"), off.len(), y.len());
            close(got, strict, g_out * magnitude(&mut terms.iter().copied()) + slack / 2e-4, &what("dL/ds_out (strict LSQ)"));
            println!("{}: {} of {} outputs off the surrogate's rounding", what("ok"), off.len(), y.len());
        }
    }
}
