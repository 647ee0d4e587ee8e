//! `firmware.json`: the device figures `cargo firmware-test` measured on the emulated Cortex-M4,
//! one entry per model (format in `docs/report.md`).
//!
//! The host names each model by the CRC-32 stored for its `MODL` section (`model_crc32`), the
//! same for a quantized checkpoint and the blob exported from it, so the report can tell whether
//! an entry is this run's model or another one (the built-in test models, an older blob).

use serde_json::Value;

use super::{flatten, scalar_text};

/// Keys of an entry shown in the deployment summary when it is the run's model, with labels.
pub const HEADLINE: [(&str, &str); 6] = [
    ("flash_bytes", "flash on the device (.text + .rodata, incl. harness and test data)"),
    ("static_ram_bytes", "static RAM on the device (.data + .bss, incl. the arena)"),
    ("peak_stack_bytes", "peak stack on the device"),
    ("invoke_stack_bytes", "stack of one invoke"),
    ("instructions_per_inference", "instructions per inference (Cortex-M4, QEMU)"),
    ("parity", "device parity"),
];

/// One measured model.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceEntry {
    pub name: String,
    /// `model_crc32` of the entry, when it has one.
    pub model_crc32: Option<u32>,
    /// Every field, flattened to text (nested objects as `a.b`).
    pub fields: Vec<(String, String)>,
}

impl DeviceEntry {
    /// The text of field `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The parsed file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceFigures {
    /// Top-level values that are not model entries (`target`, `tool`, ...).
    pub about: Vec<(String, String)>,
    pub models: Vec<DeviceEntry>,
}

impl DeviceFigures {
    /// The entry measured for the model whose `MODL` CRC-32 is `crc`.
    pub fn for_model(&self, crc: u32) -> Option<&DeviceEntry> {
        self.models.iter().find(|m| m.model_crc32 == Some(crc))
    }
}

/// `"0x1a2b3c4d"`, `"1a2b3c4d"` or a JSON number.
fn parse_crc(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => u32::from_str_radix(s.trim().trim_start_matches("0x").trim_start_matches("0X"), 16).ok(),
        _ => None,
    }
}

/// Parses the text of a `firmware.json`: a JSON object whose object-valued members are models.
pub fn parse(json: &str) -> anyhow::Result<DeviceFigures> {
    let value: Value = serde_json::from_str(json)?;
    let obj = value.as_object().ok_or_else(|| anyhow::anyhow!("expected a JSON object"))?;
    let mut figures = DeviceFigures::default();
    for (k, v) in obj {
        match v {
            Value::Object(entry) => {
                let mut fields = Vec::new();
                flatten("", entry, &mut fields);
                figures.models.push(DeviceEntry { name: k.clone(), model_crc32: entry.get("model_crc32").and_then(parse_crc), fields });
            }
            other => figures.about.push((k.clone(), scalar_text(other))),
        }
    }
    Ok(figures)
}

/// Reads and parses a `firmware.json`.
pub fn read(path: &std::path::Path) -> anyhow::Result<DeviceFigures> {
    parse(&std::fs::read_to_string(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_model_crc() {
        let f = parse(
            r#"{"target": "thumbv7em", "resnet8": {"model_crc32": "0x0000abcd", "flash_bytes": 177264, "peak_stack_bytes": null},
               "mine": {"model_crc32": 3405691582, "parity": "pass", "nested": {"a": 1}}, "old": {"flash_bytes": 1}}"#,
        )
        .unwrap();
        assert_eq!(f.about, [("target".to_string(), "thumbv7em".to_string())]);
        assert_eq!(f.models.len(), 3);
        assert_eq!(f.for_model(0xabcd).unwrap().get("flash_bytes"), Some("177264"));
        assert_eq!(f.for_model(0xabcd).unwrap().get("peak_stack_bytes"), Some("—"));
        let mine = f.for_model(0xcafe_babe).unwrap();
        assert_eq!((mine.name.as_str(), mine.get("parity"), mine.get("nested.a")), ("mine", Some("pass"), Some("1")));
        assert!(f.for_model(1).is_none());
        assert!(parse("[1, 2]").is_err());
    }
}
