//! Standalone RELU, int8 (TFLite Micro `activations.h` `ReluQuantized`, parameters from
//! `activations_common.cc` `CalculateReluOpData`):
//! `y = clamp(zp_out + requant(x - zp_in), act_min, act_max)` with the multiplier
//! `f32(s_in / s_out)` ([`crate::arith::multiplier::relu_multiplier`]) and the range
//! `[max(-128, zp_out), 127]` ([`crate::arith::activation::activation_range`] of `Relu`).

use crate::arith::activation::ActivationRange;
use crate::arith::requantize::Requant;
use crate::Error;

use super::{check_len, check_zero_points};

/// Parameters of one standalone RELU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReluParams {
    /// Number of elements.
    pub len: usize,
    /// Input zero point, in [-128, 127].
    pub input_zero_point: i32,
    /// Output zero point, in [-128, 127].
    pub output_zero_point: i32,
    /// The clamp after rescaling.
    pub activation: ActivationRange,
}

impl ReluParams {
    /// Checks every parameter (not the buffers).
    pub fn validate(&self) -> Result<(), Error> {
        if self.len == 0 {
            return Err(Error::ZeroSized);
        }
        check_zero_points(self.input_zero_point, self.output_zero_point)?;
        self.activation.validate()
    }

    /// Length of the scratch: none.
    pub fn scratch_len(&self) -> usize {
        0
    }
}

/// Runs RELU; `requant` is the per-tensor RELU multiplier.
pub fn relu(params: &ReluParams, requant: &Requant<'_>, input: &[i8], output: &mut [i8]) -> Result<(), Error> {
    params.validate()?;
    requant.validate(1)?;
    check_len(input.len(), params.len)?;
    check_len(output.len(), params.len)?;
    let ActivationRange { min, max } = params.activation;
    for (o, x) in output[..params.len].iter_mut().zip(&input[..params.len]) {
        let y = params.output_zero_point.wrapping_add(requant.apply(*x as i32 - params.input_zero_point, 0));
        *o = y.clamp(min, max) as i8;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arith::multiplier::relu_multiplier;
    use crate::arith::Profile;

    #[test]
    fn rescales_then_clamps_at_the_output_zero_point() {
        // s_in = 2 * s_out: values double; zp_in 3, zp_out -10, so x = 3 is real 0 → -10.
        let m = relu_multiplier(0.5, 0.25, Profile::TfliteDouble).unwrap();
        let requant = Requant::per_tensor(Profile::TfliteDouble, &m);
        let params = ReluParams {
            len: 5,
            input_zero_point: 3,
            output_zero_point: -10,
            activation: ActivationRange::new(-10, 127),
        };
        let mut out = [0i8; 5];
        relu(&params, &requant, &[-128, 2, 3, 4, 127], &mut out).unwrap();
        // (x - 3) * 2 - 10, clamped to [-10, 127].
        assert_eq!(out, [-10, -10, -10, -8, 127]);
    }

    #[test]
    fn rejects_an_empty_range_and_short_buffers() {
        let m = relu_multiplier(1.0, 1.0, Profile::TfliteDouble).unwrap();
        let requant = Requant::per_tensor(Profile::TfliteDouble, &m);
        let mut params =
            ReluParams { len: 2, input_zero_point: 0, output_zero_point: 0, activation: ActivationRange::new(5, 4) };
        assert_eq!(relu(&params, &requant, &[0, 0], &mut [0; 2]), Err(Error::InvalidActivationRange));
        params.activation = ActivationRange::FULL;
        assert_eq!(relu(&params, &requant, &[0], &mut [0; 2]), Err(Error::BufferTooSmall));
    }
}
