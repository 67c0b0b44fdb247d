//! The aggregation engine and its functions.

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, MapBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Decimal128Array, ListArray, RecordBatch,
    StructArray,
};
use arrow_schema::{DataType as ArrowType, Field, Fields};

use super::*;

// ---------------------------------------------------------------- aggregation

pub(crate) const AGG: (&str, &str) = ("merge-engine", "aggregation");

#[test]
fn aggregation_sum_retraction_scenario() {
    let cols = [("k", "INT"), ("v", "INT")];
    let opts = [AGG, ("fields.v.aggregate-function", "sum")];
    let mf = engine(&cols, &["k"], &opts);
    let v = ints(&[Some(10), Some(10), Some(30), Some(30)]);
    let got = merge(&mf, vec![keys(3), v.slice(0, 3)], &[I, UB, UA]).unwrap();
    assert_eq!(got, row(I, &["1", "30"]));
    let got = merge(&mf, vec![keys(4), v.clone()], &[I, UB, UA, D]).unwrap();
    assert_eq!(got, row(I, &["1", "0"]), "the -D retracts 30: zero remains");
    let removing = engine(
        &cols,
        &["k"],
        &[
            opts[0],
            opts[1],
            ("aggregation.remove-record-on-delete", "true"),
        ],
    );
    let got = merge(&removing, vec![keys(4), v], &[I, UB, UA, D]).unwrap();
    assert_eq!(got.map(|r| r.0), Some(D), "the row is removed");
}

fn agg_one(
    ty: &str,
    func: &str,
    extra: &[(&str, &str)],
    values: ArrayRef,
    kinds: &[RowKind],
) -> Result<String> {
    let mut opts = vec![AGG, ("fields.v.aggregate-function", func)];
    opts.extend_from_slice(extra);
    let mf = engine(&[("k", "INT"), ("v", ty)], &["k"], &opts);
    let n = values.len();
    let got = merge(&mf, vec![keys(n), values], kinds)?;
    Ok(got.map(|r| r.1[1].clone()).unwrap_or_else(|| "gone".into()))
}

#[test]
fn aggregation_value_functions() {
    let v = || ints(&[Some(3), None, Some(7), Some(5)]);
    let ins = [I, I, I, I];
    let cases = [
        ("sum", "15"),
        ("product", "105"),
        ("max", "7"),
        ("min", "3"),
        ("last_value", "5"),
        ("last_non_null_value", "5"),
        ("first_value", "3"),
        ("first_non_null_value", "3"),
        ("first_not_null_value", "3"),
    ];
    for (func, want) in cases {
        assert_eq!(
            agg_one("INT", func, &[], v(), &ins).unwrap(),
            want,
            "{func}"
        );
    }
    let nulls_first = ints(&[None, Some(4)]);
    assert_eq!(
        agg_one("INT", "first_value", &[], nulls_first.clone(), &[I, I]).unwrap(),
        "null"
    );
    assert_eq!(
        agg_one("INT", "first_non_null_value", &[], nulls_first, &[I, I]).unwrap(),
        "4"
    );
    let trailing_null = ints(&[Some(4), None]);
    assert_eq!(
        agg_one("INT", "last_value", &[], trailing_null.clone(), &[I, I]).unwrap(),
        "null"
    );
    assert_eq!(
        agg_one("INT", "last_non_null_value", &[], trailing_null, &[I, I]).unwrap(),
        "4"
    );
    let b = |v: &[Option<bool>]| -> ArrayRef { Arc::new(BooleanArray::from(v.to_vec())) };
    let bools = b(&[Some(true), None, Some(false)]);
    assert_eq!(
        agg_one("BOOLEAN", "bool_and", &[], bools.clone(), &[I, I, I]).unwrap(),
        "false"
    );
    assert_eq!(
        agg_one("BOOLEAN", "bool_or", &[], bools, &[I, I, I]).unwrap(),
        "true"
    );
    let dec: ArrayRef = Arc::new(
        Decimal128Array::from(vec![Some(150), Some(225)])
            .with_precision_and_scale(10, 2)
            .unwrap(),
    );
    assert_eq!(
        agg_one("DECIMAL(10, 2)", "sum", &[], dec.clone(), &[I, I]).unwrap(),
        "3.75"
    );
    assert_eq!(
        agg_one("DECIMAL(10, 2)", "product", &[], dec, &[I, I]).unwrap(),
        "3.38"
    );
    let s = strs(&[Some("b"), Some("a"), Some("c")]);
    assert_eq!(
        agg_one("STRING", "max", &[], s.clone(), &[I, I, I]).unwrap(),
        "c"
    );
    assert_eq!(agg_one("STRING", "min", &[], s, &[I, I, I]).unwrap(), "a");
}

#[test]
fn aggregation_retractions_where_paimon_allows_them() {
    let v = || ints(&[Some(6), Some(2), Some(3)]);
    assert_eq!(agg_one("INT", "sum", &[], v(), &[I, UB, UA]).unwrap(), "7");
    assert_eq!(
        agg_one("INT", "product", &[], v(), &[I, UB, UA]).unwrap(),
        "9"
    );
    assert_eq!(
        agg_one("INT", "last_value", &[], v(), &[I, I, D]).unwrap(),
        "null"
    );
    assert_eq!(
        agg_one("INT", "last_non_null_value", &[], v(), &[I, I, D]).unwrap(),
        "null"
    );
    // A retraction with nothing to retract from: sum keeps the negation.
    assert_eq!(
        agg_one("INT", "sum", &[], ints(&[Some(4), Some(1)]), &[UB, I]).unwrap(),
        "-3"
    );
    for func in [
        "max",
        "min",
        "first_value",
        "first_non_null_value",
        "bool_and",
    ] {
        let (ty, values): (&str, ArrayRef) = if func == "bool_and" {
            (
                "BOOLEAN",
                Arc::new(BooleanArray::from(vec![Some(true), Some(true)])),
            )
        } else {
            ("INT", ints(&[Some(1), Some(1)]))
        };
        let err = agg_one(ty, func, &[], values.clone(), &[I, UB]).unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "'{func}' of column 'v' does not support retraction"
            )),
            "{err}"
        );
        let ignore = [("fields.v.ignore-retract", "true")];
        let kept = agg_one(ty, func, &ignore, values, &[I, UB]).unwrap();
        assert!(kept == "1" || kept == "true", "{func}: {kept}");
    }
    let err = agg_one(
        "STRING",
        "listagg",
        &[],
        strs(&[Some("a"), Some("a")]),
        &[I, D],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("does not support retraction"),
        "{err}"
    );
}

#[test]
fn aggregation_listagg_delimiter_and_distinct() {
    let s = || strs(&[Some("a"), Some("b;a"), None, Some(""), Some("c;b;;d")]);
    let ins = [I, I, I, I, I];
    let delim = [("fields.v.list-agg-delimiter", ";")];
    assert_eq!(
        agg_one("STRING", "listagg", &delim, s(), &ins).unwrap(),
        "a;b;a;c;b;;d"
    );
    let distinct = [
        ("fields.v.list-agg-delimiter", ";"),
        ("fields.v.distinct", "true"),
    ];
    assert_eq!(
        agg_one("STRING", "listagg", &distinct, s(), &ins).unwrap(),
        "a;b;c;d"
    );
    let default = strs(&[Some("x"), Some("y")]);
    assert_eq!(
        agg_one("STRING", "listagg", &[], default, &[I, I]).unwrap(),
        "x,y"
    );
    // Blank inputs (Java's isBlank: whitespace, not no-break spaces) never count, not even
    // against a null accumulator; a blank accumulator takes the next input.
    let blanks = strs(&[None, Some(""), Some(" \t\u{3000}")]);
    assert_eq!(
        agg_one("STRING", "listagg", &[], blanks, &[I, I, I]).unwrap(),
        "null"
    );
    let nbsp = strs(&[Some(" "), Some("\u{a0}"), Some("x")]);
    assert_eq!(
        agg_one("STRING", "listagg", &[], nbsp, &[I, I, I]).unwrap(),
        "\u{a0},x"
    );
}

fn int_lists(v: Vec<Option<Vec<Option<i32>>>>) -> ArrayRef {
    Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(v))
}

#[test]
fn aggregation_collect_with_distinct_and_retraction() {
    let lists = || {
        int_lists(vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![Some(2), Some(3), None]),
        ])
    };
    let ins = [I, I, I];
    assert_eq!(
        agg_one("ARRAY<INT>", "collect", &[], lists(), &ins).unwrap(),
        "[1, 2, 2, 3, ]"
    );
    let distinct = [("fields.v.distinct", "true")];
    assert_eq!(
        agg_one("ARRAY<INT>", "collect", &distinct, lists(), &ins).unwrap(),
        "[1, 2, 3, ]"
    );
    let retract = int_lists(vec![
        Some(vec![Some(1), Some(2), Some(2)]),
        Some(vec![Some(2), Some(5)]),
    ]);
    assert_eq!(
        agg_one("ARRAY<INT>", "collect", &[], retract, &[I, UB]).unwrap(),
        "[1, 2]"
    );
}

type Entries<'a> = &'a [(&'a str, Option<i32>)];

fn string_int_maps(entries: &[Option<Entries<'_>>]) -> ArrayRef {
    let mut b = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
    for e in entries {
        match e {
            None => b.append(false).unwrap(),
            Some(pairs) => {
                for (k, v) in pairs.iter() {
                    b.keys().append_value(k);
                    b.values().append_option(*v);
                }
                b.append(true).unwrap();
            }
        }
    }
    Arc::new(b.finish())
}

#[test]
fn aggregation_merge_map_and_its_retraction() {
    let maps = || {
        string_int_maps(&[
            Some(&[("a", Some(1)), ("b", Some(2))]),
            None,
            Some(&[("b", Some(20)), ("c", None)]),
        ])
    };
    let ty = "MAP<STRING, INT>";
    assert_eq!(
        agg_one(ty, "merge_map", &[], maps(), &[I, I, I]).unwrap(),
        "{a: 1, b: 20, c: }"
    );
    assert_eq!(
        agg_one(ty, "merge_map", &[], maps(), &[I, I, UB]).unwrap(),
        "{a: 1}"
    );
}

fn rows_list(rows: Vec<Option<Vec<(i32, &str)>>>) -> ArrayRef {
    let fields = Fields::from(vec![
        Field::new("id", ArrowType::Int32, true),
        Field::new("name", ArrowType::Utf8, true),
    ]);
    let mut offsets = vec![0i32];
    let (mut ids, mut names, mut valid) = (vec![], vec![], vec![]);
    for r in &rows {
        valid.push(r.is_some());
        for (id, name) in r.iter().flatten() {
            ids.push(Some(*id));
            names.push(Some(*name));
        }
        offsets.push(ids.len() as i32);
    }
    let values = StructArray::new(fields.clone(), vec![ints(&ids), strs(&names)], None);
    let field = Arc::new(Field::new("element", ArrowType::Struct(fields), true));
    Arc::new(ListArray::new(
        field,
        arrow_buffer::OffsetBuffer::new(offsets.into()),
        Arc::new(values),
        Some(valid.into()),
    ))
}

#[test]
fn aggregation_nested_update_by_key_and_count_limit() {
    let ty = "ARRAY<ROW<id INT, name STRING>>";
    let data = || {
        rows_list(vec![
            Some(vec![(1, "a"), (2, "b")]),
            Some(vec![(2, "B"), (3, "c")]),
        ])
    };
    let keyed = [("fields.v.nested-key", "id")];
    assert_eq!(
        agg_one(ty, "nested_update", &keyed, data(), &[I, I]).unwrap(),
        "[{id: 1, name: a}, {id: 2, name: B}, {id: 3, name: c}]"
    );
    assert_eq!(
        agg_one(ty, "nested_update", &[], data(), &[I, I]).unwrap(),
        "[{id: 1, name: a}, {id: 2, name: b}, {id: 2, name: B}, {id: 3, name: c}]"
    );
    let limited = [("fields.v.count-limit", "3")];
    assert_eq!(
        agg_one(ty, "nested_update", &limited, data(), &[I, I]).unwrap(),
        "[{id: 1, name: a}, {id: 2, name: b}, {id: 2, name: B}]"
    );
    assert_eq!(
        agg_one(ty, "nested_update", &keyed, data(), &[I, D]).unwrap(),
        "[{id: 1, name: a}]",
        "retracting by key removes id 2"
    );
}

#[test]
fn aggregation_rbm32_unions_portable_roaring_bitmaps() {
    let bitmap = |v: &[u32]| {
        let mut out = vec![];
        v.iter()
            .copied()
            .collect::<roaring::RoaringBitmap>()
            .serialize_into(&mut out)
            .unwrap();
        out
    };
    let (a, b) = (bitmap(&[1, 5, 70000]), bitmap(&[5, 9]));
    let values: ArrayRef = Arc::new(BinaryArray::from_vec(vec![a.as_slice(), b.as_slice()]));
    let mf = engine(
        &[("k", "INT"), ("v", "BYTES")],
        &["k"],
        &[AGG, ("fields.v.aggregate-function", "rbm32")],
    );
    let batch = RecordBatch::try_from_iter([("k", keys(2)), ("v", values)]).unwrap();
    let versions: Vec<KeyVersion> = (0..2)
        .map(|i| KeyVersion {
            sequence: i,
            user_sequence: None,
            kind: I,
        })
        .collect();
    let batches = [batch];
    let input =
        MergeInput::new(&versions, &[(0, 0), (0, 1)], &batches, &[Some(0), Some(1)]).unwrap();
    let cols = mf.merge(&input).unwrap().to_columns(&input).unwrap();
    let bytes = cols[1]
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap()
        .value(0);
    let union = roaring::RoaringBitmap::deserialize_from(bytes).unwrap();
    assert_eq!(union.iter().collect::<Vec<_>>(), [1, 5, 9, 70000]);
    let bad: ArrayRef = Arc::new(BinaryArray::from_vec(vec![
        b"no".as_slice(),
        b"pe".as_slice(),
    ]));
    let err = agg_one("BYTES", "rbm32", &[], bad, &[I, I]).unwrap_err();
    assert!(
        err.to_string()
            .contains("rbm32 value is not a serialized roaring bitmap"),
        "{err}"
    );
}

#[test]
fn aggregation_defaults_sequence_field_and_primary_key() {
    let cols = [("k", "INT"), ("a", "INT"), ("b", "INT"), ("ts", "INT")];
    let opts = [
        AGG,
        ("fields.default-aggregate-function", "sum"),
        ("fields.b.aggregate-function", "max"),
        ("sequence.field", "ts"),
    ];
    let mf = engine(&cols, &["k"], &opts);
    let got = merge(
        &mf,
        vec![
            keys(2),
            ints(&[Some(1), Some(2)]),
            ints(&[Some(9), Some(4)]),
            ints(&[Some(5), None]),
        ],
        &[I, I],
    )
    .unwrap();
    // a: default sum; b: max; ts: last_value (a sequence field never aggregates).
    assert_eq!(got, row(I, &["1", "3", "9", "null"]));
    let plain = engine(&cols, &["k"], &[AGG]);
    let got = merge(
        &plain,
        vec![
            keys(2),
            ints(&[Some(1), None]),
            ints(&[None, Some(4)]),
            ints(&[Some(5), Some(6)]),
        ],
        &[I, I],
    )
    .unwrap();
    assert_eq!(
        got,
        row(I, &["1", "1", "4", "6"]),
        "default: last_non_null_value"
    );
}
