//! Harness shared by the firmware images: semihosting exit status, the instruction-count marker,
//! stack measurement, fault handlers and the model-parity check every image runs.
//!
//! Each image (`src/bin/*.rs`) is a `no_main` program for `thumbv7em-none-eabihf` that embeds a
//! model blob, its test inputs and the outputs the host computed with the same core, runs the
//! core's interpreter on every input and exits non-zero on any differing byte. On the host the
//! crate is empty and the images are stubs.
#![no_std]

#[cfg(target_os = "none")]
pub mod exit;
#[cfg(target_os = "none")]
mod handlers;
#[cfg(target_os = "none")]
pub mod marker;
#[cfg(target_os = "none")]
pub mod parity;
#[cfg(target_os = "none")]
pub mod stack;

#[cfg(target_os = "none")]
pub use cortex_m_semihosting::hprintln;

/// Embeds `<generated dir>/<case dir>/<file>` (written by the host generator) at a 16-byte
/// aligned address, so the interpreter borrows int32 constants in place.
#[macro_export]
macro_rules! include_generated {
    ($case_dir:literal, $file:literal) => {
        ::exactq_core::include_aligned!(concat!(env!("EXACTQ_FW_GENERATED"), "/", $case_dir, "/", $file))
    };
}

/// The whole of a model image: embeds `<generated dir>/<case dir>/` (model blob, test inputs,
/// host outputs, arena size) and, at reset, loads the model into a static `Model` and runs
/// [`parity::check`] on it.
#[macro_export]
macro_rules! model_image {
    ($case_dir:literal) => {
        mod generated {
            include!(concat!(env!("EXACTQ_FW_GENERATED"), "/", $case_dir, "/case.rs"));
        }

        #[::cortex_m_rt::entry]
        fn main() -> ! {
            // cortex-m-rt turns this into a `&'static mut` owned by `main` (no `unsafe` needed).
            static mut ARENA: ::exactq_core::model::aligned::Aligned16<[u8; generated::ARENA_BYTES]> =
                ::exactq_core::model::aligned::Aligned16([0; generated::ARENA_BYTES]);
            // The decoded graph tables live here too (static RAM), not on the stack.
            static mut MODEL: ::exactq_core::model::Model<'static> = ::exactq_core::model::Model::empty();
            let data = $crate::parity::TestData {
                name: $case_dir,
                inputs: $crate::include_generated!($case_dir, "inputs.bin"),
                expected: $crate::include_generated!($case_dir, "expected.bin"),
                input_bytes: generated::INPUT_BYTES,
                output_bytes: generated::OUTPUT_BYTES,
            };
            let mut output = [0i8; generated::OUTPUT_BYTES];
            $crate::parity::load_and_check($crate::include_generated!($case_dir, "model.bin"), MODEL, &data, &mut ARENA.0, &mut output)
        }
    };
}
