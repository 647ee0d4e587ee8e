//! Losses. Each returns the scalar value and runs the backward pass, giving the gradients of
//! every value and parameter the loss depends on.

use super::tape::{Gradients, Tape, Var};
use super::NnError;

/// Mean softmax cross-entropy of logits `[n, classes]` against class labels.
pub fn softmax_cross_entropy(tape: &mut Tape, logits: &Var, labels: &[u32]) -> Result<(f32, Gradients), NnError> {
    let &[n, k] = logits.shape() else {
        return Err(NnError::Shape(format!("cross-entropy expects [n, classes] logits, got {:?}", logits.shape())));
    };
    if labels.len() != n || n == 0 {
        return Err(NnError::Shape(format!("{} labels for {n} logits rows", labels.len())));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= k) {
        return Err(NnError::Shape(format!("label {bad} out of range for {k} classes")));
    }
    let z = logits.data();
    let mut probs = vec![0.0f32; n * k];
    let mut total = 0.0f64;
    for ((row, p), &label) in z.chunks(k).zip(probs.chunks_mut(k)).zip(labels) {
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (pi, &zi) in p.iter_mut().zip(row) {
            *pi = (zi - max).exp();
            sum += *pi;
        }
        p.iter_mut().for_each(|pi| *pi /= sum);
        total += f64::from(max + sum.ln() - row[label as usize]);
    }
    let loss = (total / n as f64) as f32;
    let labels = labels.to_vec();
    let grads = tape.backward_from_scalar(
        &[logits],
        loss,
        Box::new(move |g| {
            let scale = g[0] / n as f32;
            let mut d = probs;
            for (row, &label) in d.chunks_mut(k).zip(&labels) {
                row[label as usize] -= 1.0;
                row.iter_mut().for_each(|v| *v *= scale);
            }
            vec![Some(d)]
        }),
    )?;
    Ok((loss, grads))
}

/// Mean over all elements of `(prediction - target)²`.
pub fn mse(tape: &mut Tape, prediction: &Var, target: &[f32]) -> Result<(f32, Gradients), NnError> {
    if prediction.len() != target.len() || target.is_empty() {
        return Err(NnError::Shape(format!("mse of {} predictions against {} targets", prediction.len(), target.len())));
    }
    let p = prediction.data();
    let diff: Vec<f32> = p.iter().zip(target).map(|(a, b)| a - b).collect();
    let count = diff.len() as f64;
    let loss = (diff.iter().map(|d| f64::from(*d) * f64::from(*d)).sum::<f64>() / count) as f32;
    let grads = tape.backward_from_scalar(
        &[prediction],
        loss,
        Box::new(move |g| {
            let scale = 2.0 * g[0] / count as f32;
            vec![Some(diff.iter().map(|d| d * scale).collect())]
        }),
    )?;
    Ok((loss, grads))
}

/// Softmax probabilities of logits `[n, classes]` (no gradient; for evaluation).
pub fn softmax(logits: &[f32], classes: usize) -> Vec<f32> {
    let mut out = logits.to_vec();
    for row in out.chunks_mut(classes) {
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        row.iter_mut().for_each(|v| *v /= sum);
    }
    out
}
