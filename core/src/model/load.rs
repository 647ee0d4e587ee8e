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
    pub(crate) data: &'a [u8],
}

impl<'a> Model<'a> {
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
        self.data
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
                slice(self.data, offset as usize, len)
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
        data_array::<f32>(self.data, scales)
    }
    /// Per-channel (multiplier, shift) pairs of an op, borrowed as `[m0, s0, m1, s1, ...]`.
    pub fn rescale_pairs(&self, rescale: DataRef) -> Option<&'a [i32]> {
        let pairs = DataRef { offset: rescale.offset, len: rescale.len.checked_mul(2)? };
        data_array::<i32>(self.data, pairs)
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
pub fn load(blob: &[u8]) -> Result<Model<'_>, Error> {
    if cfg!(target_endian = "big") {
        return Err(ModelError::BigEndianTarget.into());
    }
    let model_bytes = if is_container(blob) {
        container::find_section(blob, MODEL_TAG)?.payload
    } else {
        blob
    };
    let (profile, graph_bytes, data) = parse_header(model_bytes)?;
    let graph = match postcard::take_from_bytes::<Graph>(graph_bytes) {
        Ok((graph, [])) => graph,
        Ok(_) => return Err(ModelError::GraphTrailingBytes.into()),
        Err(_) => return Err(ModelError::GraphDecode.into()),
    };
    let model = Model { profile, graph, data };
    super::validate::validate(&model)?;
    Ok(model)
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
    let profile = Profile::ALL.iter().copied().find(|p| p.to_u8() == profile_byte).ok_or(ModelError::UnknownProfile { code: profile_byte })?;
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
