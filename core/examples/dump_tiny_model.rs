//! Writes an annotated hex dump of a minimal device blob (input [1, 4] → requantize → output)
//! into docs/model-format.md (between the `tiny_model` markers), as a worked byte-by-byte example.
//! `cargo run -p exactq-core --example dump_tiny_model --features std`

use std::fmt::Write as _;
use std::path::Path;

use exactq_core::arith::Profile;
use exactq_core::model::builder::{ModelBuilder, OutQuant};

const BEGIN: &str = "<!-- tiny_model:begin -->";
const END: &str = "<!-- tiny_model:end -->";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut b = ModelBuilder::new(Profile::TfliteDouble);
    let x = b.input(&[1, 4], 0.5, -3)?;
    let y = b.requantize(x, OutQuant::new(0.25, 7))?;
    b.set_output(y);
    let blob = b.build()?;
    let (graph, _) = b.plan()?;
    let graph_bytes = postcard::to_allocvec(&graph)?;

    let mut t = String::new();
    writeln!(t, "{BEGIN}")?;
    writeln!(t, "A whole device blob, {} bytes: input `[1, 4]` (scale 0.5, zero point −3) → REQUANTIZE →", blob.len())?;
    writeln!(t, "output (scale 0.25, zero point 7), profile `tflite-double`. Written by")?;
    writeln!(t, "`cargo run -p exactq-core --example dump_tiny_model --features std`.\n")?;
    writeln!(t, "```text")?;
    let rows: [(usize, usize, &str); 12] = [
        (0, 16, "container: \"EXQF\", version 1, 1 section, reserved"),
        (16, 16, "section: \"MODL\", payload length, CRC-32, reserved"),
        (32, 4, "model magic \"EXQM\""),
        (36, 2, "format version 1"),
        (38, 2, "profile 0 (tflite-double), reserved"),
        (40, 4, "payload length"),
        (44, 4, "payload CRC-32"),
        (48, 4, "graph length"),
        (52, 4, "data offset"),
        (56, 4, "data length (no constants here)"),
        (60, 4, "reserved"),
        (64, graph_bytes.len(), "graph (postcard), see below"),
    ];
    for (at, len, what) in rows {
        writeln!(t, "{at:4}  {:<48} {what}", hex(&blob[at..at + len]))?;
    }
    let pad_start = 64 + graph_bytes.len();
    let model_end = 32 + u32::from_le_bytes(blob[20..24].try_into()?) as usize;
    if model_end > pad_start {
        writeln!(t, "{pad_start:4}  {:<48} zero padding to 16", hex(&blob[pad_start..model_end]))?;
    }
    writeln!(t, "```\n")?;
    writeln!(t, "The graph bytes, field by field:\n")?;
    writeln!(t, "```text")?;
    // (bytes, meaning); the rescale takes whatever the fixed fields leave.
    let arena = format!("arena_size = {} (varint): both tensors are live during the op", graph.arena_size);
    let out_offset = match graph.tensors[1].storage {
        exactq_core::model::Storage::Arena { offset } => offset,
        exactq_core::model::Storage::Constant { .. } => unreachable!("activations live in the arena"),
    };
    let out_storage = format!("  storage 0 = Arena, offset {out_offset}");
    let fields: [(usize, &str); 20] = [
        (1, &arena),
        (2, "input = 0, output = 1"),
        (1, "2 tensors"),
        (1, "tensor 0: dtype 0 = Int8"),
        (3, "  shape: 2 dims, 1, 4"),
        (2, "  storage 0 = Arena, offset 0"),
        (1, "  quantization 0 = PerTensor"),
        (4, "    scale 0.5 (f32 LE)"),
        (1, "    zero_point −3 (zigzag 5)"),
        (1, "tensor 1: Int8"),
        (3, "  shape: 2 dims, 1, 4"),
        (2, &out_storage),
        (1, "  PerTensor"),
        (4, "    scale 0.25"),
        (1, "    zero_point 7 (zigzag 14)"),
        (1, "1 op"),
        (1, "opcode 10 = Requantize"),
        (2, "  input 0, output 1"),
        (0, "  rescale: multiplier 2^30 (zigzag, 5-byte varint), shift 2 (zigzag 4): M = 2^30·2^(2−31) = 2"),
        (2, "scratch: offset 0, size 0"),
    ];
    let fixed: usize = fields.iter().map(|f| f.0).sum();
    let mut at = 0;
    for (len, what) in fields {
        let len = if len == 0 { graph_bytes.len() - fixed } else { len };
        writeln!(t, "{:<30} {what}", hex(&graph_bytes[at..at + len]))?;
        at += len;
    }
    assert_eq!(at, graph_bytes.len(), "every graph byte explained");
    writeln!(t, "```")?;
    write!(t, "{END}")?;

    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/model-format.md");
    let doc = std::fs::read_to_string(&doc_path)?;
    let (Some(begin), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        return Err(format!("{}: markers {BEGIN} / {END} not found", doc_path.display()).into());
    };
    std::fs::write(&doc_path, format!("{}{}{}", &doc[..begin], t, &doc[end + END.len()..]))?;
    println!("{t}");
    Ok(())
}
