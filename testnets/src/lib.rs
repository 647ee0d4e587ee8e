//! Test-network topologies, defined once for every test that builds them.
//!
//! A topology is a function over [`Layers`], a minimal network-builder interface. Each user
//! implements it over its own builder and picks weights and output quantization there:
//! `exactq-core`'s model tests (random weights, fixed output scales, a kernel-call oracle) and
//! `exactq-firmware-host` (random weights, scales calibrated on the test inputs). The layer
//! sequence, and so the order in which an implementation draws its random weights, is this
//! file's.
#![no_std]

/// Fused activation of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// No clamp beyond int8.
    None,
    /// ReLU.
    Relu,
}

/// The layers a topology is made of. Every layer is int8 with "same" padding; the implementer
/// chooses weights, biases and each output's quantization.
pub trait Layers {
    /// A tensor handle of the builder.
    type Tensor: Copy;
    /// The builder's error.
    type Error;

    /// Convolution `kernel`x`kernel`, `stride`, "same" padding, `out_channels` outputs, per-channel
    /// weights and an int32 bias.
    fn conv(&mut self, x: Self::Tensor, out_channels: usize, kernel: usize, stride: usize, act: Act) -> Result<Self::Tensor, Self::Error>;
    /// Elementwise sum of two tensors of one shape.
    fn add(&mut self, a: Self::Tensor, b: Self::Tensor, act: Act) -> Result<Self::Tensor, Self::Error>;
    /// Mean over height and width.
    fn global_average_pool(&mut self, x: Self::Tensor) -> Result<Self::Tensor, Self::Error>;
    /// Fully connected to `outputs` features (per-channel weights, bias, no activation).
    fn fully_connected(&mut self, x: Self::Tensor, outputs: usize) -> Result<Self::Tensor, Self::Error>;
    /// Softmax over the last dimension, beta 1.
    fn softmax(&mut self, x: Self::Tensor) -> Result<Self::Tensor, Self::Error>;
}

/// ResNet-8's input: `[1, 28, 28, 1]`, the 8-bit pixel range as int8 (scale 1/255, zero point −128).
pub const RESNET8_INPUT_SHAPE: [usize; 4] = [1, 28, 28, 1];
/// Input scale.
pub const RESNET8_INPUT_SCALE: f32 = 1.0 / 255.0;
/// Input zero point.
pub const RESNET8_INPUT_ZERO_POINT: i32 = -128;
/// ResNet-8's classes (outputs of the fully connected layer and the softmax).
pub const RESNET8_CLASSES: usize = 10;

/// A ResNet basic block: conv 3x3 (`stride`) → ReLU → conv 3x3 → add the shortcut → ReLU, the
/// shortcut being a 1x1 conv with the same stride when the block downsamples.
pub fn residual_block<L: Layers>(net: &mut L, x: L::Tensor, channels: usize, stride: usize) -> Result<L::Tensor, L::Error> {
    let y = net.conv(x, channels, 3, stride, Act::Relu)?;
    let y = net.conv(y, channels, 3, 1, Act::None)?;
    let shortcut = if stride == 1 { x } else { net.conv(x, channels, 1, stride, Act::None)? };
    net.add(y, shortcut, Act::Relu)
}

/// ResNet-8 (MLPerf Tiny's layout) from `input` ([`RESNET8_INPUT_SHAPE`]): conv 16 → residual
/// blocks of 16, 32 (stride 2, 1x1 projection) and 64 (stride 2, 1x1 projection) channels →
/// global average pool → fully connected 10 → softmax. Returns the softmax output.
pub fn resnet8<L: Layers>(net: &mut L, input: L::Tensor) -> Result<L::Tensor, L::Error> {
    let mut x = net.conv(input, 16, 3, 1, Act::Relu)?;
    for (channels, stride) in [(16, 1), (32, 2), (64, 2)] {
        x = residual_block(net, x, channels, stride)?;
    }
    let pooled = net.global_average_pool(x)?;
    let logits = net.fully_connected(pooled, RESNET8_CLASSES)?;
    net.softmax(logits)
}
