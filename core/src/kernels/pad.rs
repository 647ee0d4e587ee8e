//! PAD, int8 (TFLite Micro `pad.cc`, `reference/pad.h`): the input is copied unchanged into
//! the interior of the output and every border element is `pad_value` (TFLM uses the output
//! zero point). No rescaling: input and output share scale and zero point.

use crate::Error;

use super::{check_len, Shape4};

/// Shape and padding of one 4-D PAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PadParams {
    /// Input `[n, h, w, c]`.
    pub input: Shape4,
    /// Elements added before each dimension `[n, h, w, c]`.
    pub before: [usize; 4],
    /// Elements added after each dimension.
    pub after: [usize; 4],
    /// The value of every added element.
    pub pad_value: i8,
}

impl PadParams {
    /// The output shape: each dimension grown by its two paddings.
    pub fn output(&self) -> Result<Shape4, Error> {
        let mut dims = self.input.dims();
        for ((d, b), a) in dims.iter_mut().zip(self.before).zip(self.after) {
            *d = d.checked_add(b).and_then(|v| v.checked_add(a)).ok_or(Error::SizeOverflow)?;
        }
        Ok(Shape4::new(dims[0], dims[1], dims[2], dims[3]))
    }

    /// Checks every shape and parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        self.input.check_nonzero()?;
        self.input.elements()?;
        self.output()?.elements()?;
        Ok(())
    }

    /// Length of the scratch: none.
    pub fn scratch_len(&self) -> usize {
        0
    }
}

/// Runs PAD: `output` is filled with `pad_value`, then each input row of `c` channels is copied
/// to its place.
pub fn pad(params: &PadParams, input: &[i8], output: &mut [i8]) -> Result<(), Error> {
    params.validate()?;
    let out = params.output()?;
    check_len(input.len(), params.input.elements()?)?;
    check_len(output.len(), out.elements()?)?;
    let Shape4 { n, h, w, c } = params.input;
    let [bn, bh, bw, bc] = params.before;
    output[..out.elements()?].fill(params.pad_value);
    for b in 0..n {
        for y in 0..h {
            for x in 0..w {
                let src = ((b * h + y) * w + x) * c;
                let dst = (((b + bn) * out.h + y + bh) * out.w + x + bw) * out.c + bc;
                output[dst..dst + c].copy_from_slice(&input[src..src + c]);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_every_dimension_with_the_pad_value() {
        // [1, 1, 2, 1] → before [0, 1, 0, 1], after [0, 0, 1, 0] → [1, 2, 3, 2].
        let params = PadParams { input: Shape4::new(1, 1, 2, 1), before: [0, 1, 0, 1], after: [0, 0, 1, 0], pad_value: -3 };
        let mut out = [0i8; 12];
        pad(&params, &[7, 8], &mut out).unwrap();
        #[rustfmt::skip]
        let expected = [
            -3, -3,  -3, -3,  -3, -3, // padded row
            -3,  7,  -3,  8,  -3, -3, // image row: channel 0 is padding, then the value
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn rejects_wrong_buffer_sizes() {
        let params = PadParams { input: Shape4::new(1, 2, 2, 1), before: [0, 1, 1, 0], after: [0, 1, 1, 0], pad_value: 0 };
        assert_eq!(pad(&params, &[0; 4], &mut [0i8; 15]), Err(Error::BufferTooSmall));
        assert_eq!(pad(&params, &[0; 3], &mut [0i8; 16]), Err(Error::BufferTooSmall));
        assert_eq!(pad(&params, &[0; 4], &mut [0i8; 16]), Ok(()));
    }
}
