//! Builds the firmware images with cargo (a nested build in its own target folder, so it never
//! waits on the lock of the cargo command that started us).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const FIRMWARE_PACKAGE: &str = "exactq-firmware-tests";
/// Cargo profile of the images (root Cargo.toml: release + fat LTO + one codegen unit).
pub const PROFILE: &str = "firmware";

pub struct FirmwareBuild<'a> {
    pub workspace: &'a Path,
    pub target_dir: &'a Path,
    pub generated_dir: &'a Path,
}

impl FirmwareBuild<'_> {
    /// Builds `bins` for `target` and returns the path of each ELF, in order.
    pub fn build(&self, target: &str, bins: &[&str]) -> Result<Vec<PathBuf>> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(self.workspace)
            .args(["build", "--quiet", "-p", FIRMWARE_PACKAGE, "--profile", PROFILE, "--target", target])
            .arg("--target-dir")
            .arg(self.target_dir)
            .env("EXACTQ_FW_GENERATED", self.generated_dir)
            // A parent `cargo run` exports these for its own package; they must not leak in.
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS");
        for bin in bins {
            command.args(["--bin", bin]);
        }
        let status = command.status().context("starting cargo to build the firmware")?;
        if !status.success() {
            bail!("building firmware {bins:?} for {target} failed ({status}); is the target installed? (rustup target add {target})");
        }
        let out = self.target_dir.join(target).join(PROFILE);
        Ok(bins.iter().map(|bin| out.join(bin)).collect())
    }
}
