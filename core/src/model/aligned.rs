//! 16-byte aligned byte buffers, so a blob's int32 constants can be borrowed in place.
//!
//! Device: `static MODEL: &Aligned16<[u8]> = &Aligned16(*include_bytes!("model.exq"));`
//! (or the [`include_aligned!`](crate::include_aligned) macro). Host: [`AlignedBytes`].

/// Wraps a value at a 16-byte aligned address. `Aligned16<[u8; N]>` coerces to `Aligned16<[u8]>`.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aligned16<T: ?Sized>(pub T);

/// `include_bytes!` at a 16-byte aligned address, as `&'static [u8]`.
#[macro_export]
macro_rules! include_aligned {
    ($path:expr) => {{
        static ALIGNED: &$crate::model::aligned::Aligned16<[u8]> =
            &$crate::model::aligned::Aligned16(*include_bytes!($path));
        &ALIGNED.0
    }};
}

#[cfg(feature = "alloc")]
pub use host::AlignedBytes;

#[cfg(feature = "alloc")]
mod host {
    use super::super::format::ARENA_ALIGN;
    use alloc::vec::Vec;

    /// Owned bytes starting at a 16-byte aligned address (a model read from a file, an arena).
    #[derive(Debug, Clone, Default)]
    pub struct AlignedBytes {
        storage: Vec<u8>,
        start: usize,
        len: usize,
    }

    impl AlignedBytes {
        /// `len` zero bytes.
        pub fn zeroed(len: usize) -> Self {
            let storage = alloc::vec![0u8; len + ARENA_ALIGN];
            // The Vec is never resized, so this offset stays valid.
            let start = storage.as_ptr().align_offset(ARENA_ALIGN).min(ARENA_ALIGN);
            AlignedBytes { storage, start, len }
        }

        /// A 16-aligned copy of `bytes`.
        pub fn copy_from(bytes: &[u8]) -> Self {
            let mut aligned = Self::zeroed(bytes.len());
            aligned.as_mut_slice().copy_from_slice(bytes);
            aligned
        }

        /// The aligned bytes.
        pub fn as_slice(&self) -> &[u8] {
            &self.storage[self.start..self.start + self.len]
        }

        /// The aligned bytes, mutable.
        pub fn as_mut_slice(&mut self) -> &mut [u8] {
            &mut self.storage[self.start..self.start + self.len]
        }

        /// Number of bytes.
        pub fn len(&self) -> usize {
            self.len
        }

        /// True when there are no bytes.
        pub fn is_empty(&self) -> bool {
            self.len == 0
        }
    }

    impl core::ops::Deref for AlignedBytes {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            self.as_slice()
        }
    }

    impl core::ops::DerefMut for AlignedBytes {
        fn deref_mut(&mut self) -> &mut [u8] {
            self.as_mut_slice()
        }
    }

    impl From<&[u8]> for AlignedBytes {
        fn from(bytes: &[u8]) -> Self {
            Self::copy_from(bytes)
        }
    }
}
