//! The `EXQF` section container: writer/reader round trip, unknown sections skipped, CRC and
//! header damage rejected with specific errors.

use exactq_core::model::container::{find_section, ContainerWriter, Sections, MODEL_TAG};
use exactq_core::model::ModelError;
use exactq_core::Error;
use proptest::prelude::*;

fn container(sections: &[([u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut w = ContainerWriter::new();
    for (tag, payload) in sections {
        w.section(*tag, payload).unwrap();
    }
    w.finish().unwrap()
}

proptest! {
    #[test]
    fn sections_round_trip(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..70), 0..6)) {
        let sections: Vec<([u8; 4], Vec<u8>)> =
            payloads.into_iter().enumerate().map(|(i, p)| ([b'S', b'E', b'C', b'0' + i as u8], p)).collect();
        let file = container(&sections);
        let read: Vec<_> = Sections::new(&file).unwrap().map(|s| s.unwrap()).collect();
        prop_assert_eq!(read.len(), sections.len());
        for ((tag, payload), section) in sections.iter().zip(&read) {
            prop_assert_eq!(&section.tag, tag);
            prop_assert_eq!(section.payload, &payload[..]);
            prop_assert_eq!(section.offset % 16, 0);
            prop_assert!(section.verify().is_ok());
            prop_assert_eq!(find_section(&file, *tag).unwrap().payload, &payload[..]);
        }
    }
}

#[test]
fn unknown_sections_are_skipped_and_missing_ones_reported() {
    let file = container(&[(*b"TRNR", vec![1, 2, 3]), (MODEL_TAG, vec![9; 40]), (*b"HIST", vec![7; 5])]);
    assert_eq!(find_section(&file, MODEL_TAG).unwrap().payload, &[9; 40][..]);
    assert_eq!(find_section(&file, *b"QUNT"), Err(Error::Model(ModelError::SectionMissing { tag: *b"QUNT" })));
    // Damage an unknown section: finding MODL still works, finding the damaged one does not.
    let mut damaged = file.clone();
    damaged[32] ^= 0xff; // first payload byte of TRNR
    assert!(find_section(&damaged, MODEL_TAG).is_ok());
    assert_eq!(find_section(&damaged, *b"TRNR"), Err(Error::Model(ModelError::SectionCrcMismatch { tag: *b"TRNR" })));
}

#[test]
fn header_damage_is_specific() {
    let file = container(&[(MODEL_TAG, vec![1; 20])]);
    let expect = |bytes: &[u8], e: ModelError| assert_eq!(find_section(bytes, MODEL_TAG).map(|_| ()), Err(Error::Model(e)));
    let mut bad = file.clone();
    bad[0] = b'X';
    expect(&bad, ModelError::BadMagic);
    let mut bad = file.clone();
    bad[4] = 2;
    expect(&bad, ModelError::UnsupportedContainerVersion { found: 2 });
    let mut bad = file.clone();
    bad[9] = 1;
    expect(&bad, ModelError::ReservedNotZero { offset: 8 });
    let mut bad = file.clone();
    bad[20..24].copy_from_slice(&u32::MAX.to_le_bytes()); // huge section length
    expect(&bad, ModelError::Truncated { needed: 32 + u32::MAX as usize, available: file.len() });
    let duplicated = container(&[(MODEL_TAG, vec![1]), (MODEL_TAG, vec![2])]);
    expect(&duplicated, ModelError::DuplicateSection { tag: MODEL_TAG });
    expect(&file[..10], ModelError::Truncated { needed: 16, available: 10 });
    // A section count larger than what is there: the walk stops at the end of the file.
    let mut bad = file.clone();
    bad[6] = 5;
    assert!(matches!(find_section(&bad, *b"NONE"), Err(Error::Model(ModelError::Truncated { .. }))));
}
