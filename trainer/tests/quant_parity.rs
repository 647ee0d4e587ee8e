//! Parity: the trainer's quantized forward (the QAT hook and the plain integer forward) equals
//! the core interpreter running the exported blob, byte for byte, for every zoo model and
//! random small networks of every supported layer type, under all three arithmetic profiles
//! (`tflite-double`, `tflite-single`, `float-requant`).

use exactq_trainer::data::Split;
use exactq_trainer::nn::graph::{Conv2dSpec, Graph, LinearSpec, Op, Padding, Pool2dSpec, BatchNormSpec};
use exactq_trainer::nn::{ForwardCtx, Mode, ParamStore, Tape};
use exactq_trainer::quant::device::Device;
use exactq_trainer::quant::exact::{forward_int8, ExactForward};
use exactq_trainer::quant::export::device_blob;
use exactq_trainer::quant::ptq::{quantize, PtqConfig};
use exactq_trainer::quant::qmodel::ProfileName;
use exactq_trainer::quant::QuantError;
use exactq_trainer::quant::range::RangeEstimator;
use exactq_trainer::zoo::Arch;
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| lo + (hi - lo) * ((rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32)).collect()
}

/// Random parameters with non-trivial batch-norm statistics, so folding changes the weights.
fn random_params(graph: &Graph, seed: u64) -> ParamStore {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p = ParamStore::init(graph, &mut rng);
    for param in &mut p.params {
        let n = param.data.len();
        if param.name.ends_with("running_var") {
            param.data = uniform(&mut rng, n, 0.5, 2.0);
        } else if param.name.ends_with("running_mean") || param.name.ends_with(".beta") {
            param.data = uniform(&mut rng, n, -0.3, 0.3);
        } else if param.name.ends_with(".gamma") {
            param.data = uniform(&mut rng, n, 0.5, 1.5);
        }
    }
    p
}

/// Checks the three paths agree on `n` random samples; returns the number of output bytes,
/// or `None` when PTQ refuses the network because a layer is dead on the calibration set
/// (constant zero: `QuantError::ZeroRange`, bad input by design, tested in quant_qat.rs).
fn check_parity(graph: &Graph, params: &ParamStore, sample: &[usize], n: usize, profile: ProfileName, seed: u64) -> Option<usize> {
    // Every estimator and bias correction must leave parity intact.
    let estimator = [RangeEstimator::MinMax, RangeEstimator::Percentile(99.9), RangeEstimator::Mse][(seed % 3) as usize];
    let d: usize = sample.iter().product();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let calib = Split { x: uniform(&mut rng, 64 * d, -1.0, 1.0), y: vec![0; 64] };
    let cfg = PtqConfig { profile, samples: 64, estimator, bias_correction: seed % 2 == 1, seed };
    let q = match quantize(graph, params, &calib, &cfg) {
        Err(QuantError::ZeroRange { .. }) => return None,
        r => r.expect("ptq"),
    };
    let x = uniform(&mut rng, n * d, -1.2, 1.2);
    // Device path.
    let blob = device_blob(&q.model, &q.folded.params).expect("export");
    let mut dev = Device::new(&blob).expect("load");
    let device = dev.run(&x).expect("invoke");
    // Plain integer forward.
    let plain = forward_int8(&q.model, &q.folded.params, &x, n).expect("forward_int8");
    assert_eq!(plain, device, "integer forward vs interpreter ({profile:?})");
    // The QAT hook, through the float graph (inference and recording passes).
    for recording in [false, true] {
        let mut tape = if recording { Tape::recording() } else { Tape::inference() };
        let mut shape = vec![n];
        shape.extend(sample);
        let input = tape.var(x.clone(), shape).unwrap();
        let mut p = q.folded.params.clone();
        let mut ctx = ForwardCtx::new(&mut tape, &mut p, Mode::Eval);
        let mut hook = ExactForward::new(&q.model);
        q.folded.graph.forward(&mut ctx, input, &mut hook).expect("hook forward");
        assert_eq!(hook.output_int8().unwrap(), device.as_slice(), "QAT forward vs interpreter ({profile:?}, recording {recording})");
    }
    Some(device.len())
}

#[test]
fn zoo_models_match_the_interpreter() {
    for (arch, n) in [(Arch::DigitsCnn, 16), (Arch::Resnet8, 3), (Arch::EcgAe, 16), (Arch::Mlp { inputs: 64, classes: 10 }, 16)] {
        let graph = arch.graph();
        let params = random_params(&graph, 7);
        for profile in ProfileName::ALL {
            // Seeds pick the estimator (minmax, percentile, MSE) and bias correction.
            let seeds: &[u64] = if arch == Arch::Resnet8 { &[12] } else { &[11, 12, 13] };
            for &seed in seeds {
                let bytes = check_parity(&graph, &params, &arch.input_shape(), n, profile, seed).expect("zoo models have no dead layer");
                println!("{}: {profile:?}, seed {seed}: {bytes} output bytes identical", arch.name());
            }
        }
    }
}

/// A random small network using every supported layer type.
fn random_graph(seed: u64) -> (Graph, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pick = |k: u32| (rng.next_u32() % k) as usize;
    let (h, w, c) = (4 + pick(5), 4 + pick(5), 1 + pick(3));
    let mut g = Graph { nodes: vec![] };
    let x = g.push("input", Op::Input { shape: vec![h, w, c] }, &[]);
    let c1 = 2 + pick(4);
    let stride = 1 + pick(2);
    let pad = pick(2);
    let spec = Conv2dSpec { in_c: c, out_c: c1, kh: 1 + pick(3), kw: 1 + pick(3), stride_h: stride, stride_w: 1, padding: Padding { top: pad, left: pick(2), bottom: pad, right: 0 }, dilation_h: 1, dilation_w: 1, groups: 1, bias: pick(2) == 0 };
    let a = g.push("conv", Op::Conv2d(spec), &[x]);
    let a = if pick(2) == 0 { g.push("bn", Op::BatchNorm(BatchNormSpec::new(c1)), &[a]) } else { a };
    let a = g.push("relu", if pick(2) == 0 { Op::Relu } else { Op::Relu6 }, &[a]);
    let mult = 1 + pick(2);
    let dw = Conv2dSpec { in_c: c1, out_c: c1 * mult, kh: 3, kw: 3, stride_h: 1, stride_w: 1, padding: Padding::uniform(1), dilation_h: 1, dilation_w: 1, groups: c1, bias: true };
    let b = g.push("dw", Op::Conv2d(dw), &[a]);
    let pw = Conv2dSpec::square(c1 * mult, c1, 1, 1, 0, true);
    let b = g.push("pw", Op::Conv2d(pw), &[b]);
    let s = g.push("add", Op::Add, &[a, b]);
    let s = if pick(2) == 0 { g.push("add_relu", Op::Relu, &[s]) } else { s };
    let s_shape = g.shapes().unwrap()[s].clone();
    let k = 2.min(s_shape[0]).min(s_shape[1]);
    let p = if pick(2) == 0 { Op::MaxPool2d(Pool2dSpec::square(k)) } else { Op::AvgPool2d(Pool2dSpec { kh: k, kw: k, stride_h: 1, stride_w: 1, padding: Padding::default() }) };
    let p = g.push("pool", p, &[s]);
    let tail = if pick(2) == 0 {
        let m = g.push("mean", Op::GlobalAvgPool, &[p]);
        (m, c1)
    } else {
        let f = g.push("flatten", Op::Flatten, &[p]);
        let shapes = g.shapes().unwrap();
        (f, shapes[f][0])
    };
    g.push("fc", Op::Linear(LinearSpec { in_f: tail.1, out_f: 3 + pick(5), bias: true }), &[tail.0]);
    let shape = vec![h, w, c];
    (g, shape)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    #[test]
    fn random_networks_match_the_interpreter(seed in any::<u64>(), profile in 0..ProfileName::ALL.len()) {
        let (graph, sample) = random_graph(seed);
        graph.shapes().unwrap();
        let params = random_params(&graph, seed ^ 5);
        let profile = ProfileName::ALL[profile];
        // A random network whose ReLU never fires is rejected, not counted as a pass.
        prop_assume!(check_parity(&graph, &params, &sample, 4, profile, seed).is_some());
    }
}

/// The network proptest once shrank to (a ReLU dead on the calibration set): refused by PTQ
/// with `ZeroRange`, never a parity failure, in every profile. Kept by name because the
/// property's parameters changed since (`quant_parity.proptest-regressions` replays RNG seeds).
#[test]
fn dead_random_network_is_refused_not_mismatched() {
    let seed = 5914255759633627952;
    let (graph, sample) = random_graph(seed);
    let params = random_params(&graph, seed ^ 5);
    for profile in ProfileName::ALL {
        let _ = check_parity(&graph, &params, &sample, 4, profile, seed);
    }
}

/// The float-requant parity above is not vacuous. On random networks float-requant and
/// tflite-single rarely differ (both round once; they part only at exact ties, half even vs half
/// up, and where f32 and the 31-bit multiplier round a near-tie differently), so this network
/// is built to hit ties: `s_in · s_w / s_out = 1/2` exactly, so every odd accumulator is a tie.
/// The interpreter must follow the profile stored in the blob, and the trainer with it.
#[test]
fn float_requant_rounds_ties_to_even_like_the_interpreter() {
    let mut graph = Graph { nodes: vec![] };
    let input = graph.push("input", Op::Input { shape: vec![6] }, &[]);
    graph.push("fc", Op::Linear(LinearSpec { in_f: 6, out_f: 4, bias: false }), &[input]);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut params = ParamStore::init(&graph, &mut rng);
    // Weights in {-1, 0, 1} / 128: int8 weights in {-1, 0, 1} for the scale 1/128.
    for w in &mut params.get_mut("fc.weight").unwrap().data {
        *w = ((rng.next_u32() % 3) as f32 - 1.0) / 128.0;
    }
    let calib = Split { x: uniform(&mut rng, 64 * 6, -1.0, 1.0), y: vec![0; 64] };
    let cfg = PtqConfig { profile: ProfileName::TfliteSingle, samples: 64, ..PtqConfig::default() };
    let mut q = quantize(&graph, &params, &calib, &cfg).expect("ptq");
    let (s_in, s_w) = (1.0f32 / 64.0, 1.0f32 / 128.0);
    q.model.scales.get_mut("input.scale").unwrap().data[0] = s_in;
    q.model.scales.get_mut("fc.weight_scale").unwrap().data.iter_mut().for_each(|s| *s = s_w);
    q.model.scales.get_mut("fc.scale").unwrap().data[0] = s_in * s_w * 2.0;
    q.model.quantizers.iter_mut().for_each(|q| q.zero_point = 0);
    let n = 64;
    let x = uniform(&mut rng, n * 6, -2.0, 2.0);
    let mut outputs = Vec::new();
    for profile in ProfileName::ALL {
        q.model.profile = profile;
        let trainer = forward_int8(&q.model, &q.folded.params, &x, n).expect("forward");
        let blob = device_blob(&q.model, &q.folded.params).expect("export");
        assert_eq!(Device::new(&blob).unwrap().run(&x).unwrap(), trainer, "{profile:?}");
        outputs.push(trainer);
    }
    let differ = |a: &[i8], b: &[i8]| a.iter().zip(b).filter(|(x, y)| x != y).count();
    let (single, float) = (&outputs[1], &outputs[2]);
    assert!(differ(single, float) > 0, "ties must round differently");
    // Where they differ, single rounding went half up and float-requant half to even.
    for (a, b) in single.iter().zip(float) {
        if a != b {
            assert_eq!(i32::from(*a) - i32::from(*b), 1, "single {a} vs float {b}");
            assert_eq!(b % 2, 0, "float-requant rounds ties to even");
        }
    }
}
