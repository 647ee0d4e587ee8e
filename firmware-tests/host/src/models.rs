//! The models the firmware runs, built with the core's builder from seeded random weights, and
//! their expected outputs, computed by the core's interpreter on the host.

use crate::generate::{HostCase, INPUTS_PER_MODEL};
use anyhow::{anyhow, Result};
use exactq_core::arith::{Activation, Profile};
use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::builder::{ModelBuilder, OutQuant, WeightQuant};
use exactq_core::model::{invoke, load, DType, Quantization, Storage, TensorIndex, Window};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// The core's errors carry no strings: say which model and step failed.
fn core_err(what: &str) -> impl Fn(exactq_core::Error) -> anyhow::Error + '_ {
    move |error| anyhow!("{what}: the core returned {error:?}")
}

/// A network under construction: the core's builder plus the seeded generator of its weights.
struct Net {
    b: ModelBuilder,
    rng: Xoshiro256PlusPlus,
    name: &'static str,
}

impl Net {
    fn new(name: &'static str, seed: u64) -> Self {
        Net { b: ModelBuilder::new(Profile::TfliteDouble), rng: Xoshiro256PlusPlus::seed_from_u64(seed), name }
    }

    fn shape(&self, t: TensorIndex) -> Vec<usize> {
        self.b.tensors()[usize::from(t)].shape.iter().map(|&d| d as usize).collect()
    }

    fn scale(&self, t: TensorIndex) -> f32 {
        match self.b.tensors()[usize::from(t)].quantization {
            Quantization::PerTensor { scale, .. } => scale,
            Quantization::PerChannel { .. } => unreachable!("activations are quantized per tensor"),
        }
    }

    fn int8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.rng.random_range(-127..=127)).collect()
    }

    /// Per-channel weight scales around `1 / (128 sqrt(fan_in))`, so channels get different
    /// multipliers while a layer's output keeps about the scale of its input (int8 values spread
    /// over the whole range, three standard deviations of the accumulator inside it).
    fn weight_scales(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        let typical = 1.0 / (128.0 * (fan_in as f32).sqrt());
        (0..n).map(|_| typical * self.rng.random_range(0.5f32..1.5)).collect()
    }

    /// Random int32 biases of about one output step, with scale `s_in * s_w[c]`.
    fn bias(&mut self, s_in: f32, s_w: &[f32], s_out: f32) -> Result<TensorIndex> {
        let values: Vec<i32> =
            s_w.iter().map(|&s| (self.rng.random_range(-2.0f32..2.0) * s_out / (s_in * s)) as i32).collect();
        let scales: Vec<f32> = s_w.iter().map(|&s| s_in * s).collect();
        self.b
            .constant_i32(&[s_w.len()], &values, WeightQuant::PerChannel { axis: 0, scales: &scales })
            .map_err(core_err(self.name))
    }

    /// Output quantization of a weighted layer (see [`Self::weight_scales`]): the input's scale,
    /// halved after a ReLU whose output uses the whole int8 range above zero.
    fn out_quant(s_in: f32, activation: Activation) -> OutQuant {
        match activation {
            Activation::None => OutQuant::new(s_in, 0),
            _ => OutQuant::new(s_in / 2.0, -128),
        }
    }

    fn conv(&mut self, x: TensorIndex, out_c: usize, k: usize, stride: u16, activation: Activation) -> Result<TensorIndex> {
        let in_c = self.shape(x)[3];
        let s_in = self.scale(x);
        let weights = self.int8s(out_c * k * k * in_c);
        let s_w = self.weight_scales(out_c, k * k * in_c);
        let out = Self::out_quant(s_in, activation);
        let c = core_err(self.name);
        let w = self.b.constant_i8(&[out_c, k, k, in_c], &weights, WeightQuant::PerChannel { axis: 0, scales: &s_w }).map_err(&c)?;
        let bias = self.bias(s_in, &s_w, out.scale)?;
        let window = self.b.same_padding(x, k, k, Window::stride(stride)).map_err(&c)?;
        self.b.conv2d(x, w, Some(bias), window, activation, out).map_err(&c)
    }

    fn depthwise(&mut self, x: TensorIndex, depth_multiplier: u16, k: usize, stride: u16, activation: Activation) -> Result<TensorIndex> {
        let out_c = self.shape(x)[3] * usize::from(depth_multiplier);
        let s_in = self.scale(x);
        let weights = self.int8s(k * k * out_c);
        let s_w = self.weight_scales(out_c, k * k);
        let out = Self::out_quant(s_in, activation);
        let c = core_err(self.name);
        let w = self.b.constant_i8(&[1, k, k, out_c], &weights, WeightQuant::PerChannel { axis: 3, scales: &s_w }).map_err(&c)?;
        let bias = self.bias(s_in, &s_w, out.scale)?;
        let window = self.b.same_padding(x, k, k, Window::stride(stride)).map_err(&c)?;
        self.b.depthwise_conv2d(x, w, Some(bias), depth_multiplier, window, activation, out).map_err(&c)
    }

    /// Fully connected; `per_channel` false uses one weight scale (TFLite's other multiplier path).
    fn fully_connected(&mut self, x: TensorIndex, outputs: usize, per_channel: bool, activation: Activation) -> Result<TensorIndex> {
        let inputs = *self.shape(x).last().expect("rank >= 1");
        let s_in = self.scale(x);
        let weights = self.int8s(outputs * inputs);
        let mut s_w = self.weight_scales(outputs, inputs);
        if !per_channel {
            s_w = vec![s_w[0]; outputs];
        }
        let out = Self::out_quant(s_in, activation);
        let c = core_err(self.name);
        let quant = if per_channel { WeightQuant::PerChannel { axis: 0, scales: &s_w } } else { WeightQuant::PerTensor { scale: s_w[0] } };
        let w = self.b.constant_i8(&[outputs, inputs], &weights, quant).map_err(&c)?;
        let bias = self.bias(s_in, &s_w, out.scale)?;
        self.b.fully_connected(x, w, Some(bias), activation, out).map_err(&c)
    }

    /// Sum of two tensors into the larger of their scales.
    fn add(&mut self, x: TensorIndex, y: TensorIndex, activation: Activation) -> Result<TensorIndex> {
        let scale = self.scale(x).max(self.scale(y)) * 1.5;
        let out = match activation {
            Activation::None => OutQuant::new(scale, 0),
            _ => OutQuant::new(scale / 2.0, -128),
        };
        self.b.add(x, y, activation, out).map_err(core_err(self.name))
    }

    /// Builds the blob, draws random inputs and runs the host interpreter on each.
    fn finish(mut self, input: TensorIndex, output: TensorIndex, description: String) -> Result<HostCase> {
        self.b.set_input(input);
        self.b.set_output(output);
        let c = core_err(self.name);
        let model_bytes = self.b.build().map_err(&c)?;
        let aligned = AlignedBytes::copy_from(&model_bytes);
        let model = load(&aligned).map_err(&c)?;
        let mut arena = AlignedBytes::zeroed(model.arena_size());
        let mut inputs = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..INPUTS_PER_MODEL {
            let input: Vec<i8> = (0..model.input_len()).map(|_| self.rng.random_range(i8::MIN..=i8::MAX)).collect();
            let mut output = vec![0i8; model.output_len()];
            invoke(&model, &input, &mut arena, &mut output).map_err(&c)?;
            inputs.push(input);
            expected.push(output);
        }
        Ok(HostCase { description, arena_bytes: model.arena_size(), model: model_bytes, inputs, expected })
    }
}

/// Every kernel of the core in one graph (12x12x3 input, 10 softmax outputs):
/// conv → depthwise → add (residual) → mul → max pool → average pool → {reshape → FC per channel,
/// global average pool → FC per tensor} → add → requantize → softmax.
pub fn every_kernel() -> Result<HostCase> {
    let mut net = Net::new("every-kernel graph", 0x5eed_0001);
    let c = core_err(net.name);
    let x = net.b.input(&[1, 12, 12, 3], 0.02, -5).map_err(&c)?;
    let a = net.conv(x, 8, 3, 1, Activation::Relu)?;
    let d = net.depthwise(a, 1, 3, 1, Activation::Relu6)?;
    let residual = net.add(a, d, Activation::None)?;
    // A product of two centred int8 values spreads over about 128 times one step of s1 * s2.
    let product_scale = net.scale(residual) * net.scale(d) * 128.0;
    let product = net.b.mul(residual, d, Activation::None, OutQuant::new(product_scale, 3)).map_err(&c)?;
    let max = net.b.max_pool2d(product, 2, 2, Window::stride(2), Activation::None).map_err(&c)?;
    let avg = net.b.average_pool2d(max, 2, 2, Window::stride(2), Activation::Relu).map_err(&c)?;
    let flat = net.b.reshape(avg, &[1, 3 * 3 * 8]).map_err(&c)?;
    let fc_flat = net.fully_connected(flat, 10, true, Activation::None)?;
    let pooled = net.b.global_average_pool(avg, OutQuant::new(net.scale(avg) * 0.5, -7)).map_err(&c)?;
    let fc_pooled = net.fully_connected(pooled, 10, false, Activation::None)?;
    let logits = net.add(fc_flat, fc_pooled, Activation::None)?;
    let requantized = net.b.requantize(logits, OutQuant::new(net.scale(logits) * 0.75, 4)).map_err(&c)?;
    let probabilities = net.b.softmax(requantized, 1.0).map_err(&c)?;
    let description = "every kernel: conv, depthwise, add, mul, max/avg pool, reshape, FC (per channel + per tensor), global avg pool, requantize, softmax; 12x12x3 -> 10".to_owned();
    net.finish(x, probabilities, description)
}

/// A ResNet basic block: conv3x3(stride) → ReLU → conv3x3 → add shortcut → ReLU, the shortcut
/// being a 1x1 stride-2 conv when the block downsamples.
fn residual_block(net: &mut Net, x: TensorIndex, channels: usize, stride: u16) -> Result<TensorIndex> {
    let y = net.conv(x, channels, 3, stride, Activation::Relu)?;
    let y = net.conv(y, channels, 3, 1, Activation::None)?;
    let shortcut = if stride == 1 { x } else { net.conv(x, channels, 1, stride, Activation::None)? };
    net.add(y, shortcut, Activation::Relu)
}

/// ResNet-8 (MLPerf Tiny's layout) on a 28x28x1 input: conv 16 → blocks of 16, 32 (stride 2),
/// 64 (stride 2) channels with residual adds → global average pool → FC 10 → softmax.
pub fn resnet8() -> Result<HostCase> {
    let mut net = Net::new("ResNet-8", 0x5eed_0008);
    let c = core_err(net.name);
    let x = net.b.input(&[1, 28, 28, 1], 1.0 / 255.0, -128).map_err(&c)?;
    let y = net.conv(x, 16, 3, 1, Activation::Relu)?;
    let y = residual_block(&mut net, y, 16, 1)?;
    let y = residual_block(&mut net, y, 32, 2)?;
    let y = residual_block(&mut net, y, 64, 2)?;
    let pooled = net.b.global_average_pool(y, OutQuant::new(net.scale(y), -128)).map_err(&c)?;
    let logits = net.fully_connected(pooled, 10, true, Activation::None)?;
    let probabilities = net.b.softmax(logits, 1.0).map_err(&c)?;
    let weights: usize = net.b.tensors().iter().filter(|t| matches!(t.storage, Storage::Constant { .. }) && t.dtype == DType::Int8).map(|t| t.shape.iter().product::<u32>() as usize).sum();
    net.finish(x, probabilities, format!("ResNet-8 28x28x1 -> 10 (16/32/64 channels, residual adds, {weights} int8 weights, random)"))
}
