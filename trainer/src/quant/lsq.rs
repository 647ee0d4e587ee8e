//! Backward of a quantizer: the straight-through estimator with the clipping mask for the
//! quantized value, and the learned-step-size (LSQ, Esser et al. 2019) gradient for its scale.
//!
//! For `x̂ = s · (clamp(round(x/s) + zp, qmin, qmax) - zp)`:
//! - `∂x̂/∂x = 1` inside the range, `0` where the value was clipped;
//! - `∂x̂/∂s = (x̂ - x)/s` inside, `qmin - zp` below, `qmax - zp` above
//!   (PyTorch's learnable fake-quant; equals LSQ's `round(x/s) - x/s` inside);
//! - the scale gradient is multiplied by `g = 1/sqrt(N · Q_P)` (LSQ's gradient scaling), with
//!   `N` the number of values sharing the scale per sample (weights of one output channel, or
//!   features of one activation tensor) and `Q_P = qmax - zp` the positive levels.
//!
//! The forward value `x̂` is whatever the exact integer forward produced; these formulas only
//! need it and the float surrogate `x`.

/// Integer range and zero point of a quantizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub qmin: i32,
    pub qmax: i32,
    pub zero_point: i32,
}

impl Bounds {
    /// Per-channel symmetric int8 weights: [-127, 127], zero point 0.
    pub const WEIGHT: Bounds = Bounds { qmin: -127, qmax: 127, zero_point: 0 };

    /// Positive quantization levels `Q_P` (at least 1).
    pub fn positive_levels(&self) -> i32 {
        (self.qmax - self.zero_point).max(1)
    }
}

/// Where a value falls relative to the representable range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clip {
    Below,
    Inside,
    Above,
}

/// Classifies the real value `x` for a quantizer of step `scale`: clipped when `x/s + zp`
/// rounds outside `[qmin, qmax]` (ties at ±0.5 count as inside, where rounding still lands
/// on the bound).
pub fn classify(x: f32, scale: f32, b: Bounds) -> Clip {
    let r = f64::from(x) / f64::from(scale) + f64::from(b.zero_point);
    if r < f64::from(b.qmin) - 0.5 {
        Clip::Below
    } else if r > f64::from(b.qmax) + 0.5 {
        Clip::Above
    } else {
        Clip::Inside
    }
}

/// LSQ's gradient scaling `1/sqrt(N · Q_P)`.
pub fn grad_scaling(values_per_scale: usize, b: Bounds) -> f32 {
    (1.0 / ((values_per_scale.max(1) as f64) * f64::from(b.positive_levels())).sqrt()) as f32
}

/// `∂x̂/∂s` of one value (before the gradient scaling).
pub fn step_derivative(x: f32, x_hat: f32, scale: f32, b: Bounds) -> f32 {
    match classify(x, scale, b) {
        Clip::Below => (b.qmin - b.zero_point) as f32,
        Clip::Above => (b.qmax - b.zero_point) as f32,
        Clip::Inside => (x_hat - x) / scale,
    }
}

/// Backward of a quantizer over a tensor whose scale is shared by groups of values.
/// `channel(i)` gives the scale index of element `i`; `scales[channel]` the step size;
/// `g` LSQ's gradient scaling. Returns `(dL/dx, dL/ds per scale)`.
pub fn backward(
    x: &[f32],
    x_hat: &[f32],
    dy: &[f32],
    scales: &[f32],
    channel: impl Fn(usize) -> usize,
    b: Bounds,
    g: f32,
) -> (Vec<f32>, Vec<f32>) {
    let mut dx = vec![0.0f32; x.len()];
    // f64 accumulation: the sums run over whole batches of activations.
    let mut ds = vec![0.0f64; scales.len()];
    for i in 0..x.len() {
        let c = channel(i);
        let s = scales[c];
        if classify(x[i], s, b) == Clip::Inside {
            dx[i] = dy[i];
        }
        ds[c] += f64::from(dy[i]) * f64::from(step_derivative(x[i], x_hat[i], s, b));
    }
    (dx, ds.into_iter().map(|v| (v * f64::from(g)) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_derivative_matches_lsq_formula() {
        let b = Bounds { qmin: -128, qmax: 127, zero_point: -3 };
        let s = 0.1f32;
        // Inside: round(x/s) - x/s with x̂ = s·round(x/s).
        let x = 0.537f32;
        let x_hat = s * (x / s).round();
        assert!((step_derivative(x, x_hat, s, b) - ((x / s).round() - x / s)).abs() < 1e-5);
        // Above: x/s + zp > 127.5 -> qmax - zp.
        assert_eq!(step_derivative(13.2, 13.0, s, b), 130.0);
        // Below: -12.6/0.1 - 3 = -129 < -128.5 -> qmin - zp.
        assert_eq!(step_derivative(-12.6, -12.5, s, b), -125.0);
        assert_eq!(classify(-12.6, s, b), Clip::Below);
    }

    #[test]
    fn gradient_scaling_is_inverse_sqrt() {
        let g = grad_scaling(100, Bounds::WEIGHT);
        assert!((g - 1.0 / (100.0f32 * 127.0).sqrt()).abs() < 1e-9);
    }
}
