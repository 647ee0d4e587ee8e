//! Stack measurement by painting: cortex-m-rt's `paint-stack` fills the stack region with
//! `STACK_PAINT` at reset; the lowest overwritten word is the high-water mark.

/// The word cortex-m-rt writes when the `paint-stack` feature is on.
const STACK_PAINT: u32 = 0xCCCC_CCCC;

extern "C" {
    /// Top of the stack (initial SP), from cortex-m-rt's link.x.
    static _stack_start: u32;
    /// Lowest address the stack may grow to, from cortex-m-rt's link.x.
    static _stack_end: u32;
}

fn stack_bounds() -> (usize, usize) {
    (core::ptr::addr_of!(_stack_end) as usize, core::ptr::addr_of!(_stack_start) as usize)
}

/// Lowest address at or above `bottom` whose word no longer holds the paint.
fn first_used_word(bottom: usize, limit: usize) -> usize {
    let mut p = bottom;
    // SAFETY: [bottom, limit) lies inside the stack region, which is mapped, word-aligned RAM.
    while p < limit && unsafe { core::ptr::read_volatile(p as *const u32) } == STACK_PAINT {
        p += 4;
    }
    p
}

/// Bytes of stack ever used since reset (the painted region's high-water mark).
pub fn peak_since_reset() -> usize {
    let (bottom, top) = stack_bounds();
    top - first_used_word(bottom, top)
}

/// Bytes of stack used by `f` alone: repaint the free stack below the current frame, run `f`,
/// and find how deep it wrote.
#[inline(never)]
pub fn used_by<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let (bottom, _) = stack_bounds();
    let sp = cortex_m::register::msp::read() as usize;
    // Leave our own frame and the call into `f` untouched.
    const GUARD: usize = 64;
    let mut p = bottom;
    while p < sp - GUARD {
        // SAFETY: below the live stack and inside the stack region: nothing lives there.
        unsafe { core::ptr::write_volatile(p as *mut u32, STACK_PAINT) };
        p += 4;
    }
    let result = call_in_own_frame(f);
    (result, sp - first_used_word(bottom, sp))
}

/// Keeps `f`'s locals out of `used_by`'s frame (which lies above the measured region).
#[inline(never)]
fn call_in_own_frame<R>(f: impl FnOnce() -> R) -> R {
    f()
}
