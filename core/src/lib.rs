//! exactq-core: the one place where INT8 arithmetic lives.
//!
//! `#![no_std]`, no heap, no panics on any input reachable from the public API.
//!
//! - [`arith`]: fixed-point primitives, `(multiplier, shift)` derivation, requantization in
//!   each [`arith::Profile`], f32 ↔ int8, fused activation ranges.
//! - [`kernels`]: int8 NHWC kernels, one op per file, writing into caller buffers.
//! - [`model`]: the deployable model format, its loader, memory planner, builder and interpreter.
//! - [`Error`]: the single error type.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
#![allow(clippy::manual_is_multiple_of)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod arith;
pub mod error;
pub mod kernels;
pub mod model;

pub use error::Error;
