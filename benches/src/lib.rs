//! Benchmarks live in `benches/`; this library only shares fixtures between them.

use exactq_core::arith::activation::ActivationRange;
use exactq_core::arith::multiplier::QuantizedMultiplier;
use exactq_core::kernels::{
    Conv2dParams, DepthwiseConv2dParams, FullyConnectedParams, Padding, Shape4,
};

/// ResNet-8 stages: (spatial size, channels); every conv is 3x3, stride 1, SAME padding.
pub const RESNET8_STAGES: [(usize, usize); 3] = [(28, 16), (14, 32), (7, 64)];

/// Fully-connected shapes: (batches, input depth, output depth): the ResNet-8 head on a
/// batch, and a wider layer (a 3x3x64 receptive field to 64 outputs).
pub const FC_SHAPES: [(usize, usize, usize); 2] = [(32, 64, 10), (32, 576, 64)];

/// Deterministic int8 data (xorshift), so runs compare.
pub fn data(len: usize, seed: u32) -> Vec<i8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 24) as u8 as i8
        })
        .collect()
}

/// Plausible per-channel multipliers (real multiplier about 2^-10).
pub fn multipliers(n: usize) -> Vec<QuantizedMultiplier> {
    (0..n)
        .map(|i| QuantizedMultiplier::new(1_200_000_000 + i as i32 * 1_000_003, -9))
        .collect()
}

/// A bias vector.
pub fn bias(n: usize) -> Vec<i32> {
    (0..n as i32).map(|i| i * 37 - 200).collect()
}

/// 3x3 `ch -> ch` convolution at `size x size`, SAME padding.
pub fn conv3x3(size: usize, ch: usize) -> Conv2dParams {
    Conv2dParams {
        input: Shape4::new(1, size, size, ch),
        filter: Shape4::new(ch, 3, 3, ch),
        output: Shape4::new(1, size, size, ch),
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        padding: Padding::new(1, 1, 1, 1),
        input_zero_point: -3,
        output_zero_point: 5,
        activation: ActivationRange::FULL,
    }
}

/// 3x3 depthwise convolution over `ch` channels at `size x size`, SAME padding.
pub fn depthwise3x3(size: usize, ch: usize) -> DepthwiseConv2dParams {
    DepthwiseConv2dParams {
        input: Shape4::new(1, size, size, ch),
        filter: Shape4::new(1, 3, 3, ch),
        output: Shape4::new(1, size, size, ch),
        depth_multiplier: 1,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        padding: Padding::new(1, 1, 1, 1),
        input_zero_point: -3,
        output_zero_point: 5,
        activation: ActivationRange::FULL,
    }
}

/// A fully-connected layer.
pub fn fully_connected(
    batches: usize,
    input_depth: usize,
    output_depth: usize,
) -> FullyConnectedParams {
    FullyConnectedParams {
        batches,
        input_depth,
        output_depth,
        input_zero_point: -3,
        weights_zero_point: 0,
        output_zero_point: 5,
        activation: ActivationRange::FULL,
    }
}

/// Multiply-accumulates of one call: conv, depthwise, fully connected.
pub fn conv_macs(p: &Conv2dParams) -> u64 {
    (p.output.n * p.output.h * p.output.w * p.output.c * p.filter.h * p.filter.w * p.filter.c)
        as u64
}

/// Multiply-accumulates of one depthwise call.
pub fn depthwise_macs(p: &DepthwiseConv2dParams) -> u64 {
    (p.output.n * p.output.h * p.output.w * p.output.c * p.filter.h * p.filter.w) as u64
}

/// Multiply-accumulates of one fully-connected call.
pub fn fc_macs(p: &FullyConnectedParams) -> u64 {
    (p.batches * p.input_depth * p.output_depth) as u64
}
