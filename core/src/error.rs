//! The one error type of the core: `Copy`, no strings, so it fits `no_std` and costs nothing.

use core::fmt;

/// Everything that can be wrong with the arguments of a core function.
///
/// Kernels check all of these before they write a single output byte.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// Two shapes that must agree do not (e.g. output shape vs. the shape the op computes,
    /// filter channels vs. input channels, data length vs. shape).
    ShapeMismatch,
    /// A caller-provided buffer (input, output, weights, bias or scratch) is shorter than required.
    BufferTooSmall,
    /// A tensor dimension, kernel size or element count is zero.
    ZeroSized,
    /// A zero point lies outside the range of its integer type (int8: [-128, 127];
    /// weights: 0 for per-channel).
    ZeroPointOutOfRange,
    /// A requantization shift lies outside what the selected profile can apply
    /// (`[-31, 31]` for double rounding, `[-31, 30]` for single rounding).
    ShiftOutOfRange,
    /// A requantization multiplier is negative or outside `[2^30, 2^31 - 1]` (and not 0).
    MultiplierOutOfRange,
    /// A scale is zero, negative, not finite, or yields a real multiplier the op cannot represent.
    InvalidScale,
    /// `activation_min > activation_max`, or a bound outside [-128, 127].
    InvalidActivationRange,
    /// A stride or dilation is zero.
    InvalidStride,
    /// The number of groups does not divide the channels, or a depth multiplier is zero.
    InvalidGroups,
    /// The number of per-channel parameters (multipliers, bias, scales) does not match the channels.
    ChannelCountMismatch,
    /// A size computation overflowed `usize` (or an op-specific `i32` bound, e.g. softmax depth).
    SizeOverflow,
    /// A string does not name a known arithmetic profile.
    UnknownProfile,
    /// Any other parameter outside the domain the op defines.
    InvalidParameter,
    /// A model blob, container or checkpoint was rejected, or a model could not run
    /// (the inner error names the field; see `docs/model-format.md`).
    Model(ModelError),
}

pub use crate::model::error::ModelError;

impl From<ModelError> for Error {
    fn from(e: ModelError) -> Self {
        Error::Model(e)
    }
}

impl Error {
    /// A short human-readable description (no allocation).
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::ShapeMismatch => "shapes do not agree",
            Error::BufferTooSmall => "buffer too small",
            Error::ZeroSized => "zero-sized tensor or window",
            Error::ZeroPointOutOfRange => "zero point out of range",
            Error::ShiftOutOfRange => "requantization shift out of range",
            Error::MultiplierOutOfRange => "requantization multiplier out of range",
            Error::InvalidScale => "invalid quantization scale",
            Error::InvalidActivationRange => "invalid activation range",
            Error::InvalidStride => "stride or dilation is zero",
            Error::InvalidGroups => "invalid groups or depth multiplier",
            Error::ChannelCountMismatch => "per-channel parameter count does not match channels",
            Error::SizeOverflow => "size computation overflows",
            Error::UnknownProfile => "unknown arithmetic profile",
            Error::InvalidParameter => "invalid parameter",
            Error::Model(e) => e.as_str(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Model(e) => write!(f, "{e}"),
            _ => f.write_str(self.as_str()),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
