//! Unit tests of the merge engines on in-memory batches: one test per rule, with the
//! Paimon behaviour it pins down.

mod aggregation;
mod binary_aggs;
mod props;
mod validation;

use std::sync::Arc;

use arrow::util::display::array_value_to_string;
use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};

use super::*;
use crate::error::ErrorKind;
use crate::schema::{NewColumn, TableSchema};
use crate::types::DataType;

pub(crate) use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

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

pub(crate) fn engine(cols: &[(&str, &str)], pk: &[&str], opts: &[(&str, &str)]) -> MergeFunction {
    MergeFunction::from_schema(&schema(cols, pk, opts).expect("schema")).expect("engine")
}

pub(crate) fn create_error(cols: &[(&str, &str)], pk: &[&str], opts: &[(&str, &str)]) -> String {
    match schema(cols, pk, opts) {
        Ok(_) => panic!("expected {opts:?} to be rejected"),
        Err(e) => e.to_string(),
    }
}

/// Merges one key whose versions are the rows of `columns` (sequence = row index) and
/// renders the result: its kind and each field as text (`null` for nulls).
pub(crate) fn merge(
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

pub(crate) fn ints(v: &[Option<i32>]) -> ArrayRef {
    Arc::new(Int32Array::from(v.to_vec()))
}

pub(crate) fn longs(v: &[Option<i64>]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

pub(crate) fn strs(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

pub(crate) fn keys(n: usize) -> ArrayRef {
    ints(&vec![Some(1); n])
}

pub(crate) fn row(kind: RowKind, fields: &[&str]) -> Option<(RowKind, Vec<String>)> {
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

pub(crate) const PU: (&str, &str) = ("merge-engine", "partial-update");

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
