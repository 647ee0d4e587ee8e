//! Image for the no-FPU proof: only `load` + `invoke` of the every-kernel model and a byte
//! comparison, no formatting and no measurement. Built for `thumbv6m-none-eabi` (Cortex-M0) and
//! `thumbv7em-none-eabi` (Cortex-M4, soft-float ABI), where any float operation links a
//! `__aeabi_f*` / `__aeabi_d*` routine. `load` and `invoke` are each called through a
//! never-inlined, unmangled wrapper (`exactq_fw_load`, `exactq_fw_invoke`), so the host can tell
//! from the call graph of the ELF which routines each of them reaches.
//! Exit status 0 = every output equals the host's.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("firmware image for thumbv6m-none-eabi / thumbv7em-none-eabi: run it with `cargo firmware-test`");
}

#[cfg(target_os = "none")]
mod image {
    use exactq_core::model::{aligned::Aligned16, invoke, load_into, Model};
    use exactq_core::Error;
    use exactq_firmware_tests::exit::{exit, ExitCode};
    use exactq_firmware_tests::include_generated;

    mod generated {
        include!(concat!(env!("EXACTQ_FW_GENERATED"), "/every_kernel/case.rs"));
    }
    use generated::{ARENA_BYTES, INPUT_BYTES, OUTPUT_BYTES};

    /// Everything `load` needs, in one symbol of the call graph.
    #[no_mangle]
    #[inline(never)]
    fn exactq_fw_load(blob: &'static [u8], model: &mut Model<'static>) -> Result<(), Error> {
        load_into(blob, model)
    }

    /// Everything `invoke` needs, in one symbol of the call graph.
    #[no_mangle]
    #[inline(never)]
    fn exactq_fw_invoke(model: &Model<'_>, input: &[i8], arena: &mut [u8], output: &mut [i8]) -> Result<(), Error> {
        invoke(model, input, arena, output)
    }

    #[cortex_m_rt::entry]
    fn main() -> ! {
        static mut ARENA: Aligned16<[u8; ARENA_BYTES]> = Aligned16([0; ARENA_BYTES]);
        static mut MODEL: Model<'static> = Model::empty();
        let inputs: &[u8] = include_generated!("every_kernel", "inputs.bin");
        let expected: &[u8] = include_generated!("every_kernel", "expected.bin");
        if exactq_fw_load(include_generated!("every_kernel", "model.bin"), MODEL).is_err() {
            exit(ExitCode::CoreError)
        }
        let model: &Model<'static> = MODEL;
        let mut output = [0i8; OUTPUT_BYTES];
        let mut all_identical = true;
        for (input, want) in inputs.chunks_exact(INPUT_BYTES).zip(expected.chunks_exact(OUTPUT_BYTES)) {
            if exactq_fw_invoke(model, bytemuck::cast_slice(input), &mut ARENA.0, &mut output).is_err() {
                exit(ExitCode::CoreError)
            }
            all_identical &= output.iter().zip(want).all(|(&got, &host)| got as u8 == host);
        }
        exit(if all_identical { ExitCode::Pass } else { ExitCode::Mismatch })
    }
}
