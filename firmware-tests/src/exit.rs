//! Exit status of the emulated board = exit status of QEMU = verdict of the image.

/// Distinct codes so the host can tell a wrong output from a crash. 101 is avoided: cargo uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Every output byte equals the host's.
    Pass = 0,
    /// At least one output byte differs from the host's.
    Mismatch = 1,
    /// A panic reached the panic handler.
    Panic = 2,
    /// A HardFault (bad memory access, undefined instruction, ...).
    HardFault = 3,
    /// The core returned an `Error` for the embedded model or input.
    CoreError = 4,
}

/// Semihosting SYS_EXIT_EXTENDED with reason ADP_Stopped_ApplicationExit: QEMU exits with `code`.
/// (Plain SYS_EXIT can only report success or failure.)
pub fn exit(code: ExitCode) -> ! {
    const SYS_EXIT_EXTENDED: usize = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x20026;
    let block: [u32; 2] = [ADP_STOPPED_APPLICATION_EXIT, code as u32];
    // SAFETY: the parameter block lives on the stack for the duration of the call, as the
    // semihosting ABI requires.
    unsafe { cortex_m_semihosting::syscall(SYS_EXIT_EXTENDED, &block) };
    // Only reached without a debugger/QEMU attached: stop here.
    loop {
        cortex_m::asm::bkpt();
    }
}
