//! Image: ResNet-8 on 28x28x1 (16/32/64 channels, residual adds), compared with the host.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("firmware image for thumbv7em-none-eabihf: run it with `cargo firmware-test`");
}

#[cfg(target_os = "none")]
exactq_firmware_tests::model_image!("resnet8");
