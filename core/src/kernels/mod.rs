//! Int8 kernels, NHWC, one op per file (TFLite Micro reference-kernel style).
//!
//! Every kernel takes a params struct (with a `validate` usable on its own, e.g. by a model
//! loader), the output rescale, caller-provided input/output/scratch slices, and returns
//! `Result<(), Error>`. All checks happen before the first write; no kernel allocates,
//! panics on bad input, or writes out of bounds. Each params struct documents its scratch
//! need through `scratch_len()` (elements of the scratch slice's type; 0 = pass `&mut []`).

pub mod add;
pub mod avg_pool2d;
pub mod conv2d;
pub mod depthwise_conv2d;
pub mod fully_connected;
pub mod max_pool2d;
pub mod mean;
pub mod mul;
pub mod pad;
pub mod pool_window;
pub mod relu;
pub mod relu6;
pub mod requantize;
pub mod softmax;

pub mod dot;

pub use add::{add, AddParams};
#[cfg(feature = "float-requant")]
pub use add::{add_float, AddScales};
pub use avg_pool2d::{avg_pool2d, AvgPool2dParams};
pub use conv2d::{conv2d, Conv2dParams};
pub use depthwise_conv2d::{depthwise_conv2d, DepthwiseConv2dParams};
pub use fully_connected::{fully_connected, FullyConnectedParams};
pub use max_pool2d::{max_pool2d, MaxPool2dParams};
pub use mean::{mean_hw, MeanParams};
pub use mul::{mul, MulParams};
pub use pad::{pad, PadParams};
pub use pool_window::Pool2dParams;
pub use relu::{relu, ReluParams};
pub use relu6::{relu6, Relu6Params};
pub use requantize::{requantize, RequantizeParams};
pub use softmax::{softmax, SoftmaxParams};
#[cfg(feature = "float-requant")]
pub use softmax::softmax_float;

use serde::{Deserialize, Serialize};

use crate::arith::quantize::check_zero_point_i8;
use crate::arith::requantize::Requant;
use crate::Error;

/// A 4-D NHWC shape. Filters reuse it: conv `[out_c, kh, kw, in_c/groups]` as `{n: out_c, h: kh,
/// w: kw, c: in_c/groups}`, depthwise `[1, kh, kw, out_c]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Shape4 {
    /// Batch (or output channels for a conv filter).
    pub n: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels (innermost).
    pub c: usize,
}

impl Shape4 {
    /// A shape from its four dimensions.
    pub const fn new(n: usize, h: usize, w: usize, c: usize) -> Self {
        Shape4 { n, h, w, c }
    }

    /// The dimensions as an array `[n, h, w, c]`.
    pub const fn dims(&self) -> [usize; 4] {
        [self.n, self.h, self.w, self.c]
    }

    /// Number of elements, or `SizeOverflow`.
    pub fn elements(&self) -> Result<usize, Error> {
        self.n
            .checked_mul(self.h)
            .and_then(|v| v.checked_mul(self.w))
            .and_then(|v| v.checked_mul(self.c))
            .ok_or(Error::SizeOverflow)
    }

    /// `ZeroSized` if any dimension is 0.
    pub fn check_nonzero(&self) -> Result<(), Error> {
        if self.n == 0 || self.h == 0 || self.w == 0 || self.c == 0 {
            Err(Error::ZeroSized)
        } else {
            Ok(())
        }
    }
}

/// Explicit padding in pixels. Padded taps contribute nothing (as if padded with the input
/// zero point); pools count only in-image taps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Padding {
    /// Rows above the image.
    pub top: usize,
    /// Columns left of the image.
    pub left: usize,
    /// Rows below the image.
    pub bottom: usize,
    /// Columns right of the image.
    pub right: usize,
}

impl Padding {
    /// No padding (TFLite VALID).
    pub const NONE: Padding = Padding {
        top: 0,
        left: 0,
        bottom: 0,
        right: 0,
    };

    /// Padding from its four sides.
    pub const fn new(top: usize, left: usize, bottom: usize, right: usize) -> Self {
        Padding {
            top,
            left,
            bottom,
            right,
        }
    }

    /// TFLite SAME padding for one spatial dimension (`padding.h`): `out = ceil(in / stride)`,
    /// `total = max((out - 1) * stride + eff - in, 0)`, `before = total / 2`, the odd pixel after.
    /// Returns `(before, after)`.
    pub fn same_1d(
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<(usize, usize), Error> {
        if input == 0 || kernel == 0 {
            return Err(Error::ZeroSized);
        }
        if stride == 0 || dilation == 0 {
            return Err(Error::InvalidStride);
        }
        let eff = effective_kernel(kernel, dilation)?;
        let out = input.div_ceil(stride);
        let needed = (out - 1)
            .checked_mul(stride)
            .and_then(|v| v.checked_add(eff))
            .ok_or(Error::SizeOverflow)?;
        let total = needed.saturating_sub(input);
        Ok((total / 2, total - total / 2))
    }
}

/// `(kernel - 1) * dilation + 1`.
pub(crate) fn effective_kernel(kernel: usize, dilation: usize) -> Result<usize, Error> {
    kernel
        .saturating_sub(1)
        .checked_mul(dilation)
        .and_then(|v| v.checked_add(1))
        .ok_or(Error::SizeOverflow)
}

/// Output size of a sliding window over one dimension with explicit padding:
/// `(in + before + after - eff) / stride + 1`; errors if the padded input is smaller than the
/// window.
pub fn window_output_size(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_before: usize,
    pad_after: usize,
) -> Result<usize, Error> {
    if input == 0 || kernel == 0 {
        return Err(Error::ZeroSized);
    }
    if stride == 0 || dilation == 0 {
        return Err(Error::InvalidStride);
    }
    let eff = effective_kernel(kernel, dilation)?;
    let padded = input
        .checked_add(pad_before)
        .and_then(|v| v.checked_add(pad_after))
        .ok_or(Error::SizeOverflow)?;
    if padded < eff {
        return Err(Error::ShapeMismatch);
    }
    Ok((padded - eff) / stride + 1)
}

/// Output `(height, width)` of a 2-D sliding window (see [`window_output_size`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn window_output_hw(
    input: Shape4,
    kernel_h: usize,
    kernel_w: usize,
    stride_h: usize,
    stride_w: usize,
    dilation_h: usize,
    dilation_w: usize,
    padding: Padding,
) -> Result<(usize, usize), Error> {
    let oh = window_output_size(
        input.h,
        kernel_h,
        stride_h,
        dilation_h,
        padding.top,
        padding.bottom,
    )?;
    let ow = window_output_size(
        input.w,
        kernel_w,
        stride_w,
        dilation_w,
        padding.left,
        padding.right,
    )?;
    Ok((oh, ow))
}

/// Calls `kernel`; on x86-64 with the `std` feature, through a function compiled for AVX2
/// when the CPU has it, so the same (inlined) kernel code may use 256-bit vectors. The
/// arithmetic is integer and identical either way. Pass an `#[inline(always)]` closure over
/// an `#[inline(always)]` body: LLVM otherwise may leave the closure out of line, compiled
/// without AVX2 (it did, in some binaries).
#[inline(always)]
pub(crate) fn with_best_isa<R>(kernel: impl FnOnce() -> R) -> R {
    #[cfg(all(target_arch = "x86_64", feature = "std", not(feature = "portable")))]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked just above).
            return unsafe { call_with_avx2(kernel) };
        }
    }
    kernel()
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(all(target_arch = "x86_64", feature = "std", not(feature = "portable")))]
#[target_feature(enable = "avx2")]
unsafe fn call_with_avx2<R>(kernel: impl FnOnce() -> R) -> R {
    kernel()
}

/// `len(slice) >= shape.elements()`.
pub(crate) fn check_len(len: usize, needed: usize) -> Result<(), Error> {
    if len < needed {
        Err(Error::BufferTooSmall)
    } else {
        Ok(())
    }
}

/// The validated shapes of a convolution (regular or depthwise) and the length of its scratch:
/// what both kernels' `validate_buffers` check the buffers against. The scratch element type
/// (`i16` patches for conv, `i32` accumulators for depthwise) is all they differ in.
pub(crate) struct ConvShapes {
    pub(crate) input: Shape4,
    pub(crate) filter: Shape4,
    pub(crate) output: Shape4,
    pub(crate) scratch_len: usize,
}

impl ConvShapes {
    /// The requantization has one rescale per output channel and every buffer is long enough.
    pub(crate) fn check_buffers<S>(
        &self,
        requant: &Requant<'_>,
        input: &[i8],
        filter: &[i8],
        bias: Option<&[i32]>,
        output: &[i8],
        scratch: &[S],
    ) -> Result<(), Error> {
        requant.validate(self.output.c)?;
        check_len(input.len(), self.input.elements()?)?;
        check_len(filter.len(), self.filter.elements()?)?;
        check_len(output.len(), self.output.elements()?)?;
        if let Some(b) = bias {
            check_len(b.len(), self.output.c)?;
        }
        check_len(scratch.len(), self.scratch_len)
    }
}

/// Checks both activation zero points.
pub(crate) fn check_zero_points(input: i32, output: i32) -> Result<(), Error> {
    check_zero_point_i8(input)?;
    check_zero_point_i8(output)
}

/// The range of kernel taps `k` (with dilation `d`) whose input coordinate
/// `origin + k*d` lies in `[0, size)`; `origin = out * stride - pad_before` may be negative.
#[inline(always)]
pub(crate) fn tap_range(
    origin: isize,
    kernel: usize,
    dilation: usize,
    size: usize,
) -> (usize, usize) {
    // first k with origin + k*d >= 0
    let d = dilation as isize;
    let start = if origin >= 0 {
        0
    } else {
        ((-origin) + d - 1) / d
    };
    // last k with origin + k*d <= size - 1  =>  k <= (size - 1 - origin) / d
    let limit = size as isize - 1 - origin;
    let end = if limit < 0 {
        0
    } else {
        (limit / d + 1).min(kernel as isize)
    };
    let start = (start as usize).min(kernel);
    let end = (end as usize).max(start);
    (start, end)
}
