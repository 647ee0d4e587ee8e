//! Shared by the harness's integration tests.

use std::process::Command;

/// True when `qemu-system-arm` runs. When it does not, the test is skipped, except on CI
/// (`.ci/run` installs QEMU), where its absence fails the test.
pub fn qemu_or_skip() -> bool {
    if Command::new("qemu-system-arm").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "qemu-system-arm is missing on CI");
    eprintln!("skipped: qemu-system-arm is not installed (apt-get install qemu-system-arm)");
    false
}
