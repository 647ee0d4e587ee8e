//! The EXQF section container (docs/architecture.md): the outer file format shared by device
//! blobs and training checkpoints.
//!
//! ```text
//! 0  b"EXQF"   4  u16 LE version (1)   6  u16 LE section count   8  8 reserved bytes (0)
//! 16 sections, each at a 16-aligned offset:
//!    [4] ASCII tag, [4] u32 LE payload length, [4] u32 LE CRC-32 (IEEE) of the payload,
//!    [4] reserved (0), payload, zero padding to the next multiple of 16
//! ```
//!
//! The trainer writes it itself until `core/src/model/container.rs` lands; the lead will
//! switch this module to the core's reader/writer (same bytes).

use std::path::Path;

use super::CheckpointError;

pub const MAGIC: &[u8; 4] = b"EXQF";
pub const VERSION: u16 = 1;
const HEADER_LEN: usize = 16;
const SECTION_HEADER_LEN: usize = 16;

/// One section: a 4-byte tag and its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub tag: [u8; 4],
    pub payload: Vec<u8>,
}

fn pad16(n: usize) -> usize {
    n.div_ceil(16) * 16
}

/// Serialises sections into a container.
pub fn encode(sections: &[Section]) -> Result<Vec<u8>, CheckpointError> {
    let count = u16::try_from(sections.len()).map_err(|_| CheckpointError::Invalid("more than 65535 sections".into()))?;
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    for s in sections {
        let len = u32::try_from(s.payload.len()).map_err(|_| CheckpointError::Invalid("section larger than 4 GiB".into()))?;
        out.extend_from_slice(&s.tag);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&s.payload).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&s.payload);
        out.resize(pad16(out.len()), 0);
    }
    Ok(out)
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses a container, checking magic, version, bounds and every section's CRC.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Vec<Section>, CheckpointError> {
    let bad = |reason: String| CheckpointError::Corrupt { path: path.to_path_buf(), reason };
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err(bad("not an exactq file (no EXQF magic)".into()));
    }
    let version = le_u16(bytes, 4);
    if version != VERSION {
        return Err(CheckpointError::Version { path: path.to_path_buf(), what: "container", found: u32::from(version), supported: u32::from(VERSION) });
    }
    let count = le_u16(bytes, 6) as usize;
    let mut at = HEADER_LEN;
    let mut sections = Vec::with_capacity(count);
    for i in 0..count {
        if at + SECTION_HEADER_LEN > bytes.len() {
            return Err(bad(format!("truncated: section {i} of {count} header past the end of the file")));
        }
        let mut tag = [0u8; 4];
        tag.copy_from_slice(&bytes[at..at + 4]);
        let len = le_u32(bytes, at + 4) as usize;
        let crc = le_u32(bytes, at + 8);
        let start = at + SECTION_HEADER_LEN;
        let payload = bytes.get(start..start + len).ok_or_else(|| {
            bad(format!("truncated: section `{}` needs {len} bytes, the file ends first", String::from_utf8_lossy(&tag)))
        })?;
        if crc32fast::hash(payload) != crc {
            return Err(bad(format!("section `{}` fails its CRC-32 check", String::from_utf8_lossy(&tag))));
        }
        sections.push(Section { tag, payload: payload.to_vec() });
        at = pad16(start + len);
    }
    Ok(sections)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over the target, fsync of the directory. A crash at any point leaves either the old
/// file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    use std::io::Write;
    let io = |source| CheckpointError::Io { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| CheckpointError::Invalid(format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        let (first, rest) = bytes.split_at(bytes.len() / 2);
        f.write_all(first)?;
        fault_injection_pause();
        f.write_all(rest)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Fault injection for the crash-safety test: when `EXACTQ_FAULT_WRITE_PAUSE_MS` is set, a
/// checkpoint write stops halfway for that long, so a test can kill the process mid-write.
fn fault_injection_pause() {
    if let Some(ms) = std::env::var_os("EXACTQ_FAULT_WRITE_PAUSE_MS").and_then(|v| v.to_str()?.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
