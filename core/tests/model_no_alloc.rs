//! `load` and `invoke` never touch the heap: a counting global allocator sees no allocation
//! while they run (the device build has no allocator at all; see scripts/test-all.sh).

mod nets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use nets::{random_net, resnet8, Rng};
use exactq_core::arith::Profile;
use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::{invoke, invoke_observed, load};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Only the measuring thread counts: libtest's own threads allocate too (e.g. its
    // "has been running for over 60 seconds" notice on a loaded machine).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while `f` runs (`load` and `invoke` spawn no threads).
fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

// One test function only, so no other test's allocations interleave with ours.
#[test]
fn load_and_invoke_allocate_nothing() {
    // The counter sees allocations at all.
    assert_eq!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 3]))), 1);
    let mut nets = vec![resnet8(Profile::TfliteDouble, 5), resnet8(Profile::TfliteSingle, 6)];
    nets.extend((0..20).map(random_net));
    for net in nets {
        let blob = AlignedBytes::copy_from(&net.builder.build().unwrap());
        let mut model = None;
        assert_eq!(allocations_during(|| model = Some(load(&blob).unwrap())), 0, "load allocated");
        let model = model.unwrap();
        let input = Rng(9).i8s(model.input_len(), -128, 127);
        let mut arena = AlignedBytes::zeroed(model.arena_size());
        let mut output = vec![0i8; model.output_len()];
        let mut checksum = 0i64;
        let count = allocations_during(|| {
            invoke(&model, &input, &mut arena, &mut output).unwrap();
            invoke_observed(&model, &input, &mut arena, &mut output, |_, _, v| checksum += v.iter().map(|&x| x as i64).sum::<i64>()).unwrap();
        });
        assert_eq!(count, 0, "invoke allocated");
        assert!(output.iter().any(|&v| v != 0) || checksum != 0, "the network ran");
    }
}
