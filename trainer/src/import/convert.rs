//! TFLite (full integer, int8) → the core's model format, computing what TFLite Micro computes.
//!
//! Every integer parameter TFLite Micro derives in an op's `Prepare` (requantization
//! multipliers, activation clamps, softmax's input multiplier) is derived here by the core's
//! own functions (`exactq_core::arith`), from the float32 scales stored in the file, exactly as
//! TFLM derives them. The graph is otherwise carried over one op to one op, in file order.
//!
//! QUANTIZE (float → int8) on the graph input and DEQUANTIZE (int8 → float) on the graph
//! output are dropped: the imported model reads and writes the int8 tensors inside them, with
//! their scale and zero point. Anything the core cannot run as TFLM does is an
//! [`ImportError`] that names the operator, its index and the reason.
// `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
#![allow(clippy::manual_is_multiple_of)]

use std::collections::HashMap;

use exactq_core::arith::{Activation, Profile};
use exactq_core::model::builder::{MemoryReport, ModelBuilder, OutQuant, WeightQuant};
use exactq_core::model::{Padding, TensorIndex, Window};

use super::tflite::{self, builtin, tensor_type, BuiltinOptions, FusedActivation, Model, Operator, SubGraph, Tensor};

/// The largest tensor the importer accepts (elements); far above any microcontroller model.
const MAX_TENSOR_ELEMENTS: usize = 1 << 26;
/// The core format's highest rank.
const MAX_CORE_RANK: usize = 4;

/// Why a `.tflite` file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the TFLite flatbuffer: {0}")]
    Read(#[from] tflite::TfliteError),
    #[error("unsupported model: {0}")]
    Model(String),
    #[error("operator {index} ({op}): {reason}")]
    Operator { index: usize, op: String, reason: String },
    #[error("the core rejected the converted model: {0}")]
    Core(String),
}

/// What `import_tflite` produced.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The device blob (a container with one `MODL` section).
    pub blob: Vec<u8>,
    /// The planner's arena figures.
    pub memory: MemoryReport,
    /// One line per TFLite operator: what it became.
    pub ops: Vec<ConvertedOp>,
    /// Shape and quantization of the int8 input and output.
    pub input: TensorSummary,
    pub output: TensorSummary,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConvertedOp {
    pub index: usize,
    pub tflite_op: String,
    /// The core op, or what happened to it (e.g. dropped at the model edge).
    pub core_op: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorSummary {
    pub name: String,
    pub shape: Vec<usize>,
    pub scale: f32,
    pub zero_point: i32,
}

/// Converts a full-integer `.tflite` model to a core model blob (profile `tflite-double`).
pub fn import_tflite(file: &[u8]) -> Result<Imported, ImportError> {
    let model = Model::parse(file)?;
    Converter::new(&model, Profile::TfliteDouble)?.run()
}

/// Where an error happened: an operator (by index and name), or a graph edge.
#[derive(Clone, Copy)]
struct OpContext<'a> {
    index: Option<usize>,
    name: &'a str,
}

impl OpContext<'_> {
    fn error(&self, reason: impl Into<String>) -> ImportError {
        match self.index {
            Some(index) => ImportError::Operator { index, op: self.name.to_string(), reason: reason.into() },
            None => ImportError::Model(format!("{}: {}", self.name, reason.into())),
        }
    }
}

fn core_error(ctx: OpContext<'_>, what: &str, e: exactq_core::Error) -> ImportError {
    ctx.error(format!("{what}: {e}"))
}

struct Converter<'m> {
    model: &'m Model<'m>,
    graph: &'m SubGraph,
    builder: ModelBuilder,
    /// TFLite tensor index → core tensor.
    mapped: HashMap<usize, TensorIndex>,
    /// The int8 tensors that are the imported model's input and output.
    input: usize,
    output: usize,
    /// Operators dropped because they are the float edges (QUANTIZE in, DEQUANTIZE out).
    edge_ops: Vec<usize>,
}

impl<'m> Converter<'m> {
    fn new(model: &'m Model<'m>, profile: Profile) -> Result<Self, ImportError> {
        let graph = match model.subgraphs.as_slice() {
            [graph] => graph,
            [] => return Err(ImportError::Model("the file has no subgraph".into())),
            many => {
                return Err(ImportError::Model(format!(
                    "{} subgraphs (control flow); only single-subgraph models are supported",
                    many.len()
                )))
            }
        };
        let single = |list: &[i32], what: &str| -> Result<usize, ImportError> {
            match list {
                [t] if *t >= 0 && (*t as usize) < graph.tensors.len() => Ok(*t as usize),
                [t] => Err(ImportError::Model(format!("graph {what} tensor {t} does not exist"))),
                other => Err(ImportError::Model(format!("{} graph {what}s; exactly one is supported", other.len()))),
            }
        };
        let graph_input = single(&graph.inputs, "input")?;
        let graph_output = single(&graph.outputs, "output")?;
        let mut converter = Converter {
            model,
            graph,
            builder: ModelBuilder::new(profile),
            mapped: HashMap::new(),
            input: graph_input,
            output: graph_output,
            edge_ops: Vec::new(),
        };
        converter.find_edges(graph_input, graph_output)?;
        Ok(converter)
    }

    fn op_name(&self, op: &Operator) -> String {
        match self.model.operator_codes.get(op.opcode_index as usize) {
            Some(code) if code.builtin == builtin::CUSTOM => {
                format!("CUSTOM '{}'", code.custom_code.as_deref().unwrap_or(""))
            }
            Some(code) => builtin::name(code.builtin),
            None => format!("opcode index {} (out of range)", op.opcode_index),
        }
    }

    fn builtin_of(&self, op: &Operator) -> Option<i32> {
        self.model.operator_codes.get(op.opcode_index as usize).map(|c| c.builtin)
    }

    /// The one tensor of an operator's input or output list, if it is exactly one valid index.
    fn single_tensor(&self, list: &[i32]) -> Option<usize> {
        match list {
            [t] => usize::try_from(*t).ok().filter(|&t| t < self.graph.tensors.len()),
            _ => None,
        }
    }

    /// Finds QUANTIZE on the float graph input and DEQUANTIZE on the float graph output.
    fn find_edges(&mut self, graph_input: usize, graph_output: usize) -> Result<(), ImportError> {
        let ops = &self.graph.operators;
        if self.graph.tensors[graph_input].dtype == tensor_type::FLOAT32 {
            let readers: Vec<usize> =
                (0..ops.len()).filter(|&i| ops[i].inputs.contains(&(graph_input as i32))).collect();
            match readers.as_slice() {
                [i] if self.builtin_of(&ops[*i]) == Some(builtin::QUANTIZE) && self.single_tensor(&ops[*i].outputs).is_some() => {
                    self.input = self.single_tensor(&ops[*i].outputs).unwrap_or(graph_input);
                    self.edge_ops.push(*i);
                }
                _ => {
                    let reason = format!(
                        "reads the FLOAT32 graph input '{}': float ops are not supported, only full-integer (int8) models import",
                        self.graph.tensors[graph_input].name
                    );
                    return Err(match readers.iter().find(|&&i| self.builtin_of(&ops[i]) != Some(builtin::QUANTIZE)) {
                        Some(&index) => ImportError::Operator { index, op: self.op_name(&ops[index]), reason },
                        None => ImportError::Model(format!("the FLOAT32 graph input is read by several QUANTIZE ops; {reason}")),
                    });
                }
            }
        }
        if self.graph.tensors[graph_output].dtype == tensor_type::FLOAT32 {
            let writer = ops.iter().position(|op| op.outputs.contains(&(graph_output as i32)));
            match writer {
                Some(i) if self.builtin_of(&ops[i]) == Some(builtin::DEQUANTIZE) && self.single_tensor(&ops[i].inputs).is_some() => {
                    self.output = self.single_tensor(&ops[i].inputs).unwrap_or(graph_output);
                    self.edge_ops.push(i);
                }
                Some(index) => {
                    return Err(ImportError::Operator {
                        index,
                        op: self.op_name(&ops[index]),
                        reason: "writes the FLOAT32 graph output: float ops are not supported, only full-integer (int8) models import"
                            .into(),
                    })
                }
                None => return Err(ImportError::Model("the FLOAT32 graph output is written by no operator".into())),
            }
        }
        Ok(())
    }

    fn run(mut self) -> Result<Imported, ImportError> {
        let input_ctx = OpContext { index: None, name: "graph input" };
        let t = &self.graph.tensors[self.input];
        let shape = self.shape(input_ctx, t)?;
        let (scale, zp) = self.activation_quant(input_ctx, t)?;
        let input = self.builder.input(&shape, scale, zp).map_err(|e| core_error(input_ctx, "adding the input", e))?;
        self.mapped.insert(self.input, input);
        let mut converted = Vec::new();
        for (index, op) in self.graph.operators.iter().enumerate() {
            let name = self.op_name(op);
            let ctx = OpContext { index: Some(index), name: &name };
            let core_op = if self.edge_ops.contains(&index) {
                "dropped (float model edge; the imported model reads and writes int8)".to_string()
            } else {
                self.convert_op(ctx, op)?
            };
            converted.push(ConvertedOp { index, tflite_op: name.clone(), core_op });
        }
        let output_ctx = OpContext { index: None, name: "graph output" };
        let output = *self
            .mapped
            .get(&self.output)
            .ok_or_else(|| output_ctx.error("the graph output is not written by any operator"))?;
        self.builder.set_output(output);

        let (_, memory) = self.builder.plan().map_err(|e| ImportError::Core(e.to_string()))?;
        let blob = self.builder.build().map_err(|e| ImportError::Core(e.to_string()))?;
        let input = self.summary(self.input)?;
        let output = self.summary(self.output)?;
        Ok(Imported { blob, memory, ops: converted, input, output })
    }

    fn summary(&self, index: usize) -> Result<TensorSummary, ImportError> {
        let ctx = OpContext { index: None, name: "graph edge" };
        let t = &self.graph.tensors[index];
        let (scale, zero_point) = self.activation_quant(ctx, t)?;
        Ok(TensorSummary { name: t.name.clone(), shape: self.shape(ctx, t)?, scale, zero_point })
    }

    // ---------------------------------------------------------------- tensors

    fn tensor(&self, ctx: OpContext<'_>, index: i32) -> Result<&'m Tensor, ImportError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.graph.tensors.get(i))
            .ok_or_else(|| ctx.error(format!("tensor index {index} does not exist")))
    }

    fn operand(&self, ctx: OpContext<'_>, op: &Operator, slot: usize, what: &str) -> Result<&'m Tensor, ImportError> {
        match op.inputs.get(slot) {
            Some(&t) if t >= 0 => self.tensor(ctx, t),
            _ => Err(ctx.error(format!("missing {what} (input {slot})"))),
        }
    }

    fn optional_operand(&self, ctx: OpContext<'_>, op: &Operator, slot: usize) -> Result<Option<&'m Tensor>, ImportError> {
        match op.inputs.get(slot) {
            Some(&t) if t >= 0 => self.tensor(ctx, t).map(Some),
            _ => Ok(None),
        }
    }

    /// A static shape the core can hold: known (no -1 in `shape_signature`), positive dims,
    /// rank ≤ 4, bounded element count.
    fn shape(&self, ctx: OpContext<'_>, t: &Tensor) -> Result<Vec<usize>, ImportError> {
        if let Some(sig) = &t.shape_signature {
            if sig.iter().any(|&d| d < 0) {
                return Err(ctx.error(format!("tensor '{}' has a dynamic shape {sig:?}; only static shapes are supported", t.name)));
            }
        }
        if t.shape.len() > MAX_CORE_RANK {
            return Err(ctx.error(format!("tensor '{}' has rank {}; the core supports rank ≤ {MAX_CORE_RANK}", t.name, t.shape.len())));
        }
        let mut dims = Vec::with_capacity(t.shape.len());
        let mut elements: usize = 1;
        for &d in &t.shape {
            if d <= 0 {
                return Err(ctx.error(format!("tensor '{}' has shape {:?}; every dimension must be positive", t.name, t.shape)));
            }
            elements = elements.saturating_mul(d as usize);
            dims.push(d as usize);
        }
        if elements > MAX_TENSOR_ELEMENTS {
            return Err(ctx.error(format!("tensor '{}' has shape {:?}: more than {MAX_TENSOR_ELEMENTS} elements", t.name, t.shape)));
        }
        Ok(dims)
    }

    fn data(&self, t: &Tensor) -> &'m [u8] {
        self.model.buffers.get(t.buffer as usize).copied().unwrap_or_default()
    }

    /// Scale and zero point of an int8 activation; other types are the classic reasons a
    /// model does not import.
    fn activation_quant(&self, ctx: OpContext<'_>, t: &Tensor) -> Result<(f32, i32), ImportError> {
        match t.dtype {
            tensor_type::INT8 => {}
            tensor_type::INT16 => {
                return Err(ctx.error(format!("tensor '{}' is INT16: int16 activations (16x8 quantization) are not supported", t.name)))
            }
            tensor_type::FLOAT32 | tensor_type::FLOAT16 => {
                return Err(ctx.error(format!(
                    "tensor '{}' is {}: float ops are not supported, only full-integer (int8) models import",
                    t.name,
                    tensor_type::name(t.dtype)
                )))
            }
            other => return Err(ctx.error(format!("tensor '{}' is {}, expected INT8", t.name, tensor_type::name(other)))),
        }
        let q = t.quantization.as_ref().filter(|q| !q.scale.is_empty()).ok_or_else(|| {
            ctx.error(format!("tensor '{}' has no quantization parameters", t.name))
        })?;
        if q.has_custom_details {
            return Err(ctx.error(format!("tensor '{}' uses custom quantization", t.name)));
        }
        match (q.scale.as_slice(), q.zero_point.as_slice()) {
            ([scale], [zp]) if scale.is_finite() && *scale > 0.0 && (-128..=127).contains(zp) => Ok((*scale, *zp as i32)),
            ([_], [_]) => Err(ctx.error(format!(
                "tensor '{}' has scale {:?} and zero point {:?}: need a positive finite scale and a zero point in [-128, 127]",
                t.name, q.scale, q.zero_point
            ))),
            _ => Err(ctx.error(format!(
                "activation tensor '{}' is quantized per channel ({} scales); activations must be per tensor",
                t.name,
                q.scale.len()
            ))),
        }
    }

    /// An activation the op reads: it must already have been written (or be the input).
    fn read(&self, ctx: OpContext<'_>, op: &Operator, slot: usize) -> Result<(TensorIndex, &'m Tensor), ImportError> {
        let t = self.operand(ctx, op, slot, "input")?;
        match self.mapped.get(&(op.inputs[slot] as usize)) {
            Some(&core) => Ok((core, t)),
            None if !self.data(t).is_empty() => Err(ctx.error(format!(
                "input {slot} is the constant tensor '{}'; only activations are supported here",
                t.name
            ))),
            None => Err(ctx.error(format!("input {slot} ('{}') is read before any operator writes it", t.name))),
        }
    }

    /// The op's single output and the quantization it declares.
    fn output(&self, ctx: OpContext<'_>, op: &Operator) -> Result<(usize, &'m Tensor, OutQuant), ImportError> {
        let index = match op.outputs.as_slice() {
            [t] => *t,
            other => return Err(ctx.error(format!("{} outputs; exactly one is supported", other.len()))),
        };
        let t = self.tensor(ctx, index)?;
        if self.mapped.contains_key(&(index as usize)) {
            return Err(ctx.error(format!("output tensor '{}' is written twice", t.name)));
        }
        if !self.data(t).is_empty() || t.is_variable {
            return Err(ctx.error(format!("output tensor '{}' is a constant or a variable", t.name)));
        }
        self.shape(ctx, t)?;
        let (scale, zero_point) = self.activation_quant(ctx, t)?;
        Ok((index as usize, t, OutQuant::new(scale, zero_point)))
    }

    /// Records the tensor the builder created for the op's output, after checking it has the
    /// shape and quantization the TFLite file declares.
    fn bind(&mut self, ctx: OpContext<'_>, index: usize, result: Result<TensorIndex, exactq_core::Error>) -> Result<String, ImportError> {
        let core = result.map_err(|e| core_error(ctx, "the core builder rejected the op", e))?;
        let declared = self.shape(ctx, &self.graph.tensors[index])?;
        let built: Vec<usize> = self.builder.tensors()[usize::from(core)].shape.iter().map(|&d| d as usize).collect();
        if built != declared {
            return Err(ctx.error(format!(
                "the core computes output shape {built:?} but the file declares {declared:?}"
            )));
        }
        self.mapped.insert(index, core);
        Ok(self.builder.ops().last().map_or("?", |op| op.name()).to_string())
    }

    /// Int8 weights quantized symmetrically, per tensor or per channel along `axis`.
    /// Returns the core tensor and its shape.
    fn weights(&mut self, ctx: OpContext<'_>, t: &Tensor, axis: usize, what: &str) -> Result<(TensorIndex, Vec<usize>), ImportError> {
        if t.dtype != tensor_type::INT8 {
            return Err(ctx.error(format!(
                "{what} '{}' is {}; only int8 weights are supported (hybrid / float models do not import)",
                t.name,
                tensor_type::name(t.dtype)
            )));
        }
        let shape = self.shape(ctx, t)?;
        let bytes = self.data(t);
        let elements: usize = shape.iter().product();
        if bytes.len() != elements {
            return Err(ctx.error(format!(
                "{what} '{}' has {} bytes of data for shape {shape:?} ({elements} elements); it must be a constant",
                t.name,
                bytes.len()
            )));
        }
        if t.is_sparse {
            return Err(ctx.error(format!("{what} '{}' is sparse; sparse weights are not supported", t.name)));
        }
        let q = t.quantization.as_ref().ok_or_else(|| ctx.error(format!("{what} '{}' is not quantized", t.name)))?;
        let channels = shape.get(axis).copied().unwrap_or(0);
        if q.scale.is_empty() || q.scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(ctx.error(format!("{what} '{}' has scales {:?}; need positive finite scales", t.name, q.scale)));
        }
        if q.scale.len() > 1 && (q.scale.len() != channels || q.quantized_dimension as usize != axis) {
            return Err(ctx.error(format!(
                "{what} '{}' has {} scales along dimension {}; expected 1 or {channels} along dimension {axis}",
                t.name,
                q.scale.len(),
                q.quantized_dimension
            )));
        }
        if q.zero_point.iter().any(|&z| z != 0) {
            return Err(ctx.error(format!("{what} '{}' has non-zero zero points; int8 weights must be symmetric", t.name)));
        }
        let values: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
        let quant = match q.scale.as_slice() {
            [scale] => WeightQuant::PerTensor { scale: *scale },
            scales => WeightQuant::PerChannel { axis: axis as u8, scales },
        };
        let core = self.builder.constant_i8(&shape, &values, quant).map_err(|e| core_error(ctx, what, e))?;
        Ok((core, shape))
    }

    /// An int32 bias with one value per output channel (absent: `None`).
    fn bias(&mut self, ctx: OpContext<'_>, t: Option<&Tensor>, channels: usize) -> Result<Option<TensorIndex>, ImportError> {
        let Some(t) = t else { return Ok(None) };
        if t.dtype != tensor_type::INT32 {
            return Err(ctx.error(format!("bias '{}' is {}; int8 models need an INT32 bias", t.name, tensor_type::name(t.dtype))));
        }
        let shape = self.shape(ctx, t)?;
        let bytes = self.data(t);
        if shape.iter().product::<usize>() != channels || bytes.len() != channels * 4 {
            return Err(ctx.error(format!(
                "bias '{}' has shape {shape:?} and {} bytes; expected {channels} int32 constants",
                t.name,
                bytes.len()
            )));
        }
        let values: Vec<i32> = bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let scales = t.quantization.as_ref().map(|q| q.scale.clone()).unwrap_or_default();
        let quant = match scales.as_slice() {
            [] => return Err(ctx.error(format!("bias '{}' is not quantized", t.name))),
            [scale] => WeightQuant::PerTensor { scale: *scale },
            scales => WeightQuant::PerChannel { axis: 0, scales },
        };
        let core = self.builder.constant_i32(&[channels], &values, quant).map_err(|e| core_error(ctx, "bias", e))?;
        Ok(Some(core))
    }

    /// The int32 constant tensor of an op parameter (PAD's paddings, MEAN's axes).
    fn int32_constant(&self, ctx: OpContext<'_>, t: &Tensor, what: &str) -> Result<Vec<i32>, ImportError> {
        let bytes = self.data(t);
        if t.dtype != tensor_type::INT32 || bytes.is_empty() || bytes.len() % 4 != 0 {
            return Err(ctx.error(format!("{what} '{}' must be a constant INT32 tensor", t.name)));
        }
        Ok(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    fn fused(ctx: OpContext<'_>, activation: FusedActivation) -> Result<Activation, ImportError> {
        match activation {
            FusedActivation::None => Ok(Activation::None),
            FusedActivation::Relu => Ok(Activation::Relu),
            FusedActivation::Relu6 => Ok(Activation::Relu6),
            FusedActivation::ReluN1To1 => Ok(Activation::ReluN1To1),
            FusedActivation::Other(v) => Err(ctx.error(format!("fused activation {v} (TANH / SIGN_BIT) is not supported for int8"))),
        }
    }

    // ---------------------------------------------------------------- ops

    fn convert_op(&mut self, ctx: OpContext<'_>, op: &Operator) -> Result<String, ImportError> {
        if op.has_custom_options || !op.intermediates.is_empty() {
            return Err(ctx.error("custom options or intermediate tensors are not supported"));
        }
        let code = self.builtin_of(op).ok_or_else(|| ctx.error("the opcode index is out of range"))?;
        match code {
            builtin::CONV_2D => self.conv2d(ctx, op),
            builtin::DEPTHWISE_CONV_2D => self.depthwise_conv2d(ctx, op),
            builtin::FULLY_CONNECTED => self.fully_connected(ctx, op),
            builtin::ADD | builtin::MUL => self.elementwise(ctx, op, code),
            builtin::AVERAGE_POOL_2D | builtin::MAX_POOL_2D => self.pool(ctx, op, code),
            builtin::MEAN => self.mean(ctx, op),
            builtin::RESHAPE => self.reshape(ctx, op),
            builtin::SOFTMAX => self.softmax(ctx, op),
            builtin::RELU | builtin::RELU6 => self.relu(ctx, op, code),
            builtin::PAD => self.pad(ctx, op),
            builtin::QUANTIZE => self.requantize(ctx, op),
            builtin::DEQUANTIZE => Err(ctx.error("DEQUANTIZE is supported only on the graph output (int8 → float edge)")),
            builtin::CUSTOM => Err(ctx.error("custom operators are not supported")),
            _ => Err(ctx.error(
                "operator not supported (supported: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, MUL, AVERAGE_POOL_2D, \
                 MAX_POOL_2D, MEAN, RESHAPE, SOFTMAX, RELU, RELU6, PAD, QUANTIZE/DEQUANTIZE)",
            )),
        }
    }

    /// Strides, dilations and TFLite padding as a core window for a `kh × kw` filter over `input`.
    fn window(
        &self,
        ctx: OpContext<'_>,
        input: TensorIndex,
        (kh, kw): (usize, usize),
        padding: tflite::Padding,
        strides: (i32, i32),
        dilations: (i32, i32),
    ) -> Result<Window, ImportError> {
        let positive = |v: i32, what: &str| {
            u16::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| ctx.error(format!("{what} {v} must be in [1, 65535]")))
        };
        let window = Window {
            stride_h: positive(strides.0, "stride_h")?,
            stride_w: positive(strides.1, "stride_w")?,
            dilation_h: positive(dilations.0, "dilation_h")?,
            dilation_w: positive(dilations.1, "dilation_w")?,
            padding: Padding::NONE,
        };
        match padding {
            tflite::Padding::Valid => Ok(window),
            tflite::Padding::Same => {
                self.builder.same_padding(input, kh, kw, window).map_err(|e| core_error(ctx, "SAME padding", e))
            }
        }
    }

    fn conv2d(&mut self, ctx: OpContext<'_>, op: &Operator) -> Result<String, ImportError> {
        let BuiltinOptions::Conv2D(o) = &op.options else {
            return Err(ctx.error("missing Conv2DOptions"));
        };
        if o.quantized_bias_type != 0 && o.quantized_bias_type != tensor_type::INT32 {
            return Err(ctx.error(format!("quantized_bias_type {} is not supported (int32 only)", tensor_type::name(o.quantized_bias_type))));
        }
        let (input, _) = self.read(ctx, op, 0)?;
        let filter_t = self.operand(ctx, op, 1, "filter")?;
        let bias_t = self.optional_operand(ctx, op, 2)?;
        let (out_index, _, out) = self.output(ctx, op)?;
        let (filter, filter_shape) = self.weights(ctx, filter_t, 0, "filter")?;
        let [channels, kh, kw, _] = filter_shape[..] else {
            return Err(ctx.error(format!("filter shape {filter_shape:?} is not [out_c, kh, kw, in_c]")));
        };
        let bias = self.bias(ctx, bias_t, channels)?;
        let window = self.window(ctx, input, (kh, kw), o.padding, (o.stride_h, o.stride_w), (o.dilation_h, o.dilation_w))?;
        let activation = Self::fused(ctx, o.activation)?;
        let built = self.builder.conv2d(input, filter, bias, window, activation, out);
        self.bind(ctx, out_index, built)
    }

    fn depthwise_conv2d(&mut self, ctx: OpContext<'_>, op: &Operator) -> Result<String, ImportError> {
        let BuiltinOptions::DepthwiseConv2D(o) = &op.options else {
            return Err(ctx.error("missing DepthwiseConv2DOptions"));
        };
        let (input, in_t) = self.read(ctx, op, 0)?;
        let filter_t = self.operand(ctx, op, 1, "filter")?;
        let bias_t = self.optional_operand(ctx, op, 2)?;
        let (out_index, _, out) = self.output(ctx, op)?;
        let (filter, filter_shape) = self.weights(ctx, filter_t, 3, "filter")?;
        let [1, kh, kw, out_channels] = filter_shape[..] else {
            return Err(ctx.error(format!("filter shape {filter_shape:?} is not [1, kh, kw, out_c]")));
        };
        let in_channels = self.shape(ctx, in_t)?.last().copied().unwrap_or(0);
        // TFLM derives the multiplier from the shapes (the option is stale in some files).
        if in_channels == 0 || out_channels % in_channels != 0 {
            return Err(ctx.error(format!("{out_channels} output channels are not a multiple of {in_channels} input channels")));
        }
        let depth_multiplier = u16::try_from(out_channels / in_channels)
            .map_err(|_| ctx.error(format!("depth multiplier {} is too large", out_channels / in_channels)))?;
        let bias = self.bias(ctx, bias_t, out_channels)?;
        let window = self.window(ctx, input, (kh, kw), o.padding, (o.stride_h, o.stride_w), (o.dilation_h, o.dilation_w))?;
        let activation = Self::fused(ctx, o.activation)?;
        let built = self.builder.depthwise_conv2d(input, filter, bias, depth_multiplier, window, activation, out);
        self.bind(ctx, out_index, built)
    }

    fn fully_connected(&mut self, ctx: OpContext<'_>, op: &Operator) -> Result<String, ImportError> {
        let fused = match &op.options {
            BuiltinOptions::FullyConnected(o) => {
                if o.weights_format != 0 {
                    return Err(ctx.error("shuffled weights (SHUFFLED4x16INT8) are not supported"));
                }
                if o.quantized_bias_type != 0 && o.quantized_bias_type != tensor_type::INT32 {
                    return Err(ctx.error(format!("quantized_bias_type {} is not supported (int32 only)", tensor_type::name(o.quantized_bias_type))));
                }
                o.activation
            }
            BuiltinOptions::None => FusedActivation::None,
            other => return Err(ctx.error(format!("unexpected options {other:?}"))),
        };
        let (input, _) = self.read(ctx, op, 0)?;
        let weights_t = self.operand(ctx, op, 1, "weights")?;
        let bias_t = self.optional_operand(ctx, op, 2)?;
        let (out_index, _, out) = self.output(ctx, op)?;
        let (weights, weights_shape) = self.weights(ctx, weights_t, 0, "weights")?;
        let [out_features, _] = weights_shape[..] else {
            return Err(ctx.error(format!("weights shape {weights_shape:?} is not [out, in]")));
        };
        let bias = self.bias(ctx, bias_t, out_features)?;
        let activation = Self::fused(ctx, fused)?;
        // Per-tensor weights: the builder forms s_in · s_w in f32 first, as TFLM does.
        let built = self.builder.fully_connected(input, weights, bias, activation, out);
        self.bind(ctx, out_index, built)
    }

    fn elementwise(&mut self, ctx: OpContext<'_>, op: &Operator, code: i32) -> Result<String, ImportError> {
        let fused = match op.options {
            BuiltinOptions::Add { activation } | BuiltinOptions::Mul { activation } => activation,
            BuiltinOptions::None => FusedActivation::None,
            ref other => return Err(ctx.error(format!("unexpected options {other:?}"))),
        };
        let (input1, a) = self.read(ctx, op, 0)?;
        let (input2, b) = self.read(ctx, op, 1)?;
        let (out_index, out_t, out) = self.output(ctx, op)?;
        if a.shape != b.shape || a.shape != out_t.shape {
            return Err(ctx.error(format!(
                "input shapes {:?} and {:?} → {:?}: broadcasting is not supported, shapes must be equal",
                a.shape, b.shape, out_t.shape
            )));
        }
        let activation = Self::fused(ctx, fused)?;
        let built = if code == builtin::ADD {
            self.builder.add(input1, input2, activation, out)
        } else {
            self.builder.mul(input1, input2, activation, out)
        };
        self.bind(ctx, out_index, built)
    }

    /// Pooling, RESHAPE and PAD copy int8 values without rescaling, so TFLM gives the output the
    /// input's quantization; a file that says otherwise would not mean what TFLM computes.
    fn same_quantization(&self, ctx: OpContext<'_>, a: &Tensor, b: &Tensor) -> Result<(), ImportError> {
        let qa = self.activation_quant(ctx, a)?;
        let qb = self.activation_quant(ctx, b)?;
        if qa.0.to_bits() != qb.0.to_bits() || qa.1 != qb.1 {
            return Err(ctx.error(format!(
                "input quantization {qa:?} differs from output quantization {qb:?}; this op does not rescale"
            )));
        }
        Ok(())
    }

    fn pool(&mut self, ctx: OpContext<'_>, op: &Operator, code: i32) -> Result<String, ImportError> {
        let BuiltinOptions::Pool2D(o) = &op.options else {
            return Err(ctx.error("missing Pool2DOptions"));
        };
        let filter = |v: i32, what: &str| {
            u16::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| ctx.error(format!("{what} {v} must be in [1, 65535]")))
        };
        let (filter_h, filter_w) = (filter(o.filter_height, "filter_height")?, filter(o.filter_width, "filter_width")?);
        let (input, in_t) = self.read(ctx, op, 0)?;
        let (out_index, out_t, _) = self.output(ctx, op)?;
        self.same_quantization(ctx, in_t, out_t)?;
        let window =
            self.window(ctx, input, (filter_h.into(), filter_w.into()), o.padding, (o.stride_h, o.stride_w), (1, 1))?;
        let activation = Self::fused(ctx, o.activation)?;
        let built = if code == builtin::AVERAGE_POOL_2D {
            self.builder.average_pool2d(input, filter_h, filter_w, window, activation)
        } else {
            self.builder.max_pool2d(input, filter_h, filter_w, window, activation)
        };
        self.bind(ctx, out_index, built)
    }

    fn mean(&mut self, ctx: OpContext<'_>, op: &Operator) -> Result<String, ImportError> {
        let keep_dims = match op.options {
            BuiltinOptions::Reducer { keep_dims } => keep_dims,
            BuiltinOptions::None => false,
            ref other => return Err(ctx.error(format!("unexpected options {other:?}"))),
        };
        let (input, in_t) = self.read(ctx, op, 0)?;
        let axes_t = self.operand(ctx, op, 1, "axes")?;
        let mut axes = self.int32_constant(ctx, axes_t, "axes")?;
        let rank = in_t.shape.len() as i32;
        for a in axes.iter_mut() {
            if *a < 0 {
                *a += rank;
            }
        }
        axes.sort_unstable();
        axes.dedup();
        if rank != 4 || axes != [1, 2] {
            return Err(ctx.error(format!(
                "MEAN over axes {axes:?} of a rank-{rank} tensor; only the mean over height and width of NHWC is supported"
            )));
        }
        let (out_index, _, out) = self.output(ctx, op)?;
        let built =
            if keep_dims { self.builder.mean_keep_dims(input, out) } else { self.builder.global_average_pool(input, out) };
        self.bind(ctx, out_index, built)
    }

    fn reshape(&mut self, ctx: OpContext<'_>, op: &Operator) -> Result<String, ImportError> {
        let (input, in_t) = self.read(ctx, op, 0)?;
        let (out_index, out_t, _) = self.output(ctx, op)?;
        self.same_quantization(ctx, in_t, out_t)?;
        let (from, to) = (self.shape(ctx, in_t)?, self.shape(ctx, out_t)?);
        if from.iter().product::<usize>() != to.iter().product::<usize>() {
            return Err(ctx.error(format!("reshape {from:?} → {to:?} changes the element count")));
        }
        let built = self.builder.reshape(input, &to);
        self.bind(ctx, out_index, built)
    }

    fn softmax(&mut self, ctx: OpContext<'_>, op: &Operator) -> Result<String, ImportError> {
        let BuiltinOptions::Softmax { beta } = op.options else {
            return Err(ctx.error("missing SoftmaxOptions"));
        };
        let (input, _) = self.read(ctx, op, 0)?;
        let (out_index, _, out) = self.output(ctx, op)?;
        if out.scale != 1.0 / 256.0 || out.zero_point != -128 {
            return Err(ctx.error(format!(
                "int8 SOFTMAX output must be quantized as (1/256, -128), found ({}, {})",
                out.scale, out.zero_point
            )));
        }
        let built = self.builder.softmax(input, beta);
        self.bind(ctx, out_index, built)
    }

    fn requantize(&mut self, ctx: OpContext<'_>, op: &Operator) -> Result<String, ImportError> {
        let in_t = self.operand(ctx, op, 0, "input")?;
        if in_t.dtype != tensor_type::INT8 {
            return Err(ctx.error(format!(
                "QUANTIZE from {} is supported only on the graph input (float → int8 edge)",
                tensor_type::name(in_t.dtype)
            )));
        }
        let (input, _) = self.read(ctx, op, 0)?;
        let (out_index, _, out) = self.output(ctx, op)?;
        let built = self.builder.requantize(input, out);
        self.bind(ctx, out_index, built)
    }

    fn relu(&mut self, ctx: OpContext<'_>, op: &Operator, code: i32) -> Result<String, ImportError> {
        let (input, _) = self.read(ctx, op, 0)?;
        let (out_index, _, out) = self.output(ctx, op)?;
        // RELU rescales into the output quantization; RELU6 clamps in the input's units only,
        // exactly as TFLM (`Relu6Prepare` never reads the output's quantization).
        let built = if code == builtin::RELU { self.builder.relu(input, out) } else { self.builder.relu6(input, out) };
        self.bind(ctx, out_index, built)
    }

    fn pad(&mut self, ctx: OpContext<'_>, op: &Operator) -> Result<String, ImportError> {
        if op.inputs.len() > 2 {
            return Err(ctx.error("PAD with an explicit constant value (PADV2-style third input) is not supported"));
        }
        let (input, in_t) = self.read(ctx, op, 0)?;
        let paddings_t = self.operand(ctx, op, 1, "paddings")?;
        let paddings = self.int32_constant(ctx, paddings_t, "paddings")?;
        let (out_index, out_t, _) = self.output(ctx, op)?;
        self.same_quantization(ctx, in_t, out_t)?;
        if in_t.shape.len() != 4 || paddings.len() != 8 {
            return Err(ctx.error(format!(
                "PAD of a rank-{} tensor with {} padding values; only 4-D tensors are supported",
                in_t.shape.len(),
                paddings.len()
            )));
        }
        let (mut before, mut after) = ([0u16; 4], [0u16; 4]);
        for d in 0..4 {
            let side = |v: i32| u16::try_from(v).map_err(|_| ctx.error(format!("padding {v} must be in [0, 65535]")));
            before[d] = side(paddings[2 * d])?;
            after[d] = side(paddings[2 * d + 1])?;
        }
        // TFLM pads int8 with the output zero point, which equals the input's (checked above).
        let built = self.builder.pad(input, before, after);
        self.bind(ctx, out_index, built)
    }
}
