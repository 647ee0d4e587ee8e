//! Standalone RELU6, int8 (TFLite Micro `activations.h` `Relu6Quantized`, bounds from
//! `activations_common.cc` `Relu6Prepare`): `y = clamp(x, lower, upper)` with
//! `lower = zp_in` and `upper = quantize(6.0, s_in, zp_in)`, both from the **input**
//! quantization. TFLM does not rescale, whatever the output tensor's quantization says.

use crate::arith::activation::ActivationRange;
use crate::Error;

use super::check_len;

/// Parameters of one standalone RELU6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relu6Params {
    /// Number of elements.
    pub len: usize,
    /// `[lower, upper]`, in input units.
    pub bounds: ActivationRange,
}

impl Relu6Params {
    /// Checks every parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        if self.len == 0 {
            return Err(Error::ZeroSized);
        }
        self.bounds.validate()
    }

    /// Length of the scratch: none.
    pub fn scratch_len(&self) -> usize {
        0
    }
}

/// Runs RELU6.
pub fn relu6(params: &Relu6Params, input: &[i8], output: &mut [i8]) -> Result<(), Error> {
    params.validate()?;
    check_len(input.len(), params.len)?;
    check_len(output.len(), params.len)?;
    let ActivationRange { min, max } = params.bounds;
    for (o, x) in output[..params.len].iter_mut().zip(&input[..params.len]) {
        *o = (*x as i32).clamp(min, max) as i8;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_without_rescaling() {
        let params = Relu6Params { len: 4, bounds: ActivationRange::new(-1, 60) };
        let mut out = [0i8; 4];
        relu6(&params, &[-128, -1, 59, 127], &mut out).unwrap();
        assert_eq!(out, [-1, -1, 59, 60]);
    }

    #[test]
    fn rejects_bad_bounds() {
        let params = Relu6Params { len: 1, bounds: ActivationRange::new(3, 2) };
        assert_eq!(relu6(&params, &[0], &mut [0]), Err(Error::InvalidActivationRange));
    }
}
