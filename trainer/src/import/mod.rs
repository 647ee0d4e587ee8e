//! Importers that turn models from other toolchains into the core's model format.
//!
//! `tflite`: full-integer (int8) TensorFlow Lite flatbuffers, converted so that the core
//! interpreter computes what TensorFlow Lite Micro computes, byte for byte.

pub mod convert;
pub mod flatbuffer;
pub mod tflite;
