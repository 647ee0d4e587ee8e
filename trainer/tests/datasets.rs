//! Loaders against the real files in `../shared/data` (skipped, with a note, when absent), and
//! the embedded digits set.

use std::path::PathBuf;

use exactq_trainer::data::{self, Task};
use exactq_trainer::train::auroc;

fn shared_data() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if d.is_dir() {
        Some(d)
    } else {
        println!("skipped: ../shared/data is absent");
        None
    }
}

#[test]
fn embedded_digits_use_the_anchor_split() {
    let d = data::load("digits", None).unwrap();
    assert_eq!(d.source, "embedded");
    assert_eq!((d.train.len(), d.val.len(), d.test.len()), (1296, 144, 357));
    assert_eq!(d.sample_shape, vec![8, 8, 1]);
    assert!(d.train.x.iter().chain(&d.test.x).all(|&v| (0.0..=1.0).contains(&v)));
    // Train and validation partition the anchor's 1,440 training rows; test is its last 357.
    let perm: Vec<usize> = data::digits::EMBEDDED_PERM.split_whitespace().map(|t| t.parse().unwrap()).collect();
    let path = std::path::Path::new("digits");
    let all = data::digits::parse_csv(path, &data::gunzip_if_needed(path, data::digits::EMBEDDED_CSV_GZ.to_vec()).unwrap()).unwrap();
    assert_eq!(all.len(), 1797);
    assert_eq!(d.test.y, perm[1440..].iter().map(|&i| all.y[i]).collect::<Vec<_>>());
}

#[test]
fn fashion_mnist_counts_and_normalisation() {
    let Some(dir) = shared_data() else { return };
    let d = data::load("fashion-mnist", Some(&dir)).unwrap();
    assert_eq!((d.train.len() + d.val.len(), d.test.len()), (60000, 10000));
    assert_eq!(d.val.len(), 5000);
    let mut counts = [0usize; 10];
    d.test.y.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [1000; 10]);
    // (x/255 - 0.2860) / 0.3530 has mean about 0 over the training images.
    let mean = d.train.x.iter().map(|&v| f64::from(v)).sum::<f64>() / d.train.x.len() as f64;
    assert!(mean.abs() < 0.01, "normalised mean {mean}");
}

#[test]
fn mnist_first_labels() {
    let Some(dir) = shared_data() else { return };
    let d = data::load("mnist", Some(&dir)).unwrap();
    assert_eq!(&d.test.y[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
}

#[test]
fn ecg5000_anchor_split() {
    let Some(dir) = shared_data() else { return };
    let d = data::load("ecg5000", Some(&dir)).unwrap();
    assert_eq!(d.task, Task::Reconstruct);
    assert_eq!(d.sample_shape, vec![140]);
    assert_eq!(d.train.len() + d.val.len(), 2335);
    assert_eq!(d.test.len(), 2665);
    assert!(d.train.y.iter().chain(&d.val.y).all(|&l| l == 1), "training beats must be normal");
    assert_eq!(d.test.y.iter().filter(|&&l| l != 1).count(), 2081);
}

#[test]
fn auroc_matches_hand_counts() {
    // Positives at scores 0.9, 0.4; negatives at 0.5, 0.1: 3 of 4 pairs ordered right.
    assert_eq!(auroc(&[0.9, 0.5, 0.4, 0.1], &[true, false, true, false]), 0.75);
    // A tie between classes counts one half.
    assert_eq!(auroc(&[0.5, 0.5], &[true, false]), 0.5);
    assert_eq!(auroc(&[1.0, 2.0, 3.0], &[false, true, true]), 1.0);
}

#[test]
fn container_round_trip_and_layout() {
    use exactq_trainer::checkpoint::container::{decode, encode, Section};
    let sections = vec![Section { tag: *b"TRNR", payload: vec![1, 2, 3] }, Section { tag: *b"HIST", payload: vec![9; 20] }];
    let bytes = encode(&sections).unwrap();
    assert_eq!(&bytes[..8], b"EXQF\x01\x00\x02\x00");
    assert_eq!(&bytes[16..20], b"TRNR");
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 3);
    assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), crc32fast::hash(&[1, 2, 3]));
    // Second section starts at the next 16-byte boundary after the first payload.
    assert_eq!(&bytes[48..52], b"HIST");
    assert_eq!(bytes.len() % 16, 0);
    assert_eq!(decode(std::path::Path::new("x"), &bytes).unwrap(), sections);
}
