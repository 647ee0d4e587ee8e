//! Post-training quantization: fold batch norm, describe the integer network, calibrate the
//! activation ranges on training samples, take per-channel weight scales from the core's
//! TFLite weight quantizer, optionally correct the biases.

use exactq_core::arith::quantize::{dequantize_i8, quantize_f32, quantize_weights_per_channel, ChannelAxis};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::data::{permutation, Split};
use crate::nn::graph::{Graph, Op};
use crate::nn::params::ParamStore;
use crate::nn::{Builtin, ForwardCtx, Mode, Tape};

use super::exact::forward_int8_all;
use super::fold::{fold_batch_norm, Folded};
use super::kernels::dequantize;
use super::qmodel::{ProfileName, QOp, QuantModel};
use super::range::{activation_params, RangeEstimator, RangeObserver};
use super::QuantError;

/// PTQ settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PtqConfig {
    pub profile: ProfileName,
    /// Calibration samples taken from the training split (NNCF's default: 300).
    pub samples: usize,
    pub estimator: RangeEstimator,
    pub bias_correction: bool,
    /// Seed of the calibration subset.
    pub seed: u64,
}

impl Default for PtqConfig {
    fn default() -> Self {
        PtqConfig { profile: ProfileName::TfliteDouble, samples: 300, estimator: RangeEstimator::MinMax, bias_correction: false, seed: 0 }
    }
}

/// A quantized network: the folded float network (whose parameters QAT keeps training) and
/// its integer description.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    pub folded: Folded,
    pub model: QuantModel,
}

/// The calibration subset: `samples` training samples in a seeded random order.
pub fn calibration_set(train: &Split, samples: usize, seed: u64) -> Result<Split, QuantError> {
    if samples == 0 {
        return Err(QuantError::Invalid("calibration needs at least 1 sample".into()));
    }
    if train.len() < samples {
        return Err(QuantError::CalibrationTooSmall { available: train.len(), requested: samples });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let order = permutation(train.len(), &mut rng);
    Ok(train.gather(&order[..samples]))
}

/// Float outputs of every node of `graph` for a batch (evaluation mode).
fn float_outputs(graph: &Graph, params: &ParamStore, x: &[f32], batch: usize, sample_shape: &[usize]) -> Result<Vec<Vec<f32>>, QuantError> {
    let mut tape = Tape::inference();
    let mut shape = vec![batch];
    shape.extend(sample_shape);
    let input = tape.var(x.to_vec(), shape)?;
    let mut p = params.clone();
    let mut ctx = ForwardCtx::new(&mut tape, &mut p, Mode::Eval);
    Ok(graph.forward(&mut ctx, input, &mut Builtin)?.iter().map(|v| v.to_vec()).collect())
}

const CALIBRATION_BATCH: usize = 100;

/// Mean squared error of quantizing `values` with the int8 parameters of `[lo, hi]` (core
/// quantize + dequantize), for the MSE range estimator.
fn quantization_mse(values: &[f32], lo: f32, hi: f32) -> f64 {
    match activation_params("mse", lo, hi) {
        Ok((s, zp)) => {
            values.iter().map(|&v| f64::from(dequantize_i8(quantize_f32(v, s, zp), s, zp) - v).powi(2)).sum::<f64>() / values.len().max(1) as f64
        }
        Err(_) => f64::INFINITY,
    }
}

/// Runs PTQ on a trained float network.
pub fn quantize(graph: &Graph, params: &ParamStore, calib: &Split, cfg: &PtqConfig) -> Result<Quantized, QuantError> {
    let folded = fold_batch_norm(graph, params)?;
    let mut model = QuantModel::describe(&folded.graph, cfg.profile)?;
    let sample_shape = match &folded.graph.nodes[0].op {
        Op::Input { shape } => shape.clone(),
        _ => return Err(QuantError::Invalid("graph has no input node".into())),
    };
    let d: usize = sample_shape.iter().product();
    if calib.is_empty() || calib.x.len() != calib.len() * d {
        return Err(QuantError::Invalid(format!("calibration data holds {} values for {} samples of {d}", calib.x.len(), calib.len())));
    }
    if let Some(i) = calib.x.iter().position(|v| !v.is_finite()) {
        return Err(QuantError::NonFinite(format!("calibration data (sample {}, value {})", i / d, calib.x[i])));
    }
    // Weight scales: the TFLite converter's per-channel quantizer.
    for layer in &model.layers {
        let (node, channels, axis) = match &layer.op {
            QOp::Conv { node, spec, .. } => (node, spec.out_c, if spec.is_depthwise() { ChannelAxis::Last } else { ChannelAxis::First }),
            QOp::Linear { node, spec, .. } => (node, spec.out_f, ChannelAxis::First),
            _ => continue,
        };
        let w = &folded.params.get(&format!("{node}.weight"))?.data;
        let mut q = vec![0i8; w.len()];
        let mut scales = vec![0.0f32; channels];
        quantize_weights_per_channel(w, channels, axis, &mut q, &mut scales)
            .map_err(|e| QuantError::Core { what: format!("weights of `{}`", layer.name), reason: e.to_string() })?;
        // An all-zero channel gets a tiny positive scale: its weights stay 0 and its
        // multiplier flushes to 0, as TFLite does for zero ranges.
        for s in &mut scales {
            if *s <= 0.0 {
                *s = 1e-8;
            }
        }
        model.scales.get_mut(&format!("{}.weight_scale", layer.name))?.data = scales;
    }
    // Activation ranges.
    let mut observers: Vec<RangeObserver> = (0..model.quantizers.len()).map(|i| RangeObserver::new(cfg.estimator, cfg.seed ^ i as u64)).collect();
    let nodes = folded.graph.nodes.len();
    let mut float_channel_sums = vec![Vec::<f64>::new(); nodes];
    for start in (0..calib.len()).step_by(CALIBRATION_BATCH) {
        let end = (start + CALIBRATION_BATCH).min(calib.len());
        let outs = float_outputs(&folded.graph, &folded.params, &calib.x[start * d..end * d], end - start, &sample_shape)?;
        for (qi, q) in model.quantizers.iter().enumerate() {
            observers[qi].observe(&q.name, &outs[q.calibrated_on])?;
        }
        if cfg.bias_correction {
            for (i, out) in outs.iter().enumerate() {
                let c = *folded.graph.shapes()?[i].last().unwrap_or(&1);
                let sums = &mut float_channel_sums[i];
                sums.resize(c, 0.0);
                for (j, v) in out.iter().enumerate() {
                    sums[j % c] += f64::from(*v);
                }
            }
        }
    }
    for (qi, o) in observers.iter().enumerate() {
        let (lo, hi) = o.range(&quantization_mse);
        let (scale, zp) = activation_params(&model.quantizers[qi].name, lo, hi)?;
        model.quantizers[qi].zero_point = zp;
        model.scales.get_mut(&format!("{}.scale", model.quantizers[qi].name))?.data = vec![scale];
    }
    let mut q = Quantized { folded, model };
    if cfg.bias_correction {
        correct_biases(&mut q, calib, d, &float_channel_sums)?;
    }
    Ok(q)
}

/// Empirical bias correction: layer by layer, shift each output channel's bias by the mean
/// difference between the float output and the dequantized integer output on the calibration
/// set (with the integer network's own, already corrected, inputs).
fn correct_biases(q: &mut Quantized, calib: &Split, d: usize, float_sums: &[Vec<f64>]) -> Result<(), QuantError> {
    let n = calib.len();
    for li in 0..q.model.layers.len() {
        let layer = q.model.layers[li].clone();
        let (node, has_bias) = match &layer.op {
            QOp::Conv { node, spec, .. } => (node.clone(), spec.bias),
            QOp::Linear { node, spec, .. } => (node.clone(), spec.bias),
            _ => continue,
        };
        if !has_bias {
            continue;
        }
        let owner = q.model.quantizers[q.model.tensors[layer.output].quantizer].calibrated_on;
        let c = float_sums[owner].len();
        let mut quant_sums = vec![0.0f64; c];
        for start in (0..n).step_by(CALIBRATION_BATCH) {
            let end = (start + CALIBRATION_BATCH).min(n);
            let all = forward_int8_all(&q.model, &q.folded.params, &calib.x[start * d..end * d], end - start)?;
            let y = dequantize(&q.model, layer.output, &all[layer.output])?;
            for (j, v) in y.iter().enumerate() {
                quant_sums[j % c] += f64::from(*v);
            }
        }
        let per_channel = (n * q.model.tensors[layer.output].shape.iter().product::<usize>() / c.max(1)) as f64;
        let bias = q.folded.params.get_mut(&format!("{node}.bias"))?;
        for (b, (f, s)) in bias.data.iter_mut().zip(float_sums[owner].iter().zip(&quant_sums)) {
            *b += ((f - s) / per_channel) as f32;
        }
    }
    Ok(())
}
