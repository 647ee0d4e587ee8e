//! The numbers in the per-layer table: signal-to-quantization-noise ratio, clipping rate,
//! value histograms and the confusion matrix. Pure functions over slices.

/// Signal-to-quantization-noise ratio in dB of `quantized` (dequantized int8 values) against
/// the float `reference`: `10·log10(Σ r² / Σ (r − q)²)`.
///
/// Returns `f64::INFINITY` when the two are identical and `None` when the lengths differ or
/// the reference is all zero (no signal to compare against).
pub fn sqnr_db(reference: &[f32], quantized: &[f32]) -> Option<f64> {
    if reference.len() != quantized.len() || reference.is_empty() {
        return None;
    }
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for (&r, &q) in reference.iter().zip(quantized) {
        signal += f64::from(r) * f64::from(r);
        noise += (f64::from(r) - f64::from(q)).powi(2);
    }
    if signal == 0.0 {
        return None;
    }
    if noise == 0.0 {
        return Some(f64::INFINITY);
    }
    Some(10.0 * (signal / noise).log10())
}

/// The float interval an int8 tensor with `scale` and `zero_point` can represent:
/// `[scale·(−128 − zp), scale·(127 − zp)]`.
pub fn representable_range(scale: f32, zero_point: i32) -> (f32, f32) {
    (scale * (-128 - zero_point) as f32, scale * (127 - zero_point) as f32)
}

/// Fraction of `reference` values outside `[lo, hi]` (clipped by the int8 output quantizer),
/// with a half-step tolerance so values that round onto the end points do not count.
pub fn clipping_rate(reference: &[f32], lo: f32, hi: f32, scale: f32) -> f64 {
    if reference.is_empty() {
        return 0.0;
    }
    let half = 0.5 * scale;
    let clipped = reference.iter().filter(|&&v| v < lo - half || v > hi + half).count();
    clipped as f64 / reference.len() as f64
}

/// Counts of `values` in `bins` equal-width bins spanning `[lo, hi]` (values outside fall in
/// the first or last bin). Returns the bin edges (`bins + 1`) and the counts.
pub fn histogram(values: &[f32], lo: f32, hi: f32, bins: usize) -> (Vec<f32>, Vec<u64>) {
    let bins = bins.max(1);
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
    let width = (hi - lo) / bins as f32;
    let edges = (0..=bins).map(|i| lo + width * i as f32).collect();
    let mut counts = vec![0u64; bins];
    for &v in values {
        let i = ((v - lo) / width).floor();
        let i = if i.is_nan() { 0 } else { (i.max(0.0) as usize).min(bins - 1) };
        counts[i] += 1;
    }
    (edges, counts)
}

/// Index of the largest value (the first one on ties).
pub fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

/// `matrix[true][predicted]` counts for `classes` classes. Labels or predictions outside
/// `0..classes` are ignored.
pub fn confusion_matrix(labels: &[u32], predicted: &[usize], classes: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0u64; classes]; classes];
    for (&t, &p) in labels.iter().zip(predicted) {
        if (t as usize) < classes && p < classes {
            m[t as usize][p] += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqnr_matches_a_hand_computed_value() {
        // Signal 1² + 2² + 3² + 4² = 30; noise 0.1² + 0.2² + 0² + 0.1² = 0.06.
        // 10·log10(30 / 0.06) = 10·log10(500) = 26.9897 dB.
        let reference = [1.0, -2.0, 3.0, 4.0];
        let quantized = [1.1, -2.2, 3.0, 3.9];
        let db = sqnr_db(&reference, &quantized).unwrap();
        assert!((db - 26.989_700_043).abs() < 1e-4, "{db}");
    }

    #[test]
    fn sqnr_edge_cases() {
        assert_eq!(sqnr_db(&[1.0, 2.0], &[1.0, 2.0]), Some(f64::INFINITY));
        assert_eq!(sqnr_db(&[0.0, 0.0], &[0.5, 0.0]), None);
        assert_eq!(sqnr_db(&[1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn clipping_counts_values_beyond_half_a_step() {
        let (lo, hi) = representable_range(0.1, -28); // [-10.0, 15.5]
        assert!((lo + 10.0).abs() < 1e-5 && (hi - 15.5).abs() < 1e-5);
        // 15.54 rounds onto 15.5 (not clipped); 15.6 and -10.2 are clipped.
        let rate = clipping_rate(&[0.0, 15.54, 15.6, -10.2], lo, hi, 0.1);
        assert!((rate - 0.5).abs() < 1e-12);
    }

    #[test]
    fn histogram_and_confusion() {
        let (edges, counts) = histogram(&[0.0, 0.1, 0.6, 1.0, 5.0, -3.0], 0.0, 1.0, 2);
        assert_eq!(edges, vec![0.0, 0.5, 1.0]);
        assert_eq!(counts, vec![3, 3]);
        let m = confusion_matrix(&[0, 1, 1, 2], &[0, 1, 2, 2], 3);
        assert_eq!(m, vec![vec![1, 0, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1);
    }
}
