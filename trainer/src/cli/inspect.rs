//! `exactq inspect`: what a checkpoint holds.

use std::path::PathBuf;

use clap::Args;

use crate::checkpoint::{container, TrainerState};
use crate::nn::ParamKind;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Checkpoint file.
    pub checkpoint: PathBuf,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.checkpoint).map_err(|e| anyhow::anyhow!("{}: {e}", args.checkpoint.display()))?;
    let sections = container::decode(&args.checkpoint, &bytes)?;
    let state = TrainerState::from_bytes(&args.checkpoint, &bytes)?;
    println!("file       {} ({} bytes)", args.checkpoint.display(), bytes.len());
    let tags: Vec<String> = sections.iter().map(|s| format!("{} ({} B)", String::from_utf8_lossy(&s.tag), s.payload.len())).collect();
    println!("sections   {}", tags.join(", "));
    println!("model      {} ({} MACs per sample)", state.arch.name(), state.graph.macs_per_sample()?);
    println!("dataset    {}", state.hyper.dataset);
    println!("progress   {} epochs, {} steps, batch size {}, seed {}", state.progress.epoch, state.progress.step, state.hyper.batch_size, state.hyper.seed);
    println!("optimizer  {:?}", state.optimizer.config);
    println!("parameters {} trainable values", state.params.trainable_count());
    println!();
    let shapes = state.graph.shapes()?;
    println!("{:>3}  {:<20} {:<17} {:<8} {:<14} params", "#", "node", "op", "inputs", "output");
    for (i, (node, shape)) in state.graph.nodes.iter().zip(&shapes).enumerate() {
        let params: Vec<String> = state
            .params
            .params
            .iter()
            .filter(|p| p.name.strip_prefix(&node.name).is_some_and(|rest| rest.starts_with('.') && !rest[1..].contains('.')))
            .map(|p| format!("{}{:?}{}", &p.name[node.name.len() + 1..], p.shape, if p.kind == ParamKind::Buffer { "*" } else { "" }))
            .collect();
        let inputs: Vec<String> = node.inputs.iter().map(|j| j.to_string()).collect();
        println!("{i:>3}  {:<20} {:<17} {:<8} {:<14} {}", node.name, node.op.kind(), inputs.join(","), format!("{shape:?}"), params.join(" "));
    }
    if !state.history.is_empty() {
        println!();
        println!("{:>5}  {:>10}  {:>10}  {:>10}", "epoch", "train loss", "val loss", "val metric");
        for r in &state.history {
            println!("{:>5}  {:>10.4}  {:>10.4}  {:>10.4}", r.epoch, r.train_loss, r.val_loss, r.val_metric);
        }
    }
    Ok(())
}
