//! `exactq export-onnx` (deprecated, hidden): the old spelling of `exactq export --format onnx
//! --force`, kept so existing scripts work. Also home of the ONNX checker's test-set writer
//! (`.npy` files for `tools/onnx-check`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::data;
use crate::quant::device::Device;

#[derive(Args, Debug)]
pub struct ExportOnnxArgs {
    /// Device blob, or a quantized checkpoint.
    pub blob: PathBuf,
    /// Where to write the `.onnx` file.
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub test_set: super::export::TestSetArgs,
}

pub fn run(args: ExportOnnxArgs) -> Result<()> {
    eprintln!("note: `exactq export-onnx` is deprecated; use `exactq export MODEL --format onnx --out FILE`");
    super::export::run(super::export::ExportArgs {
        checkpoint: args.blob,
        out: args.output,
        format: super::export::Format::Onnx,
        c_array: None,
        rust_array: None,
        test_set: args.test_set,
        force: true,
    })
}

/// Writes `inputs.npy` (int8, the model's input shape), `labels.npy` (int64) and `exactq.npy`
/// (the core interpreter's int8 outputs) of `name`'s test split into `dir`.
pub fn write_test_set(blob: &[u8], name: &str, dir: &Path, samples: Option<usize>, data_dir: Option<&Path>) -> Result<()> {
    let ds = data::load(name, data_dir)?;
    let mut device = Device::new(blob)?;
    let per = ds.sample_len();
    if per != device.input_len {
        bail!("dataset {name} has samples of {per} values, the model takes {}", device.input_len);
    }
    let n = samples.unwrap_or(ds.test.len()).min(ds.test.len());
    let x = &ds.test.x[..n * per];
    let mut q = vec![0i8; x.len()];
    exactq_core::arith::quantize::quantize_slice(x, device.input_quant.0, device.input_quant.1, &mut q)
        .map_err(|e| anyhow::anyhow!("quantizing the test inputs: {e}"))?;
    let out = device.run(x)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // The model's own input shape (a dataset may store the same values with another shape).
    let mut in_shape = vec![n];
    in_shape.extend(model_input_shape(blob)?.into_iter().skip(1));
    let labels: Vec<i64> = ds.test.y[..n].iter().map(|&v| i64::from(v)).collect();
    write_npy(&dir.join("inputs.npy"), "|i1", &in_shape, &q.iter().map(|&v| v as u8).collect::<Vec<_>>())?;
    write_npy(&dir.join("labels.npy"), "<i8", &[n], &labels.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>())?;
    write_npy(&dir.join("exactq.npy"), "|i1", &[n, device.output_len], &out.iter().map(|&v| v as u8).collect::<Vec<_>>())?;
    println!("wrote {n} test samples of {name} to {}", dir.display());
    if let data::Task::Classify { .. } = ds.task {
        let correct = out.chunks(device.output_len).zip(&ds.test.y[..n]).filter(|(o, &y)| argmax(o) == y as usize).count();
        println!("exactq INT8 accuracy {:.2}% ({correct}/{n})", 100.0 * correct as f64 / n.max(1) as f64);
    }
    Ok(())
}

fn model_input_shape(blob: &[u8]) -> Result<Vec<usize>> {
    let aligned = exactq_core::model::aligned::AlignedBytes::copy_from(blob);
    let m = exactq_core::model::load(aligned.as_slice()).map_err(|e| anyhow::anyhow!("loading the model: {e}"))?;
    let t = m.tensor(m.graph().input).context("model has no input tensor")?;
    Ok(t.shape.iter().map(|&d| d as usize).collect())
}

/// First index of the largest value (ties: lowest index, as numpy's argmax).
fn argmax(v: &[i8]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// NumPy `.npy` version 1.0: magic, header length, a Python-dict header padded to 64 bytes.
fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) -> Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_str = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_str}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
