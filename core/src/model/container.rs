//! The section container `EXQF` shared by device blobs and trainer checkpoints.
//!
//! Layout (little-endian, see docs/model-format.md):
//! ```text
//! 0  b"EXQF"  4 u16 version (1)  6 u16 section count  8 [8] reserved (0)
//! 16 sections, each at a 16-aligned offset:
//!    [4] tag  [4] u32 payload length  [4] u32 CRC-32 (IEEE) of payload  [4] reserved (0)
//!    payload, zero padding to the next multiple of 16
//! ```
//! The reader never allocates: it walks the section headers (bounded by the section count
//! and the file length) and checks the CRC only of the section it returns.

use super::error::ModelError;
use crate::error::Error;

/// First four bytes of every container file.
pub const CONTAINER_MAGIC: [u8; 4] = *b"EXQF";
/// The container layout version this build reads and writes.
pub const CONTAINER_VERSION: u16 = 1;
/// Size of the file header and of each section header.
pub const CONTAINER_HEADER_LEN: usize = 16;
/// Sections start, and payloads start, at multiples of this many bytes.
pub const SECTION_ALIGN: usize = 16;
/// Tag of the deployable quantized model section.
pub const MODEL_TAG: [u8; 4] = *b"MODL";

/// CRC-32/ISO-HDLC, the IEEE polynomial zlib and PNG use.
pub(crate) const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// One section as found in a container, payload borrowed from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section<'a> {
    /// Four ASCII bytes naming the section.
    pub tag: [u8; 4],
    /// Stored CRC-32 of `payload` (not yet checked; see [`Section::verify`]).
    pub crc: u32,
    /// The payload, borrowed from the file.
    pub payload: &'a [u8],
    /// Offset of the payload from the start of the file (a multiple of 16).
    pub offset: usize,
}

impl Section<'_> {
    /// Checks the payload against its stored CRC-32.
    pub fn verify(&self) -> Result<(), Error> {
        if CRC32.checksum(self.payload) == self.crc {
            Ok(())
        } else {
            Err(ModelError::SectionCrcMismatch { tag: self.tag }.into())
        }
    }
}

/// Rounds `n` up to the next multiple of [`SECTION_ALIGN`], or `None` on overflow.
pub(crate) fn align16(n: usize) -> Option<usize> {
    n.checked_add(SECTION_ALIGN - 1).map(|v| v & !(SECTION_ALIGN - 1))
}

pub(crate) fn read_u16(bytes: &[u8], at: usize) -> Result<u16, Error> {
    let end = at.checked_add(2).ok_or(ModelError::InconsistentHeader)?;
    match bytes.get(at..end) {
        Some(&[a, b]) => Ok(u16::from_le_bytes([a, b])),
        _ => Err(truncated(end, bytes.len())),
    }
}

pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Result<u32, Error> {
    let end = at.checked_add(4).ok_or(ModelError::InconsistentHeader)?;
    match bytes.get(at..end) {
        Some(&[a, b, c, d]) => Ok(u32::from_le_bytes([a, b, c, d])),
        _ => Err(truncated(end, bytes.len())),
    }
}

pub(crate) fn read_tag(bytes: &[u8], at: usize) -> Result<[u8; 4], Error> {
    read_u32(bytes, at).map(u32::to_le_bytes)
}

pub(crate) fn truncated(needed: usize, available: usize) -> Error {
    ModelError::Truncated { needed, available }.into()
}

/// Iterates the sections of a container without checking CRCs.
///
/// Yields an error (and then stops) at the first malformed section header.
#[derive(Debug, Clone)]
pub struct Sections<'a> {
    file: &'a [u8],
    next_offset: usize,
    remaining: u16,
    failed: bool,
}

impl<'a> Sections<'a> {
    /// Checks the container header and returns an iterator over its sections.
    pub fn new(file: &'a [u8]) -> Result<Self, Error> {
        if file.len() < CONTAINER_HEADER_LEN {
            return Err(truncated(CONTAINER_HEADER_LEN, file.len()));
        }
        if read_tag(file, 0)? != CONTAINER_MAGIC {
            return Err(ModelError::BadMagic.into());
        }
        let version = read_u16(file, 4)?;
        if version != CONTAINER_VERSION {
            return Err(ModelError::UnsupportedContainerVersion { found: version }.into());
        }
        let count = read_u16(file, 6)?;
        if read_u32(file, 8)? != 0 || read_u32(file, 12)? != 0 {
            return Err(ModelError::ReservedNotZero { offset: 8 }.into());
        }
        Ok(Sections { file, next_offset: CONTAINER_HEADER_LEN, remaining: count, failed: false })
    }

    fn read_next(&mut self) -> Result<Section<'a>, Error> {
        let at = self.next_offset;
        let tag = read_tag(self.file, at)?;
        let len = read_u32(self.file, at + 4)? as usize;
        let crc = read_u32(self.file, at + 8)?;
        if read_u32(self.file, at + 12)? != 0 {
            return Err(ModelError::ReservedNotZero { offset: at + 12 }.into());
        }
        let start = at + CONTAINER_HEADER_LEN;
        let end = start.checked_add(len).ok_or(ModelError::InconsistentHeader)?;
        let payload = self.file.get(start..end).ok_or_else(|| truncated(end, self.file.len()))?;
        // The last section may omit its padding; the next header, if any, is checked on read.
        self.next_offset = align16(end).ok_or(ModelError::InconsistentHeader)?;
        Ok(Section { tag, crc, payload, offset: start })
    }
}

impl<'a> Iterator for Sections<'a> {
    type Item = Result<Section<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 || self.failed {
            return None;
        }
        self.remaining -= 1;
        let section = self.read_next();
        self.failed = section.is_err();
        Some(section)
    }
}

/// True when `file` starts with the container magic.
pub fn is_container(file: &[u8]) -> bool {
    file.get(..4) == Some(&CONTAINER_MAGIC[..])
}

/// Finds the section `tag`, checks its CRC and returns it. Unknown tags are skipped
/// (their CRC is not checked); a tag present twice is an error.
pub fn find_section<'a>(file: &'a [u8], tag: [u8; 4]) -> Result<Section<'a>, Error> {
    let mut found: Option<Section<'a>> = None;
    for section in Sections::new(file)? {
        let section = section?;
        if section.tag == tag {
            if found.is_some() {
                return Err(ModelError::DuplicateSection { tag }.into());
            }
            found = Some(section);
        }
    }
    let section = found.ok_or(ModelError::SectionMissing { tag })?;
    section.verify()?;
    Ok(section)
}

/// Recomputes every CRC-32 of `file` in place: each section's, and, inside a `MODL` section
/// (or a bare model), the model payload's. For tools that edit a blob on purpose (and fuzzers,
/// so mutations reach the graph checks instead of stopping at the checksum). Malformed parts are
/// left as they are.
pub fn reseal_crcs(file: &mut [u8]) {
    if !is_container(file) {
        reseal_model(file);
        return;
    }
    let Ok(count) = read_u16(file, 6) else { return };
    let mut at = CONTAINER_HEADER_LEN;
    for _ in 0..count {
        let (Ok(tag), Ok(len)) = (read_tag(file, at), read_u32(file, at + 4)) else { return };
        let start = at + CONTAINER_HEADER_LEN;
        let Some(end) = start.checked_add(len as usize).filter(|&e| e <= file.len()) else { return };
        if tag == MODEL_TAG {
            if let Some(payload) = file.get_mut(start..end) {
                reseal_model(payload);
            }
        }
        let crc = file.get(start..end).map(|p| CRC32.checksum(p)).unwrap_or(0);
        if let Some(slot) = file.get_mut(at + 8..at + 12) {
            slot.copy_from_slice(&crc.to_le_bytes());
        }
        let Some(next) = align16(end) else { return };
        at = next;
    }
}

/// Recomputes the payload CRC of a bare model (`EXQM`) whose payload length fits the bytes.
fn reseal_model(model: &mut [u8]) {
    const HEADER: usize = super::format::MODEL_HEADER_LEN;
    if model.get(..4) != Some(&super::format::MODEL_MAGIC[..]) {
        return;
    }
    let Ok(len) = read_u32(model, 8) else { return };
    let Some(end) = HEADER.checked_add(len as usize).filter(|&e| e <= model.len()) else { return };
    let crc = model.get(HEADER..end).map(|p| CRC32.checksum(p)).unwrap_or(0);
    if let Some(slot) = model.get_mut(12..16) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
}

/// Writes containers (host side: the model builder and the trainer's checkpoints).
#[cfg(feature = "alloc")]
pub use writer::ContainerWriter;

#[cfg(feature = "alloc")]
mod writer {
    use super::*;
    use alloc::vec::Vec;

    /// Collects sections in order and writes the container.
    ///
    /// ```
    /// # use exactq_core::model::container::{ContainerWriter, find_section};
    /// let mut w = ContainerWriter::new();
    /// w.section(*b"TRNR", b"trainer state")?;
    /// w.section(*b"MODL", b"model bytes")?;
    /// let file = w.finish()?;
    /// assert_eq!(find_section(&file, *b"MODL")?.payload, b"model bytes");
    /// # Ok::<(), exactq_core::Error>(())
    /// ```
    #[derive(Debug, Default, Clone)]
    pub struct ContainerWriter {
        bytes: Vec<u8>,
        count: u16,
    }

    impl ContainerWriter {
        /// A container with no section yet.
        pub fn new() -> Self {
            let mut bytes = Vec::with_capacity(64);
            bytes.extend_from_slice(&CONTAINER_MAGIC);
            bytes.extend_from_slice(&CONTAINER_VERSION.to_le_bytes());
            bytes.extend_from_slice(&0u16.to_le_bytes());
            bytes.extend_from_slice(&[0; 8]);
            ContainerWriter { bytes, count: 0 }
        }

        /// Appends one section (header, payload, zero padding to 16 bytes).
        pub fn section(&mut self, tag: [u8; 4], payload: &[u8]) -> Result<&mut Self, Error> {
            let len = u32::try_from(payload.len()).map_err(|_| ModelError::ContainerTooLarge)?;
            self.count = self.count.checked_add(1).ok_or(ModelError::ContainerTooLarge)?;
            self.bytes.extend_from_slice(&tag);
            self.bytes.extend_from_slice(&len.to_le_bytes());
            self.bytes.extend_from_slice(&CRC32.checksum(payload).to_le_bytes());
            self.bytes.extend_from_slice(&[0; 4]);
            self.bytes.extend_from_slice(payload);
            let padded = align16(self.bytes.len()).ok_or(ModelError::ContainerTooLarge)?;
            self.bytes.resize(padded, 0);
            Ok(self)
        }

        /// Returns the finished file.
        pub fn finish(mut self) -> Result<Vec<u8>, Error> {
            self.bytes[6..8].copy_from_slice(&self.count.to_le_bytes());
            Ok(self.bytes)
        }
    }
}
