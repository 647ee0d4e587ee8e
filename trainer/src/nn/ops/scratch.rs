//! Reused scratch buffers for the convolution's im2col matrices.
//!
//! The largest of them (58 MB for a 28x28x16 3x3 convolution at batch 128) are above glibc's
//! largest mmap threshold (32 MB), so a fresh one is an mmap whose every page faults in
//! again on each step. Buffers dropped here go back to a small pool instead.

use std::sync::Mutex;

/// Buffers smaller than this are left to the allocator.
const MIN_POOLED: usize = 1 << 20;
/// At most this many idle buffers are kept.
const MAX_IDLE: usize = 8;

static IDLE: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `len` f32 whose initial contents are unspecified (stale values from an earlier
/// use); callers overwrite every element.
pub(crate) struct Scratch(Vec<f32>);

impl Scratch {
    pub fn take(len: usize) -> Scratch {
        if len < MIN_POOLED {
            return Scratch(vec![0.0; len]);
        }
        let reused = {
            let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
            // The smallest idle buffer that is large enough.
            let best = idle.iter().enumerate().filter(|(_, b)| b.capacity() >= len).min_by_key(|(_, b)| b.capacity()).map(|(i, _)| i);
            best.map(|i| idle.swap_remove(i))
        };
        let mut v = reused.unwrap_or_default();
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        Scratch(v)
    }
}

impl std::ops::Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.capacity() >= MIN_POOLED {
            let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(std::mem::take(&mut self.0));
            }
        }
    }
}
