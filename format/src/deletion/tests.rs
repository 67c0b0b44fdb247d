//! Deletion vector bytes against vectors written by pypaimon 2.1.0 (`BitmapDeletionVector.
//! serialize`) and by CRoaring through pyroaring 1.2 (bitmap64 body, framed as Paimon's
//! `Bitmap64DeletionVector` frames it), frozen as hex; round trips; garbage never panics.

use proptest::prelude::*;

use super::index_file::{decode_index_file, decode_vector, encode_index_file};
use super::vector::{DeletionVector, VectorFormat};
use crate::manifest::{DeletionVectorMeta, IndexFileMeta, DELETION_VECTORS_INDEX};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// (positions, bytes) written by pypaimon's `BitmapDeletionVector` (bitmap32).
const PYPAIMON_BITMAP32: &[(&[u64], &str)] = &[
    (&[], "0000000c5e43f2d03a300000000000005de5c7e9"),
    (&[1, 2], "000000185e43f2d03a30000001000000000001001000000001000200c3366892"),
    (
        &[0, 5, 65535, 65536, 1_000_000],
        "0000002e5e43f2d03a3000000300000000000200010000000f00000020000000260000002800000000000500ffff00004042f1a22dac",
    ),
];

/// 100..300, run-optimized by CRoaring, framed as bitmap32.
const RUN_BITMAP32: &str = "000000135e43f2d03b300000010000c70001006400c7002d5f3518";

/// (positions, bytes): pyroaring `BitMap64` (run-optimized) framed as bitmap64.
const PYROARING_BITMAP64: &[(&[u64], &str)] = &[
    (&[], "0000000cd1d339640000000000000000bf18480c"),
    (
        &[1, 2, (1 << 32) + 7],
        "0000003ad1d339640200000000000000000000003a30000001000000000001001000000001000200010000003a30000001000000000000001000000007001a93bac2",
    ),
    (
        &[10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 70000],
        "00000025d1d339640100000000000000000000003b30010001000009000100000001000a000900701107754f91",
    ),
];

#[test]
fn decodes_and_reproduces_pypaimon_bitmap32_bytes() {
    for (positions, bytes) in PYPAIMON_BITMAP32 {
        let bytes = hex(bytes);
        let (dv, format, len) = DeletionVector::deserialize(&bytes).unwrap();
        assert_eq!(format, VectorFormat::Bitmap32);
        assert_eq!(len, bytes.len());
        assert_eq!(dv.iter().collect::<Vec<_>>(), positions.to_vec());
        let ours = DeletionVector::from_positions(positions.iter().copied());
        assert_eq!(ours.serialize(VectorFormat::Bitmap32).unwrap(), bytes);
    }
}

#[test]
fn run_optimizes_like_croaring() {
    let dv = DeletionVector::from_positions(100..300);
    let bytes = dv.serialize(VectorFormat::Bitmap32).unwrap();
    assert_eq!(bytes, hex(RUN_BITMAP32));
    assert_eq!(DeletionVector::deserialize(&bytes).unwrap().0, dv);
}

#[test]
fn decodes_and_reproduces_portable_bitmap64_bytes() {
    for (positions, bytes) in PYROARING_BITMAP64 {
        let bytes = hex(bytes);
        let dv = DeletionVector::from_iceberg_blob(&bytes).unwrap();
        assert_eq!(dv.iter().collect::<Vec<_>>(), positions.to_vec());
        let ours = DeletionVector::from_positions(positions.iter().copied());
        assert_eq!(ours.to_iceberg_blob().unwrap(), bytes);
    }
}

#[test]
fn bitmap64_magic_is_icebergs_byte_sequence() {
    let blob = DeletionVector::from_positions([3])
        .to_iceberg_blob()
        .unwrap();
    assert_eq!(&blob[4..8], &[0xD1, 0xD3, 0x39, 0x64]);
}

#[test]
fn bitmap32_refuses_positions_beyond_i32() {
    let dv = DeletionVector::from_positions([1u64 << 31]);
    let err = dv.serialize(VectorFormat::Bitmap32).unwrap_err();
    assert!(err.message().contains("deletion-vectors.bitmap64"), "{err}");
    assert!(dv.serialize(VectorFormat::Bitmap64).is_ok());
}

#[test]
fn corrupt_bytes_are_rejected_with_a_message() {
    let good = DeletionVector::from_positions([1, 2, 3])
        .serialize(VectorFormat::Bitmap32)
        .unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        // Any single flipped bit is caught by the frame, the magic or the CRC.
        let err = DeletionVector::deserialize(&bad).unwrap_err();
        assert!(!err.message().is_empty());
    }
    let err = DeletionVector::deserialize(&good[..good.len() - 1]).unwrap_err();
    assert!(err.message().contains("truncated"), "{err}");
}

#[test]
fn index_file_ranges_follow_paimons_length_rules() {
    let a = DeletionVector::from_positions([1, 2]);
    let b = DeletionVector::from_positions([7, 9, 11]);
    for format in [VectorFormat::Bitmap32, VectorFormat::Bitmap64] {
        let (bytes, ranges) =
            encode_index_file([("a.parquet", &a), ("b.parquet", &b)], format).unwrap();
        assert_eq!(bytes[0], 1);
        assert_eq!(ranges[0].offset, 1);
        let blob_a = a.serialize(format).unwrap();
        assert_eq!(ranges[1].offset as usize, 1 + blob_a.len());
        let expected_len = match format {
            VectorFormat::Bitmap32 => blob_a.len() - 8,
            VectorFormat::Bitmap64 => blob_a.len(),
        };
        assert_eq!(ranges[0].length as usize, expected_len);
        assert_eq!(ranges[1].cardinality, Some(3));
        let meta = IndexFileMeta {
            index_type: DELETION_VECTORS_INDEX.into(),
            file_name: "index-x-0".into(),
            file_size: bytes.len() as i64,
            row_count: 2,
            dv_ranges: Some(ranges.clone()),
            external_path: None,
            global_index: None,
        };
        let all = decode_index_file(&bytes, &meta).unwrap();
        assert_eq!(
            all,
            vec![
                ("a.parquet".into(), a.clone()),
                ("b.parquet".into(), b.clone())
            ]
        );
        // A recorded length that disagrees with the vector is an error, not a guess.
        let mut wrong = ranges[0].clone();
        wrong.length += 1;
        assert!(decode_vector(&bytes, &wrong).is_err());
    }
}

#[test]
fn range_queries_match_membership() {
    let dv = DeletionVector::from_positions([0, 5, 6, 70_000, (1 << 32) + 3]);
    assert_eq!(
        dv.iter_range(5, 70_001).collect::<Vec<_>>(),
        vec![5, 6, 70_000]
    );
    assert_eq!(dv.count_in(0, 6), 2);
    assert_eq!(dv.count_in(6, 6), 0);
    assert_eq!(
        dv.iter_range(70_001, u64::MAX).collect::<Vec<_>>(),
        vec![(1 << 32) + 3]
    );
    assert_eq!(dv.max_position(), Some((1 << 32) + 3));
}

fn positions() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        prop::collection::vec(0u64..200_000, 0..300),
        prop::collection::vec(0u64..(1 << 31), 0..50),
        (0u64..100_000, 1u64..5_000).prop_map(|(s, n)| (s..s + n).collect()),
    ]
}

proptest! {
    #[test]
    fn both_forms_round_trip(p in positions(), wide in prop::collection::vec(0u64..(1 << 40), 0..20)) {
        let dv = DeletionVector::from_positions(p.iter().copied());
        for format in [VectorFormat::Bitmap32, VectorFormat::Bitmap64] {
            let bytes = dv.serialize(format).unwrap();
            let (back, f, len) = DeletionVector::deserialize(&bytes).unwrap();
            prop_assert_eq!(&back, &dv);
            prop_assert_eq!(f, format);
            prop_assert_eq!(len, bytes.len());
        }
        let wide = DeletionVector::from_positions(wide);
        let back = DeletionVector::from_iceberg_blob(&wide.to_iceberg_blob().unwrap()).unwrap();
        prop_assert_eq!(back, wide);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), offset in -3i32..250, length in -3i32..250) {
        let _ = DeletionVector::deserialize(&bytes);
        let _ = DeletionVector::from_iceberg_blob(&bytes);
        let range = DeletionVectorMeta { data_file_name: "f".into(), offset, length, cardinality: None };
        let _ = decode_vector(&bytes, &range);
    }

    #[test]
    fn framed_garbage_never_panics(body in prop::collection::vec(any::<u8>(), 0..120), wide in any::<bool>()) {
        // Valid frame and CRC around random bitmap bytes: only the roaring decoder judges.
        let mut payload = if wide {
            super::vector::BITMAP64_MAGIC.to_le_bytes().to_vec()
        } else {
            super::vector::BITMAP32_MAGIC.to_be_bytes().to_vec()
        };
        payload.extend_from_slice(&body);
        let mut blob = (payload.len() as u32).to_be_bytes().to_vec();
        blob.extend_from_slice(&payload);
        blob.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        let _ = DeletionVector::deserialize(&blob);
    }
}
