//! One op per file, each a pure function from values to a value, recording its backward.

pub mod activation;
pub mod add;
pub mod batch_norm;
pub mod conv2d;
pub(crate) mod gemm;
pub mod linear;
pub mod pool;
