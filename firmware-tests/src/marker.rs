//! The instruction-count marker: the QEMU plugin (`tools/insncount.c`) prints the running count
//! of executed instructions each time `bench_mark` is entered; the host takes differences.

use core::hint::black_box;

/// Call right before and right after the code to measure. Never inlined and never removed
/// (`black_box` + an empty `asm!`), so its address in the ELF is a reliable plugin trigger.
#[no_mangle]
#[inline(never)]
pub extern "C" fn bench_mark(id: u32) {
    black_box(id);
    // SAFETY: an empty asm block has no effect; it only makes the body opaque to the optimizer.
    unsafe { core::arch::asm!("", options(nostack, preserves_flags)) };
}
