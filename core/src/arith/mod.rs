//! The arithmetic every kernel is built from: fixed point, multipliers, requantization,
//! quantize/dequantize and fused activation ranges. See `docs/arithmetic.md`.

pub mod activation;
pub mod fixedpoint;
pub mod multiplier;
pub mod quantize;
pub mod requantize;

pub use activation::{activation_range, Activation, ActivationRange};
pub use multiplier::{quantize_multiplier, QuantizedMultiplier};
pub use requantize::{Profile, Requant};
