//! The harness must notice a single wrong bit: plant a one-bit change in the expected outputs of
//! the every-kernel model and check that `firmware-test` fails because of an output mismatch
//! (not because of a build error or a crash).

use std::path::Path;
use std::process::Command;

fn qemu_installed() -> bool {
    Command::new("qemu-system-arm").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn one_flipped_expected_bit_fails_the_run() {
    if !qemu_installed() {
        // CI installs QEMU (.ci/run); there the check must run.
        assert!(std::env::var_os("CI").is_none(), "qemu-system-arm is missing on CI");
        eprintln!("skipped: qemu-system-arm is not installed (apt-get install qemu-system-arm)");
        return;
    }
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("planted-bit-flip");
    let output = Command::new(env!("CARGO_BIN_EXE_firmware-test"))
        .args(["--only", "every-kernel", "--flip-expected-bit", "--skip-no-fpu-proof"])
        .arg("--generated-dir")
        .arg(scratch.join("generated"))
        .output()
        .expect("firmware-test starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    assert_eq!(output.status.code(), Some(1), "the planted bit flip must fail the run");
    assert!(stdout.contains("planted: lowest bit of the first expected output byte flipped"));
    // Exactly the first input's output differs, in exactly its first byte.
    assert!(stdout.contains("mismatch: input 0 byte 0:"), "the device must report where it differs");
    let identical = stdout
        .lines()
        .find_map(|l| l.strip_prefix("every-kernel: outputs identical: "))
        .expect("a parity line");
    let (same, total) = identical.split_once('/').expect("N/M");
    let (same, total): (u32, u32) = (same.parse().unwrap(), total.parse().unwrap());
    assert!(total >= 10, "at least 10 inputs");
    assert_eq!(same + 1, total, "only the planted input differs");
    assert!(stdout.contains("FAILED: output mismatch"));
    assert!(stdout.contains("firmware: 0 passed, 1 failed"));
}
