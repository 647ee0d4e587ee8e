//! Why a model blob or container was rejected, or why `invoke` refused to run.
//!
//! Each variant names the offending field; indices are op or tensor numbers of the graph.

/// Which constant or rescale array of the data section a [`ModelError`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataField {
    /// The int8 or int32 payload of a constant tensor.
    TensorData,
    /// The per-channel scales (f32) of a tensor.
    ChannelScales,
    /// The per-channel (multiplier, shift) pairs of an op.
    ChannelRescale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
/// Why `load` rejected a blob or `invoke` refused to run (see docs/model-format.md §5).
// Field names (op, tensor, offset...) say what they hold.
#[allow(missing_docs)]
#[non_exhaustive]
pub enum ModelError {
    // ---- section container (`EXQF`) ----
    /// The file is shorter than the structure it announces.
    Truncated { needed: usize, available: usize },
    /// The first four bytes are neither `EXQF` (container) nor `EXQM` (bare model).
    BadMagic,
    /// The container version is not one this build reads.
    UnsupportedContainerVersion { found: u16 },
    /// A reserved container or section header field is not zero.
    ReservedNotZero { offset: usize },
    /// The section with this tag does not exist in the container.
    SectionMissing { tag: [u8; 4] },
    /// The tag appears twice; a reader could not tell which to trust.
    DuplicateSection { tag: [u8; 4] },
    /// A section's payload does not match its CRC-32.
    SectionCrcMismatch { tag: [u8; 4] },
    /// Too many sections or a section longer than `u32::MAX` bytes (writer side).
    ContainerTooLarge,
    /// More tensors than [`MAX_TENSORS`](super::format::MAX_TENSORS) (builder side).
    TooManyTensors,
    /// More ops than [`MAX_OPS`](super::format::MAX_OPS) (builder side).
    TooManyOps,

    // ---- model header (`EXQM`) ----
    /// The model format version is not one this build reads (see docs/model-format.md).
    UnsupportedFormatVersion { found: u16 },
    /// The profile byte names no arithmetic profile of this build.
    UnknownProfile { code: u8 },
    /// Header lengths disagree with each other or with the blob.
    InconsistentHeader,
    /// The model payload does not match the header's CRC-32.
    PayloadCrcMismatch,
    /// The blob does not start at a 16-byte aligned address, so constants cannot be borrowed.
    MisalignedBlob,
    /// This target is big-endian; constants are stored little-endian and borrowed as they are.
    BigEndianTarget,

    // ---- graph ----
    /// The postcard graph does not decode (bad varint, unknown enum tag, too many tensors/ops...).
    GraphDecode,
    /// Bytes left over after the postcard graph.
    GraphTrailingBytes,
    /// The graph has no op.
    EmptyGraph,
    /// A tensor index points past the tensor table.
    TensorIndexOutOfRange { op: u16, tensor: u16 },
    /// The graph input or output index points past the tensor table.
    GraphIoOutOfRange { tensor: u16 },
    /// A tensor's rank is 0 or above the supported maximum.
    BadRank { tensor: u16 },
    /// A dimension is zero.
    ZeroDimension { tensor: u16 },
    /// The product of a tensor's dimensions (times its element size) overflows.
    ShapeOverflow { tensor: u16 },
    /// A constant or channel array lies outside the data section.
    DataOutOfRange { tensor_or_op: u16, field: DataField },
    /// A constant or channel array is not aligned to its element size.
    DataMisaligned { tensor_or_op: u16, field: DataField },
    /// The tensor's element type is not allowed where it is used.
    WrongDtype { tensor: u16 },
    /// The tensor lives in the wrong place for its use (a constant written by an op, a missing constant...).
    WrongStorage { tensor: u16 },
    /// An op reads an arena tensor that no earlier op (nor the graph input) wrote: a dangling or cyclic edge.
    ReadBeforeWrite { op: u16, tensor: u16 },
    /// Two ops (or the graph input and an op) write the same tensor.
    WrittenTwice { tensor: u16 },
    /// The graph output is never written.
    OutputNotWritten,
    /// An arena tensor or scratch buffer ends past the arena size stored in the model.
    ArenaRegionOutOfRange { tensor_or_op: u16 },
    /// Two arena tensors live at the same time share bytes.
    ArenaOverlap { a: u16, b: u16 },
    /// An op's scratch buffer is smaller than its kernel needs, or overlaps a live tensor.
    BadScratch { op: u16 },
    /// An input or output shape does not fit the op.
    ShapeMismatch { op: u16 },
    /// An op parameter (stride, filter size, padding, activation range...) is out of range.
    BadOpParams { op: u16 },
    /// Quantization parameters are missing, out of range or disagree (zero points, channel counts, multipliers).
    BadQuantization { tensor_or_op: u16 },
    /// The op is part of the format but this build has no kernel for it.
    KernelUnavailable { op: u16 },

    // ---- invoke ----
    /// The arena given to `invoke` is smaller than the model's arena size.
    ArenaTooSmall { needed: usize, available: usize },
    /// The arena given to `invoke` is not aligned as kernels' scratch buffers need.
    MisalignedArena,
    /// The input slice length differs from the graph input's element count.
    InputSizeMismatch { expected: usize, found: usize },
    /// The output slice length differs from the graph output's element count.
    OutputSizeMismatch { expected: usize, found: usize },
}

impl ModelError {
    /// A short description (no allocation); `Display` adds the fields.
    pub const fn as_str(self) -> &'static str {
        match self {
            ModelError::Truncated { .. } => "file shorter than its headers announce",
            ModelError::BadMagic => "not an exactq container (EXQF) or model (EXQM)",
            ModelError::UnsupportedContainerVersion { .. } => "unsupported container version",
            ModelError::ReservedNotZero { .. } => "reserved header bytes are not zero",
            ModelError::SectionMissing { .. } => "section missing from container",
            ModelError::DuplicateSection { .. } => "section tag appears twice",
            ModelError::SectionCrcMismatch { .. } => "section CRC-32 mismatch",
            ModelError::ContainerTooLarge => "container or model too large for u32 lengths",
            ModelError::TooManyTensors => "more tensors than the model capacity",
            ModelError::TooManyOps => "more ops than the model capacity",
            ModelError::UnsupportedFormatVersion { .. } => "unsupported model format version",
            ModelError::UnknownProfile { .. } => "unknown arithmetic profile byte",
            ModelError::InconsistentHeader => "model header lengths are inconsistent",
            ModelError::PayloadCrcMismatch => "model payload CRC-32 mismatch",
            ModelError::MisalignedBlob => "model blob is not 16-byte aligned",
            ModelError::BigEndianTarget => "big-endian targets are not supported",
            ModelError::GraphDecode => "graph does not decode",
            ModelError::GraphTrailingBytes => "bytes left after the graph",
            ModelError::EmptyGraph => "graph has no op",
            ModelError::TensorIndexOutOfRange { .. } => "tensor index out of range",
            ModelError::GraphIoOutOfRange { .. } => "graph input/output index out of range",
            ModelError::BadRank { .. } => "tensor rank is 0 or above 4",
            ModelError::ZeroDimension { .. } => "tensor has a zero dimension",
            ModelError::ShapeOverflow { .. } => "tensor size overflows",
            ModelError::DataOutOfRange { .. } => "constant array outside the data section",
            ModelError::DataMisaligned { .. } => "constant array misaligned",
            ModelError::WrongDtype { .. } => "tensor element type not allowed here",
            ModelError::WrongStorage { .. } => "tensor storage (arena/constant) not allowed here",
            ModelError::ReadBeforeWrite { .. } => "op reads a tensor no earlier op wrote",
            ModelError::WrittenTwice { .. } => "tensor written twice",
            ModelError::OutputNotWritten => "graph output is never written",
            ModelError::ArenaRegionOutOfRange { .. } => "arena region outside the arena or misaligned",
            ModelError::ArenaOverlap { .. } => "tensors live at the same time overlap in the arena",
            ModelError::BadScratch { .. } => "kernel scratch too small or overlapping",
            ModelError::ShapeMismatch { .. } => "shapes do not fit the op",
            ModelError::BadOpParams { .. } => "op parameter out of range",
            ModelError::BadQuantization { .. } => "quantization parameters missing, out of range or inconsistent",
            ModelError::KernelUnavailable { .. } => "no kernel for this op in this build",
            ModelError::ArenaTooSmall { .. } => "arena smaller than the model needs",
            ModelError::MisalignedArena => "arena is not 16-byte aligned",
            ModelError::InputSizeMismatch { .. } => "input length differs from the model input",
            ModelError::OutputSizeMismatch { .. } => "output length differs from the model output",
        }
    }
}

impl core::fmt::Display for ModelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({:?})", self.as_str(), self)
    }
}
