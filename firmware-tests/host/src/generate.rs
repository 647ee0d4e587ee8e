//! Writes what an image embeds: the model blob, its test inputs and the outputs the host core
//! computes for them, plus the constants the image needs at compile time.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// The models the firmware exercises; each one is its own image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CaseId {
    /// conv, depthwise conv, fully connected, add, mul, average/max/global pool, softmax,
    /// requantize and reshape in one graph: every kernel of the core.
    EveryKernel,
    /// ResNet-8 on 28x28x1 (16/32/64 channels, residual adds), random weights.
    Resnet8,
}

impl CaseId {
    pub const ALL: [CaseId; 2] = [CaseId::EveryKernel, CaseId::Resnet8];

    pub fn name(self) -> &'static str {
        match self {
            CaseId::EveryKernel => "every-kernel",
            CaseId::Resnet8 => "resnet8",
        }
    }

    /// Name of the firmware binary that embeds this case.
    pub fn bin(self) -> &'static str {
        self.name()
    }

    /// Regression guard: most instructions one inference may execute on the Cortex-M4 model
    /// (QEMU's count is deterministic). About 15 % above the figure in docs/firmware.md; lower
    /// it when the kernels get faster, raise it only with a reason.
    pub fn instruction_budget(self) -> u64 {
        match self {
            CaseId::EveryKernel => 950_000,
            CaseId::Resnet8 => 60_000_000,
        }
    }

    /// Folder under the generated dir (the images' `include_generated!` use the same names).
    pub fn dir_name(self) -> &'static str {
        match self {
            CaseId::EveryKernel => "every_kernel",
            CaseId::Resnet8 => "resnet8",
        }
    }
}

/// A model with its test inputs and the host's outputs for them.
pub struct HostCase {
    pub description: String,
    pub model: Vec<u8>,
    pub arena_bytes: usize,
    pub inputs: Vec<Vec<i8>>,
    pub expected: Vec<Vec<i8>>,
}

/// Image and folder of a model given with `--model FILE` (`src/bin/user_model.rs`).
pub const USER_BIN: &str = "user-model";
pub const USER_DIR: &str = "user_model";

/// What was written, for the report.
pub struct GeneratedCase {
    /// Name in the printed report and in `firmware.json`.
    pub name: String,
    /// Firmware binary that embeds it.
    pub bin: &'static str,
    /// Regression guard on instructions per inference (`None` for a `--model` file).
    pub instruction_budget: Option<u64>,
    /// The file it came from (`--model`), `None` for the built-in test models.
    pub source: Option<std::path::PathBuf>,
    /// CRC-32 stored for the model (its `MODL` section): names the model in `firmware.json`.
    pub model_crc32: u32,
    pub description: String,
    pub model_bytes: usize,
    pub arena_bytes: usize,
    pub inputs: usize,
    pub test_data_bytes: usize,
}

/// Number of test inputs per model.
pub const INPUTS_PER_MODEL: usize = 12;

pub fn write_case(case: CaseId, generated_dir: &Path, flip_expected_bit: bool) -> Result<GeneratedCase> {
    let host = match case {
        CaseId::EveryKernel => crate::models::every_kernel()?,
        CaseId::Resnet8 => crate::models::resnet8()?,
    };
    let mut written = write_host_case(host, case.name(), case.dir_name(), generated_dir, flip_expected_bit)?;
    written.bin = case.bin();
    written.instruction_budget = Some(case.instruction_budget());
    Ok(written)
}

/// The model in `path` (a device blob or a quantized checkpoint), under `name`, for the
/// `user-model` image.
pub fn write_user_case(path: &Path, name: &str, generated_dir: &Path, flip_expected_bit: bool) -> Result<GeneratedCase> {
    let host = crate::models::from_file(path)?;
    let mut written = write_host_case(host, name, USER_DIR, generated_dir, flip_expected_bit)?;
    written.source = Some(path.to_path_buf());
    Ok(written)
}

fn write_host_case(host: HostCase, name: &str, dir_name: &str, generated_dir: &Path, flip_expected_bit: bool) -> Result<GeneratedCase> {
    let model_crc32 = exactq_core::model::container::find_section(&host.model, exactq_core::model::container::MODEL_TAG)
        .map_err(|e| anyhow::anyhow!("{name}: the blob has no valid MODL section: {e:?}"))?
        .crc;
    let dir = generated_dir.join(dir_name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let concat = |rows: &[Vec<i8>]| rows.iter().flatten().map(|&v| v as u8).collect::<Vec<u8>>();
    let inputs = concat(&host.inputs);
    let mut expected = concat(&host.expected);
    if flip_expected_bit {
        expected[0] ^= 1;
    }
    let input_bytes = host.inputs[0].len();
    let output_bytes = host.expected[0].len();
    let mut constants = String::new();
    writeln!(constants, "// Written by `cargo firmware-test` ({name}); do not edit.")?;
    writeln!(constants, "pub const ARENA_BYTES: usize = {};", host.arena_bytes)?;
    writeln!(constants, "pub const INPUT_BYTES: usize = {input_bytes};")?;
    writeln!(constants, "pub const OUTPUT_BYTES: usize = {output_bytes};")?;
    write_if_changed(&dir.join("model.bin"), &host.model)?;
    write_if_changed(&dir.join("inputs.bin"), &inputs)?;
    write_if_changed(&dir.join("expected.bin"), &expected)?;
    write_if_changed(&dir.join("case.rs"), constants.as_bytes())?;
    Ok(GeneratedCase {
        name: name.to_owned(),
        bin: USER_BIN,
        instruction_budget: None,
        source: None,
        model_crc32,
        description: host.description,
        model_bytes: host.model.len(),
        arena_bytes: host.arena_bytes,
        inputs: host.inputs.len(),
        test_data_bytes: inputs.len() + expected.len(),
    })
}

/// Leaves unchanged files alone so cargo does not rebuild the images for nothing.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
