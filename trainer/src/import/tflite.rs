//! The TFLite model schema (`tensorflow/lite/schema/schema.fbs`, file identifier `TFL3`),
//! decoded from a [`flatbuffer`](super::flatbuffer) into plain Rust values.
//!
//! Only what an int8 inference graph needs is decoded; everything else is skipped. Slot
//! numbers are the fields' declaration order in the schema; a union field takes two slots
//! (its `_type` byte, then the offset to its table).

use std::ops::Range;

use super::flatbuffer::{Budget, Buffer, FlatbufferError, Table};

/// The largest counts the importer accepts. Real microcontroller models are far below these;
/// they bound what a hostile file can make the importer allocate.
pub const MAX_TENSORS: usize = 1 << 16;
pub const MAX_OPERATORS: usize = 1 << 16;
pub const MAX_BUFFERS: usize = 1 << 17;
pub const MAX_RANK: usize = 8;
pub const MAX_OPERATOR_IO: usize = 64;
/// Decoding may touch at most this many elements per file byte (see [`Budget`]).
const BUDGET_PER_BYTE: u64 = 8;

#[derive(Debug, thiserror::Error)]
pub enum TfliteError {
    #[error(transparent)]
    Malformed(#[from] FlatbufferError),
    #[error("not a TFLite model: {0}")]
    NotTflite(String),
    #[error("{what}: {count} entries, more than the {limit} the importer accepts")]
    TooMany { what: String, count: usize, limit: usize },
}

pub type Result<T> = std::result::Result<T, TfliteError>;

/// `TensorType` values used by the importer.
pub mod tensor_type {
    pub const FLOAT32: i8 = 0;
    pub const FLOAT16: i8 = 1;
    pub const INT32: i8 = 2;
    pub const UINT8: i8 = 3;
    pub const INT64: i8 = 4;
    pub const INT16: i8 = 7;
    pub const INT8: i8 = 9;

    /// The schema's name for a tensor type, for messages.
    pub fn name(t: i8) -> String {
        const NAMES: [&str; 18] = [
            "FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16", "COMPLEX64", "INT8",
            "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE", "VARIANT", "UINT32", "UINT16", "INT4",
        ];
        usize::try_from(t).ok().and_then(|i| NAMES.get(i)).map_or_else(|| format!("type {t}"), |n| n.to_string())
    }
}

/// `BuiltinOperator` codes of the supported ops (and a few names for messages).
pub mod builtin {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RELU: i32 = 19;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const SOFTMAX: i32 = 25;
    pub const CUSTOM: i32 = 32;
    pub const PAD: i32 = 34;
    pub const MEAN: i32 = 40;
    pub const QUANTIZE: i32 = 114;

    /// The schema's name for an operator code, for messages.
    pub fn name(code: i32) -> String {
        let known = [
            (0, "ADD"), (1, "AVERAGE_POOL_2D"), (2, "CONCATENATION"), (3, "CONV_2D"), (4, "DEPTHWISE_CONV_2D"),
            (5, "DEPTH_TO_SPACE"), (6, "DEQUANTIZE"), (8, "FLOOR"), (9, "FULLY_CONNECTED"),
            (11, "L2_NORMALIZATION"), (12, "L2_POOL_2D"), (14, "LOGISTIC"), (16, "LSTM"), (17, "MAX_POOL_2D"),
            (18, "MUL"), (19, "RELU"), (20, "RELU_N1_TO_1"), (21, "RELU6"), (22, "RESHAPE"),
            (23, "RESIZE_BILINEAR"), (25, "SOFTMAX"), (26, "SPACE_TO_DEPTH"), (27, "SVDF"), (28, "TANH"),
            (32, "CUSTOM"), (34, "PAD"), (37, "BATCH_TO_SPACE_ND"), (38, "SPACE_TO_BATCH_ND"), (39, "TRANSPOSE"),
            (40, "MEAN"), (41, "SUB"), (42, "DIV"), (43, "SQUEEZE"), (44, "UNIDIRECTIONAL_SEQUENCE_LSTM"),
            (45, "STRIDED_SLICE"), (47, "EXP"), (49, "SPLIT"), (50, "LOG_SOFTMAX"), (53, "CAST"), (54, "PRELU"),
            (55, "MAXIMUM"), (56, "ARG_MAX"), (57, "MINIMUM"), (60, "PADV2"), (65, "SLICE"),
            (67, "TRANSPOSE_CONV"), (70, "EXPAND_DIMS"), (74, "SUM"), (82, "REDUCE_MAX"), (83, "PACK"),
            (88, "UNPACK"), (97, "RESIZE_NEAREST_NEIGHBOR"), (98, "LEAKY_RELU"), (100, "MIRROR_PAD"),
            (114, "QUANTIZE"), (117, "HARD_SWISH"), (126, "BATCH_MATMUL"), (150, "GELU"),
        ];
        known.iter().find(|(c, _)| *c == code).map_or_else(|| format!("builtin operator {code}"), |(_, n)| n.to_string())
    }
}

/// `BuiltinOptions` union tags of the options tables the importer reads.
mod options_tag {
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const ADD: u8 = 11;
    pub const RESHAPE: u8 = 17;
    pub const MUL: u8 = 21;
    pub const REDUCER: u8 = 27;
}

/// `Padding` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
}

/// `ActivationFunctionType` enum; anything but these three is kept as its raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FusedActivation {
    None,
    Relu,
    ReluN1To1,
    Relu6,
    Other(i8),
}

impl FusedActivation {
    fn from_raw(v: i8) -> Self {
        match v {
            0 => FusedActivation::None,
            1 => FusedActivation::Relu,
            2 => FusedActivation::ReluN1To1,
            3 => FusedActivation::Relu6,
            other => FusedActivation::Other(other),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conv2DOptions {
    pub padding: Padding,
    pub stride_w: i32,
    pub stride_h: i32,
    pub activation: FusedActivation,
    pub dilation_w: i32,
    pub dilation_h: i32,
    /// `quantized_bias_type` (0 when unset: int32 bias for int8).
    pub quantized_bias_type: i8,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DepthwiseConv2DOptions {
    pub padding: Padding,
    pub stride_w: i32,
    pub stride_h: i32,
    pub depth_multiplier: i32,
    pub activation: FusedActivation,
    pub dilation_w: i32,
    pub dilation_h: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pool2DOptions {
    pub padding: Padding,
    pub stride_w: i32,
    pub stride_h: i32,
    pub filter_width: i32,
    pub filter_height: i32,
    pub activation: FusedActivation,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FullyConnectedOptions {
    pub activation: FusedActivation,
    /// 0 = DEFAULT, 1 = SHUFFLED4x16INT8.
    pub weights_format: i8,
    pub keep_num_dims: bool,
    pub asymmetric_quantize_inputs: bool,
    pub quantized_bias_type: i8,
}

/// The decoded `builtin_options` of an operator. Options of ops the importer does not
/// convert are kept only as their union tag.
#[derive(Debug, Clone, PartialEq)]
pub enum BuiltinOptions {
    None,
    Conv2D(Conv2DOptions),
    DepthwiseConv2D(DepthwiseConv2DOptions),
    Pool2D(Pool2DOptions),
    FullyConnected(FullyConnectedOptions),
    Softmax { beta: f32 },
    Add { activation: FusedActivation },
    Mul { activation: FusedActivation },
    Reshape { new_shape: Option<Vec<i32>> },
    Reducer { keep_dims: bool },
    Other(u8),
}

/// `QuantizationParameters`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quantization {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: i32,
    /// A `details` union (custom quantization) is present: scale/zero_point do not apply.
    pub has_custom_details: bool,
}

/// `Tensor`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<i32>,
    pub shape_signature: Option<Vec<i32>>,
    pub dtype: i8,
    pub buffer: u32,
    pub quantization: Option<Quantization>,
    pub is_variable: bool,
    pub is_sparse: bool,
}

/// `Operator`.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub opcode_index: u32,
    /// Tensor indices; -1 marks an omitted optional input.
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: BuiltinOptions,
    pub has_custom_options: bool,
    pub intermediates: Vec<i32>,
}

/// `OperatorCode`, with the builtin code already resolved from its two fields.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorCode {
    pub builtin: i32,
    pub custom_code: Option<String>,
    pub version: i32,
}

/// `SubGraph`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubGraph {
    pub name: String,
    pub tensors: Vec<Tensor>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub operators: Vec<Operator>,
}

/// `Model`, borrowing the constant data from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Model<'a> {
    pub version: u32,
    pub description: Option<String>,
    pub operator_codes: Vec<OperatorCode>,
    pub subgraphs: Vec<SubGraph>,
    /// The raw bytes of each `Buffer` (empty when it has no data).
    pub buffers: Vec<&'a [u8]>,
}

impl<'a> Model<'a> {
    /// Decodes a `.tflite` file. Every structural problem is an error; nothing panics.
    pub fn parse(file: &'a [u8]) -> Result<Self> {
        if file.len() < 8 {
            return Err(TfliteError::NotTflite(format!("{} bytes is too short for a flatbuffer", file.len())));
        }
        let budget = Budget::for_file(file.len(), BUDGET_PER_BYTE);
        let buf = Buffer::new(file, &budget);
        match buf.identifier() {
            Some(id) if &id == b"TFL3" => {}
            Some(id) => {
                return Err(TfliteError::NotTflite(format!("file identifier is {:?}, expected \"TFL3\"", String::from_utf8_lossy(&id))))
            }
            None => return Err(TfliteError::NotTflite("no file identifier".into())),
        }
        let root = buf.root()?;
        // Model: version 0, operator_codes 1, subgraphs 2, description 3, buffers 4.
        let version = root.u32(0, 0)?;
        let operator_codes = list(&root, 1, "operator_codes", MAX_OPERATORS, read_operator_code)?;
        let subgraphs = list(&root, 2, "subgraphs", 1 << 10, read_subgraph)?;
        let description = root.string(3)?;
        let buffers = list(&root, 4, "buffers", MAX_BUFFERS, |t| read_buffer(t, file.len()))?
            .into_iter()
            // The ranges were checked against the file when they were read.
            .map(|range| file.get(range).unwrap_or_default())
            .collect();
        Ok(Model { version, description, operator_codes, subgraphs, buffers })
    }
}

/// Decodes the vector of tables in `slot` (absent = empty), refusing more than `limit`.
fn list<'a, T>(
    table: &Table<'a>,
    slot: usize,
    what: &str,
    limit: usize,
    read: impl Fn(&Table<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let Some(v) = table.vector(slot, 4)? else { return Ok(Vec::new()) };
    if v.len() > limit {
        return Err(TfliteError::TooMany { what: what.to_string(), count: v.len(), limit });
    }
    (0..v.len()).map(|i| read(&v.table(i)?)).collect()
}

fn i32_list(table: &Table<'_>, slot: usize, what: &str, limit: usize) -> Result<Vec<i32>> {
    let Some(v) = table.vector(slot, 4)? else { return Ok(Vec::new()) };
    if v.len() > limit {
        return Err(TfliteError::TooMany { what: what.to_string(), count: v.len(), limit });
    }
    Ok(v.to_i32s()?)
}

fn read_operator_code(t: &Table<'_>) -> Result<OperatorCode> {
    // OperatorCode: deprecated_builtin_code 0 (byte), custom_code 1, version 2, builtin_code 3.
    let deprecated = t.i8(0, 0)? as i32;
    let extended = t.i32(3, 0)?;
    // Old files fill only the byte field; newer ones fill both, and codes above 127 exist only
    // in the extended field. TFLite resolves the two by taking the larger value.
    let builtin = deprecated.max(extended);
    Ok(OperatorCode { builtin, custom_code: t.string(1)?, version: t.i32(2, 1)? })
}

/// Where a `Buffer`'s data lies in the file (an empty range when it has none).
fn read_buffer(t: &Table<'_>, file_len: usize) -> Result<Range<usize>> {
    // Buffer: data 0, offset 1, size 2 (offset/size: data stored after the flatbuffer, > 2 GB models).
    if let Some(v) = t.vector(0, 1)? {
        if !v.is_empty() {
            return Ok(v.byte_range());
        }
    }
    let offset = t.u64(1, 0)?;
    let size = t.u64(2, 0)?;
    if offset > 1 {
        let range = usize::try_from(offset).ok().and_then(|o| Some(o..o.checked_add(usize::try_from(size).ok()?)?));
        return match range.filter(|r| r.end <= file_len) {
            Some(range) => Ok(range),
            None => Err(FlatbufferError {
                offset: t.position(),
                reason: format!("buffer data at file offset {offset} (+{size} bytes) lies outside the file"),
            }
            .into()),
        };
    }
    Ok(0..0)
}

fn read_subgraph(t: &Table<'_>) -> Result<SubGraph> {
    // SubGraph: tensors 0, inputs 1, outputs 2, operators 3, name 4.
    Ok(SubGraph {
        tensors: list(t, 0, "tensors", MAX_TENSORS, read_tensor)?,
        inputs: i32_list(t, 1, "subgraph inputs", MAX_TENSORS)?,
        outputs: i32_list(t, 2, "subgraph outputs", MAX_TENSORS)?,
        operators: list(t, 3, "operators", MAX_OPERATORS, read_operator)?,
        name: t.string(4)?.unwrap_or_default(),
    })
}

fn read_tensor(t: &Table<'_>) -> Result<Tensor> {
    // Tensor: shape 0, type 1, buffer 2, name 3, quantization 4, is_variable 5, sparsity 6,
    // shape_signature 7.
    let shape = i32_list(t, 0, "tensor rank", MAX_RANK)?;
    let shape_signature = match t.vector(7, 4)? {
        Some(_) => Some(i32_list(t, 7, "tensor shape_signature rank", MAX_RANK)?),
        None => None,
    };
    Ok(Tensor {
        shape,
        shape_signature,
        dtype: t.i8(1, 0)?,
        buffer: t.u32(2, 0)?,
        name: t.string(3)?.unwrap_or_default(),
        quantization: t.table(4)?.map(|q| read_quantization(&q)).transpose()?,
        is_variable: t.bool(5, false)?,
        is_sparse: t.table(6)?.is_some(),
    })
}

fn read_quantization(t: &Table<'_>) -> Result<Quantization> {
    // QuantizationParameters: min 0, max 1, scale 2, zero_point 3, details_type 4, details 5,
    // quantized_dimension 6.
    let scale = match t.vector(2, 4)? {
        Some(v) => v.to_f32s()?,
        None => Vec::new(),
    };
    let zero_point = match t.vector(3, 8)? {
        Some(v) => v.to_i64s()?,
        None => Vec::new(),
    };
    Ok(Quantization {
        scale,
        zero_point,
        has_custom_details: t.u8(4, 0)? != 0,
        quantized_dimension: t.i32(6, 0)?,
    })
}

fn read_operator(t: &Table<'_>) -> Result<Operator> {
    // Operator: opcode_index 0, inputs 1, outputs 2, builtin_options_type 3, builtin_options 4,
    // custom_options 5, custom_options_format 6, mutating_variable_inputs 7, intermediates 8.
    let tag = t.u8(3, 0)?;
    let options = match t.table(4)? {
        Some(o) => read_options(tag, &o)?,
        None if tag == 0 => BuiltinOptions::None,
        // A tag without its table: the op's options all take their schema defaults.
        None => BuiltinOptions::Other(tag),
    };
    Ok(Operator {
        opcode_index: t.u32(0, 0)?,
        inputs: i32_list(t, 1, "operator inputs", MAX_OPERATOR_IO)?,
        outputs: i32_list(t, 2, "operator outputs", MAX_OPERATOR_IO)?,
        options,
        has_custom_options: t.vector(5, 1)?.is_some_and(|v| !v.is_empty()),
        intermediates: i32_list(t, 8, "operator intermediates", MAX_OPERATOR_IO)?,
    })
}

fn padding(t: &Table<'_>, slot: usize) -> Result<Padding> {
    // Padding: SAME = 0, VALID = 1. Other values are kept as VALID-incompatible errors later.
    match t.i8(slot, 0)? {
        0 => Ok(Padding::Same),
        1 => Ok(Padding::Valid),
        other => Err(FlatbufferError { offset: t.position(), reason: format!("padding value {other} is neither SAME (0) nor VALID (1)") }.into()),
    }
}

fn activation(t: &Table<'_>, slot: usize) -> Result<FusedActivation> {
    Ok(FusedActivation::from_raw(t.i8(slot, 0)?))
}

fn read_options(tag: u8, t: &Table<'_>) -> Result<BuiltinOptions> {
    Ok(match tag {
        // Conv2DOptions: padding 0, stride_w 1, stride_h 2, fused_activation_function 3,
        // dilation_w_factor 4, dilation_h_factor 5, quantized_bias_type 6.
        options_tag::CONV_2D => BuiltinOptions::Conv2D(Conv2DOptions {
            padding: padding(t, 0)?,
            stride_w: t.i32(1, 0)?,
            stride_h: t.i32(2, 0)?,
            activation: activation(t, 3)?,
            dilation_w: t.i32(4, 1)?,
            dilation_h: t.i32(5, 1)?,
            quantized_bias_type: t.i8(6, 0)?,
        }),
        // DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2, depth_multiplier 3,
        // fused_activation_function 4, dilation_w_factor 5, dilation_h_factor 6.
        options_tag::DEPTHWISE_CONV_2D => BuiltinOptions::DepthwiseConv2D(DepthwiseConv2DOptions {
            padding: padding(t, 0)?,
            stride_w: t.i32(1, 0)?,
            stride_h: t.i32(2, 0)?,
            depth_multiplier: t.i32(3, 0)?,
            activation: activation(t, 4)?,
            dilation_w: t.i32(5, 1)?,
            dilation_h: t.i32(6, 1)?,
        }),
        // Pool2DOptions: padding 0, stride_w 1, stride_h 2, filter_width 3, filter_height 4,
        // fused_activation_function 5.
        options_tag::POOL_2D => BuiltinOptions::Pool2D(Pool2DOptions {
            padding: padding(t, 0)?,
            stride_w: t.i32(1, 0)?,
            stride_h: t.i32(2, 0)?,
            filter_width: t.i32(3, 0)?,
            filter_height: t.i32(4, 0)?,
            activation: activation(t, 5)?,
        }),
        // FullyConnectedOptions: fused_activation_function 0, weights_format 1, keep_num_dims 2,
        // asymmetric_quantize_inputs 3, quantized_bias_type 4.
        options_tag::FULLY_CONNECTED => BuiltinOptions::FullyConnected(FullyConnectedOptions {
            activation: activation(t, 0)?,
            weights_format: t.i8(1, 0)?,
            keep_num_dims: t.bool(2, false)?,
            asymmetric_quantize_inputs: t.bool(3, false)?,
            quantized_bias_type: t.i8(4, 0)?,
        }),
        // SoftmaxOptions: beta 0.
        options_tag::SOFTMAX => BuiltinOptions::Softmax { beta: t.f32(0, 0.0)? },
        // AddOptions: fused_activation_function 0, pot_scale_int16 1.
        options_tag::ADD => BuiltinOptions::Add { activation: activation(t, 0)? },
        // MulOptions: fused_activation_function 0.
        options_tag::MUL => BuiltinOptions::Mul { activation: activation(t, 0)? },
        // ReshapeOptions: new_shape 0.
        options_tag::RESHAPE => BuiltinOptions::Reshape {
            new_shape: match t.vector(0, 4)? {
                Some(_) => Some(i32_list(t, 0, "reshape new_shape rank", MAX_RANK)?),
                None => None,
            },
        },
        // ReducerOptions: keep_dims 0.
        options_tag::REDUCER => BuiltinOptions::Reducer { keep_dims: t.bool(0, false)? },
        other => BuiltinOptions::Other(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tflite").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn decodes_a_converter_model() {
        let file = fixture("separable_net_0.tflite");
        let model = Model::parse(&file).unwrap();
        assert_eq!(model.version, 3);
        assert_eq!(model.subgraphs.len(), 1);
        let graph = &model.subgraphs[0];
        let ops: Vec<String> =
            graph.operators.iter().map(|op| builtin::name(model.operator_codes[op.opcode_index as usize].builtin)).collect();
        assert_eq!(ops, ["DEPTHWISE_CONV_2D", "CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED"]);

        let input = &graph.tensors[graph.inputs[0] as usize];
        assert_eq!(input.shape, [1, 11, 11, 5]);
        assert_eq!(input.dtype, tensor_type::INT8);
        let q = input.quantization.as_ref().unwrap();
        assert_eq!((q.scale.len(), q.zero_point.as_slice()), (1, &[-1i64][..]));

        let dw = &graph.operators[0];
        let BuiltinOptions::DepthwiseConv2D(o) = &dw.options else { panic!("{:?}", dw.options) };
        assert_eq!((o.padding, o.stride_w, o.stride_h, o.depth_multiplier), (Padding::Same, 2, 2, 1));
        assert_eq!(o.activation, FusedActivation::Relu6);
        // Depthwise filter [1, 3, 3, 5], quantized per channel along dimension 3.
        let filter = &graph.tensors[dw.inputs[1] as usize];
        assert_eq!(filter.shape, [1, 3, 3, 5]);
        let fq = filter.quantization.as_ref().unwrap();
        assert_eq!((fq.scale.len(), fq.quantized_dimension), (5, 3));
        assert_eq!(model.buffers[filter.buffer as usize].len(), 45);
        let bias = &graph.tensors[dw.inputs[2] as usize];
        assert_eq!((bias.dtype, model.buffers[bias.buffer as usize].len()), (tensor_type::INT32, 20));
    }

    #[test]
    fn decodes_every_fixture() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tflite");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "tflite") {
                let file = std::fs::read(&path).unwrap();
                let model = Model::parse(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let graph = &model.subgraphs[0];
                assert!(!graph.operators.is_empty() && graph.inputs.len() == 1 && graph.outputs.len() == 1);
                for op in &graph.operators {
                    assert!((op.opcode_index as usize) < model.operator_codes.len());
                }
                seen += 1;
            }
        }
        assert!(seen >= 40, "only {seen} fixtures found in {}", dir.display());
    }

    #[test]
    fn rejects_other_files() {
        assert!(matches!(Model::parse(b"short"), Err(TfliteError::NotTflite(_))));
        let mut file = fixture("softmax_0.tflite");
        file[4..8].copy_from_slice(b"ONNX");
        assert!(matches!(Model::parse(&file), Err(TfliteError::NotTflite(_))));
    }

    #[test]
    fn deprecated_and_extended_builtin_codes_resolve_to_the_larger() {
        // The converter writes both fields; QUANTIZE (114) fits the old byte, codes past 127
        // only the extended field. Check the resolution on the fixture that has QUANTIZE.
        let file = fixture("float_edges_0.tflite");
        let model = Model::parse(&file).unwrap();
        let codes: Vec<i32> = model.operator_codes.iter().map(|c| c.builtin).collect();
        assert!(codes.contains(&builtin::QUANTIZE) && codes.contains(&builtin::DEQUANTIZE), "{codes:?}");
    }
}
