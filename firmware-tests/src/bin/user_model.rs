//! Image: the model given to `cargo firmware-test --model FILE` (e.g. `exactq export`'s
//! `model.qmod`), compared with the host on seeded test inputs.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("firmware image for thumbv7em-none-eabihf: run it with `cargo firmware-test --model FILE`");
}

#[cfg(target_os = "none")]
exactq_firmware_tests::model_image!("user_model");
