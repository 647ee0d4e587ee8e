//! Per-layer diagnostics of a device blob against the float network it came from.
//!
//! The int8 side is the core interpreter itself: [`invoke_observed`] hands over every op's
//! output, exactly what the device computes. The float side is the trainer's forward of the
//! batch-norm-folded float graph. Blob op `i` is layer `i` of [`QuantModel::describe`] on that
//! folded graph (export emits one core op per layer, in order), which is how each op finds its
//! float counterpart.
//!
//! Sensitivity ("accuracy effect of keeping that one layer in float"): the integer network is
//! re-run with the trainer's core-kernel path and the blob's own constants, except that layer
//! `L` is computed in float (folded float weights, on the dequantized int8 inputs); its output is
//! re-quantized with `L`'s own output parameters for its int8 consumers, or kept in float when
//! `L` produces the network output. The effect is that metric minus the all-int8 metric.

use exactq_core::arith::quantize::{dequantize_slice, quantize_slice};
use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::{invoke_observed, load, Model, OpDesc, Quantization, TensorIndex};

use crate::data::{Split, Task};
use crate::nn::graph::Graph;
use crate::nn::{builtin_forward, ops, Builtin, ForwardCtx, Mode, ParamStore, Tape, Var};
use crate::quant::fold::Folded;
use crate::quant::kernels::{run_layer, LayerConstants};
use crate::quant::qmodel::{Fused, ProfileName, QOp, QuantModel};
use crate::train::auroc;

use super::metrics::{argmax, clipping_rate, histogram, representable_range, sqnr_db};

/// What the report could not compute, with the reason (shown, never fatal).
pub type Problem = String;

fn core_err(what: &str) -> impl FnOnce(exactq_core::Error) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {e}")
}

/// One op of the blob, with what the blob alone says about it.
#[derive(Clone, Debug)]
pub struct BlobOp {
    pub index: usize,
    pub kind: &'static str,
    pub output_shape: Vec<usize>,
    /// Output activation scale and zero point.
    pub out_quant: Option<(f32, i32)>,
    /// Smallest and largest per-channel weight scale (weighted ops).
    pub weight_scales: Option<(f32, f32, usize)>,
    pub macs: u64,
}

/// What the blob says about itself: ops, sizes.
#[derive(Clone, Debug)]
pub struct BlobSummary {
    pub bytes: usize,
    pub arena_size: usize,
    pub profile: &'static str,
    pub input_quant: Option<(f32, i32)>,
    pub ops: Vec<BlobOp>,
    /// Bytes of constant data (weights, biases, scales).
    pub constant_bytes: usize,
}

fn per_tensor(q: &Quantization) -> Option<(f32, i32)> {
    match *q {
        Quantization::PerTensor { scale, zero_point } => Some((scale, zero_point)),
        Quantization::PerChannel { .. } => None,
    }
}

fn shape_of(model: &Model<'_>, t: TensorIndex) -> Vec<usize> {
    model.tensor(t).map(|d| d.shape.iter().map(|&v| v as usize).collect()).unwrap_or_default()
}

fn channel_scales<'a>(model: &Model<'a>, t: TensorIndex) -> Option<&'a [f32]> {
    match model.tensor(t)?.quantization {
        Quantization::PerChannel { scales, .. } => model.channel_scales(scales),
        Quantization::PerTensor { .. } => None,
    }
}

/// Multiply-accumulates of one op at batch 1.
fn op_macs(model: &Model<'_>, op: &OpDesc) -> u64 {
    let out: usize = shape_of(model, op.output()).iter().product();
    let filter = |t: TensorIndex| shape_of(model, t);
    let macs = match op {
        OpDesc::Conv2d(d) => out * filter(d.filter).iter().skip(1).product::<usize>(),
        OpDesc::DepthwiseConv2d(d) => out * filter(d.filter).iter().skip(1).take(2).product::<usize>(),
        OpDesc::FullyConnected(d) => filter(d.weights).iter().product::<usize>(),
        _ => 0,
    };
    macs as u64
}

/// Reads the blob's structure.
pub fn summarize_blob(bytes: &[u8]) -> anyhow::Result<BlobSummary> {
    let aligned = AlignedBytes::copy_from(bytes);
    let model = load(aligned.as_slice()).map_err(core_err("loading the blob"))?;
    let g = model.graph();
    let ops = g
        .ops
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let op = &entry.op;
            let weights = match op {
                OpDesc::Conv2d(d) => Some(d.filter),
                OpDesc::DepthwiseConv2d(d) => Some(d.filter),
                OpDesc::FullyConnected(d) => Some(d.weights),
                _ => None,
            };
            let weight_scales = weights.and_then(|w| channel_scales(&model, w)).map(|s| {
                let lo = s.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = s.iter().copied().fold(0.0f32, f32::max);
                (lo, hi, s.len())
            });
            BlobOp {
                index,
                kind: op.name(),
                output_shape: shape_of(&model, op.output()),
                out_quant: model.tensor(op.output()).and_then(|t| per_tensor(&t.quantization)),
                weight_scales,
                macs: op_macs(&model, op),
            }
        })
        .collect();
    Ok(BlobSummary {
        bytes: bytes.len(),
        arena_size: model.arena_size(),
        profile: model.profile().as_str(),
        input_quant: model.tensor(g.input).and_then(|t| per_tensor(&t.quantization)),
        ops,
        constant_bytes: model.data().len(),
    })
}

/// Every op's int8 output for each sample, from the core interpreter: `[op][sample * len ..]`.
pub struct Observed {
    pub per_op: Vec<Vec<i8>>,
    pub output: Vec<i8>,
}

/// Runs `n` samples of `x` through the interpreter, one `invoke` per sample as on the device.
pub fn observe(bytes: &[u8], x: &[f32], n: usize) -> anyhow::Result<Observed> {
    let aligned = AlignedBytes::copy_from(bytes);
    let model = load(aligned.as_slice()).map_err(core_err("loading the blob"))?;
    let g = model.graph();
    let (s, zp) = model
        .tensor(g.input)
        .and_then(|t| per_tensor(&t.quantization))
        .ok_or_else(|| anyhow::anyhow!("blob input is not quantized per tensor"))?;
    let d = model.input_len();
    anyhow::ensure!(x.len() >= n * d, "{} input values for {n} samples of {d}", x.len());
    let mut q = vec![0i8; n * d];
    quantize_slice(&x[..n * d], s, zp, &mut q).map_err(core_err("quantizing the input"))?;
    let mut arena = AlignedBytes::zeroed(model.arena_size());
    let mut per_op: Vec<Vec<i8>> = vec![Vec::new(); g.ops.len()];
    let mut output = vec![0i8; n * model.output_len()];
    for (xi, yi) in q.chunks(d).zip(output.chunks_mut(model.output_len())) {
        invoke_observed(&model, xi, arena.as_mut_slice(), yi, |op, _, values| per_op[op].extend_from_slice(values))
            .map_err(core_err("invoke"))?;
    }
    Ok(Observed { per_op, output })
}

/// Dequantizes with the core.
pub fn dequantize(q: &[i8], (scale, zp): (f32, i32)) -> anyhow::Result<Vec<f32>> {
    let mut y = vec![0.0; q.len()];
    dequantize_slice(q, scale, zp, &mut y).map_err(core_err("dequantizing"))?;
    Ok(y)
}

/// Float outputs of every node of the (folded) graph for `n` samples, batched.
pub fn float_nodes(graph: &Graph, params: &ParamStore, x: &[f32], n: usize, sample_shape: &[usize]) -> anyhow::Result<Vec<Vec<f32>>> {
    let d: usize = sample_shape.iter().product();
    let mut all: Vec<Vec<f32>> = vec![Vec::new(); graph.nodes.len()];
    for start in (0..n).step_by(250) {
        let end = (start + 250).min(n);
        let mut tape = Tape::inference();
        let input = tape.var(x[start * d..end * d].to_vec(), std::iter::once(end - start).chain(sample_shape.iter().copied()).collect())?;
        let mut p = params.clone();
        let mut ctx = ForwardCtx::new(&mut tape, &mut p, Mode::Eval);
        for (i, v) in graph.forward(&mut ctx, input, &mut Builtin)?.iter().enumerate() {
            all[i].extend(v.to_vec());
        }
    }
    Ok(all)
}

/// One row of the per-layer table.
#[derive(Clone, Debug)]
pub struct LayerRow {
    pub op: BlobOp,
    pub name: String,
    pub sqnr_db: Option<f64>,
    pub clipping_rate: Option<f64>,
    /// Float reference range on the samples.
    pub float_range: Option<(f32, f32)>,
    /// Metric with this layer in float, minus the all-int8 metric.
    pub sensitivity: Option<f64>,
    /// Histogram of the float reference (edges, counts) for the worst layers.
    pub histogram: Option<(Vec<f32>, Vec<u64>)>,
}

/// Everything computed from blob + float checkpoint + data.
pub struct LayerAnalysis {
    pub rows: Vec<LayerRow>,
    pub samples: usize,
    pub metric_name: &'static str,
    pub float_metric: f64,
    pub int8_metric: f64,
    /// Classification only: `[true][predicted]` of the int8 network.
    pub confusion: Option<Vec<Vec<u64>>>,
    pub problems: Vec<Problem>,
}

/// The network metric from float outputs: accuracy (argmax) or reconstruction AUROC.
pub fn metric_of(outputs: &[f32], split: &Split, n: usize, task: Task) -> f64 {
    let per = outputs.len() / n.max(1);
    match task {
        Task::Classify { .. } => {
            let correct = outputs.chunks(per).zip(&split.y).filter(|(row, &y)| argmax(row) == y as usize).count();
            correct as f64 / n.max(1) as f64
        }
        Task::Reconstruct => {
            let d = split.x.len() / split.len().max(1);
            let errors: Vec<f32> =
                outputs.chunks(per).zip(split.x.chunks(d)).map(|(p, x)| p.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / per as f32).collect();
            let anomalous: Vec<bool> = split.y.iter().take(n).map(|&l| l != 1).collect();
            f64::from(auroc(&errors, &anomalous))
        }
    }
}

/// The folded float graph's integer description with the blob's scales, zero points and
/// constants, for the mixed float/int8 forward of the sensitivity analysis.
struct BlobModel {
    qmodel: QuantModel,
    constants: Vec<Option<LayerConstants>>,
}

fn blob_model(folded: &Folded, bytes: &[u8]) -> anyhow::Result<BlobModel> {
    let aligned = AlignedBytes::copy_from(bytes);
    let model = load(aligned.as_slice()).map_err(core_err("loading the blob"))?;
    // The sensitivity runs in the blob's own arithmetic.
    let profile = ProfileName::try_from(model.profile()).map_err(|e| anyhow::anyhow!("blob: {e}"))?;
    let mut q = QuantModel::describe(&folded.graph, profile)?;
    let g = model.graph();
    anyhow::ensure!(
        g.ops.len() == q.layers.len(),
        "the blob has {} ops but the float network describes {} layers: blob and float checkpoint are not the same network",
        g.ops.len(),
        q.layers.len()
    );
    let set_quant = |q: &mut QuantModel, t: usize, desc: Option<(f32, i32)>| -> anyhow::Result<()> {
        let (s, zp) = desc.ok_or_else(|| anyhow::anyhow!("tensor of `{}` is not quantized per tensor", q.tensors[t].name))?;
        let qi = q.tensors[t].quantizer;
        q.quantizers[qi].zero_point = zp;
        let name = format!("{}.scale", q.quantizers[qi].name);
        q.scales.get_mut(&name)?.data = vec![s];
        Ok(())
    };
    set_quant(&mut q, 0, model.tensor(g.input).and_then(|t| per_tensor(&t.quantization)))?;
    let mut constants = Vec::with_capacity(q.layers.len());
    for (li, entry) in g.ops.iter().enumerate() {
        let layer = q.layers[li].clone();
        let op = &entry.op;
        let expected = match layer.op {
            QOp::Conv { spec, .. } if spec.is_depthwise() => "depthwise_conv2d",
            QOp::Conv { .. } => "conv2d",
            QOp::Linear { .. } => "fully_connected",
            QOp::Add { .. } => "add",
            QOp::MaxPool(_) => "max_pool2d",
            QOp::AvgPool(_) => "average_pool2d",
            QOp::Mean => "global_average_pool",
            QOp::Reshape => "reshape",
        };
        anyhow::ensure!(op.name() == expected, "blob op {li} is {} but layer `{}` of the float network is {expected}", op.name(), layer.name);
        if !layer.op.shares_input_quantizer() {
            set_quant(&mut q, layer.output, model.tensor(op.output()).and_then(|t| per_tensor(&t.quantization)))?;
        }
        let (w, b) = match op {
            OpDesc::Conv2d(d) => (Some(d.filter), d.bias),
            OpDesc::DepthwiseConv2d(d) => (Some(d.filter), d.bias),
            OpDesc::FullyConnected(d) => (Some(d.weights), d.bias),
            _ => (None, None),
        };
        constants.push(match w {
            Some(w) => {
                let weight_scales = channel_scales(&model, w).ok_or_else(|| anyhow::anyhow!("weights of op {li} are not per channel"))?.to_vec();
                q.scales.get_mut(&format!("{}.weight_scale", layer.name))?.data = weight_scales.clone();
                let weights = model.constant_i8(w).ok_or_else(|| anyhow::anyhow!("weights of op {li} unreadable"))?.to_vec();
                let bias = match b {
                    Some(b) => Some(model.constant_i32(b).ok_or_else(|| anyhow::anyhow!("bias of op {li} unreadable"))?.to_vec()),
                    None => None,
                };
                Some(LayerConstants { weights, bias, weight_scales })
            }
            None => None,
        });
    }
    Ok(BlobModel { qmodel: q, constants })
}

/// Float computation of one layer on dequantized inputs (folded float weights), fused clamp
/// included.
fn float_layer(folded: &Folded, q: &QuantModel, li: usize, inputs: &[Vec<f32>], batch: usize) -> anyhow::Result<Vec<f32>> {
    let layer = &q.layers[li];
    let node_index = q.node_layer.iter().position(|&l| l == Some(li)).ok_or_else(|| anyhow::anyhow!("layer {li} has no node"))?;
    let node = &folded.graph.nodes[node_index];
    let mut tape = Tape::inference();
    let vars: Vec<Var> = layer
        .inputs
        .iter()
        .zip(inputs)
        .map(|(&t, v)| tape.var(v.clone(), std::iter::once(batch).chain(q.tensors[t].shape.iter().copied()).collect()))
        .collect::<Result<_, _>>()?;
    let mut params = folded.params.clone();
    let mut ctx = ForwardCtx::new(&mut tape, &mut params, Mode::Eval);
    let y = builtin_forward(&mut ctx, node, &vars)?;
    let act = match layer.op {
        QOp::Conv { act, .. } | QOp::Linear { act, .. } | QOp::Add { act } => act,
        _ => Fused::None,
    };
    let y = match act {
        Fused::None => y,
        Fused::Relu => ops::activation::relu(ctx.tape, &y)?,
        Fused::Relu6 => ops::activation::relu6(ctx.tape, &y)?,
    };
    Ok(y.to_vec())
}

/// The network output (dequantized) with layer `float_layer_index` (if any) in float.
fn mixed_forward(folded: &Folded, bm: &BlobModel, x: &[f32], batch: usize, float_layer_index: Option<usize>) -> anyhow::Result<Vec<f32>> {
    let q = &bm.qmodel;
    let mut int8: Vec<Vec<i8>> = vec![Vec::new(); q.tensors.len()];
    int8[0] = crate::quant::kernels::quantize_input(q, x)?;
    let mut float_output = None;
    for (li, layer) in q.layers.iter().enumerate() {
        let out = if Some(li) == float_layer_index {
            let ins = layer.inputs.iter().map(|&t| crate::quant::kernels::dequantize(q, t, &int8[t])).collect::<Result<Vec<_>, _>>()?;
            let y = float_layer(folded, q, li, &ins, batch)?;
            if layer.output == q.output {
                float_output = Some(y.clone());
            }
            let (s, zp) = q.tensor_quant(layer.output)?;
            let mut o = vec![0i8; y.len()];
            quantize_slice(&y, s, zp, &mut o).map_err(core_err("re-quantizing a float layer"))?;
            o
        } else {
            let ins: Vec<&[i8]> = layer.inputs.iter().map(|&i| int8[i].as_slice()).collect();
            run_layer(q, layer, batch, &ins, bm.constants[li].as_ref())?
        };
        int8[layer.output] = out;
    }
    match float_output {
        Some(y) => Ok(y),
        None => Ok(crate::quant::kernels::dequantize(q, q.output, &int8[q.output])?),
    }
}

/// How many of the worst layers get a histogram.
pub const HISTOGRAM_LAYERS: usize = 3;

/// The per-layer analysis of `blob` against the (folded) float network `reference` on the first
/// `n` samples of `split`.
pub fn analyse(blob: &[u8], summary: &BlobSummary, reference: &super::Reference, split: &Split, task: Task, n: usize) -> anyhow::Result<LayerAnalysis> {
    let n = n.min(split.len());
    anyhow::ensure!(n > 0, "no samples to analyse");
    let split = split.gather(&(0..n).collect::<Vec<_>>());
    let mut problems = Vec::new();
    let folded = Folded { graph: reference.graph.clone(), params: reference.params.clone() };
    let qdesc = QuantModel::describe(&folded.graph, ProfileName::TfliteDouble)?;
    let sample_shape = reference.input_shape.clone();
    let floats = float_nodes(&folded.graph, &folded.params, &split.x, n, &sample_shape)?;
    let observed = observe(blob, &split.x, n)?;
    // Layer i's float value is that of the last node writing its tensor (the fused ReLU, if any).
    let float_of_layer = |li: usize| -> Option<&Vec<f32>> {
        let t = qdesc.layers.get(li)?.output;
        let node = qdesc.node_tensor.iter().rposition(|&nt| nt == t)?;
        floats.get(node)
    };
    if qdesc.layers.len() != summary.ops.len() {
        problems.push(format!(
            "the blob has {} ops but the float checkpoint's network has {} layers: SQNR and sensitivity need the same network",
            summary.ops.len(),
            qdesc.layers.len()
        ));
    }
    let same_network = qdesc.layers.len() == summary.ops.len();
    let out_quant = summary.ops.last().and_then(|o| o.out_quant).ok_or_else(|| anyhow::anyhow!("blob output is not quantized per tensor"))?;
    let int8_out = dequantize(&observed.output, out_quant)?;
    let float_out = floats.last().cloned().unwrap_or_default();
    let float_metric = metric_of(&float_out, &split, n, task);
    let int8_metric = metric_of(&int8_out, &split, n, task);
    let confusion = match task {
        Task::Classify { classes } => {
            let per = int8_out.len() / n;
            let predicted: Vec<usize> = int8_out.chunks(per).map(argmax).collect();
            Some(super::metrics::confusion_matrix(&split.y, &predicted, classes))
        }
        Task::Reconstruct => None,
    };
    let blob_model = if same_network {
        match blob_model(&folded, blob) {
            Ok(bm) => Some(bm),
            Err(e) => {
                problems.push(format!("sensitivity not computed: {e:#}"));
                None
            }
        }
    } else {
        None
    };
    // The trainer's core-kernel path must reproduce the interpreter before it is trusted.
    let mut baseline = None;
    if let Some(bm) = &blob_model {
        match mixed_forward(&folded, bm, &split.x, n, None) {
            Ok(y) if y == int8_out => baseline = Some(metric_of(&y, &split, n, task)),
            Ok(_) => problems.push("sensitivity not computed: the trainer's int8 path differs from the interpreter on this blob".into()),
            Err(e) => problems.push(format!("sensitivity not computed: {e:#}")),
        }
    }
    let mut rows = Vec::with_capacity(summary.ops.len());
    for op in &summary.ops {
        let li = op.index;
        let name = if same_network { qdesc.layers[li].name.clone() } else { format!("op{li}") };
        let reference = if same_network { float_of_layer(li) } else { None };
        let (mut sqnr, mut clip, mut range) = (None, None, None);
        if let (Some(r), Some(q)) = (reference, op.out_quant) {
            let deq = dequantize(&observed.per_op[li], q)?;
            if deq.len() == r.len() {
                sqnr = sqnr_db(r, &deq);
                let (lo, hi) = representable_range(q.0, q.1);
                clip = Some(clipping_rate(r, lo, hi, q.0));
                range = Some((r.iter().copied().fold(f32::INFINITY, f32::min), r.iter().copied().fold(f32::NEG_INFINITY, f32::max)));
            }
        }
        let sensitivity = match (&blob_model, baseline) {
            (Some(bm), Some(base)) if !matches!(bm.qmodel.layers[li].op, QOp::Reshape) => {
                mixed_forward(&folded, bm, &split.x, n, Some(li)).ok().map(|y| metric_of(&y, &split, n, task) - base)
            }
            _ => None,
        };
        rows.push(LayerRow { op: op.clone(), name, sqnr_db: sqnr, clipping_rate: clip, float_range: range, sensitivity, histogram: None });
    }
    // Worst first: largest accuracy gain when kept in float, then lowest SQNR.
    rows.sort_by(|a, b| {
        let key = |r: &LayerRow| (r.sensitivity.unwrap_or(f64::NEG_INFINITY), -r.sqnr_db.unwrap_or(f64::INFINITY));
        key(b).partial_cmp(&key(a)).unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut drawn = 0;
    for row in rows.iter_mut() {
        if drawn == HISTOGRAM_LAYERS {
            break;
        }
        if let (Some(r), Some(q)) = (float_of_layer(row.op.index).filter(|_| same_network), row.op.out_quant) {
            let (lo, hi) = representable_range(q.0, q.1);
            let (fmin, fmax) = row.float_range.unwrap_or((lo, hi));
            row.histogram = Some(histogram(r, fmin.min(lo), fmax.max(hi), 60));
            drawn += 1;
        }
    }
    Ok(LayerAnalysis {
        rows,
        samples: n,
        metric_name: match task {
            Task::Classify { .. } => "accuracy",
            Task::Reconstruct => "AUROC",
        },
        float_metric,
        int8_metric,
        confusion,
        problems,
    })
}
