//! Image: a graph with every kernel of the core (conv, depthwise conv, fully connected, add, mul,
//! average/max/global-average pool, softmax, requantize, reshape), compared with the host.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("firmware image for thumbv7em-none-eabihf: run it with `cargo firmware-test`");
}

#[cfg(target_os = "none")]
exactq_firmware_tests::model_image!("every_kernel");
