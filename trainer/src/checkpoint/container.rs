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
//! The bytes are read and written by the core (`exactq_core::model::container`), so a
//! checkpoint and a device blob can never disagree about the container; this module only adds
//! owned sections, file paths in error messages and atomic writes.

use std::path::Path;

use exactq_core::model::container::{ContainerWriter, Sections};
use exactq_core::model::ModelError;
use exactq_core::Error as CoreError;

use super::CheckpointError;

/// The container version this build reads and writes.
pub const VERSION: u16 = 1;

/// One section: a 4-byte tag and its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub tag: [u8; 4],
    pub payload: Vec<u8>,
}

/// Serialises sections into a container.
pub fn encode(sections: &[Section]) -> Result<Vec<u8>, CheckpointError> {
    let invalid = |e: CoreError| CheckpointError::Invalid(format!("cannot write container: {e}"));
    let mut writer = ContainerWriter::new();
    for s in sections {
        writer.section(s.tag, &s.payload).map_err(invalid)?;
    }
    writer.finish().map_err(invalid)
}

/// Parses a container, checking magic, version, bounds and every section's CRC.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Vec<Section>, CheckpointError> {
    let explain = |e: CoreError| match e {
        CoreError::Model(ModelError::BadMagic) => CheckpointError::Corrupt { path: path.to_path_buf(), reason: "not an exactq file (no EXQF magic)".into() },
        CoreError::Model(ModelError::UnsupportedContainerVersion { found }) => {
            CheckpointError::Version { path: path.to_path_buf(), what: "container", found: u32::from(found), supported: u32::from(VERSION) }
        }
        CoreError::Model(ModelError::Truncated { needed, available }) => CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("truncated: the file has {available} bytes, its headers need {needed}"),
        },
        CoreError::Model(ModelError::SectionCrcMismatch { tag }) => CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("section `{}` fails its CRC-32 check", String::from_utf8_lossy(&tag)),
        },
        other => CheckpointError::Corrupt { path: path.to_path_buf(), reason: other.to_string() },
    };
    let mut sections = Vec::new();
    for section in Sections::new(bytes).map_err(explain)? {
        let section = section.map_err(explain)?;
        section.verify().map_err(explain)?;
        sections.push(Section { tag: section.tag, payload: section.payload.to_vec() });
    }
    Ok(sections)
}

/// Checks, before hours of training, that `path` can be written later: its directory exists.
/// `Err` is the message to show.
pub fn check_output_dir(path: &Path) -> Result<(), String> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(format!("{}: directory {} does not exist", path.display(), dir.display())),
        _ => Ok(()),
    }
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
    } else {
        remove_stale_temporaries(&dir, &name.to_string_lossy());
    }
    result.map_err(io)
}

/// Removes `.NAME.tmp-PID` files left by writers that were killed mid-write (kill -9, power
/// loss): those whose process no longer exists. Best effort; only where `/proc` tells which
/// processes live, elsewhere they stay (harmless: never read, overwritten by that PID).
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else { continue };
        if pid.parse::<u32>().is_ok() && !proc.join(pid).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Fault injection for the crash-safety test: when `EXACTQ_FAULT_WRITE_PAUSE_MS` is set, a
/// checkpoint write stops halfway for that long, so a test can kill the process mid-write.
fn fault_injection_pause() {
    if let Some(ms) = std::env::var_os("EXACTQ_FAULT_WRITE_PAUSE_MS").and_then(|v| v.to_str()?.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
