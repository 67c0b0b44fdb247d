//! Bad input is refused with an error naming the column (and row), and a refused batch
//! leaves nothing behind: what was written before it still commits, exactly.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, Int8Array, RecordBatch,
    StringArray,
};
use strata_format::ErrorKind;
use strata_writer::TableWriter;

use super::{read_rows, Fixture};

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

fn ints(v: Vec<i32>) -> ArrayRef {
    Arc::new(Int32Array::from(v))
}

fn strings(v: Vec<Option<&str>>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

async fn table() -> Fixture {
    Fixture::new(
        &[("k", "INT"), ("v", "STRING NOT NULL"), ("f", "FLOAT")],
        &["k"],
        &[],
        &[("bucket", "2")],
    )
    .await
}

fn good() -> RecordBatch {
    batch(vec![
        ("k", ints(vec![1, 2])),
        ("v", strings(vec![Some("a"), Some("b")])),
        ("f", Arc::new(Float32Array::from(vec![Some(1.5), None]))),
    ])
}

/// Writes `good()`, then `bad` (which must fail with `message`), then commits: only the
/// good rows are in the table.
async fn refused(bad: RecordBatch, kinds: Option<&[i8]>, message: &str) {
    let fx = table().await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    writer.write(&good()).await.unwrap();
    let err = match kinds {
        Some(k) => writer.write_with_kinds(&bad, k).await,
        None => writer.write(&bad).await,
    }
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataInvalid, "{err}");
    assert_eq!(err.to_string(), message);
    assert_eq!(writer.buffered_rows(), 2);
    writer.commit(1).await.unwrap();
    let rows = read_rows(&fx.table).await;
    assert_eq!(
        rows,
        vec![vec!["1", "a", "1.5"], vec!["2", "b", "NULL"]],
        "only the good batch is committed"
    );
}

#[tokio::test]
async fn missing_column() {
    let bad = batch(vec![
        ("k", ints(vec![3])),
        ("f", Arc::new(Float32Array::from(vec![1.0]))),
    ]);
    refused(
        bad,
        None,
        "column 'v' of table 'db.t' is missing from the input",
    )
    .await;
}

#[tokio::test]
async fn unknown_column() {
    let mut columns = good().columns().to_vec();
    columns.push(ints(vec![1, 2]));
    let bad = batch(vec![
        ("k", columns[0].clone()),
        ("v", columns[1].clone()),
        ("f", columns[2].clone()),
        ("extra", columns[3].clone()),
    ]);
    refused(
        bad,
        None,
        "input column 'extra' is not a column of table 'db.t' (columns: k, v, f)",
    )
    .await;
}

#[tokio::test]
async fn wrong_type() {
    let bad = batch(vec![
        ("k", strings(vec![Some("3")])),
        ("v", strings(vec![Some("c")])),
        ("f", Arc::new(Float32Array::from(vec![1.0]))),
    ]);
    refused(
        bad,
        None,
        "column 'k': the input has arrow type Utf8, which cannot be written losslessly as Int32",
    )
    .await;
}

#[tokio::test]
async fn lossy_casts_are_refused() {
    let too_big = batch(vec![
        (
            "k",
            Arc::new(Int64Array::from(vec![3, 1 << 40])) as ArrayRef,
        ),
        ("v", strings(vec![Some("c"), Some("d")])),
        ("f", Arc::new(Float32Array::from(vec![1.0, 2.0]))),
    ]);
    let fx = table().await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let err = writer.write(&too_big).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("column 'k': cannot convert arrow type Int64 to Int32"),
        "{err}"
    );
    let imprecise = batch(vec![
        ("k", ints(vec![3, 4])),
        ("v", strings(vec![Some("c"), Some("d")])),
        ("f", Arc::new(Float64Array::from(vec![0.5, 0.1]))),
    ]);
    let err = writer.write(&imprecise).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "column 'f': row 1 of the batch would change when converted from arrow type Float64 to \
         Float32 (lost precision or range)"
    );
    assert_eq!(writer.buffered_rows(), 0);
    // Exact conversions are fine: BIGINT values that fit, a double that is a float.
    let exact = batch(vec![
        ("k", Arc::new(Int64Array::from(vec![3, -4])) as ArrayRef),
        ("v", strings(vec![Some("c"), Some("d")])),
        ("f", Arc::new(Float64Array::from(vec![0.5, f64::NAN]))),
    ]);
    writer.write(&exact).await.unwrap();
    writer.commit(1).await.unwrap();
    assert_eq!(
        read_rows(&fx.table).await,
        vec![vec!["-4", "d", "NaN"], vec!["3", "c", "0.5"]]
    );
}

#[tokio::test]
async fn null_primary_key() {
    let bad = batch(vec![
        (
            "k",
            Arc::new(Int32Array::from(vec![Some(3), None])) as ArrayRef,
        ),
        ("v", strings(vec![Some("c"), Some("d")])),
        ("f", Arc::new(Float32Array::from(vec![1.0, 2.0]))),
    ]);
    refused(
        bad,
        None,
        "primary key column 'k' is null in row 1 of the batch; primary keys cannot be null \
         (unless the table sets 'primary-key.nullable' = 'true')",
    )
    .await;
}

#[tokio::test]
async fn null_in_not_null_column() {
    let bad = batch(vec![
        ("k", ints(vec![3, 4])),
        ("v", strings(vec![Some("c"), None])),
        ("f", Arc::new(Float32Array::from(vec![1.0, 2.0]))),
    ]);
    refused(
        bad,
        None,
        "column 'v' is NOT NULL but is null in row 1 of the batch",
    )
    .await;
}

#[tokio::test]
async fn bad_row_kinds() {
    refused(
        good(),
        Some(&[0, 7]),
        "row kind 7 of row 1 is not one of 0 (+I), 1 (-U), 2 (+U), 3 (-D)",
    )
    .await;
    refused(
        good(),
        Some(&[0]),
        "1 row kinds given for a batch of 2 rows",
    )
    .await;
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("k", ints(vec![3])),
        ("v", strings(vec![Some("c")])),
        ("f", Arc::new(Float32Array::from(vec![1.0]))),
    ];
    columns.push(("_ROW_KIND", strings(vec![Some("+X")])));
    refused(
        batch(columns),
        None,
        "input column '_ROW_KIND': row 0 has row kind '+X'; expected +I, -U, +U or -D",
    )
    .await;
}

#[tokio::test]
async fn row_kind_column_deletes() {
    let fx = table().await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    writer.write(&good()).await.unwrap();
    writer.commit(1).await.unwrap();
    let mut columns = good().columns().to_vec();
    columns.push(Arc::new(Int8Array::from(vec![3, 2])));
    let with_kinds = batch(vec![
        ("k", columns[0].clone()),
        ("v", columns[1].clone()),
        ("f", columns[2].clone()),
        ("_ROW_KIND", columns[3].clone()),
    ]);
    writer.write(&with_kinds).await.unwrap();
    writer.commit(2).await.unwrap();
    assert_eq!(read_rows(&fx.table).await, vec![vec!["2", "b", "NULL"]]);
}

#[tokio::test]
async fn rowkind_field_option() {
    let fx = Fixture::new(
        &[("k", "INT"), ("op", "STRING")],
        &["k"],
        &[],
        &[("bucket", "1"), ("rowkind.field", "op")],
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let ops = |k: Vec<i32>, op: Vec<Option<&str>>| batch(vec![("k", ints(k)), ("op", strings(op))]);
    writer
        .write(&ops(
            vec![1, 2, 3],
            vec![Some("+I"), Some("+I"), Some("+U")],
        ))
        .await
        .unwrap();
    writer.commit(1).await.unwrap();
    // The column overrides kinds given with the batch, as in Paimon.
    writer
        .write_with_kinds(&ops(vec![1, 3], vec![Some("-D"), Some("-U")]), &[0, 0])
        .await
        .unwrap();
    let err = writer.write(&ops(vec![9], vec![None])).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "column 'op' (the table's rowkind.field): row 0 has no row kind (null); expected +I, \
         -U, +U or -D"
    );
    writer.commit(2).await.unwrap();
    assert_eq!(read_rows(&fx.table).await, vec![vec!["2", "+I"]]);
}

#[tokio::test]
async fn unsupported_tables_are_refused_at_build() {
    let dynamic = Fixture::new(&[("k", "INT")], &["k"], &[], &[("bucket", "-1")]).await;
    let err = TableWriter::builder(dynamic.table.clone())
        .build()
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("'bucket' = -1"), "{err}");
    let append = Fixture::new(&[("k", "INT")], &[], &[], &[("bucket", "1")]).await;
    let err = TableWriter::builder(append.table.clone())
        .build()
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "table 'db.t' has no primary key; Strata writes only primary-key tables"
    );
}

#[tokio::test]
async fn first_row_refuses_deletes_unless_ignored() {
    let fx = Fixture::new(
        &[("k", "INT"), ("v", "STRING")],
        &["k"],
        &[],
        &[("bucket", "1"), ("merge-engine", "first-row")],
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let rows = |v: &str| {
        batch(vec![
            ("k", ints(vec![1, 2])),
            ("v", strings(vec![Some(v), Some(v)])),
        ])
    };
    writer.write(&rows("first")).await.unwrap();
    writer.write(&rows("second")).await.unwrap();
    let err = writer
        .write_with_kinds(&rows("x"), &[3, 0])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    writer.commit(1).await.unwrap();
    writer.write(&rows("third")).await.unwrap();
    writer.commit(2).await.unwrap();
    assert_eq!(
        read_rows(&fx.table).await,
        vec![vec!["1", "first"], vec!["2", "first"]]
    );

    let ignoring = Fixture::new(
        &[("k", "INT"), ("v", "STRING")],
        &["k"],
        &[],
        &[
            ("bucket", "1"),
            ("merge-engine", "first-row"),
            ("ignore-delete", "true"),
        ],
    )
    .await;
    let mut writer = TableWriter::builder(ignoring.table.clone())
        .build()
        .unwrap();
    writer.write_with_kinds(&rows("a"), &[3, 0]).await.unwrap();
    writer.commit(1).await.unwrap();
    assert_eq!(read_rows(&ignoring.table).await, vec![vec!["2", "a"]]);
}

#[tokio::test]
async fn commit_identifiers_must_increase() {
    let fx = table().await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    writer.write(&good()).await.unwrap();
    writer.commit(5).await.unwrap();
    let err = writer.commit(5).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "commit identifier 5 is not greater than the previous one (5); identifiers of one \
         writer must increase"
    );
    // Nothing to commit: no snapshot.
    assert!(writer.commit(6).await.unwrap().snapshot_ids.is_empty());
}

#[tokio::test]
async fn abort_drops_uncommitted_rows_and_files() {
    let fx = Fixture::new(
        &[("k", "INT"), ("v", "STRING NOT NULL"), ("f", "FLOAT")],
        &["k"],
        &[],
        &[("bucket", "2"), ("write-buffer-size", "1 kb")],
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    writer.write(&good()).await.unwrap();
    writer.commit(1).await.unwrap();
    for _ in 0..20 {
        writer.write(&good()).await.unwrap();
    }
    writer.abort().await;
    assert!(writer.commit(2).await.unwrap().snapshot_ids.is_empty());
    let files: Vec<_> = walk(fx.dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    let plan = strata_format::scan::TableScan::new(fx.table.clone())
        .plan()
        .await
        .unwrap();
    let live: usize = plan.splits.iter().map(|s| s.files.len()).sum();
    assert_eq!(files.len(), live, "flushed but aborted files are deleted");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A flush that fails in one bucket after others flushed drops everything written since the
/// last commit, and deletes what it flushed: the next commit holds only rows written after
/// the failure, never part of the failed one.
#[tokio::test]
async fn a_failed_flush_commits_no_part_of_it() {
    let fx = Fixture::new(
        &[("k", "BIGINT"), ("v", "STRING")],
        &["k"],
        &[],
        &[("bucket", "4")],
    )
    .await;
    let lines = |from: i64, tag: &str| -> Vec<String> {
        (from..from + 200)
            .map(|k| format!(r#"{{"k": {k}, "v": "{tag}{k}"}}"#))
            .collect()
    };
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    writer.write(&fx.jsonl(&lines(0, "lost-"))).await.unwrap();
    // Buckets flush in order: 0, 1 and 2 succeed, then bucket 3 cannot make its directory.
    let table_dir = fx.dir.path().join("db.db/t");
    let blocker = table_dir.join("bucket-3");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let err = writer.commit(1).await.unwrap_err().to_string();
    assert!(
        err.contains("dropped every row written since its last commit"),
        "{err}"
    );
    std::fs::remove_file(&blocker).unwrap();

    writer
        .write(&fx.jsonl(&lines(1000, "kept-")))
        .await
        .unwrap();
    let outcome = writer.commit(2).await.unwrap();
    let mut got = read_rows(&fx.reload().await).await;
    got.sort();
    let mut want: Vec<Vec<String>> = (1000..1200)
        .map(|k| vec![k.to_string(), format!("kept-{k}")])
        .collect();
    want.sort();
    assert_eq!(got, want);
    // The failed flush's files were deleted, not left as orphans.
    let data_files: usize = (0..4)
        .map(|b| table_dir.join(format!("bucket-{b}")))
        .filter(|d| d.is_dir())
        .map(|d| std::fs::read_dir(d).unwrap().count())
        .sum();
    assert_eq!(data_files, outcome.files);
}
