//! Range estimators for activation quantizers: min-max (default), percentile and MSE-optimal.
//!
//! A [`RangeObserver`] sees every calibration batch of one tensor. Min-max keeps running
//! extremes; percentile and MSE keep a fixed-size, seeded reservoir sample of the values (so
//! memory stays bounded on large tensors and the result is reproducible).

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use super::QuantError;

/// How an activation range is chosen from calibration data.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum RangeEstimator {
    /// Smallest and largest value seen (NNCF's and TFLite's default).
    MinMax,
    /// The `p`-th and `(100 - p)`-th percentiles (e.g. 99.99), ignoring rare outliers.
    Percentile(f32),
    /// The clipping range, shrunk from min-max, that minimises the mean squared quantization
    /// error of the observed values.
    Mse,
}

impl std::str::FromStr for RangeEstimator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minmax" | "min-max" => Ok(RangeEstimator::MinMax),
            "mse" => Ok(RangeEstimator::Mse),
            "percentile" => Ok(RangeEstimator::Percentile(99.99)),
            other => match other.strip_prefix("percentile:").map(str::parse::<f32>) {
                Some(Ok(p)) if p > 50.0 && p <= 100.0 => Ok(RangeEstimator::Percentile(p)),
                _ => Err(format!("unknown range estimator `{other}` (minmax, percentile, percentile:<50..100>, mse)")),
            },
        }
    }
}

/// Values kept for percentile and MSE estimates, per tensor.
const RESERVOIR: usize = 1 << 18;

/// Collects what an estimator needs about one tensor over calibration batches.
#[derive(Clone, Debug)]
pub struct RangeObserver {
    estimator: RangeEstimator,
    min: f32,
    max: f32,
    seen: u64,
    sample: Vec<f32>,
    rng: ChaCha8Rng,
}

impl RangeObserver {
    pub fn new(estimator: RangeEstimator, seed: u64) -> Self {
        RangeObserver { estimator, min: f32::INFINITY, max: f32::NEG_INFINITY, seen: 0, sample: Vec::new(), rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// Adds a batch of values of the tensor called `name` (for error messages).
    pub fn observe(&mut self, name: &str, values: &[f32]) -> Result<(), QuantError> {
        for &v in values {
            if !v.is_finite() {
                return Err(QuantError::NonFinite(format!("activation `{name}` during calibration")));
            }
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            if self.estimator != RangeEstimator::MinMax {
                // Reservoir sampling (Vitter's algorithm R).
                if self.sample.len() < RESERVOIR {
                    self.sample.push(v);
                } else {
                    let j = self.rng.next_u64() % (self.seen + 1);
                    if (j as usize) < RESERVOIR {
                        self.sample[j as usize] = v;
                    }
                }
            }
            self.seen += 1;
        }
        Ok(())
    }

    /// Smallest and largest value seen.
    pub fn min_max(&self) -> (f32, f32) {
        (self.min, self.max)
    }

    /// The estimated real range `[lo, hi]`. `quant_error(values, lo, hi)` is the mean squared
    /// error of quantizing `values` with the int8 parameters of `[lo, hi]` (used by MSE only).
    pub fn range(&self, quant_error: &dyn Fn(&[f32], f32, f32) -> f64) -> (f32, f32) {
        if self.seen == 0 {
            return (0.0, 0.0);
        }
        match self.estimator {
            RangeEstimator::MinMax => (self.min, self.max),
            RangeEstimator::Percentile(p) => {
                let mut sorted = self.sample.clone();
                sorted.sort_by(f32::total_cmp);
                let at = |q: f64| sorted[((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)];
                let p = f64::from(p) / 100.0;
                (at(1.0 - p), at(p))
            }
            RangeEstimator::Mse => {
                // Shrink both ends of the min-max range together; 1.0 is min-max itself.
                let mut best = (f64::INFINITY, self.min, self.max);
                for k in 0..=80 {
                    let f = 1.0 - k as f32 / 100.0;
                    let (lo, hi) = (self.min * f, self.max * f);
                    let e = quant_error(&self.sample, lo, hi);
                    if e < best.0 {
                        best = (e, lo, hi);
                    }
                }
                (best.1, best.2)
            }
        }
    }
}

/// int8 activation parameters `(scale, zero_point)` for the real range `[lo, hi]`, as the
/// TFLite converter chooses them: the range is widened to contain 0, `scale = range / 255`,
/// and the zero point is the rounded, clamped `-128 - lo/scale` (from whichever end gives
/// the smaller error), so 0.0 is exactly representable. A range of width zero is an error.
pub fn activation_params(tensor: &str, lo: f32, hi: f32) -> Result<(f32, i32), QuantError> {
    let (qmin, qmax) = (-128.0f64, 127.0f64);
    let lo = f64::from(lo.min(0.0));
    let hi = f64::from(hi.max(0.0));
    if !lo.is_finite() || !hi.is_finite() {
        return Err(QuantError::NonFinite(format!("range of `{tensor}`")));
    }
    if hi - lo <= f64::from(f32::MIN_POSITIVE) * 255.0 {
        return Err(QuantError::ZeroRange { tensor: tensor.to_string() });
    }
    let scale = (hi - lo) / (qmax - qmin);
    let from_min = qmin - lo / scale;
    let from_max = qmax - hi / scale;
    let zp = if qmin.abs() + (lo / scale).abs() < qmax.abs() + (hi / scale).abs() { from_min } else { from_max };
    let zp = zp.round().clamp(qmin, qmax) as i32;
    Ok((scale as f32, zp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_contain_zero_exactly() {
        let (s, zp) = activation_params("t", 0.0, 6.0).unwrap();
        assert_eq!(zp, -128);
        assert!((s - 6.0 / 255.0).abs() < 1e-9);
        let (s, zp) = activation_params("t", -1.0, 1.0).unwrap();
        assert!((s - 2.0 / 255.0).abs() < 1e-9);
        assert_eq!(zp, -1); // 127 - 127.5 = -0.5 rounds half away from zero
        assert!(matches!(activation_params("t", 0.0, 0.0), Err(QuantError::ZeroRange { .. })));
    }

    #[test]
    fn percentile_ignores_outliers_and_minmax_does_not() {
        let mut values: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect();
        values[17] = 1000.0;
        let mut mm = RangeObserver::new(RangeEstimator::MinMax, 1);
        let mut pc = RangeObserver::new(RangeEstimator::Percentile(99.9), 1);
        mm.observe("t", &values).unwrap();
        pc.observe("t", &values).unwrap();
        let none = |_: &[f32], _: f32, _: f32| 0.0;
        assert_eq!(mm.range(&none), (0.0, 1000.0));
        let (lo, hi) = pc.range(&none);
        assert_eq!(lo, 0.0);
        assert!(hi < 1.0, "{hi}");
    }

    #[test]
    fn mse_picks_the_smallest_error() {
        let mut o = RangeObserver::new(RangeEstimator::Mse, 3);
        o.observe("t", &[0.0, 0.5, 1.0, 2.0]).unwrap();
        // An error function minimal at 70 % of the range.
        let err = |_: &[f32], _: f32, hi: f32| f64::from((hi - 1.4).abs());
        let (_, hi) = o.range(&err);
        assert!((hi - 1.4).abs() < 1e-6, "{hi}");
        assert!(o.observe("t", &[f32::NAN]).is_err());
    }
}
