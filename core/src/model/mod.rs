//! Deployable model format, memory planner, builder and the heap-free interpreter.
//!
//! Device side (no_std, no alloc): [`load`] checks a blob once ([`load_into`] does it into a
//! `Model` the caller placed, e.g. a `static`, without the graph tables ever being on the stack),
//! [`invoke`] runs it over a caller-provided arena. Host side (`alloc` feature): [`builder::ModelBuilder`] produces
//! blobs, [`planner`] places tensors in the arena, [`container::ContainerWriter`] writes
//! checkpoints. The format is documented byte by byte in `docs/model-format.md`.

pub mod aligned;
pub mod container;
mod decode;
pub mod error;
pub mod format;
mod invoke;
mod load;
mod ops;
mod validate;

#[cfg(feature = "alloc")]
pub mod builder;
#[cfg(feature = "alloc")]
pub mod planner;

pub use error::{DataField, ModelError};
pub use format::*;
pub use invoke::{invoke, invoke_observed};
pub use load::{byte_len, element_count, load, load_into, Model};
