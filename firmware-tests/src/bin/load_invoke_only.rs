//! Image for the no-FPU proof: only `load` + `invoke` of the every-kernel model and a byte
//! comparison, no formatting and no measurement, so every routine in its symbol table is there
//! for the integer inference path. Built for `thumbv6m-none-eabi` (Cortex-M0) and
//! `thumbv7em-none-eabi` (Cortex-M4, soft-float ABI): any float operation would link a
//! `__aeabi_f*` / `__aeabi_d*` routine. Exit status 0 = every output equals the host's.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("firmware image for thumbv6m-none-eabi / thumbv7em-none-eabi: run it with `cargo firmware-test`");
}

#[cfg(target_os = "none")]
mod image {
    use exactq_core::model::{aligned::Aligned16, invoke, load};
    use exactq_firmware_tests::exit::{exit, ExitCode};
    use exactq_firmware_tests::include_generated;

    mod generated {
        include!(concat!(env!("EXACTQ_FW_GENERATED"), "/every_kernel/case.rs"));
    }
    use generated::{ARENA_BYTES, INPUT_BYTES, OUTPUT_BYTES};

    #[cortex_m_rt::entry]
    fn main() -> ! {
        static mut ARENA: Aligned16<[u8; ARENA_BYTES]> = Aligned16([0; ARENA_BYTES]);
        let inputs: &[u8] = include_generated!("every_kernel", "inputs.bin");
        let expected: &[u8] = include_generated!("every_kernel", "expected.bin");
        let Ok(model) = load(include_generated!("every_kernel", "model.bin")) else { exit(ExitCode::CoreError) };
        let mut output = [0i8; OUTPUT_BYTES];
        let mut all_identical = true;
        for (input, want) in inputs.chunks_exact(INPUT_BYTES).zip(expected.chunks_exact(OUTPUT_BYTES)) {
            if invoke(&model, bytemuck::cast_slice(input), &mut ARENA.0, &mut output).is_err() {
                exit(ExitCode::CoreError)
            }
            all_identical &= output.iter().zip(want).all(|(&got, &host)| got as u8 == host);
        }
        exit(if all_identical { ExitCode::Pass } else { ExitCode::Mismatch })
    }
}
