//! The models the firmware runs, built with the core's builder from seeded random weights, and
//! their expected outputs, computed by the core's interpreter on the host.
//!
//! Random weights with guessed activation scales give outputs that barely depend on the input
//! (saturated or collapsed tensors), which would make a weak parity test. So each model is built
//! twice: a first build with generous scales runs the test inputs on the host and records the real
//! range of every tensor whose quantization the model chooses; the second build quantizes each of
//! those over its observed range, as post-training calibration does. Weights, biases (in real
//! units) and inputs are the same in both builds.

use crate::generate::{HostCase, INPUTS_PER_MODEL};
use anyhow::{anyhow, Result};
use exactq_core::arith::{Activation, Profile};
use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::builder::{ModelBuilder, OutQuant, WeightQuant};
use exactq_core::model::{invoke, invoke_observed, load, DType, Quantization, Storage, TensorIndex, Window};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// The core's errors carry no strings: say which model failed.
fn core_err(what: &str) -> impl Fn(exactq_core::Error) -> anyhow::Error + '_ {
    move |error| anyhow!("{what}: the core returned {error:?}")
}

/// Output quantization of every op whose output scale the model chooses, in creation order.
type Calibration = Vec<OutQuant>;

/// A network under construction: the core's builder, the seeded generator of its weights and the
/// quantization each chosen output gets.
struct Net {
    b: ModelBuilder,
    rng: Xoshiro256PlusPlus,
    name: &'static str,
    calibration: Option<Calibration>,
    /// Builder op index of each chosen output, in creation order.
    chosen_ops: Vec<usize>,
    /// What the first build used for each chosen output.
    chosen: Calibration,
}

impl Net {
    fn new(name: &'static str, seed: u64, calibration: Option<Calibration>) -> Self {
        Net {
            b: ModelBuilder::new(Profile::TfliteDouble),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            name,
            calibration,
            chosen_ops: Vec::new(),
            chosen: Vec::new(),
        }
    }

    fn shape(&self, t: TensorIndex) -> Vec<usize> {
        self.b.tensors()[usize::from(t)].shape.iter().map(|&d| d as usize).collect()
    }

    fn quant(&self, t: TensorIndex) -> OutQuant {
        match self.b.tensors()[usize::from(t)].quantization {
            Quantization::PerTensor { scale, zero_point } => OutQuant::new(scale, zero_point),
            Quantization::PerChannel { .. } => unreachable!("activations are quantized per tensor"),
        }
    }

    /// The output quantization of the op about to be added: calibrated if known, else `guess`.
    fn choose(&mut self, guess: OutQuant) -> OutQuant {
        let chosen = match &self.calibration {
            Some(calibrated) => calibrated[self.chosen.len()],
            None => guess,
        };
        self.chosen_ops.push(self.b.ops().len());
        self.chosen.push(chosen);
        chosen
    }

    /// First-build guess for a weighted layer or a sum (see [`Self::weight_scales`]): real
    /// magnitudes stay about those of the input, so the input's range with some headroom
    /// (zero point -128 after a ReLU, whose outputs are never negative).
    fn guess(input: OutQuant, activation: Activation) -> OutQuant {
        match activation {
            Activation::None => OutQuant::new(input.scale * 2.0, 0),
            _ => OutQuant::new(input.scale, -128),
        }
    }

    fn int8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.rng.random_range(-127..=127)).collect()
    }

    /// Per-channel weight scales around `1 / (128 sqrt(fan_in))`, so a layer's real outputs keep
    /// about the magnitude of its inputs, and channels get different multipliers.
    fn weight_scales(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        let typical = 1.0 / (128.0 * (fan_in as f32).sqrt());
        (0..n).map(|_| typical * self.rng.random_range(0.5f32..1.5)).collect()
    }

    /// Random biases in [-0.1, 0.1) (real units), as int32 with scale `s_in * s_w[c]`.
    fn bias(&mut self, s_in: f32, s_w: &[f32]) -> Result<TensorIndex> {
        let values: Vec<i32> =
            s_w.iter().map(|&s| (self.rng.random_range(-0.1f32..0.1) / (s_in * s)).round() as i32).collect();
        let scales: Vec<f32> = s_w.iter().map(|&s| s_in * s).collect();
        self.b
            .constant_i32(&[s_w.len()], &values, WeightQuant::PerChannel { axis: 0, scales: &scales })
            .map_err(core_err(self.name))
    }

    fn conv(&mut self, x: TensorIndex, out_c: usize, k: usize, stride: u16, activation: Activation) -> Result<TensorIndex> {
        let in_c = self.shape(x)[3];
        let s_in = self.quant(x).scale;
        let weights = self.int8s(out_c * k * k * in_c);
        let s_w = self.weight_scales(out_c, k * k * in_c);
        let c = core_err(self.name);
        let w = self.b.constant_i8(&[out_c, k, k, in_c], &weights, WeightQuant::PerChannel { axis: 0, scales: &s_w }).map_err(&c)?;
        let bias = self.bias(s_in, &s_w)?;
        let window = self.b.same_padding(x, k, k, Window::stride(stride)).map_err(&c)?;
        let out = self.choose(Self::guess(self.quant(x), activation));
        self.b.conv2d(x, w, Some(bias), window, activation, out).map_err(&c)
    }

    fn depthwise(&mut self, x: TensorIndex, depth_multiplier: u16, k: usize, stride: u16, activation: Activation) -> Result<TensorIndex> {
        let out_c = self.shape(x)[3] * usize::from(depth_multiplier);
        let s_in = self.quant(x).scale;
        let weights = self.int8s(k * k * out_c);
        let s_w = self.weight_scales(out_c, k * k);
        let c = core_err(self.name);
        let w = self.b.constant_i8(&[1, k, k, out_c], &weights, WeightQuant::PerChannel { axis: 3, scales: &s_w }).map_err(&c)?;
        let bias = self.bias(s_in, &s_w)?;
        let window = self.b.same_padding(x, k, k, Window::stride(stride)).map_err(&c)?;
        let out = self.choose(Self::guess(self.quant(x), activation));
        self.b.depthwise_conv2d(x, w, Some(bias), depth_multiplier, window, activation, out).map_err(&c)
    }

    /// Fully connected; `per_channel` false uses one weight scale (TFLite's other multiplier path).
    /// `gain` scales the real weights (logits of a classifier span several units).
    fn fully_connected(&mut self, x: TensorIndex, outputs: usize, per_channel: bool, gain: f32, activation: Activation) -> Result<TensorIndex> {
        let inputs = *self.shape(x).last().expect("rank >= 1");
        let s_in = self.quant(x).scale;
        let weights = self.int8s(outputs * inputs);
        let mut s_w: Vec<f32> = self.weight_scales(outputs, inputs).into_iter().map(|s| s * gain).collect();
        if !per_channel {
            s_w = vec![s_w[0]; outputs];
        }
        let c = core_err(self.name);
        let quant = if per_channel { WeightQuant::PerChannel { axis: 0, scales: &s_w } } else { WeightQuant::PerTensor { scale: s_w[0] } };
        let w = self.b.constant_i8(&[outputs, inputs], &weights, quant).map_err(&c)?;
        let bias = self.bias(s_in, &s_w)?;
        let out = self.choose(Self::guess(self.quant(x), activation));
        self.b.fully_connected(x, w, Some(bias), activation, out).map_err(&c)
    }

    fn add(&mut self, x: TensorIndex, y: TensorIndex, activation: Activation) -> Result<TensorIndex> {
        let larger = if self.quant(x).scale > self.quant(y).scale { self.quant(x) } else { self.quant(y) };
        let out = self.choose(Self::guess(larger, activation));
        self.b.add(x, y, activation, out).map_err(core_err(self.name))
    }

    fn mul(&mut self, x: TensorIndex, y: TensorIndex) -> Result<TensorIndex> {
        // A product of two int8 values spans up to 2^15 steps of s1 * s2.
        let out = self.choose(OutQuant::new(self.quant(x).scale * self.quant(y).scale * 256.0, 0));
        self.b.mul(x, y, Activation::None, out).map_err(core_err(self.name))
    }

    fn global_average_pool(&mut self, x: TensorIndex) -> Result<TensorIndex> {
        let out = self.choose(self.quant(x));
        self.b.global_average_pool(x, out).map_err(core_err(self.name))
    }

    fn int8_weights(&self) -> usize {
        let is_weight = |t: &&exactq_core::model::TensorDesc| matches!(t.storage, Storage::Constant { .. }) && t.dtype == DType::Int8;
        self.b.tensors().iter().filter(is_weight).map(|t| t.shape.iter().product::<u32>() as usize).sum()
    }
}

/// Quantization of a real range: `[lo, hi]` widened to contain 0 (TFLite requires an exact zero)
/// mapped onto [-128, 127].
fn quant_for_range(lo: f32, hi: f32, fallback: OutQuant) -> OutQuant {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    if hi - lo <= f32::EPSILON {
        return fallback;
    }
    let scale = (hi - lo) / 255.0;
    let zero_point = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    OutQuant::new(scale, zero_point)
}

/// A test input `[1, h, w, c]`: a wave pattern of random frequency, phase, brightness and contrast
/// plus noise. Inputs of pure noise would all look alike after global pooling (their averages
/// converge), so a pooled network would answer the same for each.
fn synthetic_image(rng: &mut Xoshiro256PlusPlus, dims: &[usize]) -> Vec<i8> {
    let (h, w, c) = (dims[1], dims[2], dims[3]);
    let brightness = rng.random_range(-90.0f32..90.0);
    let contrast = rng.random_range(10.0f32..110.0);
    let (fy, fx, phase) = (rng.random_range(0.0f32..1.0), rng.random_range(0.0f32..1.0), rng.random_range(0.0f32..6.3));
    let mut image = Vec::with_capacity(h * w * c);
    for y in 0..h {
        for x in 0..w {
            for _ in 0..c {
                let wave = (fy * y as f32 + fx * x as f32 + phase).sin();
                let noise = rng.random_range(-1.0f32..1.0);
                let value = brightness + contrast * (0.7 * wave + 0.3 * noise);
                image.push(value.round().clamp(-128.0, 127.0) as i8);
            }
        }
    }
    image
}

/// A model description: adds the ops to `net`, returns (input, output, description).
type Define = fn(&mut Net) -> Result<(TensorIndex, TensorIndex, String)>;

/// Builds `define` twice (guess, then calibrated on the test inputs) and computes the expected
/// outputs of the calibrated model on the host.
fn calibrated_case(name: &'static str, seed: u64, define: Define) -> Result<HostCase> {
    let c = core_err(name);
    let build = |calibration: Option<Calibration>| -> Result<(Net, Vec<u8>, String)> {
        let mut net = Net::new(name, seed, calibration);
        let (input, output, description) = define(&mut net)?;
        net.b.set_input(input);
        net.b.set_output(output);
        let blob = net.b.build().map_err(&c)?;
        Ok((net, blob, description))
    };

    let (first, first_blob, _) = build(None)?;
    let first_blob = AlignedBytes::copy_from(&first_blob);
    let model = load(&first_blob).map_err(&c)?;
    let input_desc = model.tensor(model.graph().input).ok_or_else(|| anyhow!("{name}: no input tensor"))?;
    let dims: Vec<usize> = input_desc.shape.iter().map(|&d| d as usize).collect();
    let mut input_rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x1234_5678);
    let inputs: Vec<Vec<i8>> = (0..INPUTS_PER_MODEL).map(|_| synthetic_image(&mut input_rng, &dims)).collect();

    // Real range of each op's output over all inputs, with the first build's quantization.
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); model.graph().ops.len()];
    let mut arena = AlignedBytes::zeroed(model.arena_size());
    let mut output = vec![0i8; model.output_len()];
    for input in &inputs {
        invoke_observed(&model, input, &mut arena, &mut output, |op, tensor, values| {
            let q = first.quant(tensor);
            for &v in values {
                let real = q.scale * (i32::from(v) - q.zero_point) as f32;
                ranges[op].0 = ranges[op].0.min(real);
                ranges[op].1 = ranges[op].1.max(real);
            }
        })
        .map_err(&c)?;
    }
    let calibration: Calibration = first
        .chosen_ops
        .iter()
        .zip(&first.chosen)
        .map(|(&op, &guess)| quant_for_range(ranges[op].0, ranges[op].1, guess))
        .collect();

    let (_, blob, description) = build(Some(calibration))?;
    let aligned = AlignedBytes::copy_from(&blob);
    let model = load(&aligned).map_err(&c)?;
    let expected = host_outputs(&model, &inputs).map_err(&c)?;
    Ok(HostCase { description, arena_bytes: model.arena_size(), model: blob, inputs, expected })
}

/// The outputs the host build of the core computes for `inputs`, one `invoke` each.
fn host_outputs(model: &exactq_core::model::Model<'_>, inputs: &[Vec<i8>]) -> Result<Vec<Vec<i8>>, exactq_core::Error> {
    let mut arena = AlignedBytes::zeroed(model.arena_size());
    let mut expected = Vec::new();
    for input in inputs {
        let mut output = vec![0i8; model.output_len()];
        invoke(model, input, &mut arena, &mut output)?;
        expected.push(output);
    }
    Ok(expected)
}

/// Every kernel of the core in one graph (12x12x3 input, 10 softmax outputs):
/// conv → depthwise → add (residual) → mul → max pool → average pool → {reshape → FC per channel,
/// global average pool → FC per tensor} → add → requantize → softmax.
fn define_every_kernel(net: &mut Net) -> Result<(TensorIndex, TensorIndex, String)> {
    let c = core_err(net.name);
    let x = net.b.input(&[1, 12, 12, 3], 0.02, -5).map_err(&c)?;
    let a = net.conv(x, 8, 3, 1, Activation::Relu)?;
    let d = net.depthwise(a, 1, 3, 1, Activation::Relu6)?;
    let residual = net.add(a, d, Activation::None)?;
    let product = net.mul(residual, d)?;
    let max = net.b.max_pool2d(product, 2, 2, Window::stride(2), Activation::None).map_err(&c)?;
    let avg = net.b.average_pool2d(max, 2, 2, Window::stride(2), Activation::Relu).map_err(&c)?;
    let flat = net.b.reshape(avg, &[1, 3 * 3 * 8]).map_err(&c)?;
    let fc_flat = net.fully_connected(flat, 10, true, 4.0, Activation::None)?;
    let pooled = net.global_average_pool(avg)?;
    let fc_pooled = net.fully_connected(pooled, 10, false, 4.0, Activation::None)?;
    let logits = net.add(fc_flat, fc_pooled, Activation::None)?;
    // A fixed, non-trivial rescale (not calibrated), so requantize changes scale and zero point.
    let q = net.quant(logits);
    let requantized = net.b.requantize(logits, OutQuant::new(q.scale * 1.25, q.zero_point / 2 + 3)).map_err(&c)?;
    let probabilities = net.b.softmax(requantized, 1.0).map_err(&c)?;
    let description = "every kernel: conv, depthwise, add, mul, max/avg pool, reshape, FC (per channel + per tensor), global avg pool, requantize, softmax; 12x12x3 -> 10".to_owned();
    Ok((x, probabilities, description))
}

/// [`Net`] as the builder of the shared test topologies (`exactq_testnets`): calibrated output
/// scales, ReLU where the topology says so.
struct Topology<'n>(&'n mut Net);

fn activation(act: exactq_testnets::Act) -> Activation {
    match act {
        exactq_testnets::Act::None => Activation::None,
        exactq_testnets::Act::Relu => Activation::Relu,
    }
}

impl exactq_testnets::Layers for Topology<'_> {
    type Tensor = TensorIndex;
    type Error = anyhow::Error;

    fn conv(&mut self, x: TensorIndex, out_channels: usize, kernel: usize, stride: usize, act: exactq_testnets::Act) -> Result<TensorIndex> {
        let stride = u16::try_from(stride).map_err(|_| anyhow!("{}: stride {stride}", self.0.name))?;
        self.0.conv(x, out_channels, kernel, stride, activation(act))
    }
    fn add(&mut self, a: TensorIndex, b: TensorIndex, act: exactq_testnets::Act) -> Result<TensorIndex> {
        self.0.add(a, b, activation(act))
    }
    fn global_average_pool(&mut self, x: TensorIndex) -> Result<TensorIndex> {
        self.0.global_average_pool(x)
    }
    fn fully_connected(&mut self, x: TensorIndex, outputs: usize) -> Result<TensorIndex> {
        // Logits of a classifier span several units: real weights 16 times the usual scale.
        self.0.fully_connected(x, outputs, true, 16.0, Activation::None)
    }
    fn softmax(&mut self, x: TensorIndex) -> Result<TensorIndex> {
        self.0.b.softmax(x, 1.0).map_err(core_err(self.0.name))
    }
}

/// ResNet-8 (MLPerf Tiny's layout, `exactq_testnets::resnet8`) on a 28x28x1 input: conv 16 →
/// blocks of 16, 32 (stride 2), 64 (stride 2) channels with residual adds → global average pool
/// → FC 10 → softmax.
fn define_resnet8(net: &mut Net) -> Result<(TensorIndex, TensorIndex, String)> {
    use exactq_testnets::{RESNET8_INPUT_SCALE, RESNET8_INPUT_SHAPE, RESNET8_INPUT_ZERO_POINT};
    let x = net.b.input(&RESNET8_INPUT_SHAPE, RESNET8_INPUT_SCALE, RESNET8_INPUT_ZERO_POINT).map_err(core_err(net.name))?;
    let probabilities = exactq_testnets::resnet8(&mut Topology(net), x)?;
    let description = format!(
        "ResNet-8 28x28x1 -> 10 (16/32/64 channels, residual adds, {} int8 weights, random, calibrated)",
        net.int8_weights()
    );
    Ok((x, probabilities, description))
}

pub fn every_kernel() -> Result<HostCase> {
    calibrated_case("every-kernel graph", 0x5eed_0001, define_every_kernel)
}

pub fn resnet8() -> Result<HostCase> {
    calibrated_case("ResNet-8", 0x5eed_0008, define_resnet8)
}

/// A model someone else built (e.g. `exactq export`'s `model.qmod`), with seeded test inputs: wave
/// images for an `[1, h, w, c]` input, uniform int8 noise for any other shape. A quantized
/// checkpoint is accepted too: only its `MODL` section is embedded, as `exactq export` would
/// write it.
pub fn from_file(path: &std::path::Path) -> Result<HostCase> {
    let file = std::fs::read(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let what = path.display().to_string();
    let c = core_err(&what);
    let blob = {
        let model = exactq_core::model::container::find_section(&file, exactq_core::model::container::MODEL_TAG).map_err(&c)?;
        let mut writer = exactq_core::model::container::ContainerWriter::new();
        writer.section(exactq_core::model::container::MODEL_TAG, model.payload).map_err(&c)?;
        writer.finish().map_err(&c)?
    };
    let aligned = AlignedBytes::copy_from(&blob);
    let model = load(&aligned).map_err(&c)?;
    let input = model.tensor(model.graph().input).ok_or_else(|| anyhow!("{what}: no input tensor"))?;
    let dims: Vec<usize> = input.shape.iter().map(|&d| d as usize).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed_0100);
    let inputs: Vec<Vec<i8>> = (0..INPUTS_PER_MODEL)
        .map(|_| {
            if dims.len() == 4 && dims[0] == 1 {
                synthetic_image(&mut rng, &dims)
            } else {
                (0..model.input_len()).map(|_| rng.random_range(-128i32..=127) as i8).collect()
            }
        })
        .collect();
    let expected = host_outputs(&model, &inputs).map_err(&c)?;
    let description = format!("{what}: {} ops, input {dims:?}, {} output values", model.graph().ops.len(), model.output_len());
    Ok(HostCase { description, arena_bytes: model.arena_size(), model: blob, inputs, expected })
}
