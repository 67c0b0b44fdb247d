use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BinaryArray, BinaryViewArray, BooleanArray, Date32Array, Date64Array,
    Decimal128Array, DictionaryArray, FixedSizeBinaryArray, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, Int8Array, LargeBinaryArray, LargeStringArray, StringArray,
    StringViewArray, Time32MillisecondArray, Time32SecondArray, Time64MicrosecondArray,
    Time64NanosecondArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use proptest::prelude::*;

use super::*;
use crate::error::ErrorKind;
use crate::types::{DataField, MAX_LENGTH};

fn t(kind: TypeKind) -> DataType {
    DataType::new(kind)
}

fn string() -> DataType {
    t(TypeKind::VarChar(MAX_LENGTH))
}

fn ts(millis: i64, nanos_of_milli: i32) -> Datum {
    Datum::Timestamp {
        millis,
        nanos_of_milli,
    }
}

fn round_trip(values: Vec<Option<Datum>>, types: Vec<DataType>) {
    let bytes = BinaryRow::encode(&values, &types).unwrap();
    assert_eq!(bytes.len() % 8, 0, "rows are 8-byte aligned");
    assert_eq!(BinaryRow::decode(&bytes, &types).unwrap(), values);
    let with_arity = serialize_with_arity(&bytes, types.len());
    assert_eq!(
        BinaryRow::decode_with_arity(&with_arity, &types).unwrap(),
        values
    );
}

#[test]
fn every_type_round_trips() {
    let dec = |precision, scale| t(TypeKind::Decimal { precision, scale });
    let cases: Vec<(DataType, Vec<Datum>)> = vec![
        (
            t(TypeKind::Boolean),
            vec![Datum::Boolean(true), Datum::Boolean(false)],
        ),
        (
            t(TypeKind::TinyInt),
            vec![Datum::TinyInt(i8::MIN), Datum::TinyInt(-1)],
        ),
        (
            t(TypeKind::SmallInt),
            vec![Datum::SmallInt(i16::MAX), Datum::SmallInt(-2)],
        ),
        (t(TypeKind::Int), vec![Datum::Int(i32::MIN), Datum::Int(7)]),
        (
            t(TypeKind::BigInt),
            vec![Datum::BigInt(i64::MIN), Datum::BigInt(i64::MAX)],
        ),
        (
            t(TypeKind::Float),
            vec![Datum::Float(-0.0), Datum::Float(f32::INFINITY)],
        ),
        (
            t(TypeKind::Double),
            vec![Datum::Double(1e300), Datum::Double(-0.5)],
        ),
        (dec(1, 0), vec![Datum::Decimal(9), Datum::Decimal(-9)]),
        (dec(18, 2), vec![Datum::Decimal(999_999_999_999_999_999)]),
        (dec(19, 0), vec![Datum::Decimal(-9_999_999_999_999_999_999)]),
        (
            dec(38, 10),
            vec![
                Datum::Decimal(10i128.pow(38) - 1),
                Datum::Decimal(1 - 10i128.pow(38)),
                Datum::Decimal(-128),
                Datum::Decimal(0),
            ],
        ),
        (t(TypeKind::Char(3)), vec![Datum::String("abc".into())]),
        (
            t(TypeKind::VarChar(100)),
            vec![Datum::String("a longer varchar".into())],
        ),
        (
            string(),
            vec![
                Datum::String(String::new()),
                Datum::String("\u{1f600}".into()),
            ],
        ),
        (t(TypeKind::Binary(2)), vec![Datum::Binary(vec![0, 255])]),
        (
            t(TypeKind::VarBinary(MAX_LENGTH)),
            vec![Datum::Binary(vec![7; 33])],
        ),
        (
            t(TypeKind::Date),
            vec![Datum::Date(-719_162), Datum::Date(19_000)],
        ),
        (
            t(TypeKind::Time(3)),
            vec![Datum::Time(0), Datum::Time(86_399_999)],
        ),
        (
            t(TypeKind::Timestamp(0)),
            vec![ts(-1, 0), ts(1_700_000_000_000, 0)],
        ),
        (t(TypeKind::Timestamp(3)), vec![ts(i64::MIN, 0)]),
        (t(TypeKind::Timestamp(6)), vec![ts(-1, 999_000), ts(5, 0)]),
        (
            t(TypeKind::Timestamp(9)),
            vec![ts(123, 999_999), ts(i64::MAX, 1)],
        ),
        (t(TypeKind::LocalZonedTimestamp(3)), vec![ts(42, 0)]),
        (t(TypeKind::LocalZonedTimestamp(9)), vec![ts(-42, 17)]),
    ];
    for (ty, values) in cases {
        for v in values {
            round_trip(vec![Some(v.clone())], vec![ty.clone()]);
            // Also next to a null and a long string, so offsets are not trivially 16.
            round_trip(
                vec![Some(Datum::String("0123456789".into())), None, Some(v)],
                vec![string(), ty.clone(), ty.clone()],
            );
        }
        round_trip(vec![None], vec![ty]);
    }
}

#[test]
fn empty_row_is_paimons_empty_row() {
    let bytes = BinaryRow::encode(&[], &[]).unwrap();
    assert_eq!(bytes, EMPTY_ROW);
    let manifest = serialize_with_arity(&bytes, 0);
    assert_eq!(manifest, [0u8; 12]);
    assert_eq!(
        BinaryRow::decode_with_arity(&manifest, &[]).unwrap(),
        vec![]
    );
}

#[test]
fn null_non_compact_fields_reserve_space_like_java() {
    // Java (codegen projections, RowHelper) calls writeDecimal/writeTimestamp with null:
    // 16 / 8 zero bytes in the var part, slot = offset << 32, null bit set.
    let types = [
        t(TypeKind::Decimal {
            precision: 20,
            scale: 2,
        }),
        t(TypeKind::Timestamp(6)),
    ];
    let bytes = BinaryRow::encode(&[None, None], &types).unwrap();
    let mut want = vec![0u8; 24 + 16 + 8];
    want[1] = 0b11;
    want[8..16].copy_from_slice(&(24u64 << 32).to_le_bytes());
    want[16..24].copy_from_slice(&(40u64 << 32).to_le_bytes());
    assert_eq!(bytes, want);
    // pypaimon's zero-slot form decodes the same.
    let mut pypaimon = vec![0u8; 24];
    pypaimon[1] = 0b11;
    assert_eq!(
        BinaryRow::decode(&pypaimon, &types).unwrap(),
        vec![None, None]
    );
}

#[test]
fn non_compact_decimal_bytes_are_minimal_like_java() {
    let ty = [t(TypeKind::Decimal {
        precision: 20,
        scale: 0,
    })];
    for (v, want) in [
        (-128i128, vec![0x80]),
        (128, vec![0x00, 0x80]),
        (-129, vec![0xff, 0x7f]),
    ] {
        let bytes = BinaryRow::encode(&[Some(Datum::Decimal(v))], &ty).unwrap();
        assert_eq!(
            &bytes[8..16],
            &(16u64 << 32 | want.len() as u64).to_le_bytes()
        );
        assert_eq!(&bytes[16..16 + want.len()], &want[..], "{v}");
        assert_eq!(bytes.len(), 32);
    }
    // pypaimon writes -128 with a redundant sign byte; still -128.
    let mut py = BinaryRow::encode(&[Some(Datum::Decimal(-128))], &ty).unwrap();
    py[8..16].copy_from_slice(&(16u64 << 32 | 2).to_le_bytes());
    py[16..18].copy_from_slice(&[0xff, 0x80]);
    assert_eq!(
        BinaryRow::decode(&py, &ty).unwrap(),
        vec![Some(Datum::Decimal(-128))]
    );
}

#[test]
fn writer_is_reusable_and_ordered() {
    let types = [t(TypeKind::Int), string()];
    let mut w = BinaryRowWriter::new(2);
    let long = w
        .write_row(
            &[
                Some(Datum::Int(1)),
                Some(Datum::String("long string!".into())),
            ],
            &types,
        )
        .unwrap()
        .to_vec();
    let short = w
        .write_row(
            &[Some(Datum::Int(1)), Some(Datum::String("s".into()))],
            &types,
        )
        .unwrap()
        .to_vec();
    assert_eq!(short.len(), 24, "reset drops the old var part");
    assert_eq!(
        long,
        BinaryRow::encode(
            &[
                Some(Datum::Int(1)),
                Some(Datum::String("long string!".into()))
            ],
            &types
        )
        .unwrap()
    );

    w.reset();
    w.write(1, Some(&Datum::String("x".into())), &types[1])
        .unwrap();
    let err = w.write(0, Some(&Datum::Int(1)), &types[0]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataInvalid);
    assert!(w.write(2, None, &types[0]).is_err());
    // Field 0 was skipped: it reads as NULL.
    assert_eq!(
        BinaryRow::decode(w.finish(), &types).unwrap(),
        vec![None, Some(Datum::String("x".into()))]
    );
}

#[test]
fn encode_rejects_bad_input() {
    let dec = t(TypeKind::Decimal {
        precision: 3,
        scale: 1,
    });
    let err = BinaryRow::encode(&[Some(Datum::Decimal(1000))], &[dec]).unwrap_err();
    assert!(err.message().contains("more than 3 digits"), "{err}");
    let err = BinaryRow::encode(&[Some(Datum::Int(1))], &[string()]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataInvalid);
    let bad_nanos = BinaryRow::encode(&[Some(ts(0, 1_000_000))], &[t(TypeKind::Timestamp(9))]);
    assert!(bad_nanos.is_err());
    let nested = t(TypeKind::Array(Box::new(t(TypeKind::Int))));
    assert_eq!(
        BinaryRow::encode(&[None], std::slice::from_ref(&nested))
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
    let row = t(TypeKind::Row(vec![DataField::new(
        0,
        "a",
        t(TypeKind::Int),
    )]));
    assert_eq!(
        BinaryRow::decode(&[0; 16], &[row]).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert!(BinaryRow::encode(&[None, None], &[nested]).is_err());
}

fn decode_err(bytes: &[u8], types: &[DataType]) -> String {
    let err = BinaryRow::decode(bytes, types).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataInvalid, "{err}");
    err.message().to_string()
}

#[test]
fn decode_reports_what_is_wrong() {
    let s = [string()];
    assert!(decode_err(&[0; 15], &s).contains("fixed part"));
    let mut bad_kind = vec![0u8; 16];
    bad_kind[0] = 9;
    assert!(decode_err(&bad_kind, &s).contains("RowKind"));

    let mut row = BinaryRow::encode(&[Some(Datum::String("0123456789".into()))], &s).unwrap();
    assert!(decode_err(&row[..20], &s).contains("exceed"));
    row[8..16].copy_from_slice(&(0x7fff_ffffu64 << 32 | 10).to_le_bytes());
    assert!(decode_err(&row, &s).contains("offset"));
    row[8..16].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x88]);
    assert!(decode_err(&row, &s).contains("inline length 8"));
    row[8..16].copy_from_slice(&[0xff, 0xfe, 0, 0, 0, 0, 0, 0x82]);
    assert!(decode_err(&row, &s).contains("UTF-8"));

    let ts9 = [t(TypeKind::Timestamp(9))];
    let mut row = BinaryRow::encode(&[Some(ts(1, 2))], &ts9).unwrap();
    row[8..12].copy_from_slice(&1_000_000u32.to_le_bytes());
    assert!(decode_err(&row, &ts9).contains("nanos_of_milli"));

    let dec = [t(TypeKind::Decimal {
        precision: 30,
        scale: 0,
    })];
    let mut row = BinaryRow::encode(&[Some(Datum::Decimal(5))], &dec).unwrap();
    row[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert!(decode_err(&row, &dec).contains("decimal of 0 bytes"));
    row[8..12].copy_from_slice(&17u32.to_le_bytes());
    assert!(decode_err(&row, &dec).contains("exceed"));
    // Over-precision non-compact decimals read as NULL, as Java's getDecimal does.
    let small = [t(TypeKind::Decimal {
        precision: 19,
        scale: 0,
    })];
    let big = BinaryRow::encode(&[Some(Datum::Decimal(10i128.pow(25)))], &dec).unwrap();
    assert_eq!(BinaryRow::decode(&big, &small).unwrap(), vec![None]);

    assert!(deserialize_with_arity(&[0, 0, 1]).is_err());
    let err = BinaryRow::decode_with_arity(&[0xff, 0xff, 0xff, 0xff, 0, 0], &[]).unwrap_err();
    assert!(err.message().contains("negative arity"));
    let err = BinaryRow::decode_with_arity(&serialize_with_arity(&[0; 16], 1), &[]).unwrap_err();
    assert!(err.message().contains("arity 1"), "{err}");
    assert!(BinaryRow::new(&[], usize::MAX).is_err());
}

#[test]
fn partial_decode_of_stats_rows() {
    let types = [t(TypeKind::Int), string(), t(TypeKind::BigInt)];
    // Empty stats (arity 0, as pypaimon's SimpleStats.empty_stats writes): no fields.
    let empty = serialize_with_arity(&EMPTY_ROW, 0);
    assert_eq!(BinaryRow::decode_partial(&empty, &types).unwrap(), vec![]);
    // A row written before the third column existed.
    let old = BinaryRow::encode_with_arity(
        &[Some(Datum::Int(3)), Some(Datum::String("a".into()))],
        &types[..2],
    )
    .unwrap();
    assert_eq!(
        BinaryRow::decode_partial(&old, &types).unwrap(),
        vec![Some(Datum::Int(3)), Some(Datum::String("a".into()))]
    );
    // More stored fields than types: the leading ones.
    assert_eq!(
        BinaryRow::decode_partial(&old, &types[..1]).unwrap(),
        vec![Some(Datum::Int(3))]
    );
    let row = BinaryRow::from_bytes_with_arity(&old).unwrap();
    assert_eq!(row.arity(), 2);
    assert_eq!(row.row_kind(), 0);
    assert!(!row.is_null_at(1).unwrap());
    assert!(row.is_null_at(2).is_err());
}

fn arrays_and_types() -> (Vec<ArrayRef>, Vec<DataType>, Vec<Vec<Option<Datum>>>) {
    let dec = t(TypeKind::Decimal {
        precision: 20,
        scale: 2,
    });
    let cols: Vec<(ArrayRef, DataType)> = vec![
        (
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            t(TypeKind::Boolean),
        ),
        (Arc::new(Int8Array::from(vec![-1, 2])), t(TypeKind::TinyInt)),
        (
            Arc::new(Int16Array::from(vec![300, -300])),
            t(TypeKind::SmallInt),
        ),
        (
            Arc::new(Int32Array::from(vec![Some(7), None])),
            t(TypeKind::Int),
        ),
        (
            Arc::new(Int64Array::from(vec![i64::MIN, 9])),
            t(TypeKind::BigInt),
        ),
        (
            Arc::new(Float32Array::from(vec![1.5, -0.0])),
            t(TypeKind::Float),
        ),
        (
            Arc::new(Float64Array::from(vec![2.5, f64::NAN])),
            t(TypeKind::Double),
        ),
        (
            Arc::new(
                Decimal128Array::from(vec![Some(-12345), None])
                    .with_precision_and_scale(20, 2)
                    .unwrap(),
            ),
            dec.clone(),
        ),
        (
            Arc::new(StringArray::from(vec!["short", "a longer string"])),
            string(),
        ),
        (
            Arc::new(LargeStringArray::from(vec!["", "x"])),
            t(TypeKind::Char(1)),
        ),
        (
            Arc::new(StringViewArray::from(vec!["view string long", "v"])),
            string(),
        ),
        (
            Arc::new(BinaryArray::from(vec![&b"\x00\x01"[..], &[9u8; 12][..]])),
            t(TypeKind::VarBinary(MAX_LENGTH)),
        ),
        (
            Arc::new(LargeBinaryArray::from(vec![&b"l"[..], &b""[..]])),
            t(TypeKind::VarBinary(9)),
        ),
        (
            Arc::new(BinaryViewArray::from(vec![&b"bv"[..], &[1u8; 20][..]])),
            t(TypeKind::VarBinary(20)),
        ),
        (
            Arc::new(
                FixedSizeBinaryArray::try_from_iter(
                    vec![vec![1u8, 2, 3], vec![4, 5, 6]].into_iter(),
                )
                .unwrap(),
            ),
            t(TypeKind::Binary(3)),
        ),
        (
            Arc::new(Date32Array::from(vec![-1, 19_000])),
            t(TypeKind::Date),
        ),
        (
            Arc::new(Date64Array::from(vec![-1, 86_400_000 * 3])),
            t(TypeKind::Date),
        ),
        (
            Arc::new(Time32SecondArray::from(vec![1, 86_399])),
            t(TypeKind::Time(0)),
        ),
        (
            Arc::new(Time32MillisecondArray::from(vec![1, 2])),
            t(TypeKind::Time(3)),
        ),
        (
            Arc::new(Time64MicrosecondArray::from(vec![1_999, 5_000])),
            t(TypeKind::Time(6)),
        ),
        (
            Arc::new(Time64NanosecondArray::from(vec![1_999_999, 0])),
            t(TypeKind::Time(9)),
        ),
        (
            Arc::new(TimestampSecondArray::from(vec![-1, 2])),
            t(TypeKind::Timestamp(0)),
        ),
        (
            Arc::new(TimestampMillisecondArray::from(vec![-1, 2]).with_timezone("UTC")),
            t(TypeKind::LocalZonedTimestamp(3)),
        ),
        (
            Arc::new(TimestampMicrosecondArray::from(vec![-1, 1_234_567])),
            t(TypeKind::Timestamp(6)),
        ),
        (
            Arc::new(TimestampNanosecondArray::from(vec![-1, 1_234_567_891])),
            t(TypeKind::Timestamp(9)),
        ),
        (
            Arc::new(TimestampNanosecondArray::from(vec![-1, 1_234_567_891])),
            t(TypeKind::Timestamp(3)),
        ),
        (
            Arc::new(DictionaryArray::<Int32Type>::from_iter(vec![
                Some("dict value long"),
                None,
            ])),
            string(),
        ),
    ];
    let s = |v: &str| Some(Datum::String(v.into()));
    let b = |v: &[u8]| Some(Datum::Binary(v.to_vec()));
    let rows = vec![
        vec![
            Some(Datum::Boolean(true)),
            Some(Datum::TinyInt(-1)),
            Some(Datum::SmallInt(300)),
            Some(Datum::Int(7)),
            Some(Datum::BigInt(i64::MIN)),
            Some(Datum::Float(1.5)),
            Some(Datum::Double(2.5)),
            Some(Datum::Decimal(-12345)),
            s("short"),
            s(""),
            s("view string long"),
            b(b"\x00\x01"),
            b(b"l"),
            b(b"bv"),
            b(&[1, 2, 3]),
            Some(Datum::Date(-1)),
            Some(Datum::Date(-1)),
            Some(Datum::Time(1000)),
            Some(Datum::Time(1)),
            Some(Datum::Time(1)),
            Some(Datum::Time(1)),
            Some(ts(-1000, 0)),
            Some(ts(-1, 0)),
            Some(ts(-1, 999_000)),
            Some(ts(-1, 999_999)),
            Some(ts(-1, 0)),
            s("dict value long"),
        ],
        vec![
            None,
            Some(Datum::TinyInt(2)),
            Some(Datum::SmallInt(-300)),
            None,
            Some(Datum::BigInt(9)),
            Some(Datum::Float(-0.0)),
            Some(Datum::Double(f64::NAN)),
            None,
            s("a longer string"),
            s("x"),
            s("v"),
            b(&[9; 12]),
            b(b""),
            b(&[1; 20]),
            b(&[4, 5, 6]),
            Some(Datum::Date(19_000)),
            Some(Datum::Date(3)),
            Some(Datum::Time(86_399_000)),
            Some(Datum::Time(2)),
            Some(Datum::Time(5)),
            Some(Datum::Time(0)),
            Some(ts(2000, 0)),
            Some(ts(2, 0)),
            Some(ts(1234, 567_000)),
            Some(ts(1234, 567_891)),
            Some(ts(1234, 0)),
            None,
        ],
    ];
    let (arrays, types) = cols.into_iter().unzip();
    (arrays, types, rows)
}

#[test]
fn arrow_rows_encode_like_datums() {
    let (arrays, types, rows) = arrays_and_types();
    let mut w = BinaryRowWriter::new(types.len());
    for (i, row) in rows.iter().enumerate() {
        encode_arrow_row(&arrays, &types, i, &mut w).unwrap();
        let from_arrow = w.finish().to_vec();
        // NaN != NaN for PartialEq, so compare bytes with the Datum encoding.
        assert_eq!(
            from_arrow,
            BinaryRow::encode(row, &types).unwrap(),
            "row {i}"
        );
    }
    let err = encode_arrow_row(&arrays, &types, 2, &mut w).unwrap_err();
    assert!(err.message().contains("out of range"), "{err}");
    let wrong = [t(TypeKind::BigInt)];
    let mut w1 = BinaryRowWriter::new(1);
    let err = encode_arrow_row(&arrays[3..4], &wrong, 0, &mut w1).unwrap_err();
    assert!(err.message().contains("does not match"), "{err}");
    let scale = [t(TypeKind::Decimal {
        precision: 20,
        scale: 3,
    })];
    assert!(encode_arrow_row(&arrays[7..8], &scale, 0, &mut w1).is_err());
}

fn type_and_datum() -> impl Strategy<Value = (DataType, Option<Datum>)> {
    let any_string = ".{0,20}".prop_map(Datum::String);
    let any_bytes = proptest::collection::vec(any::<u8>(), 0..20).prop_map(Datum::Binary);
    let ts_strategy = (any::<i64>(), 0..1_000_000i32).prop_map(|(m, n)| ts(m, n));
    let pair = prop_oneof![
        any::<bool>().prop_map(|v| (t(TypeKind::Boolean), Datum::Boolean(v))),
        any::<i8>().prop_map(|v| (t(TypeKind::TinyInt), Datum::TinyInt(v))),
        any::<i16>().prop_map(|v| (t(TypeKind::SmallInt), Datum::SmallInt(v))),
        any::<i32>().prop_map(|v| (t(TypeKind::Int), Datum::Int(v))),
        any::<i64>().prop_map(|v| (t(TypeKind::BigInt), Datum::BigInt(v))),
        any::<i32>().prop_map(|v| (t(TypeKind::Date), Datum::Date(v))),
        (0..86_400_000i32).prop_map(|v| (t(TypeKind::Time(3)), Datum::Time(v))),
        any::<f32>()
            .prop_filter("NaN != NaN", |v| !v.is_nan())
            .prop_map(|v| (t(TypeKind::Float), Datum::Float(v))),
        any::<f64>()
            .prop_filter("NaN != NaN", |v| !v.is_nan())
            .prop_map(|v| (t(TypeKind::Double), Datum::Double(v))),
        (1u8..=38, any::<i128>()).prop_map(|(p, v)| {
            let limit = 10i128.pow(u32::from(p));
            (
                t(TypeKind::Decimal {
                    precision: p,
                    scale: p / 2,
                }),
                Datum::Decimal(v % limit),
            )
        }),
        any_string.prop_map(|v| (string(), v)),
        any_bytes.prop_map(|v| (t(TypeKind::VarBinary(MAX_LENGTH)), v)),
        (0u8..=9, ts_strategy).prop_map(|(p, v)| {
            let v = match v {
                Datum::Timestamp { millis, .. } if p <= 3 => ts(millis, 0),
                other => other,
            };
            (t(TypeKind::Timestamp(p)), v)
        }),
    ];
    (pair, any::<bool>()).prop_map(|((ty, v), null)| (ty, (!null).then_some(v)))
}

proptest! {
    #[test]
    fn random_rows_round_trip(fields in proptest::collection::vec(type_and_datum(), 0..70)) {
        let (types, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
        let bytes = BinaryRow::encode(&values, &types).unwrap();
        prop_assert_eq!(BinaryRow::decode(&bytes, &types).unwrap(), values.clone());
        let with_arity = BinaryRow::encode_with_arity(&values, &types).unwrap();
        prop_assert_eq!(BinaryRow::decode_partial(&with_arity, &types).unwrap(), values);
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        fields in proptest::collection::vec(type_and_datum(), 0..10),
    ) {
        let types: Vec<DataType> = fields.into_iter().map(|(ty, _)| ty).collect();
        let _ = BinaryRow::decode(&bytes, &types);
        let _ = BinaryRow::decode_with_arity(&bytes, &types);
        let _ = BinaryRow::decode_partial(&bytes, &types);
        // Small arity prefix so the fixed part fits and slots are actually read.
        if bytes.len() > 4 {
            let mut prefixed = bytes.clone();
            prefixed[..4].copy_from_slice(&(types.len() as u32).to_be_bytes());
            prefixed[4] &= 3;
            let _ = BinaryRow::decode_with_arity(&prefixed, &types);
        }
    }

    #[test]
    fn corrupted_rows_never_panic(
        fields in proptest::collection::vec(type_and_datum(), 1..8),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let (types, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
        let mut bytes = BinaryRow::encode(&values, &types).unwrap();
        for (at, v) in flips {
            let n = bytes.len();
            bytes[at % n] = v;
        }
        let _ = BinaryRow::decode(&bytes, &types);
    }
}
