//! Test metrics of an integer network, through the trainer's integer forward and through the
//! core interpreter, with the parity count between the two.

use crate::data::{Split, Task};
use crate::nn::params::ParamStore;
use crate::train::auroc;

use super::device::Device;
use super::exact::forward_int8;
use super::kernels::dequantize;
use super::qmodel::QuantModel;
use super::QuantError;

/// Accuracy (classification) or AUROC of reconstruction error (anomaly detection) from the
/// dequantized outputs `y` of every sample of `split`.
pub fn metric(task: Task, split: &Split, y: &[f32]) -> f32 {
    let n = split.len().max(1);
    let per = y.len() / n;
    match task {
        Task::Classify { .. } => {
            let correct = y
                .chunks(per)
                .zip(&split.y)
                .filter(|(row, &label)| row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b }) == label as usize)
                .count();
            correct as f32 / n as f32
        }
        Task::Reconstruct => {
            let errors: Vec<f32> =
                y.chunks(per).zip(split.x.chunks(per)).map(|(p, x)| p.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / per as f32).collect();
            let anomalous: Vec<bool> = split.y.iter().map(|&l| l != 1).collect();
            auroc(&errors, &anomalous)
        }
    }
}

/// The trainer's int8 outputs for every sample of `split`, in batches of 256.
pub fn trainer_outputs(model: &QuantModel, params: &ParamStore, split: &Split) -> Result<Vec<i8>, QuantError> {
    let d = split.x.len() / split.len().max(1);
    let mut out = Vec::new();
    for start in (0..split.len()).step_by(256) {
        let end = (start + 256).min(split.len());
        out.extend(forward_int8(model, params, &split.x[start * d..end * d], end - start)?);
    }
    Ok(out)
}

/// Result of evaluating a quantized network on a split.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantEval {
    /// Metric of the device (interpreter) outputs.
    pub metric: f32,
    /// Samples whose int8 output vectors are identical between trainer and interpreter.
    pub parity_identical: usize,
    pub parity_total: usize,
    /// Individual output bytes that differ.
    pub mismatched_bytes: usize,
}

/// Runs `split` through the interpreter on `blob` and through the trainer's forward, and
/// scores the interpreter's outputs.
pub fn evaluate(model: &QuantModel, params: &ParamStore, blob: &[u8], split: &Split, task: Task) -> Result<QuantEval, QuantError> {
    let mut dev = Device::new(blob)?;
    let device = dev.run(&split.x)?;
    let trainer = trainer_outputs(model, params, split)?;
    let per = device.len() / split.len().max(1);
    let parity_identical = device.chunks(per).zip(trainer.chunks(per)).filter(|(a, b)| a == b).count();
    let mismatched_bytes = device.iter().zip(&trainer).filter(|(a, b)| a != b).count();
    let y = dequantize(model, model.output, &device)?;
    Ok(QuantEval { metric: metric(task, split, &y), parity_identical, parity_total: split.len(), mismatched_bytes })
}
