//! The bridge from format ops to the kernels of `crate::kernels`.

use super::error::ModelError;
use super::format::{OpDesc, OpEntry, Storage, TensorIndex};
use super::invoke::ArenaView;
use super::load::{byte_len, Model};
use crate::error::Error;

/// True when this build has a kernel for the op.
pub(crate) fn available(op: &OpDesc) -> bool {
    matches!(op, OpDesc::Reshape(_))
}

/// Scratch bytes the op's kernel needs, `None` if the op's shapes are unusable.
pub(crate) fn scratch_bytes(_model: &Model<'_>, _op: &OpDesc) -> Option<usize> {
    Some(0)
}

/// An activation operand, read from the arena.
fn activation<'x>(model: &Model<'_>, view: &ArenaView<'x>, index: TensorIndex) -> Result<&'x [i8], Error> {
    let bad = || Error::from(ModelError::WrongStorage { tensor: index });
    let t = model.tensor(index).ok_or_else(bad)?;
    match t.storage {
        Storage::Arena { offset } => {
            let len = byte_len(t).ok_or_else(bad)?;
            view.get(offset as usize, len).map(bytemuck::cast_slice).ok_or_else(bad)
        }
        Storage::Constant { .. } => Err(bad()),
    }
}

/// Runs one op: reads its inputs from `view` and the model's constants, writes `out`.
pub(crate) fn run(model: &Model<'_>, entry: &OpEntry, view: &ArenaView<'_>, out: &mut [i8], _scratch: &mut [u8]) -> Result<(), Error> {
    match &entry.op {
        OpDesc::Reshape(d) => {
            let input = activation(model, view, d.input)?;
            if input.len() != out.len() {
                return Err(ModelError::ShapeMismatch { op: u16::MAX }.into());
            }
            out.copy_from_slice(input);
            Ok(())
        }
        _ => Err(ModelError::KernelUnavailable { op: u16::MAX }.into()),
    }
}
