//! Memory planner (host side, run by the builder): buffers with op lifetimes → arena offsets.
//!
//! Greedy by size, as TFLite Micro's `GreedyMemoryPlanner`: take buffers from largest to
//! smallest and put each at the lowest aligned offset where it overlaps no already placed
//! buffer that is live at the same time.

use alloc::vec::Vec;

/// One buffer to place: `size` bytes live from op `first` through op `last` (inclusive; the
/// graph input uses −1, the graph output `ops.len()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    /// Bytes.
    pub size: usize,
    /// First op during which the bytes must be kept.
    pub first: i32,
    /// Last op during which the bytes must be kept.
    pub last: i32,
}

impl Buffer {
    fn live_with(&self, other: &Buffer) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

/// Offsets (same order as the buffers) and the arena size they need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Arena offset of each buffer.
    pub offsets: Vec<usize>,
    /// Bytes the arena needs.
    pub arena_size: usize,
}

/// Places every buffer at a multiple of `align` (a power of two).
pub fn plan(buffers: &[Buffer], align: usize) -> Plan {
    let align_up = |n: usize| n.div_ceil(align) * align;
    // Largest first; ties keep the earlier-used buffer first so the plan is deterministic.
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by(|&a, &b| buffers[b].size.cmp(&buffers[a].size).then(buffers[a].first.cmp(&buffers[b].first)).then(a.cmp(&b)));

    let mut offsets = alloc::vec![0usize; buffers.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(buffers.len());
    let mut arena_size = 0;
    for &i in &order {
        let buffer = &buffers[i];
        let mut conflicts: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| buffers[j].live_with(buffer) && buffers[j].size > 0)
            .map(|&j| (offsets[j], offsets[j] + buffers[j].size))
            .collect();
        conflicts.sort_unstable();
        let mut candidate = 0;
        for (start, end) in conflicts {
            if candidate + buffer.size <= start {
                break;
            }
            candidate = candidate.max(align_up(end));
        }
        offsets[i] = candidate;
        if buffer.size > 0 {
            arena_size = arena_size.max(candidate + buffer.size);
        }
        placed.push(i);
    }
    Plan { offsets, arena_size: align_up(arena_size) }
}

/// The most bytes live at once at any op: no plan can use a smaller arena.
pub fn peak_live_bytes(buffers: &[Buffer]) -> usize {
    let first = buffers.iter().map(|b| b.first).min().unwrap_or(0);
    let last = buffers.iter().map(|b| b.last).max().unwrap_or(0);
    (first..=last)
        .map(|step| buffers.iter().filter(|b| b.first <= step && step <= b.last).map(|b| b.size).sum())
        .max()
        .unwrap_or(0)
}
