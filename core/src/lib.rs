//! exactq-core: the one place where INT8 arithmetic lives.
//!
//! `#![no_std]`, no heap, no panics on any input reachable from the public API.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod error;
pub mod model;

pub use error::Error;
