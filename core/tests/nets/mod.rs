//! Networks for the model tests, the examples and the fuzz seeds: a ResNet-8 and random
//! graphs. A random graph comes with its own list of kernel calls (built here from the
//! generator's own shapes and scales, not from the blob), the oracle the interpreter must match.
#![allow(dead_code)]

use std::collections::HashMap;

use exactq_core::arith::multiplier::{add_multipliers, conv_per_channel_multipliers, mul_multiplier, requantize_multiplier, softmax_multiplier};
use exactq_core::arith::{activation_range, Activation, Profile, QuantizedMultiplier, Requant};
use exactq_core::kernels::{self, Padding, Shape4};
use exactq_core::model::builder::{ModelBuilder, OutQuant, WeightQuant};
use exactq_core::model::{TensorIndex, Window};

/// Small deterministic generator (SplitMix64) for weights and graph shapes.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as i64 - 1) as usize]
    }
    pub fn i8s(&mut self, n: usize, lo: i64, hi: i64) -> Vec<i8> {
        (0..n).map(|_| self.range(lo, hi) as i8).collect()
    }
}

/// Adds int8 weights (per output channel along `axis`) and the matching int32 bias.
fn weights_and_bias(b: &mut ModelBuilder, rng: &mut Rng, shape: &[usize], axis: u8, s_in: f32) -> (TensorIndex, TensorIndex, Vec<i8>, Vec<i32>, Vec<f32>) {
    let channels = shape[axis as usize];
    let n: usize = shape.iter().product();
    let w = rng.i8s(n, -127, 127);
    let scales: Vec<f32> = (0..channels).map(|_| 0.002 + 0.02 * rng.unit()).collect();
    let bias: Vec<i32> = (0..channels).map(|_| rng.range(-2000, 2000) as i32).collect();
    let bias_scales: Vec<f32> = scales.iter().map(|s| s * s_in).collect();
    let wt = b.constant_i8(shape, &w, WeightQuant::PerChannel { axis, scales: &scales }).unwrap();
    let bt = b.constant_i32(&[channels], &bias, WeightQuant::PerChannel { axis: 0, scales: &bias_scales }).unwrap();
    (wt, bt, w, bias, scales)
}

/// One kernel call of the oracle.
pub enum Step {
    Conv { params: kernels::Conv2dParams, m: Vec<QuantizedMultiplier>, input: TensorIndex, output: TensorIndex, w: Vec<i8>, bias: Vec<i32> },
    Depthwise { params: kernels::DepthwiseConv2dParams, m: Vec<QuantizedMultiplier>, input: TensorIndex, output: TensorIndex, w: Vec<i8>, bias: Vec<i32> },
    Fc { params: kernels::FullyConnectedParams, m: Vec<QuantizedMultiplier>, input: TensorIndex, output: TensorIndex, w: Vec<i8>, bias: Vec<i32> },
    Add { params: kernels::AddParams, a: TensorIndex, b: TensorIndex, output: TensorIndex },
    Mul { params: kernels::MulParams, m: QuantizedMultiplier, a: TensorIndex, b: TensorIndex, output: TensorIndex },
    AvgPool { params: kernels::AvgPool2dParams, input: TensorIndex, output: TensorIndex },
    MaxPool { params: kernels::MaxPool2dParams, input: TensorIndex, output: TensorIndex },
    Mean { params: kernels::MeanParams, m: QuantizedMultiplier, input: TensorIndex, output: TensorIndex },
    Softmax { params: kernels::SoftmaxParams, input: TensorIndex, output: TensorIndex },
    Reshape { input: TensorIndex, output: TensorIndex },
    Requantize { params: kernels::RequantizeParams, m: QuantizedMultiplier, input: TensorIndex, output: TensorIndex },
}

/// A network under construction with its oracle.
pub struct Net {
    pub builder: ModelBuilder,
    pub steps: Vec<Step>,
    pub input: TensorIndex,
    pub output: TensorIndex,
    profile: Profile,
    quant: HashMap<TensorIndex, (f32, i32)>,
    shape: HashMap<TensorIndex, Shape4>,
}

impl Net {
    pub fn new(profile: Profile, input_shape: Shape4, scale: f32, zero_point: i32) -> Self {
        let mut builder = ModelBuilder::new(profile);
        let input = builder.input(&input_shape.dims(), scale, zero_point).unwrap();
        let mut net = Net { builder, steps: Vec::new(), input, output: input, profile, quant: HashMap::new(), shape: HashMap::new() };
        net.quant.insert(input, (scale, zero_point));
        net.shape.insert(input, input_shape);
        net
    }

    pub fn shape(&self, t: TensorIndex) -> Shape4 {
        self.shape[&t]
    }

    fn track(&mut self, t: TensorIndex, shape: Shape4, q: (f32, i32)) -> TensorIndex {
        self.shape.insert(t, shape);
        self.quant.insert(t, q);
        self.output = t;
        t
    }

    /// `out_c` filters of `k×k`, stride, SAME or VALID; weights random.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(&mut self, rng: &mut Rng, x: TensorIndex, out_c: usize, k: usize, stride: usize, same: bool, act: Activation, out: (f32, i32)) -> TensorIndex {
        let (s_in, zp_in) = self.quant[&x];
        let xs = self.shape[&x];
        let (wt, bt, w, bias, scales) = weights_and_bias(&mut self.builder, rng, &[out_c, k, k, xs.c], 0, s_in);
        let window = window(&self.builder, x, k, stride, same);
        let y = self.builder.conv2d(x, wt, Some(bt), window, act, OutQuant::new(out.0, out.1)).unwrap();
        let mut params = kernels::Conv2dParams {
            input: xs,
            filter: Shape4::new(out_c, k, k, xs.c),
            output: Shape4::default(),
            stride_h: stride,
            stride_w: stride,
            dilation_h: 1,
            dilation_w: 1,
            padding: window.padding,
            input_zero_point: zp_in,
            output_zero_point: out.1,
            activation: activation_range(act, out.0, out.1).unwrap(),
        };
        params.output = params.expected_output().unwrap();
        let mut m = vec![QuantizedMultiplier::ZERO; out_c];
        conv_per_channel_multipliers(s_in, &scales, out.0, self.profile, &mut m).unwrap();
        self.steps.push(Step::Conv { params, m, input: x, output: y, w, bias });
        self.track(y, params.output, out)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn depthwise(&mut self, rng: &mut Rng, x: TensorIndex, multiplier: usize, k: usize, stride: usize, same: bool, act: Activation, out: (f32, i32)) -> TensorIndex {
        let (s_in, zp_in) = self.quant[&x];
        let xs = self.shape[&x];
        let out_c = xs.c * multiplier;
        let (wt, bt, w, bias, scales) = weights_and_bias(&mut self.builder, rng, &[1, k, k, out_c], 3, s_in);
        let window = window(&self.builder, x, k, stride, same);
        let y = self.builder.depthwise_conv2d(x, wt, Some(bt), multiplier as u16, window, act, OutQuant::new(out.0, out.1)).unwrap();
        let mut params = kernels::DepthwiseConv2dParams {
            input: xs,
            filter: Shape4::new(1, k, k, out_c),
            output: Shape4::default(),
            depth_multiplier: multiplier,
            stride_h: stride,
            stride_w: stride,
            dilation_h: 1,
            dilation_w: 1,
            padding: window.padding,
            input_zero_point: zp_in,
            output_zero_point: out.1,
            activation: activation_range(act, out.0, out.1).unwrap(),
        };
        params.output = params.expected_output().unwrap();
        let mut m = vec![QuantizedMultiplier::ZERO; out_c];
        conv_per_channel_multipliers(s_in, &scales, out.0, self.profile, &mut m).unwrap();
        self.steps.push(Step::Depthwise { params, m, input: x, output: y, w, bias });
        self.track(y, params.output, out)
    }

    /// Fully connected over the flattened input, `out_features` outputs, shape `[1, out]`.
    pub fn fc(&mut self, rng: &mut Rng, x: TensorIndex, out_features: usize, act: Activation, out: (f32, i32)) -> TensorIndex {
        let (s_in, zp_in) = self.quant[&x];
        let in_features = self.shape[&x].elements().unwrap();
        let (wt, bt, w, bias, scales) = weights_and_bias(&mut self.builder, rng, &[out_features, in_features], 0, s_in);
        let y = self.builder.fully_connected(x, wt, Some(bt), act, OutQuant::new(out.0, out.1)).unwrap();
        let params = kernels::FullyConnectedParams {
            batches: 1,
            input_depth: in_features,
            output_depth: out_features,
            input_zero_point: zp_in,
            weights_zero_point: 0,
            output_zero_point: out.1,
            activation: activation_range(act, out.0, out.1).unwrap(),
        };
        let mut m = vec![QuantizedMultiplier::ZERO; out_features];
        conv_per_channel_multipliers(s_in, &scales, out.0, self.profile, &mut m).unwrap();
        self.steps.push(Step::Fc { params, m, input: x, output: y, w, bias });
        self.track(y, Shape4::new(1, 1, 1, out_features), out)
    }

    pub fn add(&mut self, a: TensorIndex, b: TensorIndex, act: Activation, out: (f32, i32)) -> TensorIndex {
        let ((sa, za), (sb, zb)) = (self.quant[&a], self.quant[&b]);
        let y = self.builder.add(a, b, act, OutQuant::new(out.0, out.1)).unwrap();
        let shape = self.shape[&a];
        let params = kernels::AddParams {
            len: shape.elements().unwrap(),
            input1_zero_point: za,
            input2_zero_point: zb,
            output_zero_point: out.1,
            multipliers: add_multipliers(sa, sb, out.0, self.profile).unwrap(),
            profile: self.profile,
            activation: activation_range(act, out.0, out.1).unwrap(),
        };
        self.steps.push(Step::Add { params, a, b, output: y });
        self.track(y, shape, out)
    }

    pub fn mul(&mut self, a: TensorIndex, b: TensorIndex, out: (f32, i32)) -> TensorIndex {
        let ((sa, za), (sb, zb)) = (self.quant[&a], self.quant[&b]);
        let y = self.builder.mul(a, b, Activation::None, OutQuant::new(out.0, out.1)).unwrap();
        let shape = self.shape[&a];
        let params = kernels::MulParams {
            len: shape.elements().unwrap(),
            input1_zero_point: za,
            input2_zero_point: zb,
            output_zero_point: out.1,
            activation: activation_range(Activation::None, out.0, out.1).unwrap(),
        };
        let m = mul_multiplier(sa, sb, out.0, self.profile).unwrap();
        self.steps.push(Step::Mul { params, m, a, b, output: y });
        self.track(y, shape, out)
    }

    pub fn pool(&mut self, max: bool, x: TensorIndex, k: usize, stride: usize, same: bool) -> TensorIndex {
        let q = self.quant[&x];
        let xs = self.shape[&x];
        let window = window(&self.builder, x, k, stride, same);
        let y = if max {
            self.builder.max_pool2d(x, k as u16, k as u16, window, Activation::None).unwrap()
        } else {
            self.builder.average_pool2d(x, k as u16, k as u16, window, Activation::None).unwrap()
        };
        let out_shape = Shape4::new(
            xs.n,
            kernels::window_output_size(xs.h, k, stride, 1, window.padding.top, window.padding.bottom).unwrap(),
            kernels::window_output_size(xs.w, k, stride, 1, window.padding.left, window.padding.right).unwrap(),
            xs.c,
        );
        let activation = activation_range(Activation::None, q.0, q.1).unwrap();
        if max {
            let params = kernels::MaxPool2dParams { input: xs, output: out_shape, filter_h: k, filter_w: k, stride_h: stride, stride_w: stride, padding: window.padding, activation };
            self.steps.push(Step::MaxPool { params, input: x, output: y });
        } else {
            let params = kernels::AvgPool2dParams { input: xs, output: out_shape, filter_h: k, filter_w: k, stride_h: stride, stride_w: stride, padding: window.padding, activation };
            self.steps.push(Step::AvgPool { params, input: x, output: y });
        }
        self.track(y, out_shape, q)
    }

    pub fn mean(&mut self, x: TensorIndex, out: (f32, i32)) -> TensorIndex {
        let (s_in, zp_in) = self.quant[&x];
        let xs = self.shape[&x];
        let y = self.builder.global_average_pool(x, OutQuant::new(out.0, out.1)).unwrap();
        let params = kernels::MeanParams { input: xs, input_zero_point: zp_in, output_zero_point: out.1 };
        let m = requantize_multiplier(s_in, out.0, self.profile).unwrap();
        self.steps.push(Step::Mean { params, m, input: x, output: y });
        self.track(y, Shape4::new(xs.n, 1, 1, xs.c), out)
    }

    pub fn softmax(&mut self, x: TensorIndex, beta: f32) -> TensorIndex {
        let (s_in, _) = self.quant[&x];
        let xs = self.shape[&x];
        let y = self.builder.softmax(x, beta).unwrap();
        let params = kernels::SoftmaxParams {
            rows: xs.elements().unwrap() / xs.c,
            depth: xs.c,
            multiplier: softmax_multiplier(beta, s_in, self.profile).unwrap(),
            profile: self.profile,
        };
        self.steps.push(Step::Softmax { params, input: x, output: y });
        self.track(y, xs, (1.0 / 256.0, -128))
    }

    /// Reshape `[n, h, w, c]` → `[n, w, h, c]` (same bytes).
    pub fn reshape(&mut self, x: TensorIndex) -> TensorIndex {
        let xs = self.shape[&x];
        let q = self.quant[&x];
        let to = Shape4::new(xs.n, xs.w, xs.h, xs.c);
        let y = self.builder.reshape(x, &to.dims()).unwrap();
        self.steps.push(Step::Reshape { input: x, output: y });
        self.track(y, to, q)
    }

    pub fn requantize(&mut self, x: TensorIndex, out: (f32, i32)) -> TensorIndex {
        let (s_in, zp_in) = self.quant[&x];
        let xs = self.shape[&x];
        let y = self.builder.requantize(x, OutQuant::new(out.0, out.1)).unwrap();
        let params = kernels::RequantizeParams { len: xs.elements().unwrap(), input_zero_point: zp_in, output_zero_point: out.1 };
        let m = requantize_multiplier(s_in, out.0, self.profile).unwrap();
        self.steps.push(Step::Requantize { params, m, input: x, output: y });
        self.track(y, xs, out)
    }

    /// Marks the last tensor as the graph output.
    pub fn finish(&mut self) {
        self.builder.set_output(self.output);
    }

    /// Runs the kernels one by one, each tensor in its own buffer; returns every op output.
    pub fn run_oracle(&self, input: &[i8]) -> Vec<(TensorIndex, Vec<i8>)> {
        let mut values: HashMap<TensorIndex, Vec<i8>> = HashMap::new();
        values.insert(self.input, input.to_vec());
        let mut trace = Vec::new();
        for step in &self.steps {
            let (output, result) = match step {
                Step::Conv { params, m, input, output, w, bias } => {
                    let mut out = vec![0i8; params.output.elements().unwrap()];
                    let mut scratch = vec![0i16; params.scratch_len()];
                    kernels::conv2d(params, &Requant::per_channel(self.profile, m), &values[input], w, Some(bias), &mut out, &mut scratch).unwrap();
                    (*output, out)
                }
                Step::Depthwise { params, m, input, output, w, bias } => {
                    let mut out = vec![0i8; params.output.elements().unwrap()];
                    let mut scratch = vec![0i32; params.scratch_len()];
                    kernels::depthwise_conv2d(params, &Requant::per_channel(self.profile, m), &values[input], w, Some(bias), &mut out, &mut scratch).unwrap();
                    (*output, out)
                }
                Step::Fc { params, m, input, output, w, bias } => {
                    let mut out = vec![0i8; params.output_depth];
                    let mut scratch = vec![0i16; params.scratch_len()];
                    kernels::fully_connected(params, &Requant::per_channel(self.profile, m), &values[input], w, Some(bias), &mut out, &mut scratch).unwrap();
                    (*output, out)
                }
                Step::Add { params, a, b, output } => {
                    let mut out = vec![0i8; params.len];
                    kernels::add(params, &values[a], &values[b], &mut out).unwrap();
                    (*output, out)
                }
                Step::Mul { params, m, a, b, output } => {
                    let mut out = vec![0i8; params.len];
                    kernels::mul(params, &Requant::per_tensor(self.profile, m), &values[a], &values[b], &mut out).unwrap();
                    (*output, out)
                }
                Step::AvgPool { params, input, output } => {
                    let mut out = vec![0i8; params.output.elements().unwrap()];
                    kernels::avg_pool2d(params, &values[input], &mut out).unwrap();
                    (*output, out)
                }
                Step::MaxPool { params, input, output } => {
                    let mut out = vec![0i8; params.output.elements().unwrap()];
                    kernels::max_pool2d(params, &values[input], &mut out).unwrap();
                    (*output, out)
                }
                Step::Mean { params, m, input, output } => {
                    let mut out = vec![0i8; params.output().elements().unwrap()];
                    let mut scratch = vec![0i32; params.scratch_len()];
                    kernels::mean_hw(params, &Requant::per_tensor(self.profile, m), &values[input], &mut out, &mut scratch).unwrap();
                    (*output, out)
                }
                Step::Softmax { params, input, output } => {
                    let mut out = vec![0i8; params.rows * params.depth];
                    kernels::softmax(params, &values[input], &mut out).unwrap();
                    (*output, out)
                }
                Step::Reshape { input, output } => (*output, values[input].clone()),
                Step::Requantize { params, m, input, output } => {
                    let mut out = vec![0i8; params.len];
                    kernels::requantize(params, &Requant::per_tensor(self.profile, m), &values[input], &mut out).unwrap();
                    (*output, out)
                }
            };
            trace.push((output, result.clone()));
            values.insert(output, result);
        }
        trace
    }
}

fn window(b: &ModelBuilder, x: TensorIndex, k: usize, stride: usize, same: bool) -> Window {
    let w = Window::stride(stride as u16);
    if same {
        b.same_padding(x, k, k, w).unwrap()
    } else {
        w.with_padding(Padding::NONE)
    }
}

/// ResNet-8 for 28x28x1 (`exactq_testnets::resnet8`, the topology the firmware tests run too)
/// with random weights and fixed output scales.
pub fn resnet8(profile: Profile, seed: u64) -> Net {
    use exactq_testnets::{RESNET8_INPUT_SCALE, RESNET8_INPUT_SHAPE, RESNET8_INPUT_ZERO_POINT};
    let [n, h, w, c] = RESNET8_INPUT_SHAPE;
    let mut net = Net::new(profile, Shape4::new(n, h, w, c), RESNET8_INPUT_SCALE, RESNET8_INPUT_ZERO_POINT);
    let input = net.input;
    let Ok(_) = exactq_testnets::resnet8(&mut FixedScales { net: &mut net, rng: Rng(seed) }, input);
    net.finish();
    net
}

/// [`Net`] as the shared topologies' builder: random weights from `rng`, fixed output scales
/// (ReLU outputs use the whole int8 range above zero).
struct FixedScales<'n> {
    net: &'n mut Net,
    rng: Rng,
}

impl FixedScales<'_> {
    fn activation(act: exactq_testnets::Act) -> Activation {
        match act {
            exactq_testnets::Act::None => Activation::None,
            exactq_testnets::Act::Relu => Activation::Relu,
        }
    }
}

impl exactq_testnets::Layers for FixedScales<'_> {
    type Tensor = TensorIndex;
    type Error = std::convert::Infallible;

    fn conv(&mut self, x: TensorIndex, out_channels: usize, kernel: usize, stride: usize, act: exactq_testnets::Act) -> Result<TensorIndex, Self::Error> {
        let out = if act == exactq_testnets::Act::Relu { (0.05, -128) } else { (0.08, 0) };
        Ok(self.net.conv(&mut self.rng, x, out_channels, kernel, stride, true, Self::activation(act), out))
    }
    fn add(&mut self, a: TensorIndex, b: TensorIndex, act: exactq_testnets::Act) -> Result<TensorIndex, Self::Error> {
        let out = if act == exactq_testnets::Act::Relu { (0.06, -128) } else { (0.08, 0) };
        Ok(self.net.add(a, b, Self::activation(act), out))
    }
    fn global_average_pool(&mut self, x: TensorIndex) -> Result<TensorIndex, Self::Error> {
        Ok(self.net.mean(x, (0.04, -128)))
    }
    fn fully_connected(&mut self, x: TensorIndex, outputs: usize) -> Result<TensorIndex, Self::Error> {
        Ok(self.net.fc(&mut self.rng, x, outputs, Activation::None, (0.1, 0)))
    }
    fn softmax(&mut self, x: TensorIndex) -> Result<TensorIndex, Self::Error> {
        Ok(self.net.softmax(x, 1.0))
    }
}

/// A random valid chain of ops drawn from `seed`: every op kind of the format appears with
/// random shapes, strides, paddings, scales and zero points.
pub fn random_net(seed: u64) -> Net {
    let mut rng = Rng(seed);
    let profile = if rng.range(0, 1) == 0 { Profile::TfliteDouble } else { Profile::TfliteSingle };
    let shape = Shape4::new(1, rng.range(3, 9) as usize, rng.range(3, 9) as usize, rng.range(1, 4) as usize);
    let mut net = Net::new(profile, shape, 0.02 + 0.05 * rng.unit(), rng.range(-128, 127) as i32);
    let mut x = net.input;
    let mut history = vec![x];
    let quant = |rng: &mut Rng| (0.01 + 0.1 * rng.unit(), rng.range(-128, 127) as i32);
    for _ in 0..rng.range(1, 7) {
        let s = net.shape(x);
        let act = rng.pick(&[Activation::None, Activation::Relu, Activation::Relu6]);
        x = match rng.range(0, 8) {
            0 => {
                let k = rng.pick(&[1, 3]);
                let same = rng.range(0, 1) == 0 || s.h < k || s.w < k;
                let (c, stride, q) = (rng.range(1, 6) as usize, rng.range(1, 2) as usize, quant(&mut rng));
                net.conv(&mut rng, x, c, k, stride, same, act, q)
            }
            1 => {
                let same = rng.range(0, 1) == 0 || s.h < 3 || s.w < 3;
                let (m, stride, q) = (rng.range(1, 2) as usize, rng.range(1, 2) as usize, quant(&mut rng));
                net.depthwise(&mut rng, x, m, 3, stride, same, act, q)
            }
            2 | 3 => {
                let max = rng.range(0, 1) == 0;
                if s.h >= 2 && s.w >= 2 && rng.range(0, 1) == 0 { net.pool(max, x, 2, 2, false) } else { net.pool(max, x, 3, 1, true) }
            }
            4 => {
                // With an earlier tensor of the same shape if there is one (a residual), else itself.
                let same_shape: Vec<TensorIndex> = history.iter().copied().filter(|t| net.shape(*t) == s).collect();
                let other = rng.pick(&same_shape);
                net.add(x, other, act, quant(&mut rng))
            }
            5 => {
                let same_shape: Vec<TensorIndex> = history.iter().copied().filter(|t| net.shape(*t) == s).collect();
                let other = rng.pick(&same_shape);
                net.mul(x, other, quant(&mut rng))
            }
            6 => net.requantize(x, quant(&mut rng)),
            _ => net.reshape(x),
        };
        history.push(x);
    }
    if rng.range(0, 1) == 0 {
        x = net.mean(x, quant(&mut rng));
        let (n, q) = (rng.range(1, 12) as usize, quant(&mut rng));
        x = net.fc(&mut rng, x, n, Activation::None, q);
        net.softmax(x, 0.5 + rng.unit());
    }
    net.finish();
    net
}
