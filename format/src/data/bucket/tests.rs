//! Goldens computed by pypaimon 2.1.0 (`tests/python/golden_binary_row.py`).

mod golden;

use super::*;
use crate::data::binary_row::{serialize_with_arity, BinaryRow, BinaryRowWriter};
use crate::types::TypeKind;
use golden::{cases, BIGINT_RANGE_HASHES, BUCKET_COUNTS, INT_RANGE_HASHES, RANGE};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn reference_bigint_hashes() {
    // From the format notes: BIGINT 1, 2, 3 -> these hashes, buckets 0, 0, 1 of 2.
    let ty = [DataType::new(TypeKind::BigInt)];
    let want = [(1, 1465514398, 0), (2, 1340390384, 0), (3, -771300025, 1)];
    for (v, hash, bucket) in want {
        let bytes = BinaryRow::encode(&[Some(Datum::BigInt(v))], &ty).unwrap();
        assert_eq!(bucket_hash(&bytes), hash);
        assert_eq!(bucket_of(hash, 2), bucket);
        assert_eq!(
            bucket_of_key(&[Some(Datum::BigInt(v))], &ty, 2).unwrap(),
            bucket
        );
    }
}

#[test]
fn golden_bytes_hashes_and_buckets() {
    let cases = cases();
    assert!(cases.len() > 40);
    let mut writer = BinaryRowWriter::new(0);
    for case in &cases {
        let name = case.name;
        let bytes = BinaryRow::encode(&case.values, &case.types).unwrap();
        let with_arity = serialize_with_arity(&bytes, case.types.len());
        assert_eq!(hex(&with_arity), case.bytes_hex, "{name}: bytes");
        assert_eq!(
            hex(&BinaryRow::encode_with_arity(&case.values, &case.types).unwrap()),
            case.bytes_hex,
            "{name}"
        );
        assert_eq!(bucket_hash(&bytes), case.hash, "{name}: hash");
        for (n, want) in BUCKET_COUNTS.iter().zip(case.buckets) {
            assert_eq!(bucket_of(case.hash, *n), want, "{name}: bucket of {n}");
            if writer.arity() != case.types.len() {
                writer = BinaryRowWriter::new(case.types.len());
            }
            let got = bucket_of_key_with(&mut writer, &case.values, &case.types, *n).unwrap();
            assert_eq!(got, want, "{name}: bucket_of_key of {n}");
        }
    }
}

#[test]
fn golden_bytes_decode_to_values() {
    for case in cases() {
        let bytes: Vec<u8> = (0..case.bytes_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&case.bytes_hex[i..i + 2], 16).unwrap())
            .collect();
        let decoded = BinaryRow::decode_with_arity(&bytes, &case.types).unwrap();
        assert_eq!(decoded, case.values, "{}", case.name);
        let partial = BinaryRow::decode_partial(&bytes, &case.types).unwrap();
        assert_eq!(partial, case.values, "{}", case.name);
    }
}

#[test]
fn golden_ranges() {
    let mut writer = BinaryRowWriter::new(1);
    let big = [DataType::new(TypeKind::BigInt)];
    let int = [DataType::new(TypeKind::Int)];
    for (i, v) in RANGE.enumerate() {
        let bytes = writer.write_row(&[Some(Datum::BigInt(v))], &big).unwrap();
        assert_eq!(bucket_hash(bytes), BIGINT_RANGE_HASHES[i], "BIGINT {v}");
        let bytes = writer
            .write_row(&[Some(Datum::Int(v as i32))], &int)
            .unwrap();
        assert_eq!(bucket_hash(bytes), INT_RANGE_HASHES[i], "INT {v}");
    }
}

#[test]
fn bucket_of_matches_java_remainder() {
    assert_eq!(bucket_of(-7, 4), 3);
    assert_eq!(bucket_of(7, 4), 3);
    assert_eq!(bucket_of(i32::MIN, 2), 0);
    assert_eq!(bucket_of(i32::MIN, 3), 2);
    assert_eq!(bucket_of(i32::MAX, 1), 0);
    assert_eq!(bucket_of(5, 0), 0);
    let ty = [DataType::new(TypeKind::Int)];
    assert!(bucket_of_key(&[Some(Datum::Int(1))], &ty, 0).is_err());
}

#[test]
fn murmur_ignores_trailing_bytes_but_counts_length() {
    // Whole words only, but the length goes into the finalizer.
    let base = hash_bytes_by_words(&[1, 2, 3, 4], DEFAULT_SEED);
    assert_ne!(base, hash_bytes_by_words(&[1, 2, 3, 4, 5], DEFAULT_SEED));
    assert_eq!(
        hash_bytes_by_words(&[1, 2, 3, 4, 5], DEFAULT_SEED),
        hash_bytes_by_words(&[1, 2, 3, 4, 9], DEFAULT_SEED)
    );
}

/// The columnar bucket function equals pypaimon's hashes on the golden ranges, and the
/// row-by-row function on every fast-path type, nulls (general path) included.
#[test]
fn columnar_buckets_equal_row_by_row() {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Date32Array, Int16Array, Int32Array, Int64Array, Int8Array};

    let values: Vec<i64> = RANGE.collect();
    for (ty, column, hashes) in [
        (
            TypeKind::BigInt,
            Arc::new(Int64Array::from(values.clone())) as ArrayRef,
            &BIGINT_RANGE_HASHES[..],
        ),
        (
            TypeKind::Int,
            Arc::new(Int32Array::from_iter_values(
                values.iter().map(|v| *v as i32),
            )),
            &INT_RANGE_HASHES[..],
        ),
    ] {
        let types = [DataType::new(ty.clone())];
        for n in BUCKET_COUNTS {
            let got = buckets_of_rows(
                std::slice::from_ref(&column),
                &types,
                n,
                &mut BinaryRowWriter::new(1),
            )
            .unwrap();
            let want: Vec<u32> = hashes.iter().map(|h| bucket_of(*h, n)).collect();
            assert_eq!(got, want, "{ty:?} with {n} buckets");
        }
    }
    let row_by_row = |column: ArrayRef, ty: TypeKind| {
        let types = [DataType::new(ty.clone())];
        let mut w = BinaryRowWriter::new(1);
        let want: Vec<u32> = (0..column.len())
            .map(|r| {
                crate::data::binary_row::encode_arrow_row(
                    std::slice::from_ref(&column),
                    &types,
                    r,
                    &mut w,
                )
                .unwrap();
                bucket_of(bucket_hash(w.finish()), 7)
            })
            .collect();
        let got = buckets_of_rows(&[column], &types, 7, &mut BinaryRowWriter::new(1)).unwrap();
        assert_eq!(got, want, "{ty:?}");
    };
    row_by_row(
        Arc::new(Int16Array::from(vec![-3i16, 0, 7, i16::MAX])),
        TypeKind::SmallInt,
    );
    row_by_row(
        Arc::new(Int8Array::from(vec![-3i8, 0, 7, i8::MIN])),
        TypeKind::TinyInt,
    );
    row_by_row(
        Arc::new(Date32Array::from(vec![-1, 0, 19000])),
        TypeKind::Date,
    );
    row_by_row(
        Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
        TypeKind::BigInt,
    );
}
