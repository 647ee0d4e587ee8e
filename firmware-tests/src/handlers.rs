//! Panics and faults end the run with their own exit code instead of hanging until the timeout.

use crate::exit::{exit, ExitCode};
use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::hprintln;

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("HardFault: pc={:#010x} lr={:#010x}", frame.pc(), frame.lr());
    exit(ExitCode::HardFault)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("PANIC: {}", info);
    exit(ExitCode::Panic)
}
