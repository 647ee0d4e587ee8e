//! `cargo firmware-test`: the core on an emulated Cortex-M4, compared byte for byte with the host.
//!
//! 1. generate each model blob, its test inputs and the expected outputs with the host build of
//!    exactq-core (builder + interpreter) into `firmware-tests/generated/`;
//! 2. build the firmware images (`thumbv7em-none-eabihf`, profile `firmware`), which embed them;
//! 3. run every image on QEMU `mps2-an386` and print, per model, `outputs identical: N/N` and the
//!    device figures (flash, static RAM, arena, peak stack, instructions per inference);
//! 4. prove the integer path needs no FPU: in a load + invoke image built for Cortex-M0
//!    (`thumbv6m-none-eabi`) and for the FPU-less Cortex-M4 ABI, no soft-float routine is
//!    reachable from `invoke`, and the image still computes the host's bytes.
//!
//! The figures and the verdict of every model also go to a JSON file (`--json`, default
//! `target/firmware/firmware.json`), the `firmware.json` that `exactq report` reads (format in
//! `docs/report.md`). `--model FILE` runs a model of your own (a blob from `exactq export`, or a
//! quantized checkpoint) in its own image instead of the built-in test models.
//!
//! Exits non-zero on any differing byte, any crash or hung guest, or any soft-float routine
//! reachable from `invoke`.

mod callgraph;
mod elf;
mod firmware_build;
mod generate;
mod models;
mod qemu;

use anyhow::{Context, Result};
use callgraph::CallGraph;
use clap::Parser;
use firmware_build::FirmwareBuild;
use generate::{CaseId, GeneratedCase};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Cortex-M4F: the board the parity run and the figures are for.
const M4F_TARGET: &str = "thumbv7em-none-eabihf";
/// Targets without an FPU for the no-float proof: Cortex-M0 and Cortex-M4 with the soft-float ABI.
const NO_FPU_TARGETS: [&str; 2] = ["thumbv6m-none-eabi", "thumbv7em-none-eabi"];
const NO_FPU_BIN: &str = "load-invoke-only";
/// The unmangled, never-inlined wrappers of that image around `invoke` and `load`.
const INVOKE_ROOT: &str = "exactq_fw_invoke";
const LOAD_ROOT: &str = "exactq_fw_load";

#[derive(Parser, Debug)]
#[command(about = "Run exactq-core on QEMU Cortex-M4 and compare every output byte with the host")]
struct Args {
    /// Only these built-in models (default: all, or none when --model is given).
    #[arg(long = "only", value_enum)]
    only: Vec<CaseId>,
    /// Also run this model (a device blob from `exactq export`, or a PTQ/QAT checkpoint) on the
    /// board, with 12 seeded test inputs; its figures go to --json under --name.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Name of the --model entry in the report and the JSON [default: the file's stem].
    #[arg(long, requires = "model")]
    name: Option<String>,
    /// Where the figures of every model are written as JSON (what `exactq report` reads as
    /// firmware.json) [default: target/firmware/firmware.json].
    #[arg(long)]
    json: Option<PathBuf>,
    /// Plant a one-bit change in the expected outputs (the run must then fail).
    #[arg(long)]
    flip_expected_bit: bool,
    /// Skip the no-FPU proof (Cortex-M0 / soft-float builds).
    #[arg(long)]
    skip_no_fpu_proof: bool,
    /// Where the blobs and expected outputs are written [default: firmware-tests/generated].
    #[arg(long)]
    generated_dir: Option<PathBuf>,
    /// Cargo target folder of the firmware builds [default: target/firmware].
    #[arg(long)]
    target_dir: Option<PathBuf>,
    /// Seconds before a hung guest is killed.
    #[arg(long, default_value_t = 120)]
    timeout: u32,
}

fn workspace_root() -> PathBuf {
    // firmware-tests/host -> repository root
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root exists")
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("firmware-test: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Ok(true) when every check passed.
fn run(args: Args) -> Result<bool> {
    let workspace = workspace_root();
    let generated_dir = args.generated_dir.clone().unwrap_or_else(|| workspace.join("firmware-tests/generated"));
    let target_dir = args.target_dir.clone().unwrap_or_else(|| workspace.join("target/firmware"));
    let runner = workspace.join("firmware-tests/tools/qemu-run.sh");
    let cases: Vec<CaseId> = match (&args.model, args.only.is_empty()) {
        (_, false) => args.only.clone(),
        (Some(_), true) => Vec::new(),
        (None, true) => CaseId::ALL.to_vec(),
    };
    let json_path = args.json.clone().unwrap_or_else(|| target_dir.join("firmware.json"));

    std::fs::create_dir_all(&generated_dir)
        .with_context(|| format!("creating {}", generated_dir.display()))?;
    let generated_dir = generated_dir.canonicalize()?;
    let mut generated = Vec::new();
    for &case in &cases {
        generated.push(generate::write_case(case, &generated_dir, args.flip_expected_bit)?);
    }
    if let Some(path) = &args.model {
        let name = match &args.name {
            Some(n) => n.clone(),
            None => path.file_stem().map_or_else(|| "model".to_owned(), |s| s.to_string_lossy().into_owned()),
        };
        anyhow::ensure!(
            !CaseId::ALL.iter().any(|c| c.name() == name) && name != "target" && name != "tool",
            "--name {name}: taken by a built-in entry of the JSON; choose another"
        );
        generated.push(generate::write_user_case(path, &name, &generated_dir, args.flip_expected_bit)?);
    }
    if args.flip_expected_bit {
        println!("planted: lowest bit of the first expected output byte flipped in every model");
    }

    let builder = FirmwareBuild { workspace: &workspace, target_dir: &target_dir, generated_dir: &generated_dir };
    let bins: Vec<&str> = generated.iter().map(|g| g.bin).collect();
    let images = builder.build(M4F_TARGET, &bins)?;

    let (mut passed, mut failed) = (0u32, 0u32);
    let mut figures = serde_json::Map::new();
    figures.insert("target".into(), format!("{M4F_TARGET} (QEMU mps2-an386, Cortex-M4F), profile {}", firmware_build::PROFILE).into());
    figures.insert("tool".into(), "cargo firmware-test".into());
    for (case, elf_path) in generated.iter().zip(&images) {
        let (ok, entry) = run_model_image(case, elf_path, &runner, args.timeout)?;
        figures.insert(case.name.clone(), entry);
        if ok { passed += 1 } else { failed += 1 }
    }
    write_json(&json_path, &serde_json::Value::Object(figures))?;
    println!("figures written to {}", json_path.display());

    if args.skip_no_fpu_proof {
        println!("no-FPU proof skipped (--skip-no-fpu-proof)");
    } else if !cases.contains(&CaseId::EveryKernel) {
        println!("no-FPU proof skipped: its image embeds the every-kernel model, which was not selected");
    } else {
        for target in NO_FPU_TARGETS {
            let ok = no_fpu_proof(&builder, target, &runner, args.timeout)?;
            if ok { passed += 1 } else { failed += 1 }
        }
    }
    println!("firmware: {passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// Writes `value` to `path` (creating its folder) through a temporary file and a rename.
fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(value)? + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Runs one model image; returns whether it passed and its `firmware.json` entry.
fn run_model_image(case: &GeneratedCase, elf_path: &Path, runner: &Path, timeout: u32) -> Result<(bool, serde_json::Value)> {
    let size = elf::image_size(elf_path)?;
    let mark = elf::symbol_address(elf_path, "bench_mark")?;
    let report = qemu::run(runner, elf_path, Some(mark), timeout)?;
    let name = &case.name;
    let (identical, total) = report.outputs_identical.unwrap_or((0, case.inputs as u32));
    println!("{name}: outputs identical: {identical}/{total}");
    let figure = |v: Option<u64>| v.map_or_else(|| "not reported".to_owned(), |v| v.to_string());
    println!("  model            : {}", case.description);
    println!(
        "  flash            : {} B (.text {} + .rodata {}; model blob {} B, inputs + expected {} B)",
        size.flash(),
        size.text,
        size.rodata,
        case.model_bytes,
        case.test_data_bytes
    );
    println!("  static RAM       : {} B (.data {} + .bss {}), arena {} B", size.static_ram(), size.data, size.bss + size.uninit, case.arena_bytes);
    println!("  peak stack       : {} B (one invoke: {} B)", figure(report.peak_stack), figure(report.invoke_stack));
    let budget = case.instruction_budget;
    let budget_text = budget.map_or_else(|| "no budget".to_owned(), |b| format!("budget {b}"));
    println!("  instructions/inference: {} ({budget_text})", figure(report.instructions_per_inference));
    let within_budget = report.instructions_per_inference.is_some_and(|n| budget.is_none_or(|b| n <= b));
    if report.passed() && !within_budget {
        match report.instructions_per_inference {
            Some(_) => println!("  FAILED: instructions per inference over the budget (regression guard, see docs/firmware.md)"),
            None => println!("  FAILED: the instruction-count plugin reported no marks"),
        }
    }
    let ok = report.passed() && within_budget;
    if !report.passed() {
        println!("  FAILED: {} (QEMU exit status {:?})", qemu::describe_exit(report.exit_code), report.exit_code);
        print_indented(&report.stdout);
        print_indented(&report.stderr);
    }
    let entry = serde_json::json!({
        "description": case.description,
        "source": case.source.as_ref().map(|p| p.display().to_string()),
        "model_crc32": format!("{:#010x}", case.model_crc32),
        "parity": if report.passed() { "pass" } else { "fail" },
        "outcome": qemu::describe_exit(report.exit_code),
        "outputs_identical": identical,
        "outputs_total": total,
        "flash_bytes": size.flash(),
        "text_bytes": size.text,
        "rodata_bytes": size.rodata,
        "blob_bytes": case.model_bytes,
        "test_data_bytes": case.test_data_bytes,
        "static_ram_bytes": size.static_ram(),
        "arena_bytes": case.arena_bytes,
        "peak_stack_bytes": report.peak_stack,
        "invoke_stack_bytes": report.invoke_stack,
        "instructions_per_inference": report.instructions_per_inference,
        "instruction_budget": budget,
    });
    Ok((ok, entry))
}

/// Builds the load + invoke image for an FPU-less target and follows its call graph from the
/// never-inlined `invoke` wrapper: no soft-float routine may be reachable from it. What `load`
/// reaches is reported too. The image also runs (a Cortex-M4 executes Cortex-M0 code): exit 0
/// means it computed the host's bytes.
fn no_fpu_proof(builder: &FirmwareBuild, target: &str, runner: &Path, timeout: u32) -> Result<bool> {
    let elf_path = builder.build(target, &[NO_FPU_BIN])?.remove(0);
    let graph = CallGraph::of_image(&elf_path)?;
    let size = elf::image_size(&elf_path)?;
    let report = qemu::run(runner, &elf_path, None, timeout)?;
    println!("no FPU needed ({target}, load + invoke image, .text {} B):", size.text);
    let mut ok = report.exit_code == Some(0);
    for (root, must_be_float_free) in [(INVOKE_ROOT, true), (LOAD_ROOT, false)] {
        if !graph.contains(root) {
            println!("  {root}: not in the image (inlined?): cannot follow its calls");
            ok = false;
            continue;
        }
        let soft_float = graph.reachable_matching(root, elf::is_soft_float_routine);
        let verdict = if soft_float.is_empty() {
            "none".to_owned()
        } else {
            soft_float.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", ")
        };
        println!("  {root} reaches {} functions; soft-float routines among them: {verdict}", graph.reachable_count(root));
        if let Some((_, path)) = soft_float.first() {
            println!("    e.g. {}", path.join(" -> "));
        }
        if must_be_float_free && !soft_float.is_empty() {
            ok = false;
        }
    }
    println!("  soft-float routines in the whole image: {}", elf::soft_float_routines(&elf_path)?.join(", "));
    println!("  on QEMU: {}", qemu::describe_exit(report.exit_code));
    if report.exit_code != Some(0) {
        print_indented(&report.stdout);
        print_indented(&report.stderr);
    }
    Ok(ok)
}

fn print_indented(text: &str) {
    for line in text.lines() {
        println!("    | {line}");
    }
}
