//! The harness must notice a single wrong bit: plant a one-bit change in the expected outputs of
//! the every-kernel model and check that `firmware-test` fails because of an output mismatch
//! (not because of a build error or a crash).

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn one_flipped_expected_bit_fails_the_run() {
    if !common::qemu_or_skip() {
        return;
    }
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("planted-bit-flip");
    let output = Command::new(env!("CARGO_BIN_EXE_firmware-test"))
        .args(["--only", "every-kernel", "--flip-expected-bit", "--skip-no-fpu-proof"])
        .arg("--generated-dir")
        .arg(scratch.join("generated"))
        .arg("--json")
        .arg(scratch.join("firmware.json"))
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
    // The verdict reaches the JSON the report reads.
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(scratch.join("firmware.json")).unwrap()).unwrap();
    let entry = &json["every-kernel"];
    assert_eq!((entry["parity"].as_str(), entry["outcome"].as_str()), (Some("fail"), Some("output mismatch")));
    assert_eq!(entry["outputs_identical"].as_u64().map(|n| n + 1), entry["outputs_total"].as_u64());
}
