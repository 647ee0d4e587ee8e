//! `load`: checks a blob once (header, CRC, version, every index, shape, parameter and arena
//! region) so that `invoke` only has to run kernels.

use super::container::{self, align16, is_container, read_tag, read_u16, read_u32, truncated, CRC32, MODEL_TAG};
use super::error::{DataField, ModelError};
use super::format::*;
use crate::error::Error;

/// A loaded model: the decoded graph plus the constant data section borrowed from the blob.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    pub(crate) profile: Profile,
    pub(crate) graph: Graph,
    /// `None` only in an empty model: [`Model::empty`] is then all zero bytes, so a `static`
    /// holding one goes to `.bss` instead of `.data` (whose initial image would cost
    /// [`Model::SIZE`] bytes of flash).
    pub(crate) data: Option<&'a [u8]>,
}

impl<'a> Model<'a> {
    /// Bytes of a `Model` on this target: the fixed-capacity graph tables ([`MAX_TENSORS`]
    /// tensors, [`MAX_OPS`] ops) plus a profile and a slice.
    pub const SIZE: usize = core::mem::size_of::<Model<'static>>();

    /// A model with no tensors and no ops, to be filled by [`load_into`]; `invoke` refuses it.
    /// `const`, so it can initialise a `static`.
    pub const fn empty() -> Self {
        Model {
            profile: Profile::TfliteDouble,
            graph: Graph { arena_size: 0, input: 0, output: 0, tensors: heapless::Vec::new(), ops: heapless::Vec::new() },
            data: None,
        }
    }

    /// Back to [`Model::empty`] without moving the tables.
    fn clear(&mut self) {
        self.profile = Profile::TfliteDouble;
        self.graph.arena_size = 0;
        self.graph.input = 0;
        self.graph.output = 0;
        self.graph.tensors.clear();
        self.graph.ops.clear();
        self.data = None;
    }

    /// The arithmetic profile the model was quantized for.
    pub fn profile(&self) -> Profile {
        self.profile
    }
    /// The decoded graph (tensor table, ops, arena size).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
    /// The constant data section, borrowed from the blob.
    pub fn data(&self) -> &'a [u8] {
        self.data.unwrap_or(&[])
    }
    /// Bytes of arena `invoke` needs.
    pub fn arena_size(&self) -> usize {
        self.graph.arena_size as usize
    }
    /// One entry of the tensor table.
    pub fn tensor(&self, index: TensorIndex) -> Option<&TensorDesc> {
        self.graph.tensors.get(usize::from(index))
    }
    /// Elements of the graph input (the length `invoke` expects).
    pub fn input_len(&self) -> usize {
        self.tensor(self.graph.input).and_then(element_count).unwrap_or(0)
    }
    /// Elements of the graph output.
    pub fn output_len(&self) -> usize {
        self.tensor(self.graph.output).and_then(element_count).unwrap_or(0)
    }
    /// The bytes of a constant tensor, borrowed from the blob.
    pub fn constant_bytes(&self, index: TensorIndex) -> Option<&'a [u8]> {
        let t = self.tensor(index)?;
        match t.storage {
            Storage::Constant { offset } => {
                let len = byte_len(t)?;
                slice(self.data(), offset as usize, len)
            }
            Storage::Arena { .. } => None,
        }
    }
    /// An int8 constant, borrowed.
    pub fn constant_i8(&self, index: TensorIndex) -> Option<&'a [i8]> {
        match self.tensor(index)?.dtype {
            DType::Int8 => Some(bytemuck::cast_slice(self.constant_bytes(index)?)),
            DType::Int32 => None,
        }
    }
    /// An int32 constant, borrowed (the blob is 16-aligned and constants are 4-aligned in it).
    pub fn constant_i32(&self, index: TensorIndex) -> Option<&'a [i32]> {
        match self.tensor(index)?.dtype {
            DType::Int32 => bytemuck::try_cast_slice(self.constant_bytes(index)?).ok(),
            DType::Int8 => None,
        }
    }
    /// Per-channel scales of a tensor, borrowed.
    pub fn channel_scales(&self, scales: DataRef) -> Option<&'a [f32]> {
        data_array::<f32>(self.data(), scales)
    }
    /// Per-channel (multiplier, shift) pairs of an op, borrowed as `[m0, s0, m1, s1, ...]`.
    pub fn rescale_pairs(&self, rescale: DataRef) -> Option<&'a [i32]> {
        let pairs = DataRef { offset: rescale.offset, len: rescale.len.checked_mul(2)? };
        data_array::<i32>(self.data(), pairs)
    }
}

pub(crate) fn slice(bytes: &[u8], offset: usize, len: usize) -> Option<&[u8]> {
    bytes.get(offset..offset.checked_add(len)?)
}

pub(crate) fn data_array<T: bytemuck::Pod>(data: &[u8], r: DataRef) -> Option<&[T]> {
    let len = (r.len as usize).checked_mul(core::mem::size_of::<T>())?;
    bytemuck::try_cast_slice(slice(data, r.offset as usize, len)?).ok()
}

/// Product of the dimensions, `None` on overflow.
pub fn element_count(t: &TensorDesc) -> Option<usize> {
    t.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
}

/// Bytes of a tensor, `None` on overflow.
pub fn byte_len(t: &TensorDesc) -> Option<usize> {
    element_count(t)?.checked_mul(t.dtype.size())
}

/// Loads a model from a bare model blob (`EXQM`) or from any container (`EXQF`: a device blob
/// or a trainer checkpoint) holding a `MODL` section; other sections are skipped.
///
/// The blob must start at a 16-byte aligned address (see `AlignedBytes` on the host) so that
/// int32 constants are borrowed in place.
///
/// The returned [`Model`] holds the graph tables ([`Model::SIZE`] bytes). On a device that
/// wants neither that much stack nor a copy, [`load_into`] fills a `Model` that lives where the
/// caller chose (a `static`, or one stack slot).
pub fn load(blob: &[u8]) -> Result<Model<'_>, Error> {
    let mut model = Model::empty();
    load_into(blob, &mut model)?;
    Ok(model)
}

/// [`load`] into an existing [`Model`], decoding the graph tables in place: no second copy of
/// the tables on the stack, so `load_into` needs far less stack than [`load`] plus its result.
///
/// `model` may be [`Model::empty`] or a model loaded before (it is overwritten). On error it is
/// left empty, and [`invoke`](super::invoke) refuses it.
///
/// On a Cortex-M device the model can live in static RAM without `unsafe`, e.g. in
/// cortex-m-rt's `#[entry]`, whose `static mut` items become safe `&'static mut` references:
///
/// ```ignore
/// #[cortex_m_rt::entry]
/// fn main() -> ! {
///     static mut MODEL: Model<'static> = Model::empty();
///     let blob: &'static [u8] = exactq_core::include_aligned!("model.bin");
///     load_into(blob, MODEL).unwrap();
///     let model: &Model<'static> = MODEL;
///     // invoke(model, input, arena, output) ...
/// }
/// ```
///
/// Or once on the stack, without the copy `load` makes:
///
/// ```
/// use exactq_core::model::{load_into, Model};
///
/// let mut model = Model::empty();
/// assert!(load_into(&[0u8; 8], &mut model).is_err()); // too short to be a model
/// assert_eq!(model.graph().ops.len(), 0); // left empty on error
/// ```
pub fn load_into<'a>(blob: &'a [u8], model: &mut Model<'a>) -> Result<(), Error> {
    let result = fill(blob, model);
    if result.is_err() {
        model.clear();
    }
    result
}

fn fill<'a>(blob: &'a [u8], model: &mut Model<'a>) -> Result<(), Error> {
    if cfg!(target_endian = "big") {
        return Err(ModelError::BigEndianTarget.into());
    }
    let model_bytes = if is_container(blob) {
        container::find_section(blob, MODEL_TAG)?.payload
    } else {
        blob
    };
    let (profile, graph_bytes, data) = parse_header(model_bytes)?;
    model.profile = profile;
    model.data = Some(data);
    super::decode::decode_graph_into(graph_bytes, &mut model.graph)?;
    super::validate::validate(model)
}

/// Checks the model header and CRC; returns the profile, the graph bytes and the data section.
fn parse_header(bytes: &[u8]) -> Result<(Profile, &[u8], &[u8]), Error> {
    if bytes.len() < MODEL_HEADER_LEN {
        return Err(truncated(MODEL_HEADER_LEN, bytes.len()));
    }
    if read_tag(bytes, 0)? != MODEL_MAGIC {
        return Err(ModelError::BadMagic.into());
    }
    let version = read_u16(bytes, 4)?;
    if version != FORMAT_VERSION {
        return Err(ModelError::UnsupportedFormatVersion { found: version }.into());
    }
    let profile_byte = bytes.get(6).copied().unwrap_or(u8::MAX);
    let profile = Profile::from_u8(profile_byte).map_err(|_| ModelError::UnknownProfile { code: profile_byte })?;
    if bytes.get(7) != Some(&0) {
        return Err(ModelError::ReservedNotZero { offset: 7 }.into());
    }
    if read_u32(bytes, 28)? != 0 {
        return Err(ModelError::ReservedNotZero { offset: 28 }.into());
    }
    let payload_len = read_u32(bytes, 8)? as usize;
    let crc = read_u32(bytes, 12)?;
    let graph_len = read_u32(bytes, 16)? as usize;
    let data_offset = read_u32(bytes, 20)? as usize;
    let data_len = read_u32(bytes, 24)? as usize;

    let total = MODEL_HEADER_LEN.checked_add(payload_len).ok_or(ModelError::InconsistentHeader)?;
    if bytes.len() < total {
        return Err(truncated(total, bytes.len()));
    }
    let expected_data_offset = graph_len
        .checked_add(MODEL_HEADER_LEN)
        .and_then(align16)
        .ok_or(ModelError::InconsistentHeader)?;
    if data_offset != expected_data_offset
        || data_offset.checked_add(data_len) != Some(total)
        || bytes.len() != total
    {
        return Err(ModelError::InconsistentHeader.into());
    }
    let payload = bytes.get(MODEL_HEADER_LEN..total).ok_or(ModelError::InconsistentHeader)?;
    if CRC32.checksum(payload) != crc {
        return Err(ModelError::PayloadCrcMismatch.into());
    }
    if (bytes.as_ptr() as usize) % ARENA_ALIGN != 0 {
        return Err(ModelError::MisalignedBlob.into());
    }
    let graph = slice(bytes, MODEL_HEADER_LEN, graph_len).ok_or(ModelError::InconsistentHeader)?;
    let data = slice(bytes, data_offset, data_len).ok_or(ModelError::InconsistentHeader)?;
    Ok((profile, graph, data))
}

/// Field-wise reasons a data array is unusable, shared by the validator.
pub(crate) fn check_data_array<T: bytemuck::Pod>(
    data: &[u8],
    r: DataRef,
    owner: u16,
    field: DataField,
) -> Result<&[T], Error> {
    let size = core::mem::size_of::<T>();
    if r.offset as usize % size != 0 {
        return Err(ModelError::DataMisaligned { tensor_or_op: owner, field }.into());
    }
    data_array::<T>(data, r).ok_or(ModelError::DataOutOfRange { tensor_or_op: owner, field }.into())
}

impl Default for Model<'_> {
    /// [`Model::empty`].
    fn default() -> Self {
        Model::empty()
    }
}
