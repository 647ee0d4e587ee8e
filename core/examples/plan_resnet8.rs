//! Plans the ResNet-8 of the examples (28x28x1, 16/32/64, residual adds, 1x1 stride-2
//! projections, global average pool, FC 10, softmax) and writes its arena figures into
//! docs/model-format.md (between the `plan_resnet8` markers). Rerun with
//! `cargo run -p exactq-core --example plan_resnet8 --features std`.

#[path = "../tests/nets/mod.rs"]
mod nets;

use std::fmt::Write as _;
use std::path::Path;

use exactq_core::arith::Profile;
use exactq_core::model::{byte_len, load, Storage};
use exactq_core::model::aligned::AlignedBytes;

const BEGIN: &str = "<!-- plan_resnet8:begin -->";
const END: &str = "<!-- plan_resnet8:end -->";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let net = nets::resnet8(Profile::TfliteDouble, 1);
    let (graph, report) = net.builder.plan()?;
    let blob = net.builder.build()?;
    let aligned = AlignedBytes::copy_from(&blob);
    let model = load(&aligned)?;
    let constants: usize = graph
        .tensors
        .iter()
        .filter(|t| matches!(t.storage, Storage::Constant { .. }))
        .filter_map(byte_len)
        .sum();

    let mut text = String::new();
    writeln!(text, "{BEGIN}")?;
    writeln!(text, "Figures for the ResNet-8 of the examples (28x28x1 → conv 16 → three residual stacks of")?;
    writeln!(text, "16/32/64 channels with 1x1 stride-2 projections → global average pool → FC 10 → softmax;")?;
    writeln!(text, "{} ops, {} tensors), written by", graph.ops.len(), graph.tensors.len())?;
    writeln!(text, "`cargo run -p exactq-core --example plan_resnet8 --features std`:\n")?;
    writeln!(text, "| figure | bytes |")?;
    writeln!(text, "| --- | ---: |")?;
    writeln!(text, "| arena size from the planner (activations + kernel scratch) | {} |", report.arena_size)?;
    writeln!(text, "| sum of all activation tensors (no sharing) | {} |", report.tensor_bytes_total)?;
    writeln!(text, "| largest pair of tensors live at the same time | {} |", report.largest_live_pair)?;
    writeln!(text, "| most bytes live at once (tensors + scratch; lower bound for any plan) | {} |", report.peak_live_bytes)?;
    writeln!(text, "| largest kernel scratch | {} |", report.largest_scratch)?;
    writeln!(text, "| constants (weights, biases) borrowed from flash | {constants} |")?;
    writeln!(text, "| whole device blob | {} |", blob.len())?;
    writeln!(text)?;
    let verdict = if report.arena_size == report.peak_live_bytes {
        "so the greedy plan reaches the lower bound".to_string()
    } else {
        format!("{} B above the lower bound", report.arena_size - report.peak_live_bytes)
    };
    writeln!(
        text,
        "The peak is in the first residual stack, where the block input, the first conv output and \
the second conv output (3 × 28·28·16 = 37,632 B) are live together with that conv's scratch; \
the arena equals the most bytes live at once, {verdict}. TFLite Micro plans 37,632 B of \
activations plus kernel scratch for the same network (`shared/reference/anchors.md`)."
    )?;
    write!(text, "{END}")?;
    assert_eq!(model.arena_size(), report.arena_size);

    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/model-format.md");
    let doc = std::fs::read_to_string(&doc_path)?;
    let (Some(begin), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        return Err(format!("{}: markers {BEGIN} / {END} not found", doc_path.display()).into());
    };
    let updated = format!("{}{}{}", &doc[..begin], text, &doc[end + END.len()..]);
    std::fs::write(&doc_path, updated)?;
    println!("{text}");
    println!("updated {}", doc_path.display());
    Ok(())
}
