use std::sync::Arc;

use crate::data::binary_row::BinaryRow;
use crate::data::Datum;
use arrow::array::{AsArray, Float32Array, Float64Array, Int32Array, StringArray};
use arrow::datatypes::Float32Type;

use super::*;

#[test]
fn modes_parse() {
    assert_eq!(StatsMode::parse("none").unwrap(), StatsMode::None);
    assert_eq!(StatsMode::parse(" Counts ").unwrap(), StatsMode::Counts);
    assert_eq!(StatsMode::parse("FULL").unwrap(), StatsMode::Full);
    assert_eq!(
        StatsMode::parse("truncate(16)").unwrap(),
        StatsMode::Truncate(16)
    );
    for bad in ["truncate(0)", "truncate(x)", "truncate", "all"] {
        let err = StatsMode::parse(bad).unwrap_err();
        assert!(
            err.to_string().contains("is not one of none, counts, full"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn rounded_up_prefixes_stay_upper_bounds() {
    assert_eq!(round_up_prefix("abc", 3).as_deref(), Some("abc"));
    assert_eq!(round_up_prefix("abcd", 3).as_deref(), Some("abd"));
    assert_eq!(
        round_up_prefix("日本語テ", 2).as_deref(),
        Some("日\u{672D}")
    );
    // The last character cannot grow: drop it and grow the one before.
    assert_eq!(round_up_prefix("a\u{10FFFF}z", 2).as_deref(), Some("b"));
    assert_eq!(round_up_prefix("\u{10FFFF}\u{10FFFF}z", 2), None);
    // U+D7FF + 1 skips the surrogates.
    assert_eq!(
        round_up_prefix("\u{D7FF}zz", 1).as_deref(),
        Some("\u{E000}")
    );
    for (s, n) in [("hello world", 5), ("zzz", 1), ("\u{D7FF}a", 1)] {
        let up = round_up_prefix(s, n).unwrap();
        assert!(up.as_bytes() > s.as_bytes(), "{s}");
    }
}

fn field(id: i32, name: &str, ty: &str) -> DataField {
    DataField::new(id, name, DataType::parse(ty).unwrap())
}

#[test]
fn per_column_modes_and_dense_columns() {
    let options = CoreOptions::from_map([
        ("metadata.stats-mode", "full"),
        ("fields.f.stats-mode", "counts"),
        ("fields.n.stats-mode", "none"),
    ])
    .unwrap();
    let keys = [field(0, "k", "INT NOT NULL")];
    let values = [
        field(0, "k", "INT NOT NULL"),
        field(1, "f", "DOUBLE"),
        field(2, "n", "STRING"),
        field(3, "s", "STRING"),
    ];
    let stats = StatsCollector::new(&keys, &values, &options).unwrap();
    assert_eq!(
        stats.value_stats_cols(),
        Some(vec!["k".to_string(), "f".to_string(), "s".to_string()])
    );
    let kv = RecordBatch::try_from_iter([
        (
            "_KEY_k",
            Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef,
        ),
        (
            "_SEQUENCE_NUMBER",
            Arc::new(arrow::array::Int64Array::from(vec![0, 1, 2])),
        ),
        (
            "_VALUE_KIND",
            Arc::new(arrow::array::Int8Array::from(vec![0, 0, 0])),
        ),
        ("k", Arc::new(Int32Array::from(vec![1, 2, 3]))),
        (
            "f",
            Arc::new(Float64Array::from(vec![Some(-0.0), None, Some(f64::NAN)])),
        ),
        ("n", Arc::new(StringArray::from(vec!["x", "y", "z"]))),
        (
            "s",
            Arc::new(StringArray::from(vec![None, Some("b"), Some("a")])),
        ),
    ])
    .unwrap();
    let value = stats.value_stats(&kv).unwrap();
    let types: Vec<DataType> = ["INT", "DOUBLE", "STRING"]
        .iter()
        .map(|t| DataType::parse(t).unwrap())
        .collect();
    let min = BinaryRow::decode_with_arity(&value.min_values, &types).unwrap();
    let max = BinaryRow::decode_with_arity(&value.max_values, &types).unwrap();
    assert_eq!(
        min,
        vec![Some(Datum::Int(1)), None, Some(Datum::String("a".into()))]
    );
    assert_eq!(
        max,
        vec![Some(Datum::Int(3)), None, Some(Datum::String("b".into()))]
    );
    assert_eq!(value.null_counts, Some(vec![Some(0), Some(1), Some(1)]));
    let key = stats.key_stats(&kv).unwrap();
    let int = [DataType::parse("INT").unwrap()];
    assert_eq!(
        BinaryRow::decode_with_arity(&key.max_values, &int).unwrap(),
        vec![Some(Datum::Int(3))]
    );
}

#[test]
fn floats_order_like_java_and_all_null_columns_have_no_bounds() {
    let options = CoreOptions::from_map([("metadata.stats-mode", "full")]).unwrap();
    let values = [field(0, "f", "DOUBLE"), field(1, "g", "DOUBLE")];
    let stats = StatsCollector::new(&[], &values, &options).unwrap();
    assert_eq!(stats.value_stats_cols(), None);
    let kv = RecordBatch::try_from_iter([
        (
            "_SEQUENCE_NUMBER",
            Arc::new(arrow::array::Int64Array::from(vec![0, 1, 2])) as ArrayRef,
        ),
        (
            "_VALUE_KIND",
            Arc::new(arrow::array::Int8Array::from(vec![0, 0, 0])),
        ),
        ("f", Arc::new(Float64Array::from(vec![0.0, -0.0, f64::NAN]))),
        ("g", Arc::new(Float64Array::from(vec![None, None, None]))),
    ])
    .unwrap();
    let value = stats.value_stats(&kv).unwrap();
    let types = [
        DataType::parse("DOUBLE").unwrap(),
        DataType::parse("DOUBLE").unwrap(),
    ];
    let min = BinaryRow::decode_with_arity(&value.min_values, &types).unwrap();
    let max = BinaryRow::decode_with_arity(&value.max_values, &types).unwrap();
    assert!(matches!(min[0], Some(Datum::Double(v)) if v == 0.0 && v.is_sign_negative()));
    assert!(matches!(max[0], Some(Datum::Double(v)) if v.is_nan()));
    assert_eq!((min[1].clone(), max[1].clone()), (None, None));
    assert_eq!(value.null_counts, Some(vec![Some(0), Some(3)]));
}

/// The one-pass float extremes equal the sort-based ones (Arrow's total order) on arrays
/// mixing nulls, ±0.0, ±NaN and ±infinity.
#[test]
fn float_extremes_in_one_pass_equal_the_sorted_ones() {
    let specials = [
        0.0,
        -0.0,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1.5,
        -2.25,
    ];
    let mut state = 7u64;
    for case in 0..200 {
        let len = 1 + case % 9;
        let values: Vec<Option<f64>> = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pick = (state >> 33) as usize % (specials.len() + 1);
                specials.get(pick).copied()
            })
            .collect();
        let array: ArrayRef = Arc::new(Float64Array::from(values.clone()));
        let got = super::extremes(&array).unwrap();
        if values.iter().all(Option::is_none) {
            assert!(got.is_none());
            continue;
        }
        let first = |descending| first_sorted(&array, descending);
        let bits = |a: &ArrayRef| {
            a.as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .value(0)
                .to_bits()
        };
        let (lo, hi) = got.unwrap();
        assert_eq!(bits(&lo), bits(&first(false)), "min of {values:?}");
        assert_eq!(bits(&hi), bits(&first(true)), "max of {values:?}");

        let narrow: Vec<Option<f32>> = values.iter().map(|v| v.map(|v| v as f32)).collect();
        let array: ArrayRef = Arc::new(Float32Array::from(narrow.clone()));
        let (lo, hi) = super::extremes(&array).unwrap().unwrap();
        let bits = |a: &ArrayRef| a.as_primitive::<Float32Type>().value(0).to_bits();
        let first = |descending| first_sorted(&array, descending);
        assert_eq!(bits(&lo), bits(&first(false)), "min of {narrow:?}");
        assert_eq!(bits(&hi), bits(&first(true)), "max of {narrow:?}");
    }
}

/// The one-pass string and binary extremes equal the sort-based ones on arrays of short,
/// long, empty, prefix-sharing, zero-byte and multi-byte values, with and without nulls.
#[test]
fn byte_extremes_in_one_pass_equal_the_sorted_ones() {
    use arrow::array::BinaryArray;
    let pool = [
        "",
        "a",
        "a\0",
        "a\0\u{1}",
        "ab",
        "abcdefgh",
        "abcdefgh\0",
        "abcdefghi",
        "abcdefgg~",
        "é",
        "zz",
        "\u{7f}",
        "\u{10FFFF}",
        "abcdefg",
        "b",
    ];
    let mut state = 11u64;
    for case in 0..300 {
        let len = 1 + case % 11;
        let values: Vec<Option<&str>> = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pick = (state >> 33) as usize % (pool.len() + 1);
                if case % 3 == 0 {
                    Some(pool[pick % pool.len()])
                } else {
                    pool.get(pick).copied()
                }
            })
            .collect();
        let strings: ArrayRef = Arc::new(StringArray::from(values.clone()));
        let binaries: ArrayRef = Arc::new(BinaryArray::from(
            values
                .iter()
                .map(|v| v.map(str::as_bytes))
                .collect::<Vec<_>>(),
        ));
        for array in [strings, binaries] {
            let got = super::extremes(&array).unwrap();
            if values.iter().all(Option::is_none) {
                assert!(got.is_none());
                continue;
            }
            let (lo, hi) = got.unwrap();
            let sorted = (first_sorted(&array, false), first_sorted(&array, true));
            assert_eq!((lo, hi), sorted, "{values:?}");
        }
    }
}

/// The first value of `array` sorted (nulls last), as a one-element array: the sort-based
/// extremes the one-pass ones must equal.
fn first_sorted(array: &ArrayRef, descending: bool) -> ArrayRef {
    use arrow::compute::{sort_to_indices, take};
    let options = arrow_schema::SortOptions {
        descending,
        nulls_first: false,
    };
    let index = sort_to_indices(array, Some(options), Some(1)).unwrap();
    take(array, &index, None).unwrap()
}
