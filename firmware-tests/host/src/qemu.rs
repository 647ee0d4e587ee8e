//! Runs one firmware image on QEMU (through `firmware-tests/tools/qemu-run.sh`) and reads what it
//! reported: the parity verdict over semihosting, instruction counts from the TCG plugin.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// What one run of an image printed, parsed.
#[derive(Debug, Default)]
pub struct RunReport {
    /// QEMU's exit status (the firmware's exit code, 124 on timeout); `None` if killed by a signal.
    pub exit_code: Option<i32>,
    /// `(identical, total)` from the firmware's `outputs identical: N/M` line.
    pub outputs_identical: Option<(u32, u32)>,
    /// Stack bytes used by one `invoke` call (repainted and measured around it).
    pub invoke_stack: Option<u64>,
    /// Stack high-water mark since reset for the whole image.
    pub peak_stack: Option<u64>,
    /// Instructions between `bench_mark(0)` and `bench_mark(1)`: exactly one inference.
    pub instructions_per_inference: Option<u64>,
    /// Everything the firmware and QEMU printed, for the log.
    pub stdout: String,
    pub stderr: String,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0) && matches!(self.outputs_identical, Some((n, m)) if n == m && m > 0)
    }
}

/// Meaning of the runner's exit status (see `qemu-run.sh`).
pub fn describe_exit(code: Option<i32>) -> &'static str {
    match code {
        Some(0) => "pass",
        Some(1) => "output mismatch",
        Some(2) => "panic",
        Some(3) => "HardFault",
        Some(4) => "core returned an error",
        Some(124) => "hung: killed by the timeout",
        Some(134) => "QEMU aborted (CPU lockup)",
        Some(_) => "unexpected exit status",
        None => "killed by a signal",
    }
}

/// Boots `elf`; `mark` is the address of `bench_mark` for instruction counting (None: no plugin).
pub fn run(runner: &Path, elf: &Path, mark: Option<u64>, timeout_secs: u32) -> Result<RunReport> {
    let mut command = Command::new(runner);
    command.arg(elf).env("EXACTQ_QEMU_TIMEOUT", timeout_secs.to_string());
    match mark {
        Some(address) => command.env("EXACTQ_INSNS", "1").env("EXACTQ_INSN_MARK", format!("{address:#x}")),
        None => command.env("EXACTQ_INSNS", "0"),
    };
    let output = command
        .output()
        .with_context(|| format!("starting {} (is qemu-system-arm installed?)", runner.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut report = RunReport { exit_code: output.status.code(), ..RunReport::default() };
    parse_firmware_lines(&stdout, &mut report)?;
    report.instructions_per_inference = instructions_between_marks(&stderr, 0, 1)?;
    report.stdout = stdout;
    report.stderr = stderr;
    Ok(report)
}

fn parse_firmware_lines(stdout: &str, report: &mut RunReport) -> Result<()> {
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("outputs identical: ") {
            let (n, m) = rest.split_once('/').with_context(|| format!("malformed line `{line}`"))?;
            report.outputs_identical = Some((n.trim().parse()?, m.trim().parse()?));
        } else if let Some(rest) = line.strip_prefix("invoke stack bytes: ") {
            report.invoke_stack = Some(rest.trim().parse()?);
        } else if let Some(rest) = line.strip_prefix("peak stack bytes: ") {
            report.peak_stack = Some(rest.trim().parse()?);
        }
    }
    Ok(())
}

/// Instructions executed between mark `from` and mark `to` (plugin lines
/// `insncount: mark K at N (+D)`); None when the plugin printed no such marks.
fn instructions_between_marks(plugin_log: &str, from: u32, to: u32) -> Result<Option<u64>> {
    let mut at = std::collections::HashMap::new();
    for line in plugin_log.lines() {
        let Some(rest) = line.strip_prefix("insncount: mark ") else { continue };
        let mut words = rest.split_whitespace();
        let (Some(k), Some("at"), Some(n)) = (words.next(), words.next(), words.next()) else {
            bail!("malformed plugin line `{line}`");
        };
        at.insert(k.parse::<u32>()?, n.parse::<u64>()?);
    }
    Ok(match (at.get(&from), at.get(&to)) {
        (Some(a), Some(b)) if b >= a => Some(b - a),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_firmware_report_lines() {
        let mut r = RunReport::default();
        parse_firmware_lines(
            "case x\noutputs identical: 11/12\ninvoke stack bytes: 312\npeak stack bytes: 1024\n",
            &mut r,
        )
        .unwrap();
        assert_eq!(r.outputs_identical, Some((11, 12)));
        assert_eq!(r.invoke_stack, Some(312));
        assert_eq!(r.peak_stack, Some(1024));
    }

    #[test]
    fn instruction_delta_between_marks() {
        let log = "insncount: mark 0 at 1000 (+1000)\ninsncount: mark 1 at 4500 (+3500)\ninsncount: total 9000\n";
        assert_eq!(instructions_between_marks(log, 0, 1).unwrap(), Some(3500));
        assert_eq!(instructions_between_marks("insncount: total 5\n", 0, 1).unwrap(), None);
        assert!(instructions_between_marks("insncount: mark zero at x\n", 0, 1).is_err());
    }
}
