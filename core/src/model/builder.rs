//! Model builder (host side): the trainer, the firmware tests and the TFLite importer describe
//! a quantized network with it and get a blob `load` accepts.
//!
//! ```text
//! let mut b = ModelBuilder::new(Profile::TfliteDouble);
//! let x = b.input(&[1, 28, 28, 1], 0.0039, -128)?;
//! let w = b.constant_i8(&[16, 3, 3, 1], &weights, WeightQuant::PerChannel { axis: 0, scales: &w_scales })?;
//! let bias = b.bias(&bias_values, 0.0039, &w_scales)?;           // int32, scale s_in·s_w[c]
//! let y = b.activation(&[1, 28, 28, 16], 0.02, -128)?;
//! b.conv2d(x, w, Some(bias), y, Window::same(1), ActivationRange::FULL)?;   // multipliers derived as TFLite does
//! b.set_output(y);
//! let blob: Vec<u8> = b.build()?;                                 // container with one MODL section
//! ```
//! `build` plans the arena, encodes the graph and then runs [`load`](super::load) on the result,
//! so a blob the builder returns is one the device accepts.

use alloc::vec::Vec;

use super::aligned::AlignedBytes;
use super::container::{align16, ContainerWriter, CRC32, MODEL_TAG};
use super::error::ModelError;
use super::format::*;
use super::load::{byte_len, Model};
use super::planner::{self, Buffer};
use super::validate::live_intervals;
use crate::error::Error;

/// How a constant's integers map to reals (weights and biases: zero point 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightQuant<'s> {
    PerTensor { scale: f32 },
    /// One scale per index of dimension `axis` (0 for conv/FC weights and biases, 3 for depthwise).
    PerChannel { axis: u8, scales: &'s [f32] },
}

/// Arena figures of a planned model (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryReport {
    /// The arena the planner asks for (activations and kernel scratch).
    pub arena_size: usize,
    /// Every activation tensor added up, as if none shared memory.
    pub tensor_bytes_total: usize,
    /// The largest sum of two tensors live at the same time.
    pub largest_live_pair: usize,
    /// The most bytes (tensors and scratch) live at once: a lower bound for any plan.
    pub peak_live_bytes: usize,
    /// Kernel scratch of the op that needs most.
    pub largest_scratch: usize,
}

/// Collects tensors, constants and ops; `build` produces the blob.
#[derive(Debug, Clone)]
pub struct ModelBuilder {
    profile: ProfileCode,
    tensors: Vec<TensorDesc>,
    ops: Vec<OpDesc>,
    data: Vec<u8>,
    input: Option<TensorIndex>,
    output: Option<TensorIndex>,
}

fn shape_of(dims: &[usize]) -> Result<heapless::Vec<u32, MAX_RANK>, Error> {
    let mut shape = heapless::Vec::new();
    for &d in dims {
        let d = u32::try_from(d).map_err(|_| ModelError::ShapeOverflow { tensor: u16::MAX })?;
        shape.push(d).map_err(|_| ModelError::BadRank { tensor: u16::MAX })?;
    }
    Ok(shape)
}

impl ModelBuilder {
    pub fn new(profile: ProfileCode) -> Self {
        ModelBuilder { profile, tensors: Vec::new(), ops: Vec::new(), data: Vec::new(), input: None, output: None }
    }

    pub fn profile(&self) -> ProfileCode {
        self.profile
    }

    /// The tensor table so far.
    pub fn tensors(&self) -> &[TensorDesc] {
        &self.tensors
    }

    /// The ops so far.
    pub fn ops(&self) -> &[OpDesc] {
        &self.ops
    }

    /// The data section so far.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    fn push_tensor(&mut self, tensor: TensorDesc) -> Result<TensorIndex, Error> {
        let index = self.tensors.len();
        if index >= MAX_TENSORS {
            return Err(ModelError::TooManyTensors.into());
        }
        self.tensors.push(tensor);
        Ok(index as TensorIndex)
    }

    /// Appends bytes to the data section at a 16-aligned offset; returns the offset.
    fn push_data(&mut self, bytes: &[u8]) -> Result<u32, Error> {
        let offset = align16(self.data.len()).ok_or(ModelError::ContainerTooLarge)?;
        self.data.resize(offset, 0);
        self.data.extend_from_slice(bytes);
        u32::try_from(offset).map_err(|_| ModelError::ContainerTooLarge.into())
    }

    fn push_f32_array(&mut self, values: &[f32]) -> Result<DataRef, Error> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let len = u32::try_from(values.len()).map_err(|_| ModelError::ContainerTooLarge)?;
        Ok(DataRef { offset: self.push_data(&bytes)?, len })
    }

    fn quantization(&mut self, quant: WeightQuant<'_>) -> Result<Quantization, Error> {
        Ok(match quant {
            WeightQuant::PerTensor { scale } => Quantization::PerTensor { scale, zero_point: 0 },
            WeightQuant::PerChannel { axis, scales } => {
                Quantization::PerChannel { axis, scales: self.push_f32_array(scales)?, zero_point: 0 }
            }
        })
    }

    /// An int8 activation tensor (placed in the arena by the planner).
    pub fn activation(&mut self, shape: &[usize], scale: f32, zero_point: i32) -> Result<TensorIndex, Error> {
        self.push_tensor(TensorDesc {
            dtype: DType::Int8,
            shape: shape_of(shape)?,
            storage: Storage::Arena { offset: 0 },
            quantization: Quantization::PerTensor { scale, zero_point },
        })
    }

    /// An activation that is also the graph input.
    pub fn input(&mut self, shape: &[usize], scale: f32, zero_point: i32) -> Result<TensorIndex, Error> {
        let t = self.activation(shape, scale, zero_point)?;
        self.input = Some(t);
        Ok(t)
    }

    pub fn set_input(&mut self, tensor: TensorIndex) {
        self.input = Some(tensor);
    }

    pub fn set_output(&mut self, tensor: TensorIndex) {
        self.output = Some(tensor);
    }

    fn constant(&mut self, dtype: DType, shape: &[usize], bytes: &[u8], quant: WeightQuant<'_>) -> Result<TensorIndex, Error> {
        let shape = shape_of(shape)?;
        let elements = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d as usize));
        if elements.and_then(|e| e.checked_mul(dtype.size())) != Some(bytes.len()) {
            return Err(ModelError::ShapeMismatch { op: u16::MAX }.into());
        }
        let offset = self.push_data(bytes)?;
        let quantization = self.quantization(quant)?;
        self.push_tensor(TensorDesc { dtype, shape, storage: Storage::Constant { offset }, quantization })
    }

    /// An int8 constant (weights), stored in the data section and borrowed at run time.
    pub fn constant_i8(&mut self, shape: &[usize], values: &[i8], quant: WeightQuant<'_>) -> Result<TensorIndex, Error> {
        self.constant(DType::Int8, shape, bytemuck::cast_slice(values), quant)
    }

    /// An int32 constant (bias), stored little-endian.
    pub fn constant_i32(&mut self, shape: &[usize], values: &[i32], quant: WeightQuant<'_>) -> Result<TensorIndex, Error> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(DType::Int32, shape, &bytes, quant)
    }

    /// Writes per-channel (multiplier, shift) pairs to the data section.
    pub fn rescale_array(&mut self, pairs: &[Rescale]) -> Result<DataRef, Error> {
        let bytes: Vec<u8> =
            pairs.iter().flat_map(|r| r.multiplier.to_le_bytes().into_iter().chain(r.shift.to_le_bytes())).collect();
        let len = u32::try_from(pairs.len()).map_err(|_| ModelError::ContainerTooLarge)?;
        Ok(DataRef { offset: self.push_data(&bytes)?, len })
    }

    /// Appends an op as it is (its rescale arrays already written with [`Self::rescale_array`]).
    pub fn push_op(&mut self, op: OpDesc) -> Result<usize, Error> {
        if self.ops.len() >= MAX_OPS {
            return Err(ModelError::TooManyOps.into());
        }
        self.ops.push(op);
        Ok(self.ops.len() - 1)
    }

    /// The graph with arena offsets and scratch planned, and the memory figures.
    pub fn plan(&self) -> Result<(Graph, MemoryReport), Error> {
        let input = self.input.ok_or(ModelError::GraphIoOutOfRange { tensor: u16::MAX })?;
        let output = self.output.ok_or(ModelError::GraphIoOutOfRange { tensor: u16::MAX })?;
        let mut graph = Graph {
            arena_size: 0,
            input,
            output,
            tensors: heapless::Vec::new(),
            ops: heapless::Vec::new(),
        };
        for t in &self.tensors {
            graph.tensors.push(t.clone()).map_err(|_| ModelError::TooManyTensors)?;
        }
        for op in &self.ops {
            graph.ops.push(OpEntry { op: *op, scratch: ArenaRegion::default() }).map_err(|_| ModelError::TooManyOps)?;
        }

        // Buffers: every arena tensor that is written or read, then one scratch per op.
        let live = live_intervals(&graph);
        let mut buffers = Vec::new();
        let mut owners = Vec::new(); // Ok(tensor) or Err(op)
        for (index, t) in graph.tensors.iter().enumerate() {
            if let (Storage::Arena { .. }, Some(Some((first, last)))) = (t.storage, live.get(index)) {
                let size = byte_len(t).ok_or(ModelError::ShapeOverflow { tensor: index as u16 })?;
                buffers.push(Buffer { size, first: *first, last: *last });
                owners.push(Ok(index));
            }
        }
        let probe = Model { profile: self.profile, graph: graph.clone(), data: &self.data };
        for (index, entry) in graph.ops.iter().enumerate() {
            let size = super::kernels::scratch_bytes(&probe, &entry.op).ok_or(ModelError::BadScratch { op: index as u16 })?;
            if size > 0 {
                buffers.push(Buffer { size, first: index as i32, last: index as i32 });
                owners.push(Err(index));
            }
        }
        let plan = planner::plan(&buffers, ARENA_ALIGN);
        for (owner, &offset) in owners.iter().zip(&plan.offsets) {
            let offset = u32::try_from(offset).map_err(|_| ModelError::ContainerTooLarge)?;
            match *owner {
                Ok(tensor) => graph.tensors[tensor].storage = Storage::Arena { offset },
                Err(op) => {
                    let size = buffers.iter().zip(&owners).find(|(_, o)| **o == Err(op)).map_or(0, |(b, _)| b.size);
                    graph.ops[op].scratch = ArenaRegion { offset, size: size as u32 };
                }
            }
        }
        graph.arena_size = u32::try_from(plan.arena_size).map_err(|_| ModelError::ContainerTooLarge)?;

        let tensors: Vec<&Buffer> = buffers.iter().zip(&owners).filter(|(_, o)| o.is_ok()).map(|(b, _)| b).collect();
        let mut largest_live_pair = tensors.iter().map(|b| b.size).max().unwrap_or(0);
        for (i, a) in tensors.iter().enumerate() {
            for b in &tensors[i + 1..] {
                if a.first <= b.last && b.first <= a.last {
                    largest_live_pair = largest_live_pair.max(a.size + b.size);
                }
            }
        }
        let report = MemoryReport {
            arena_size: plan.arena_size,
            tensor_bytes_total: tensors.iter().map(|b| b.size).sum(),
            largest_live_pair,
            peak_live_bytes: planner::peak_live_bytes(&buffers),
            largest_scratch: buffers.iter().zip(&owners).filter(|(_, o)| o.is_err()).map(|(b, _)| b.size).max().unwrap_or(0),
        };
        Ok((graph, report))
    }

    /// The bare model (`EXQM` header, graph, data): the payload of a `MODL` section. The
    /// trainer writes it into its checkpoints next to its own sections.
    pub fn build_model(&self) -> Result<Vec<u8>, Error> {
        let (graph, _) = self.plan()?;
        let model = encode_model(self.profile, &graph, &self.data)?;
        // Whatever the builder produces, the device must accept: run the device's checks.
        let aligned = AlignedBytes::copy_from(&model);
        super::load::load(&aligned)?;
        Ok(model)
    }

    /// A device blob: a container holding one `MODL` section.
    pub fn build(&self) -> Result<Vec<u8>, Error> {
        let model = self.build_model()?;
        let mut writer = ContainerWriter::new();
        writer.section(MODEL_TAG, &model)?;
        writer.finish()
    }
}

/// Header, postcard graph, zero padding, data (docs/model-format.md).
pub fn encode_model(profile: ProfileCode, graph: &Graph, data: &[u8]) -> Result<Vec<u8>, Error> {
    let graph_bytes = postcard::to_allocvec(graph).map_err(|_| ModelError::GraphDecode)?;
    let too_large = || Error::from(ModelError::ContainerTooLarge);
    let data_offset = align16(MODEL_HEADER_LEN + graph_bytes.len()).ok_or_else(too_large)?;
    let total = data_offset.checked_add(data.len()).ok_or_else(too_large)?;
    let u32_of = |n: usize| u32::try_from(n).map_err(|_| too_large());
    let mut bytes = Vec::with_capacity(total);
    bytes.extend_from_slice(&MODEL_MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.push(profile as u8);
    bytes.push(0);
    bytes.extend_from_slice(&u32_of(total - MODEL_HEADER_LEN)?.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]); // CRC, filled below
    bytes.extend_from_slice(&u32_of(graph_bytes.len())?.to_le_bytes());
    bytes.extend_from_slice(&u32_of(data_offset)?.to_le_bytes());
    bytes.extend_from_slice(&u32_of(data.len())?.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&graph_bytes);
    bytes.resize(data_offset, 0);
    bytes.extend_from_slice(data);
    let crc = CRC32.checksum(&bytes[MODEL_HEADER_LEN..]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    Ok(bytes)
}
