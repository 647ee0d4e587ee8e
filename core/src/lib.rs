//! exactq-core: the one place where INT8 arithmetic lives.
//!
//! `#![no_std]`, no heap, no panics on any input reachable from the public API.
//!
//! - [`arith`]: fixed-point primitives, `(multiplier, shift)` derivation, requantization in
//!   each [`arith::Profile`], f32 ↔ int8, fused activation ranges.
//! - [`kernels`]: int8 NHWC kernels, one op per file, writing into caller buffers.
//! - [`model`]: the deployable model format, its loader, memory planner, builder and interpreter.
//! - [`Error`]: the single error type.
//!
//! Features: none by default (the device build). `alloc` adds the host-side model builder and
//! memory planner; `std` adds `AlignedBytes` helpers for files.
//!
//! # Real multipliers as integers
//!
//! A requantization scale `M = s_in · s_w / s_out` becomes a Q0.31 mantissa and a power-of-two
//! shift exactly as TFLite derives it ([`arith::quantize_multiplier`]):
//!
//! ```
//! use exactq_core::arith::{quantize_multiplier, Profile};
//!
//! let m = quantize_multiplier(0.5, Profile::TfliteDouble)?;
//! assert_eq!((m.multiplier, m.shift), (1 << 30, 0)); // 0.5 = 2^30 / 2^31
//! let m = quantize_multiplier(0.75 / 1024.0, Profile::TfliteDouble)?;
//! assert_eq!((m.multiplier, m.shift), (1_610_612_736, -10)); // 0.75 · 2^31, then 2^-10
//! # Ok::<(), exactq_core::Error>(())
//! ```
//!
//! # Calling a kernel
//!
//! Each kernel takes one params struct, its inputs and a caller-provided output (and scratch,
//! when it needs one). Int8 ADD of two tensors of scale 0.1 into an output of scale 0.2:
//!
//! ```
//! use exactq_core::arith::multiplier::add_multipliers;
//! use exactq_core::arith::{activation_range, Activation, Profile};
//! use exactq_core::kernels::{add, AddParams};
//!
//! let profile = Profile::TfliteDouble;
//! let params = AddParams {
//!     len: 2,
//!     input1_zero_point: 0,
//!     input2_zero_point: 0,
//!     output_zero_point: 0,
//!     multipliers: add_multipliers(0.1, 0.1, 0.2, profile)?,
//!     profile,
//!     activation: activation_range(Activation::None, 0.2, 0)?,
//! };
//! let mut out = [0i8; 2];
//! // (1.0 + 3.0) / 0.2 = 20 and (-2.0 + 4.0) / 0.2 = 10.
//! add(&params, &[10, -20], &[30, 40], &mut out)?;
//! assert_eq!(out, [20, 10]);
//! # Ok::<(), exactq_core::Error>(())
//! ```
//!
//! # Building, loading and invoking a model
//!
//! On the host, [`model::builder::ModelBuilder`] (feature `alloc`) writes a blob; on the device,
//! [`model::load`] validates it once (no allocation, borrowing constants from flash) and
//! [`model::invoke`] runs it over a caller-provided, 16-byte aligned arena:
//!
//! ```
//! use exactq_core::arith::{Activation, Profile};
//! use exactq_core::model::aligned::AlignedBytes;
//! use exactq_core::model::builder::{ModelBuilder, OutQuant, WeightQuant};
//! use exactq_core::model::{invoke, load};
//!
//! // One fully connected layer: 4 inputs (scale 0.1) -> 2 outputs (scale 0.01).
//! let mut b = ModelBuilder::new(Profile::TfliteDouble);
//! let x = b.input(&[1, 4], 0.1, 0)?;
//! let weights = [1, 0, 0, 0, 0, 1, 1, 0]; // [out, in], weight scale 0.1 per output channel
//! let w = b.constant_i8(&[2, 4], &weights, WeightQuant::PerChannel { axis: 0, scales: &[0.1, 0.1] })?;
//! let y = b.fully_connected(x, w, None, Activation::None, OutQuant::new(0.01, 0))?;
//! b.set_output(y);
//! let blob = AlignedBytes::copy_from(&b.build()?);
//!
//! // Device side.
//! let model = load(blob.as_slice())?;
//! let mut arena = AlignedBytes::zeroed(model.arena_size());
//! let mut out = [0i8; 2];
//! invoke(&model, &[10, 20, 30, 40], arena.as_mut_slice(), &mut out)?; // real 1, 2, 3, 4
//! assert_eq!(out, [10, 50]); // real 0.1 and 0.5
//! # Ok::<(), exactq_core::Error>(())
//! ```
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
