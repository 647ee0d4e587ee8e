//! Links the images with cortex-m-rt's `link.x` + our `memory.x`, and tells them where the host
//! generator wrote the model blobs they embed.
use std::{env, fs, path::PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
        fs::copy(manifest_dir.join("memory.x"), out.join("memory.x")).expect("copy memory.x");
        println!("cargo:rustc-link-search={}", out.display());
        // -Tlink.x for every linked artifact (not only bins), so any image gets the script.
        println!("cargo:rustc-link-arg=-Tlink.x");
    }
    // The generator may write to another folder (the harness self-test does), so the path is
    // an input of the build, not a constant. Host builds (stubs) embed nothing: no need to watch.
    let generated = env::var_os("EXACTQ_FW_GENERATED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("generated"));
    println!("cargo:rustc-env=EXACTQ_FW_GENERATED={}", generated.display());
    println!("cargo:rerun-if-env-changed=EXACTQ_FW_GENERATED");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rerun-if-changed={}", generated.display());
    }
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
