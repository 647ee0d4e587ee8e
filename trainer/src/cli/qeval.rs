//! `exactq eval` on a quantized checkpoint or a device blob: the metric through the core
//! interpreter, and (for checkpoints) the parity with the trainer's forward.

use crate::checkpoint::container;
use crate::data::{self, Task};
use crate::quant::device::Device;
use crate::quant::metrics::{evaluate, metric};
use crate::quant::state::{QuantState, MODL, QUNT};

use super::eval::EvalArgs;

/// Handles `args` when the file is quantized; returns false for a float checkpoint.
pub fn try_run(args: &EvalArgs) -> anyhow::Result<bool> {
    let bytes = std::fs::read(&args.checkpoint).map_err(|e| anyhow::anyhow!("{}: {e}", args.checkpoint.display()))?;
    let sections = container::decode(&args.checkpoint, &bytes)?;
    let key = |t: Task| if matches!(t, Task::Classify { .. }) { "accuracy" } else { "auroc" };
    if sections.iter().any(|s| s.tag == QUNT) {
        let state = QuantState::load(&args.checkpoint)?;
        let data = data::load(args.dataset.as_deref().unwrap_or(&state.dataset), args.env.data_dir.as_deref())?;
        crate::train::check_fit(&state.arch, &data)?;
        // The checkpoint's own MODL section is what the device would run.
        let e = evaluate(&state.model, &state.params, &bytes, &data.test, data.task)?;
        if args.json {
            let v = serde_json::json!({
                "model": state.arch.name(), "dataset": data.name, "stage": state.stage.as_str(),
                "profile": state.model.profile.as_str(), key(data.task): e.metric,
                "parity_identical": e.parity_identical, "parity_total": e.parity_total,
                "mismatched_bytes": e.mismatched_bytes, "samples": data.test.len(),
            });
            println!("{v}");
        } else {
            println!(
                "{} ({}) on {} test, device interpreter: {} {} ({} samples, {})",
                state.arch.name(),
                state.stage.as_str(),
                data.name,
                key(data.task),
                super::train::fmt_metric(e.metric, data.task),
                data.test.len(),
                state.model.profile.as_str()
            );
            println!("parity: {}/{} outputs identical between trainer forward and device interpreter", e.parity_identical, e.parity_total);
        }
        return Ok(true);
    }
    if sections.iter().any(|s| s.tag == MODL) && !sections.iter().any(|s| s.tag == crate::checkpoint::TRNR) {
        let Some(name) = args.dataset.as_deref() else {
            anyhow::bail!("{}: a device blob does not name its dataset; pass --dataset", args.checkpoint.display());
        };
        let data = data::load(name, args.env.data_dir.as_deref())?;
        let mut dev = Device::new(&bytes)?;
        if dev.input_len != data.sample_len() {
            anyhow::bail!("{}: model takes {} input values, {} samples have {}", args.checkpoint.display(), dev.input_len, data.name, data.sample_len());
        }
        let q = dev.run(&data.test.x)?;
        let m = metric(data.task, &data.test, &dev.dequantize(&q)?);
        if args.json {
            println!("{}", serde_json::json!({ "dataset": data.name, key(data.task): m, "samples": data.test.len(), "blob_bytes": bytes.len(), "arena_bytes": dev.arena_size }));
        } else {
            println!("blob on {} test, device interpreter: {} {} ({} samples)", data.name, key(data.task), super::train::fmt_metric(m, data.task), data.test.len());
            println!("parity: not measured (a bare blob has no trainer state; evaluate the checkpoint for parity)");
        }
        return Ok(true);
    }
    Ok(false)
}
