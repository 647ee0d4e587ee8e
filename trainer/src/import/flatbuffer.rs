//! A bounds-checked reader for the FlatBuffers binary layout, for the subset a `.tflite` file uses.
//!
//! Layout, as the FlatBuffers format defines it (all little-endian):
//! - the file starts with a `u32` offset to the root table (optionally followed by a 4-byte
//!   file identifier);
//! - a table starts with an `i32` soffset: the table's vtable is at `table - soffset`;
//! - a vtable is `u16` vtable length in bytes, `u16` table inline length, then one `u16` per
//!   field slot: the field's offset inside the table, 0 when the field is absent (default);
//! - references to tables, vectors and strings are `u32` offsets relative to where they are
//!   stored (always forward);
//! - a vector is a `u32` element count followed by the elements; a string is a byte vector
//!   followed by a NUL that is not counted.
//!
//! Nothing here trusts the file: every offset is range-checked, every size multiplication is
//! checked, and all decoding draws on a [`Budget`] so that hostile files whose tables overlap
//! or share one vector many times cannot make decoding take more than a few passes over the
//! file. Reads never panic; they return [`FlatbufferError`].
// `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
#![allow(clippy::manual_is_multiple_of)]

use std::cell::Cell;

/// A malformed flatbuffer: where the problem was found and what it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed flatbuffer at byte {offset}: {reason}")]
pub struct FlatbufferError {
    pub offset: usize,
    pub reason: String,
}

pub type Result<T> = std::result::Result<T, FlatbufferError>;

fn malformed<T>(offset: usize, reason: impl Into<String>) -> Result<T> {
    Err(FlatbufferError { offset, reason: reason.into() })
}

/// How many elements (vector entries, table fields) decoding may touch, in total.
///
/// A well-formed file touches each element once, so a limit of a few times the file size never
/// bites on real models; it stops files that point many tables at one large vector.
#[derive(Debug)]
pub struct Budget {
    remaining: Cell<u64>,
}

impl Budget {
    /// Work proportional to the file: `per_byte` elements per file byte plus a fixed allowance.
    pub fn for_file(len: usize, per_byte: u64) -> Self {
        Budget { remaining: Cell::new((len as u64).saturating_mul(per_byte).saturating_add(1 << 16)) }
    }

    fn spend(&self, at: usize, elements: u64) -> Result<()> {
        let left = self.remaining.get();
        if elements > left {
            return malformed(at, "decoding work exceeds the budget for this file size (overlapping or repeatedly shared tables?)");
        }
        self.remaining.set(left - elements);
        Ok(())
    }
}

/// The whole file, with the decoding budget.
#[derive(Debug, Clone, Copy)]
pub struct Buffer<'a> {
    bytes: &'a [u8],
    budget: &'a Budget,
}

impl<'a> Buffer<'a> {
    pub fn new(bytes: &'a [u8], budget: &'a Budget) -> Self {
        Buffer { bytes, budget }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn slice(&self, at: usize, len: usize, what: &str) -> Result<&'a [u8]> {
        match at.checked_add(len).and_then(|end| self.bytes.get(at..end)) {
            Some(s) => Ok(s),
            None => malformed(at, format!("{what}: {len} bytes at {at} run past the end of the {}-byte file", self.bytes.len())),
        }
    }

    fn array<const N: usize>(&self, at: usize, what: &str) -> Result<[u8; N]> {
        let s = self.slice(at, N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn u16_at(&self, at: usize, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(at, what)?))
    }

    fn u32_at(&self, at: usize, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(at, what)?))
    }

    fn i32_at(&self, at: usize, what: &str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(at, what)?))
    }

    /// Follows the `u32` forward offset stored at `at`.
    fn follow(&self, at: usize, what: &str) -> Result<usize> {
        let rel = self.u32_at(at, what)? as usize;
        match at.checked_add(rel) {
            Some(target) if target < self.bytes.len() => Ok(target),
            _ => malformed(at, format!("{what}: offset {rel} points outside the file")),
        }
    }

    /// The root table (the first `u32` of the file points at it).
    pub fn root(&self) -> Result<Table<'a>> {
        let at = self.follow(0, "root table offset")?;
        Table::at(*self, at)
    }

    /// The 4-byte file identifier after the root offset, if the file is long enough to have one.
    pub fn identifier(&self) -> Option<[u8; 4]> {
        self.array::<4>(4, "file identifier").ok()
    }
}

/// A table: its position and its vtable, both checked to lie inside the file.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    buf: Buffer<'a>,
    pos: usize,
    vtable: usize,
    vtable_len: usize,
    inline_len: usize,
}

impl<'a> Table<'a> {
    fn at(buf: Buffer<'a>, pos: usize) -> Result<Self> {
        buf.budget.spend(pos, 1)?;
        let soffset = buf.i32_at(pos, "table vtable offset")? as i64;
        let vtable = pos as i64 - soffset;
        if vtable < 0 || vtable as u64 >= buf.bytes.len() as u64 {
            return malformed(pos, format!("table's vtable offset {soffset} points outside the file"));
        }
        let vtable = vtable as usize;
        let vtable_len = buf.u16_at(vtable, "vtable length")? as usize;
        let inline_len = buf.u16_at(vtable + 2, "table length")? as usize;
        if vtable_len < 4 || vtable_len % 2 != 0 {
            return malformed(vtable, format!("vtable length {vtable_len} is not an even number >= 4"));
        }
        buf.slice(vtable, vtable_len, "vtable")?;
        if inline_len < 4 {
            return malformed(vtable, format!("table length {inline_len} is shorter than its vtable offset"));
        }
        buf.slice(pos, inline_len, "table")?;
        Ok(Table { buf, pos, vtable, vtable_len, inline_len })
    }

    /// Where this table starts in the file (for error messages).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The absolute position of field `slot`'s inline data, `None` if the field is absent.
    /// `size` is the inline size of the field, which must fit inside the table. (Public so
    /// tests can edit one field of a real file.)
    pub fn field(&self, slot: usize, size: usize) -> Result<Option<usize>> {
        let entry = 4 + 2 * slot;
        if entry + 2 > self.vtable_len {
            return Ok(None);
        }
        let rel = self.buf.u16_at(self.vtable + entry, "vtable entry")? as usize;
        if rel == 0 {
            return Ok(None);
        }
        if rel < 4 || rel + size > self.inline_len {
            return malformed(self.vtable + entry, format!("field {slot} at table offset {rel} (size {size}) lies outside its {}-byte table", self.inline_len));
        }
        Ok(Some(self.pos + rel))
    }

    pub fn u8(&self, slot: usize, default: u8) -> Result<u8> {
        match self.field(slot, 1)? {
            Some(at) => Ok(self.buf.array::<1>(at, "u8 field")?[0]),
            None => Ok(default),
        }
    }

    pub fn i8(&self, slot: usize, default: i8) -> Result<i8> {
        Ok(self.u8(slot, default as u8)? as i8)
    }

    pub fn bool(&self, slot: usize, default: bool) -> Result<bool> {
        Ok(self.u8(slot, default as u8)? != 0)
    }

    pub fn i32(&self, slot: usize, default: i32) -> Result<i32> {
        match self.field(slot, 4)? {
            Some(at) => self.buf.i32_at(at, "i32 field"),
            None => Ok(default),
        }
    }

    pub fn u32(&self, slot: usize, default: u32) -> Result<u32> {
        match self.field(slot, 4)? {
            Some(at) => self.buf.u32_at(at, "u32 field"),
            None => Ok(default),
        }
    }

    pub fn u64(&self, slot: usize, default: u64) -> Result<u64> {
        match self.field(slot, 8)? {
            Some(at) => Ok(u64::from_le_bytes(self.buf.array(at, "u64 field")?)),
            None => Ok(default),
        }
    }

    pub fn f32(&self, slot: usize, default: f32) -> Result<f32> {
        match self.field(slot, 4)? {
            Some(at) => Ok(f32::from_le_bytes(self.buf.array(at, "f32 field")?)),
            None => Ok(default),
        }
    }

    /// A sub-table field.
    pub fn table(&self, slot: usize) -> Result<Option<Table<'a>>> {
        match self.field(slot, 4)? {
            Some(at) => Ok(Some(Table::at(self.buf, self.buf.follow(at, "table field")?)?)),
            None => Ok(None),
        }
    }

    /// A vector field whose elements are `elem_size` bytes each (4 for offsets to tables).
    pub fn vector(&self, slot: usize, elem_size: usize) -> Result<Option<Vector<'a>>> {
        match self.field(slot, 4)? {
            Some(at) => Ok(Some(Vector::at(self.buf, self.buf.follow(at, "vector field")?, elem_size)?)),
            None => Ok(None),
        }
    }

    /// A string field, decoded as UTF-8 (lossily: names are only used in messages).
    pub fn string(&self, slot: usize) -> Result<Option<String>> {
        match self.vector(slot, 1)? {
            Some(v) => Ok(Some(String::from_utf8_lossy(v.bytes()).into_owned())),
            None => Ok(None),
        }
    }
}

/// A vector: element count and element size, checked to fit in the file.
#[derive(Debug, Clone, Copy)]
pub struct Vector<'a> {
    buf: Buffer<'a>,
    data: usize,
    len: usize,
    elem_size: usize,
}

impl<'a> Vector<'a> {
    fn at(buf: Buffer<'a>, pos: usize, elem_size: usize) -> Result<Self> {
        let len = buf.u32_at(pos, "vector length")? as usize;
        let bytes = match len.checked_mul(elem_size) {
            Some(b) => b,
            None => return malformed(pos, format!("vector of {len} elements overflows")),
        };
        buf.slice(pos + 4, bytes, "vector")?;
        // Scalars are charged per 64 bytes (raw data is copied, not walked); elements that
        // are offsets to tables are charged one by one when followed.
        buf.budget.spend(pos, 1 + bytes as u64 / 64)?;
        Ok(Vector { buf, data: pos + 4, len, elem_size })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the elements lie in the file.
    pub fn byte_range(&self) -> std::ops::Range<usize> {
        self.data..self.data + self.len * self.elem_size
    }

    /// The raw bytes of the elements.
    pub fn bytes(&self) -> &'a [u8] {
        // Checked in `Vector::at`.
        &self.buf.bytes[self.data..self.data + self.len * self.elem_size]
    }

    fn element(&self, index: usize, size: usize) -> Result<usize> {
        if size != self.elem_size {
            return malformed(self.data, format!("vector of {}-byte elements read as {size}-byte elements", self.elem_size));
        }
        if index >= self.len {
            return malformed(self.data, format!("index {index} past the end of a {}-element vector", self.len));
        }
        self.buf.budget.spend(self.data, 1)?;
        Ok(self.data + index * size)
    }

    /// The table that element `index` points to (a vector of tables).
    pub fn table(&self, index: usize) -> Result<Table<'a>> {
        let at = self.element(index, 4)?;
        Table::at(self.buf, self.buf.follow(at, "vector element")?)
    }

    /// All elements as `i32` (little-endian).
    pub fn to_i32s(&self) -> Result<Vec<i32>> {
        self.scalars(4, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// All elements as `f32` (little-endian).
    pub fn to_f32s(&self) -> Result<Vec<f32>> {
        self.scalars(4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// All elements as `i64` (little-endian).
    pub fn to_i64s(&self) -> Result<Vec<i64>> {
        self.scalars(8, |b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    fn scalars<T>(&self, size: usize, decode: impl Fn(&[u8]) -> T) -> Result<Vec<T>> {
        if size != self.elem_size {
            return malformed(self.data, format!("vector of {}-byte elements read as {size}-byte elements", self.elem_size));
        }
        self.buf.budget.spend(self.data, self.len as u64)?;
        Ok(self.bytes().chunks_exact(size).map(decode).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a file: root offset, then a vtable, then a table with one i32 field and one
    /// vector field, then the vector. Hand-laid so each byte's role is visible.
    fn tiny_file() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&16u32.to_le_bytes()); // 0: root table at 16
        f.extend_from_slice(b"TEST"); // 4: identifier
        // 8: vtable: len 8, table len 12, field0 at +4, field1 at +8
        f.extend_from_slice(&8u16.to_le_bytes());
        f.extend_from_slice(&12u16.to_le_bytes());
        f.extend_from_slice(&4u16.to_le_bytes());
        f.extend_from_slice(&8u16.to_le_bytes());
        // 16: table: soffset 8 (vtable at 16-8), i32 field = -7, offset to vector
        f.extend_from_slice(&8i32.to_le_bytes());
        f.extend_from_slice(&(-7i32).to_le_bytes());
        f.extend_from_slice(&4u32.to_le_bytes()); // at 24 -> vector at 28
        // 28: vector of 2 i32
        f.extend_from_slice(&2u32.to_le_bytes());
        f.extend_from_slice(&3i32.to_le_bytes());
        f.extend_from_slice(&(-4i32).to_le_bytes());
        f
    }

    #[test]
    fn reads_fields_and_defaults() {
        let file = tiny_file();
        let budget = Budget::for_file(file.len(), 16);
        let buf = Buffer::new(&file, &budget);
        assert_eq!(buf.identifier(), Some(*b"TEST"));
        let root = buf.root().unwrap();
        assert_eq!(root.i32(0, 99).unwrap(), -7);
        assert_eq!(root.vector(1, 4).unwrap().unwrap().to_i32s().unwrap(), vec![3, -4]);
        assert_eq!(root.i32(2, 99).unwrap(), 99, "absent slot gives the default");
        assert!(root.table(2).unwrap().is_none());
    }

    #[test]
    fn out_of_range_offsets_are_errors() {
        let mut file = tiny_file();
        file[24..28].copy_from_slice(&1000u32.to_le_bytes());
        let budget = Budget::for_file(file.len(), 16);
        let err = Buffer::new(&file, &budget).root().unwrap().vector(1, 4).unwrap_err();
        assert!(err.reason.contains("outside the file"), "{err}");

        let mut file = tiny_file();
        file[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        let budget = Budget::for_file(file.len(), 16);
        let err = Buffer::new(&file, &budget).root().unwrap().vector(1, 4).unwrap_err();
        assert!(err.reason.contains("past the end"), "{err}");
    }

    #[test]
    fn vtable_and_field_bounds_are_checked() {
        let mut file = tiny_file();
        file[16..20].copy_from_slice(&(-4000i32).to_le_bytes());
        let budget = Budget::for_file(file.len(), 16);
        assert!(Buffer::new(&file, &budget).root().is_err());

        let mut file = tiny_file();
        file[12..14].copy_from_slice(&40u16.to_le_bytes()); // field 0 beyond the table length
        let budget = Budget::for_file(file.len(), 16);
        let err = Buffer::new(&file, &budget).root().unwrap().i32(0, 0).unwrap_err();
        assert!(err.reason.contains("outside its"), "{err}");
    }

    #[test]
    fn truncated_files_are_errors() {
        let file = tiny_file();
        for cut in 0..file.len() {
            let budget = Budget::for_file(cut, 16);
            let buf = Buffer::new(&file[..cut], &budget);
            let read = buf.root().and_then(|t| t.vector(1, 4)?.map(|v| v.to_i32s()).transpose());
            assert!(read.is_err(), "truncated at {cut} should not parse");
        }
    }

    #[test]
    fn budget_stops_amplification() {
        let file = tiny_file();
        let budget = Budget { remaining: Cell::new(3) };
        let root = Buffer::new(&file, &budget).root().unwrap();
        let v = root.vector(1, 4).unwrap().unwrap();
        assert!(v.to_i32s().is_err(), "the third and fourth units of work exceed a budget of 3");
    }
}
