//! The interpreter: runs a loaded model's ops in order over a caller-provided arena.
//!
//! No allocation, no recursion; every loop is bounded by the validated graph. `load` already
//! checked everything that could make a slice access fail, so the errors below only guard the
//! promise that nothing here can panic.

use super::error::ModelError;
use super::format::{Storage, TensorDesc, TensorIndex, ARENA_ALIGN};
use super::load::{byte_len, Model};
use crate::error::Error;

/// Runs the model once: `input` (the graph input's int8 elements) in, `output` out.
///
/// `arena` must hold at least [`Model::arena_size`] bytes and start at a 16-byte aligned address
/// (`Aligned16` on the device, `AlignedBytes` on the host); its contents on entry do not matter.
pub fn invoke(model: &Model<'_>, input: &[i8], arena: &mut [u8], output: &mut [i8]) -> Result<(), Error> {
    invoke_observed(model, input, arena, output, |_, _, _| {})
}

/// [`invoke`], calling `observer(op_index, output_tensor, values)` after each op with the int8
/// tensor that op wrote (for parity checks and per-layer reports).
pub fn invoke_observed<F>(
    model: &Model<'_>,
    input: &[i8],
    arena: &mut [u8],
    output: &mut [i8],
    mut observer: F,
) -> Result<(), Error>
where
    F: FnMut(usize, TensorIndex, &[i8]),
{
    let needed = model.arena_size();
    if arena.len() < needed {
        return Err(ModelError::ArenaTooSmall { needed, available: arena.len() }.into());
    }
    // Kernels get i16/i32 scratch slices cut from the arena at 16-aligned offsets.
    if (arena.as_ptr() as usize) % ARENA_ALIGN != 0 {
        return Err(ModelError::MisalignedArena.into());
    }
    let graph = model.graph();
    let input_region = arena_region(model, graph.input)?;
    let output_region = arena_region(model, graph.output)?;
    if input.len() != input_region.1 {
        return Err(ModelError::InputSizeMismatch { expected: input_region.1, found: input.len() }.into());
    }
    if output.len() != output_region.1 {
        return Err(ModelError::OutputSizeMismatch { expected: output_region.1, found: output.len() }.into());
    }
    region_mut(arena, input_region)?.copy_from_slice(bytemuck::cast_slice(input));

    for (index, entry) in graph.ops.iter().enumerate() {
        let out_index = entry.op.output();
        let out_region = arena_region(model, out_index)?;
        let scratch_region = (entry.scratch.offset as usize, entry.scratch.size as usize);
        let (out, scratch, view) = split_arena(arena, out_region, scratch_region)?;
        super::ops::run(model, index as u16, entry, &view, bytemuck::cast_slice_mut(out), scratch)?;
        observer(index, out_index, bytemuck::cast_slice(out));
    }

    let result = region(arena, output_region).ok_or(ModelError::ArenaTooSmall { needed, available: arena.len() })?;
    output.copy_from_slice(bytemuck::cast_slice(result));
    Ok(())
}

/// (offset, length) of an arena tensor.
fn arena_region(model: &Model<'_>, index: TensorIndex) -> Result<(usize, usize), Error> {
    let tensor: &TensorDesc = model.tensor(index).ok_or(ModelError::GraphIoOutOfRange { tensor: index })?;
    match tensor.storage {
        Storage::Arena { offset } => {
            let len = byte_len(tensor).ok_or(ModelError::ShapeOverflow { tensor: index })?;
            Ok((offset as usize, len))
        }
        Storage::Constant { .. } => Err(ModelError::WrongStorage { tensor: index }.into()),
    }
}

fn region(bytes: &[u8], (offset, len): (usize, usize)) -> Option<&[u8]> {
    bytes.get(offset..offset.checked_add(len)?)
}

fn region_mut(bytes: &mut [u8], (offset, len): (usize, usize)) -> Result<&mut [u8], Error> {
    let end = offset.checked_add(len).ok_or(ModelError::InconsistentHeader)?;
    let available = bytes.len();
    bytes.get_mut(offset..end).ok_or(ModelError::ArenaTooSmall { needed: end, available }.into())
}

/// The arena with two mutable regions (an op's output and scratch) cut out; the other bytes
/// stay readable for the op's inputs. Inputs never straddle a cut: `load` checked that tensors
/// live together (and scratch) never overlap.
pub(crate) struct ArenaView<'x> {
    pieces: [(usize, &'x [u8]); 3],
}

impl<'x> ArenaView<'x> {
    /// `len` bytes at arena offset `offset`, if they lie inside one readable piece.
    pub(crate) fn get(&self, offset: usize, len: usize) -> Option<&'x [u8]> {
        let end = offset.checked_add(len)?;
        self.pieces.iter().find_map(|&(start, piece)| {
            let piece_end = start + piece.len();
            if start <= offset && end <= piece_end {
                piece.get(offset - start..end - start)
            } else {
                None
            }
        })
    }
}

/// Splits `arena` into (output, scratch, the rest).
fn split_arena(
    arena: &mut [u8],
    out: (usize, usize),
    scratch: (usize, usize),
) -> Result<(&mut [u8], &mut [u8], ArenaView<'_>), Error> {
    let bad = || Error::from(ModelError::BadScratch { op: u16::MAX });
    // Order the two cuts; an empty scratch is cut at the end of the output.
    let scratch = if scratch.1 == 0 { (out.0.saturating_add(out.1), 0) } else { scratch };
    let out_first = out.0 <= scratch.0;
    let (a, b) = if out_first { (out, scratch) } else { (scratch, out) };
    let a_end = a.0.checked_add(a.1).ok_or_else(bad)?;
    let b_end = b.0.checked_add(b.1).ok_or_else(bad)?;
    if a_end > b.0 || b_end > arena.len() {
        return Err(bad());
    }
    let (head, rest) = arena.split_at_mut(a.0);
    let (first, rest) = rest.split_at_mut(a.1);
    let (middle, rest) = rest.split_at_mut(b.0 - a_end);
    let (second, tail) = rest.split_at_mut(b.1);
    let view = ArenaView { pieces: [(0, &*head), (a_end, &*middle), (b_end, &*tail)] };
    let (out_bytes, scratch_bytes) = if out_first { (first, second) } else { (second, first) };
    Ok((out_bytes, scratch_bytes, view))
}

