//! The model format: a 32-byte header, a postcard graph and a 16-aligned constant data section.
//!
//! ```text
//! 0  [4] b"EXQM"              16 u32 graph length G (postcard bytes)
//! 4  u16 format version       20 u32 data offset D = 32 + round_up(G, 16)
//! 6  u8  profile              24 u32 data length
//! 7  u8  reserved (0)         28 u32 reserved (0)
//! 8  u32 payload length P = D - 32 + data length
//! 12 u32 CRC-32 of the P payload bytes after the header
//! 32 graph, zero padding, data
//! ```
//! Every type below is part of the format: its postcard encoding is documented byte by byte
//! in docs/model-format.md. Changing one changes [`FORMAT_VERSION`].

// Every field is described byte by byte in docs/model-format.md §3.
#![allow(missing_docs)]

use serde::{Deserialize, Serialize};

pub use crate::arith::multiplier::{AddMultipliers, SoftmaxMultiplier};
pub use crate::arith::{ActivationRange, Profile, QuantizedMultiplier};
pub use crate::kernels::Padding;

/// First four bytes of a model (the payload of a `MODL` section, or a bare model file).
pub const MODEL_MAGIC: [u8; 4] = *b"EXQM";
/// The model format version this build reads and writes (see the versioning rule in the docs).
pub const FORMAT_VERSION: u16 = 1;
/// Bytes before the postcard graph.
pub const MODEL_HEADER_LEN: usize = 32;
/// Highest tensor rank.
pub const MAX_RANK: usize = 4;
/// Tensor table capacity of one model (heapless, fixed at compile time). Every slot is part of
/// each `Model` (48 bytes on a 32-bit target, see `Model::SIZE`), used or not.
pub const MAX_TENSORS: usize = 96;
/// Op list capacity of one model (64 bytes a slot on a 32-bit target).
pub const MAX_OPS: usize = 48;
/// Arena tensors and scratch buffers start at multiples of this many bytes.
pub const ARENA_ALIGN: usize = 16;

/// Index into the tensor table.
pub type TensorIndex = u16;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    Int8,
    Int32,
}

impl DType {
    pub const fn size(self) -> usize {
        match self {
            DType::Int8 => 1,
            DType::Int32 => 4,
        }
    }
}

/// Where a tensor's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Storage {
    /// Activation: `offset` bytes into the caller's arena (planned, 16-aligned).
    Arena { offset: u32 },
    /// Constant: `offset` bytes into the data section, borrowed in place.
    Constant { offset: u32 },
}

/// An array in the data section: `offset` bytes from its start, `len` elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DataRef {
    pub offset: u32,
    pub len: u32,
}

/// How a tensor's integers map to reals: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Quantization {
    PerTensor { scale: f32, zero_point: i32 },
    /// One f32 scale per index of dimension `axis` (little-endian f32 array in the data
    /// section); the zero point is shared (0 for weights and biases).
    PerChannel { axis: u8, scales: DataRef, zero_point: i32 },
}

/// One entry of the tensor table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorDesc {
    pub dtype: DType,
    /// Dimensions, outermost first (NHWC for activations, OHWI for conv filters).
    pub shape: heapless::Vec<u32, MAX_RANK>,
    pub storage: Storage,
    pub quantization: Quantization,
}

/// Window geometry shared by convolutions and pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    pub stride_h: u16,
    pub stride_w: u16,
    pub dilation_h: u16,
    pub dilation_w: u16,
    /// Explicit padding in pixels (the builder derives TFLite SAME/VALID).
    pub padding: Padding,
}

impl Window {
    /// Stride `stride` in both directions, no dilation, no padding (set it with
    /// [`Window::with_padding`] or let the builder derive SAME).
    pub const fn stride(stride: u16) -> Self {
        Window { stride_h: stride, stride_w: stride, dilation_h: 1, dilation_w: 1, padding: Padding::NONE }
    }

    /// The same window with explicit padding.
    pub const fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
}

/// CONV_2D: NHWC input, OHWI filter, optional int32 bias, per-output-channel rescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conv2dDesc {
    pub input: TensorIndex,
    pub filter: TensorIndex,
    pub bias: Option<TensorIndex>,
    pub output: TensorIndex,
    pub window: Window,
    pub activation: ActivationRange,
    /// One (multiplier, shift) pair per output channel: `len` pairs of i32 in the data section.
    pub rescale: DataRef,
}

/// DEPTHWISE_CONV_2D: filter `[1, kh, kw, in_c * depth_multiplier]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DepthwiseConv2dDesc {
    pub input: TensorIndex,
    pub filter: TensorIndex,
    pub bias: Option<TensorIndex>,
    pub output: TensorIndex,
    pub window: Window,
    pub depth_multiplier: u16,
    pub activation: ActivationRange,
    pub rescale: DataRef,
}

/// FULLY_CONNECTED: input `[batches, ..., in]` read as `[batches, in]`, weights `[out, in]`,
/// output `[batches, out]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FullyConnectedDesc {
    pub input: TensorIndex,
    pub weights: TensorIndex,
    pub bias: Option<TensorIndex>,
    pub output: TensorIndex,
    pub activation: ActivationRange,
    pub rescale: DataRef,
}

/// ADD (same shapes): both inputs shifted left by `left_shift`, rescaled, summed, rescaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AddDesc {
    pub input1: TensorIndex,
    pub input2: TensorIndex,
    pub output: TensorIndex,
    pub multipliers: AddMultipliers,
    pub activation: ActivationRange,
}

/// MUL (same shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MulDesc {
    pub input1: TensorIndex,
    pub input2: TensorIndex,
    pub output: TensorIndex,
    pub rescale: QuantizedMultiplier,
    pub activation: ActivationRange,
}

/// AVERAGE_POOL_2D / MAX_POOL_2D: input and output share scale and zero point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pool2dDesc {
    pub input: TensorIndex,
    pub output: TensorIndex,
    pub filter_h: u16,
    pub filter_w: u16,
    pub window: Window,
    pub activation: ActivationRange,
}

/// Mean over height and width (TFLite MEAN): `[n, h, w, c]` → `[n, 1, 1, c]` (or `[n, c]`),
/// rescaled by `s_in / s_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GlobalAveragePoolDesc {
    pub input: TensorIndex,
    pub output: TensorIndex,
    pub rescale: QuantizedMultiplier,
}

/// SOFTMAX over the last dimension; output quantization must be (1/256, −128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SoftmaxDesc {
    pub input: TensorIndex,
    pub output: TensorIndex,
    /// Input rescale `beta · s_in · 2^26` and `diff_min` (`arith::multiplier::softmax_multiplier`).
    pub multiplier: SoftmaxMultiplier,
}

/// RESHAPE / FLATTEN: same elements, same quantization, new shape (a copy in the arena).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReshapeDesc {
    pub input: TensorIndex,
    pub output: TensorIndex,
}

/// QUANTIZE int8 → int8 (requantize): `y = clamp(MBQM(x − zp_in, m, s) + zp_out)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequantizeDesc {
    pub input: TensorIndex,
    pub output: TensorIndex,
    pub rescale: QuantizedMultiplier,
}

/// PAD (TFLite Micro `pad.cc`, int8, 4-D): the input is copied into the output's interior and
/// every added element is `pad_value` (TFLM: the output zero point). Same quantization in and out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PadDesc {
    pub input: TensorIndex,
    pub output: TensorIndex,
    /// Elements added before each dimension `[n, h, w, c]`.
    pub before: [u16; 4],
    /// Elements added after each dimension.
    pub after: [u16; 4],
    pub pad_value: i8,
}

/// Standalone RELU (TFLite Micro `ReluQuantized`): `y = clamp(zp_out + MBQM(x − zp_in, rescale),
/// activation)` with `rescale = f32(s_in / s_out)` and `activation = [max(−128, zp_out), 127]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReluDesc {
    pub input: TensorIndex,
    pub output: TensorIndex,
    pub rescale: QuantizedMultiplier,
    pub activation: ActivationRange,
}

/// Standalone RELU6 (TFLite Micro `Relu6Quantized`): `y = clamp(x, bounds)` with
/// `bounds = [zp_in, quantize(6.0, s_in, zp_in)]` from the *input* quantization. TFLM does not
/// rescale, whatever the output tensor's quantization says; neither does this op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Relu6Desc {
    pub input: TensorIndex,
    pub output: TensorIndex,
    pub bounds: ActivationRange,
}

/// One op of the graph. The postcard variant index is the opcode (docs/model-format.md);
/// new ops are appended, never inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OpDesc {
    Conv2d(Conv2dDesc),
    DepthwiseConv2d(DepthwiseConv2dDesc),
    FullyConnected(FullyConnectedDesc),
    Add(AddDesc),
    Mul(MulDesc),
    AveragePool2d(Pool2dDesc),
    MaxPool2d(Pool2dDesc),
    GlobalAveragePool(GlobalAveragePoolDesc),
    Softmax(SoftmaxDesc),
    Reshape(ReshapeDesc),
    Requantize(RequantizeDesc),
    Pad(PadDesc),
    Relu(ReluDesc),
    Relu6(Relu6Desc),
}

/// A byte range of the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct ArenaRegion {
    pub offset: u32,
    pub size: u32,
}

/// An op and the scratch buffer the planner gave its kernel (size 0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpEntry {
    pub op: OpDesc,
    pub scratch: ArenaRegion,
}

/// The whole postcard-encoded graph. Ops run in list order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// Bytes of arena `invoke` needs (activations and scratch), from the planner.
    pub arena_size: u32,
    pub input: TensorIndex,
    pub output: TensorIndex,
    pub tensors: heapless::Vec<TensorDesc, MAX_TENSORS>,
    pub ops: heapless::Vec<OpEntry, MAX_OPS>,
}

impl OpDesc {
    /// The tensor this op writes.
    pub fn output(&self) -> TensorIndex {
        match self {
            OpDesc::Conv2d(d) => d.output,
            OpDesc::DepthwiseConv2d(d) => d.output,
            OpDesc::FullyConnected(d) => d.output,
            OpDesc::Add(d) => d.output,
            OpDesc::Mul(d) => d.output,
            OpDesc::AveragePool2d(d) | OpDesc::MaxPool2d(d) => d.output,
            OpDesc::GlobalAveragePool(d) => d.output,
            OpDesc::Softmax(d) => d.output,
            OpDesc::Reshape(d) => d.output,
            OpDesc::Requantize(d) => d.output,
            OpDesc::Pad(d) => d.output,
            OpDesc::Relu(d) => d.output,
            OpDesc::Relu6(d) => d.output,
        }
    }

    /// The tensors this op reads (activations and constants), at most three, unused slots `None`.
    pub fn inputs(&self) -> [Option<TensorIndex>; 3] {
        match self {
            OpDesc::Conv2d(d) => [Some(d.input), Some(d.filter), d.bias],
            OpDesc::DepthwiseConv2d(d) => [Some(d.input), Some(d.filter), d.bias],
            OpDesc::FullyConnected(d) => [Some(d.input), Some(d.weights), d.bias],
            OpDesc::Add(d) => [Some(d.input1), Some(d.input2), None],
            OpDesc::Mul(d) => [Some(d.input1), Some(d.input2), None],
            OpDesc::AveragePool2d(d) | OpDesc::MaxPool2d(d) => [Some(d.input), None, None],
            OpDesc::GlobalAveragePool(d) => [Some(d.input), None, None],
            OpDesc::Softmax(d) => [Some(d.input), None, None],
            OpDesc::Reshape(d) => [Some(d.input), None, None],
            OpDesc::Requantize(d) => [Some(d.input), None, None],
            OpDesc::Pad(d) => [Some(d.input), None, None],
            OpDesc::Relu(d) => [Some(d.input), None, None],
            OpDesc::Relu6(d) => [Some(d.input), None, None],
        }
    }

    /// Short lowercase name, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            OpDesc::Conv2d(_) => "conv2d",
            OpDesc::DepthwiseConv2d(_) => "depthwise_conv2d",
            OpDesc::FullyConnected(_) => "fully_connected",
            OpDesc::Add(_) => "add",
            OpDesc::Mul(_) => "mul",
            OpDesc::AveragePool2d(_) => "average_pool2d",
            OpDesc::MaxPool2d(_) => "max_pool2d",
            OpDesc::GlobalAveragePool(_) => "global_average_pool",
            OpDesc::Softmax(_) => "softmax",
            OpDesc::Reshape(_) => "reshape",
            OpDesc::Requantize(_) => "requantize",
            OpDesc::Pad(_) => "pad",
            OpDesc::Relu(_) => "relu",
            OpDesc::Relu6(_) => "relu6",
        }
    }
}
