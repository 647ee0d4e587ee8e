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
    let (data, ptq) = digits_ptq();
    let cfg = QatConfig { lr: 1e-4, scale_lr: 1e-4, batch_size: 64, seed: 9 };
    let mut straight = ptq.clone();
    qat::begin(&mut straight, &cfg).unwrap();
    qat::epoch(&mut straight, &data, &mut |_, _| {}).unwrap();
    qat::epoch(&mut straight, &data, &mut |_, _| {}).unwrap();

    let mut first = ptq.clone();
    qat::begin(&mut first, &cfg).unwrap();
    qat::epoch(&mut first, &data, &mut |_, _| {}).unwrap();
    let dir = std::env::temp_dir().join(format!("exactq-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("qat1.ckpt");
    first.save(&path, true).unwrap();
    let mut resumed = QuantState::load(&path).unwrap();
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
    assert_eq!(bits(&straight), bits(&resumed), "2 epochs straight vs 1 + resume + 1");
    assert_eq!(straight.qat.as_ref().unwrap().step, resumed.qat.as_ref().unwrap().step);
    assert_ne!(bits(&straight), bits(&ptq.clone().tap_begin(&cfg)), "fine-tuning changed the network");
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
    let dir = std::env::temp_dir().join(format!("exactq-qunt-version-{}", std::process::id()));
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
