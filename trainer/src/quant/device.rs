//! The device path on the host: a blob (or a checkpoint embedding one) loaded and run by the
//! core's interpreter, one sample per `invoke`, exactly as firmware runs it.

use exactq_core::arith::quantize::{dequantize_slice, quantize_slice};
use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::{invoke, load, Quantization};

use super::QuantError;

fn core_err(what: &str) -> impl FnOnce(exactq_core::Error) -> QuantError + '_ {
    move |e| QuantError::Core { what: what.to_string(), reason: e.to_string() }
}

/// A loaded model with its arena.
pub struct Device {
    blob: AlignedBytes,
    arena: AlignedBytes,
    pub input_len: usize,
    pub output_len: usize,
    pub input_quant: (f32, i32),
    pub output_quant: (f32, i32),
    pub arena_size: usize,
}

fn per_tensor(q: &Quantization) -> Result<(f32, i32), QuantError> {
    match *q {
        Quantization::PerTensor { scale, zero_point } => Ok((scale, zero_point)),
        _ => Err(QuantError::Invalid("graph input/output must be quantized per tensor".into())),
    }
}

impl Device {
    /// Loads a blob or checkpoint file's bytes (the core finds the `MODL` section).
    pub fn new(bytes: &[u8]) -> Result<Device, QuantError> {
        let blob = AlignedBytes::copy_from(bytes);
        let (input_len, output_len, input_quant, output_quant, arena_size) = {
            let m = load(blob.as_slice()).map_err(core_err("loading the model"))?;
            let g = m.graph();
            let inp = m.tensor(g.input).ok_or_else(|| QuantError::Invalid("no input tensor".into()))?;
            let out = m.tensor(g.output).ok_or_else(|| QuantError::Invalid("no output tensor".into()))?;
            (m.input_len(), m.output_len(), per_tensor(&inp.quantization)?, per_tensor(&out.quantization)?, m.arena_size())
        };
        Ok(Device { arena: AlignedBytes::zeroed(arena_size), blob, input_len, output_len, input_quant, output_quant, arena_size })
    }

    /// One inference on int8 input.
    pub fn invoke_int8(&mut self, input: &[i8], output: &mut [i8]) -> Result<(), QuantError> {
        let m = load(self.blob.as_slice()).map_err(core_err("loading the model"))?;
        invoke(&m, input, self.arena.as_mut_slice(), output).map_err(core_err("invoke"))
    }

    /// Quantizes float samples (core QUANTIZE with the blob's input parameters) and runs them
    /// one by one; returns the int8 outputs, concatenated.
    pub fn run(&mut self, x: &[f32]) -> Result<Vec<i8>, QuantError> {
        if self.input_len == 0 || !x.len().is_multiple_of(self.input_len) {
            return Err(QuantError::Invalid(format!("{} input values for samples of {}", x.len(), self.input_len)));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(QuantError::NonFinite(format!("input data at index {i}")));
        }
        let n = x.len() / self.input_len;
        let mut q = vec![0i8; x.len()];
        quantize_slice(x, self.input_quant.0, self.input_quant.1, &mut q).map_err(core_err("input quantization"))?;
        let mut out = vec![0i8; n * self.output_len];
        let m = load(self.blob.as_slice()).map_err(core_err("loading the model"))?;
        for (xi, yi) in q.chunks(self.input_len).zip(out.chunks_mut(self.output_len)) {
            invoke(&m, xi, self.arena.as_mut_slice(), yi).map_err(core_err("invoke"))?;
        }
        Ok(out)
    }

    /// Dequantizes outputs (core DEQUANTIZE with the blob's output parameters).
    pub fn dequantize(&self, q: &[i8]) -> Result<Vec<f32>, QuantError> {
        let mut y = vec![0.0; q.len()];
        dequantize_slice(q, self.output_quant.0, self.output_quant.1, &mut y).map_err(core_err("output dequantization"))?;
        Ok(y)
    }
}
