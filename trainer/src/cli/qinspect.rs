//! `exactq inspect` on a quantized checkpoint: stage, quantizers and the integer layers.

use std::path::Path;

use crate::quant::state::QuantState;

/// Prints what a `QUNT` checkpoint holds.
pub fn print(path: &Path, bytes: &[u8], tags: &[String]) -> anyhow::Result<()> {
    let s = QuantState::load(path)?;
    let dev = crate::quant::device::Device::new(bytes)?;
    println!("file       {} ({} bytes)", path.display(), bytes.len());
    println!("sections   {}", tags.join(", "));
    println!("model      {} on {}, stage {}, profile {}", s.arch.name(), s.dataset, s.stage.as_str(), s.model.profile.as_str());
    println!("ptq        {} samples, {:?}, bias correction {}", s.ptq.samples, s.ptq.estimator, s.ptq.bias_correction);
    if let Some(q) = &s.qat {
        println!("qat        {} epochs, {} steps, batch {}, lr {} (scales {})", q.epoch, q.step, q.batch_size, q.weights_opt.config.lr(), q.scales_opt.config.lr());
    }
    println!("device     arena {} bytes, input {} / output {} int8 values", dev.arena_size, dev.input_len, dev.output_len);
    println!();
    println!("{:>3}  {:<20} {:<10} {:<14} {:>12} {:>5}", "#", "layer", "op", "output", "scale", "zp");
    for (i, l) in s.model.layers.iter().enumerate() {
        let (scale, zp) = s.model.tensor_quant(l.output)?;
        let op = format!("{:?}", l.op);
        let op = op.split([' ', '(', '{']).next().unwrap_or("");
        println!("{i:>3}  {:<20} {:<10} {:<14} {:>12.6e} {:>5}", l.name, op, format!("{:?}", s.model.tensors[l.output].shape), scale, zp);
    }
    Ok(())
}
