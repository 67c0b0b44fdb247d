//! Unit tests of the merge engines on in-memory batches: one test per rule, with the
//! Paimon behaviour it pins down.

use std::sync::Arc;

use arrow::util::display::array_value_to_string;
use arrow_array::builder::{Int32Builder, MapBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Decimal128Array, Int32Array, Int64Array, ListArray,
    RecordBatch, StringArray, StructArray,
};
use arrow_schema::{DataType as ArrowType, Field, Fields};

use super::*;
use crate::error::ErrorKind;
use crate::schema::{NewColumn, TableSchema};
use crate::types::DataType;

use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

pub(crate) fn schema(
    cols: &[(&str, &str)],
    pk: &[&str],
    opts: &[(&str, &str)],
) -> Result<TableSchema> {
    let columns: Vec<NewColumn> = cols
        .iter()
        .map(|(n, t)| NewColumn::from((*n, DataType::parse(t).expect("type"))))
        .collect();
    TableSchema::new_for_create(
        columns,
        vec![],
        pk.iter().map(|s| s.to_string()).collect(),
        opts.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        None,
    )
}

fn engine(cols: &[(&str, &str)], pk: &[&str], opts: &[(&str, &str)]) -> MergeFunction {
    MergeFunction::from_schema(&schema(cols, pk, opts).expect("schema")).expect("engine")
}

fn create_error(cols: &[(&str, &str)], pk: &[&str], opts: &[(&str, &str)]) -> String {
    match schema(cols, pk, opts) {
        Ok(_) => panic!("expected {opts:?} to be rejected"),
        Err(e) => e.to_string(),
    }
}

/// Merges one key whose versions are the rows of `columns` (sequence = row index) and
/// renders the result: its kind and each field as text (`null` for nulls).
fn merge(
    mf: &MergeFunction,
    columns: Vec<ArrayRef>,
    kinds: &[RowKind],
) -> Result<Option<(RowKind, Vec<String>)>> {
    let batch = RecordBatch::try_from_iter(
        columns
            .into_iter()
            .enumerate()
            .map(|(i, c)| (format!("c{i}"), c)),
    )
    .expect("batch");
    let versions: Vec<KeyVersion> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| KeyVersion {
            sequence: i as i64,
            user_sequence: None,
            kind: *k,
        })
        .collect();
    let rows: Vec<(usize, usize)> = (0..kinds.len()).map(|i| (0, i)).collect();
    let columns: Vec<Option<usize>> = (0..batch.num_columns()).map(Some).collect();
    let batches = [batch];
    let input = MergeInput::new(&versions, &rows, &batches, &columns)?;
    let result = mf.merge(&input)?;
    let Some(kind) = result.kind(&input) else {
        return Ok(None);
    };
    let cols = result.to_columns(&input).expect("columns");
    let text = cols
        .iter()
        .map(|c| {
            if c.is_null(0) {
                "null".to_string()
            } else {
                array_value_to_string(c, 0).expect("display")
            }
        })
        .collect();
    Ok(Some((kind, text)))
}

fn ints(v: &[Option<i32>]) -> ArrayRef {
    Arc::new(Int32Array::from(v.to_vec()))
}

fn longs(v: &[Option<i64>]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

fn strs(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn keys(n: usize) -> ArrayRef {
    ints(&vec![Some(1); n])
}

fn row(kind: RowKind, fields: &[&str]) -> Option<(RowKind, Vec<String>)> {
    Some((kind, fields.iter().map(|s| s.to_string()).collect()))
}

// ---------------------------------------------------------------- deduplicate / first-row

#[test]
fn deduplicate_keeps_the_last_version_and_a_winning_delete_survives_as_retraction() {
    let mf = engine(&[("k", "INT"), ("v", "INT")], &["k"], &[]);
    let got = merge(&mf, vec![keys(2), ints(&[Some(1), Some(2)])], &[I, UA]).unwrap();
    assert_eq!(got, row(UA, &["1", "2"]));
    // The delete must keep shadowing older files in the write buffer; readers drop it.
    let got = merge(&mf, vec![keys(2), ints(&[Some(1), Some(2)])], &[I, D]).unwrap();
    assert_eq!(got.map(|r| r.0), Some(D));
    let ignoring = engine(
        &[("k", "INT"), ("v", "INT")],
        &["k"],
        &[("ignore-delete", "true")],
    );
    let got = merge(&ignoring, vec![keys(2), ints(&[Some(1), Some(2)])], &[I, D]).unwrap();
    assert_eq!(got, row(I, &["1", "1"]));
    let got = merge(
        &ignoring,
        vec![keys(2), ints(&[Some(1), Some(2)])],
        &[UB, D],
    )
    .unwrap();
    assert_eq!(got, None, "only retractions: the key is gone");
}

#[test]
fn legacy_ignore_delete_aliases_and_ignore_update_before_filter_writes() {
    for alias in [
        "deduplicate.ignore-delete",
        "partial-update.ignore-delete",
        "first-row.ignore-delete",
    ] {
        let mf = engine(&[("k", "INT"), ("v", "INT")], &["k"], &[(alias, "true")]);
        assert!(
            !mf.accepts(D) && !mf.accepts(UB) && mf.accepts(I) && mf.accepts(UA),
            "{alias}"
        );
    }
    let mf = engine(
        &[("k", "INT"), ("v", "INT")],
        &["k"],
        &[("ignore-update-before", "true")],
    );
    assert!(mf.accepts(D) && !mf.accepts(UB));
    let plain = engine(&[("k", "INT"), ("v", "INT")], &["k"], &[]);
    assert!(plain.accepts(D) && plain.accepts(UB));
}

#[test]
fn sort_versions_orders_by_user_sequence_then_sequence_number() {
    let v = |sequence, user: Option<Vec<u8>>| KeyVersion {
        sequence,
        user_sequence: user,
        kind: I,
    };
    let mut versions = vec![
        v(10, Some(vec![2])),
        v(3, Some(vec![1])),
        v(2, Some(vec![2])),
    ];
    let mut refs = vec!['a', 'b', 'c'];
    sort_versions(&mut versions, &mut refs);
    assert_eq!(refs, ['b', 'c', 'a']);
    assert_eq!(versions[2].sequence, 10);
}

#[test]
fn pick_keeps_its_deduplicate_and_first_row_rules() {
    let v = |sequence, kind| KeyVersion {
        sequence,
        user_sequence: None,
        kind,
    };
    let d = engine(&[("k", "INT"), ("v", "INT")], &["k"], &[]);
    assert_eq!(d.pick(&[v(3, I), v(7, UA)]), Some(1));
    assert_eq!(d.pick(&[v(9, D), v(7, I)]), None);
    let ignoring = engine(
        &[("k", "INT"), ("v", "INT")],
        &["k"],
        &[("ignore-delete", "true")],
    );
    assert_eq!(ignoring.pick(&[v(9, D), v(7, I)]), Some(1));
    let mut a = v(10, I);
    a.user_sequence = Some(vec![1]);
    let mut b = v(2, I);
    b.user_sequence = Some(vec![5]);
    assert_eq!(d.pick(&[a, b]), Some(1));
    let f = engine(
        &[("k", "INT"), ("v", "INT")],
        &["k"],
        &[("merge-engine", "first-row"), ("ignore-delete", "true")],
    );
    assert_eq!(f.pick(&[v(5, I), v(2, I), v(1, D)]), Some(1));
}

#[test]
fn first_row_keeps_the_first_insert_and_rejects_retractions_unless_ignored() {
    let cols = [("k", "INT"), ("v", "INT")];
    let mf = engine(&cols, &["k"], &[("merge-engine", "first-row")]);
    let got = merge(&mf, vec![keys(2), ints(&[Some(1), Some(2)])], &[I, UA]).unwrap();
    assert_eq!(got, row(I, &["1", "1"]));
    let err = merge(&mf, vec![keys(2), ints(&[Some(1), Some(2)])], &[I, D]).unwrap_err();
    assert!(
        err.to_string().contains("'first-row' cannot accept -U/-D"),
        "{err}"
    );
    // A lone version passes through unchanged (Paimon's reducer), even a delete.
    let got = merge(&mf, vec![keys(1), ints(&[Some(1)])], &[D]).unwrap();
    assert_eq!(got.map(|r| r.0), Some(D));
    let ignoring = engine(
        &cols,
        &["k"],
        &[("merge-engine", "first-row"), ("ignore-delete", "true")],
    );
    let got = merge(
        &ignoring,
        vec![keys(3), ints(&[Some(1), Some(2), Some(3)])],
        &[D, I, I],
    )
    .unwrap();
    assert_eq!(got, row(I, &["1", "2"]));
}

// ---------------------------------------------------------------- partial-update

const PU: (&str, &str) = ("merge-engine", "partial-update");

#[test]
fn partial_update_nulls_never_overwrite() {
    let mf = engine(
        &[("k", "INT"), ("a", "INT"), ("b", "STRING")],
        &["k"],
        &[PU],
    );
    let got = merge(
        &mf,
        vec![
            keys(3),
            ints(&[Some(1), None, Some(3)]),
            strs(&[None, Some("x"), None]),
        ],
        &[I, I, UA],
    )
    .unwrap();
    assert_eq!(got, row(I, &["1", "3", "x"]));
}

#[test]
fn partial_update_rejects_retractions_by_default() {
    let mf = engine(&[("k", "INT"), ("a", "INT")], &["k"], &[PU]);
    let err = merge(&mf, vec![keys(2), ints(&[Some(1), Some(1)])], &[I, D]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataInvalid);
    assert!(
        err.to_string()
            .contains("'partial-update' cannot accept -U/-D records"),
        "{err}"
    );
    let ignoring = engine(
        &[("k", "INT"), ("a", "INT")],
        &["k"],
        &[PU, ("ignore-delete", "true")],
    );
    let got = merge(
        &ignoring,
        vec![keys(3), ints(&[Some(1), Some(5), None])],
        &[I, D, UA],
    )
    .unwrap();
    assert_eq!(got, row(I, &["1", "1"]));
}

#[test]
fn partial_update_remove_record_on_delete() {
    let opts = [PU, ("partial-update.remove-record-on-delete", "true")];
    let mf = engine(&[("k", "INT"), ("a", "INT"), ("b", "INT")], &["k"], &opts);
    let got = merge(
        &mf,
        vec![keys(2), ints(&[Some(1), None]), ints(&[Some(2), None])],
        &[I, D],
    )
    .unwrap();
    assert_eq!(got.map(|r| r.0), Some(D), "the row is removed");
    // -U is skipped; a later insert starts from the delete's values (Paimon's initRow).
    let got = merge(
        &mf,
        vec![
            keys(4),
            ints(&[Some(1), Some(9), Some(7), None]),
            ints(&[Some(2), Some(9), None, Some(4)]),
        ],
        &[I, UB, D, I],
    )
    .unwrap();
    assert_eq!(got, row(I, &["1", "7", "4"]));
}

#[test]
fn partial_update_sequence_groups_order_their_fields() {
    // g orders a and b; c is outside any group.
    let opts = [PU, ("fields.g.sequence-group", "a,b")];
    let cols = [
        ("k", "INT"),
        ("a", "INT"),
        ("b", "INT"),
        ("g", "INT"),
        ("c", "INT"),
    ];
    let mf = engine(&cols, &["k"], &opts);
    let got = merge(
        &mf,
        vec![
            keys(4),
            ints(&[Some(1), Some(2), Some(3), Some(4)]),
            ints(&[Some(10), None, Some(30), Some(40)]),
            ints(&[Some(5), Some(6), Some(1), None]),
            ints(&[Some(100), None, Some(300), None]),
        ],
        &[I, I, I, I],
    )
    .unwrap();
    // v1 (g=6) is newer: a=2 and b=null (a group update writes nulls); v2 (g=1) is older
    // and ignored by the group; v3 has no group sequence. c takes the last non-null.
    assert_eq!(got, row(I, &["1", "2", "null", "6", "300"]));
}

#[test]
fn partial_update_composite_sequence_group_compares_lexicographically() {
    let opts = [PU, ("fields.s1,s2.sequence-group", "a")];
    let cols = [("k", "INT"), ("a", "STRING"), ("s1", "INT"), ("s2", "INT")];
    let mf = engine(&cols, &["k"], &opts);
    let got = merge(
        &mf,
        vec![
            keys(3),
            strs(&[Some("x"), Some("y"), Some("z")]),
            ints(&[Some(1), Some(1), Some(0)]),
            ints(&[Some(5), Some(7), Some(9)]),
        ],
        &[I, I, I],
    )
    .unwrap();
    assert_eq!(got, row(I, &["1", "y", "1", "7"]));
}

#[test]
fn partial_update_aggregates_inside_groups_and_retracts_them() {
    let opts = [
        PU,
        ("fields.g.sequence-group", "total,last"),
        ("fields.total.aggregate-function", "sum"),
    ];
    let cols = [
        ("k", "INT"),
        ("total", "BIGINT"),
        ("last", "INT"),
        ("g", "INT"),
    ];
    let mf = engine(&cols, &["k"], &opts);
    let got = merge(
        &mf,
        vec![
            keys(4),
            longs(&[Some(10), Some(5), Some(10), Some(1)]),
            ints(&[Some(1), Some(2), Some(3), Some(4)]),
            ints(&[Some(1), Some(3), Some(4), Some(2)]),
        ],
        &[I, I, UB, I],
    )
    .unwrap();
    // 10 + 5, then -U (newer) retracts 10 and nulls `last`, then an older +I still adds 1.
    assert_eq!(got, row(I, &["1", "6", "null", "4"]));
}

#[test]
fn partial_update_remove_record_on_sequence_group() {
    let opts = [
        PU,
        ("fields.g.sequence-group", "a"),
        ("fields.h.sequence-group", "b"),
        ("partial-update.remove-record-on-sequence-group", "g"),
    ];
    let cols = [
        ("k", "INT"),
        ("a", "INT"),
        ("g", "INT"),
        ("b", "INT"),
        ("h", "INT"),
    ];
    let mf = engine(&cols, &["k"], &opts);
    let data = |kinds: &[RowKind]| {
        merge(
            &mf,
            vec![
                keys(2),
                ints(&[Some(1), Some(1)]),
                ints(&[Some(1), Some(2)]),
                ints(&[Some(7), Some(7)]),
                ints(&[Some(1), None]),
            ],
            kinds,
        )
        .unwrap()
    };
    assert_eq!(
        data(&[I, D]).map(|r| r.0),
        Some(D),
        "a -D of group g removes the row"
    );
    assert_eq!(
        data(&[I, UB]),
        row(I, &["1", "null", "2", "7", "1"]),
        "-U only retracts"
    );
}

#[test]
fn partial_update_not_null_columns_must_be_filled() {
    let mf = engine(&[("k", "INT"), ("a", "INT NOT NULL")], &["k"], &[PU]);
    let err = merge(&mf, vec![keys(2), ints(&[Some(1), None])], &[I, I]).unwrap_err();
    assert!(err.to_string().contains("column 'a' is NOT NULL"), "{err}");
}

// ---------------------------------------------------------------- aggregation

const AGG: (&str, &str) = ("merge-engine", "aggregation");

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

// ---------------------------------------------------------------- validation

#[test]
fn rejected_option_combinations_name_the_problem() {
    let kv = [("k", "INT"), ("v", "INT")];
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            kv.to_vec(),
            vec![("merge-engine", "first-row"), ("sequence.field", "v")],
            "'first-row' does not support sequence.field",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.v.aggregate-function", "median")],
            "unknown aggregate function 'median' for column 'v'",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.default-aggregate-function", "avg")],
            "unknown aggregate function 'avg' in 'fields.default-aggregate-function'",
        ),
        (
            vec![("k", "INT"), ("v", "STRING")],
            vec![AGG, ("fields.v.aggregate-function", "sum")],
            "'sum' of column 'v' needs a numeric type, but the column is STRING",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.v.aggregate-function", "bool_or")],
            "'bool_or' of column 'v' needs BOOLEAN",
        ),
        (
            vec![("k", "INT"), ("v", "VARCHAR(10)")],
            vec![AGG, ("fields.v.aggregate-function", "listagg")],
            "needs STRING (unbounded VARCHAR)",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.v.aggregate-function", "collect")],
            "needs an ARRAY type",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.v.aggregate-function", "merge_map")],
            "needs a MAP type",
        ),
        (
            vec![("k", "INT"), ("v", "ARRAY<INT>")],
            vec![AGG, ("fields.v.aggregate-function", "nested_update")],
            "needs ARRAY<ROW<...>>",
        ),
        (
            vec![("k", "INT"), ("v", "ARRAY<INT>")],
            vec![AGG, ("fields.v.aggregate-function", "max")],
            "needs a comparable (non-nested) type",
        ),
        (
            vec![("k", "INT"), ("v", "ARRAY<ROW<id INT>>")],
            vec![
                AGG,
                ("fields.v.aggregate-function", "nested_update"),
                ("fields.v.nested-key", "nope"),
            ],
            "names 'nope', which is not a field",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.v.aggregate-function", "rbm32")],
            "needs VARBINARY / BYTES",
        ),
        (
            vec![("k", "INT"), ("v", "BYTES")],
            vec![AGG, ("fields.v.aggregate-function", "rbm64")],
            "'rbm64' (column 'v') is not supported by Strata",
        ),
        (
            vec![("k", "INT"), ("v", "BYTES")],
            vec![AGG, ("fields.v.aggregate-function", "hll_sketch")],
            "'hll_sketch' (column 'v') is not supported by Strata",
        ),
        (
            vec![("k", "INT"), ("v", "BYTES")],
            vec![AGG, ("fields.v.aggregate-function", "theta_sketch")],
            "'theta_sketch' (column 'v') is not supported by Strata",
        ),
        (
            kv.to_vec(),
            vec![
                AGG,
                ("aggregation.remove-record-on-delete", "true"),
                ("fields.v.ignore-retract", "true"),
            ],
            "'aggregation.remove-record-on-delete' and 'fields.v.ignore-retract' conflict",
        ),
        (
            vec![("k", "INT"), ("v", "STRING")],
            vec![
                AGG,
                ("fields.v.distinct", "yes"),
                ("fields.v.aggregate-function", "listagg"),
            ],
            "'fields.v.distinct' must be true or false",
        ),
        (
            kv.to_vec(),
            vec![
                AGG,
                ("sequence.field", "v"),
                ("fields.v.aggregate-function", "sum"),
            ],
            "must not have an aggregate function",
        ),
        (
            kv.to_vec(),
            vec![PU, ("fields.v.aggregate-function", "sum")],
            "column 'v' has aggregate function 'sum' but is in no sequence group",
        ),
        (
            kv.to_vec(),
            vec![PU, ("fields.default-aggregate-function", "max")],
            "column 'v' has aggregate function 'max' but is in no sequence group",
        ),
        (
            kv.to_vec(),
            vec![
                PU,
                ("ignore-delete", "true"),
                ("partial-update.remove-record-on-delete", "true"),
            ],
            "'ignore-delete' and 'partial-update.remove-record-on-delete' conflict",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT")],
            vec![
                PU,
                ("fields.g.sequence-group", "v"),
                ("partial-update.remove-record-on-delete", "true"),
            ],
            "conflicts with sequence groups",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT")],
            vec![
                PU,
                ("fields.g.sequence-group", "v"),
                ("partial-update.remove-record-on-sequence-group", "v"),
            ],
            "names 'v', which is not the sequence field of a sequence group",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT")],
            vec![
                PU,
                ("fields.g.sequence-group", "v"),
                ("ignore-delete", "true"),
                ("partial-update.remove-record-on-sequence-group", "g"),
            ],
            "'ignore-delete' and 'partial-update.remove-record-on-sequence-group' conflict",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT")],
            vec![PU, ("fields.g.sequence-group", "k")],
            "primary key column 'k' cannot be in a sequence group",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT"), ("h", "INT")],
            vec![
                PU,
                ("fields.g.sequence-group", "v"),
                ("fields.h.sequence-group", "v"),
            ],
            "column 'v' is in more than one sequence group",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT")],
            vec![PU, ("fields.g.sequence-group", "v,nope")],
            "option 'fields.g.sequence-group' names 'nope', which is not a column",
        ),
    ];
    for (cols, opts, want) in cases {
        let err = create_error(&cols, &["k"], &opts);
        assert!(err.contains(want), "{opts:?}: got '{err}', want '{want}'");
    }
}

#[test]
fn accepted_merge_options_create_tables() {
    let cols = [
        ("k", "INT"),
        ("a", "INT"),
        ("b", "STRING"),
        ("s1", "INT"),
        ("s2", "BIGINT"),
    ];
    for opts in [
        vec![
            PU,
            ("fields.s1,s2.sequence-group", "a,b"),
            ("fields.a.aggregate-function", "sum"),
        ],
        vec![PU, ("fields.b.aggregate-function", "last_non_null_value")],
        vec![
            AGG,
            ("fields.a.aggregate-function", "product"),
            ("fields.b.aggregate-function", "listagg"),
        ],
        vec![("merge-engine", "first-row"), ("ignore-delete", "true")],
        vec![
            ("sequence.field", "s1,s2"),
            ("sequence.field.sort-order", "descending"),
        ],
    ] {
        schema(&cols, &["k"], &opts).unwrap_or_else(|e| panic!("{opts:?}: {e}"));
    }
}
