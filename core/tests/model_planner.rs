//! The greedy planner: buffers live at the same time never overlap, offsets are aligned, the
//! arena covers every buffer and is never below the peak of live bytes.

use exactq_core::model::planner::{peak_live_bytes, plan, Buffer};
use proptest::prelude::*;

fn buffers() -> impl Strategy<Value = Vec<Buffer>> {
    proptest::collection::vec((0usize..5000, -1i32..20, 0i32..10), 0..40)
        .prop_map(|v| v.into_iter().map(|(size, first, span)| Buffer { size, first, last: first + span }).collect())
}

proptest! {
    #[test]
    fn plans_are_sound(buffers in buffers()) {
        let p = plan(&buffers, 16);
        prop_assert_eq!(p.offsets.len(), buffers.len());
        prop_assert_eq!(p.arena_size % 16, 0);
        prop_assert!(p.arena_size >= peak_live_bytes(&buffers));
        for (i, a) in buffers.iter().enumerate() {
            prop_assert_eq!(p.offsets[i] % 16, 0);
            prop_assert!(p.offsets[i] + a.size <= p.arena_size);
            for (j, b) in buffers.iter().enumerate().skip(i + 1) {
                let together = a.first <= b.last && b.first <= a.last;
                let apart = p.offsets[i] + a.size <= p.offsets[j] || p.offsets[j] + b.size <= p.offsets[i];
                prop_assert!(!together || a.size == 0 || b.size == 0 || apart, "buffers {} and {} overlap", i, j);
            }
        }
    }
}

#[test]
fn a_chain_reuses_memory() {
    // a → b → c → d: at most two neighbours live at once.
    let sizes = [1000, 2000, 1000, 2000];
    let buffers: Vec<Buffer> = sizes.iter().enumerate().map(|(i, &size)| Buffer { size, first: i as i32 - 1, last: i as i32 }).collect();
    let p = plan(&buffers, 16);
    assert_eq!(peak_live_bytes(&buffers), 3000);
    assert_eq!(p.arena_size, 3008, "the lower bound, rounded up to 16");
}
