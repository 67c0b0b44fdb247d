//! SQL over Strata tables (strata-sql): results equal what the merged rows of
//! `TableRead` (the read behind `strata read`) give when the same query is computed here in
//! Rust; filter pushdown shown by the data files a query opens (recording object store),
//! including the merge-on-read case where value statistics must not skip a file; time
//! travel through the snapshot's schema; INSERT INTO and ALTER TABLE.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use object_store::local::LocalFileSystem;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::read::TableRead;
use strata_format::schema::TableSchema;
use strata_format::storage::Storage;
use strata_format::table::Table;
use strata_format::types::DataType;
use strata_sql::StrataSession;
use strata_tests::recording::{Op, RecordingStore};
use strata_writer::TableWriter;

/// A local warehouse whose requests are recorded.
fn recorded_catalog(dir: &std::path::Path) -> (Arc<RecordingStore>, Catalog) {
    let local = Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap());
    let recording = RecordingStore::new(local);
    let storage = Storage::from_store(recording.clone(), dir.display().to_string());
    (recording, Catalog::new(storage))
}

async fn create(
    catalog: &Catalog,
    name: &str,
    cols: &[(&str, &str)],
    pk: &[&str],
    part: &[&str],
    bucket: &str,
) -> Table {
    let _ = catalog.create_database("db", true).await;
    let columns: Vec<(&str, DataType)> = cols
        .iter()
        .map(|(n, t)| (*n, DataType::parse(t).unwrap()))
        .collect();
    let schema = TableSchema::new_for_create(
        columns,
        part.iter().map(|s| s.to_string()).collect(),
        pk.iter().map(|s| s.to_string()).collect(),
        [("bucket", bucket)],
        None,
    )
    .unwrap();
    catalog
        .create_table(&Identifier::new("db", name).unwrap(), schema)
        .await
        .unwrap()
}

/// One commit of rows (p, k, v, s); `deletes` are keys (p, k) to delete.
async fn commit_rows(table: &Table, rows: &[(&str, i64, i32, &str)], deletes: &[(&str, i64)]) {
    let mut writer = TableWriter::builder(table.clone()).build().unwrap();
    if !rows.is_empty() {
        writer.write(&orders_batch(rows)).await.unwrap();
    }
    if !deletes.is_empty() {
        let rows: Vec<(&str, i64, i32, &str)> =
            deletes.iter().map(|(p, k)| (*p, *k, 0, "")).collect();
        writer
            .write_with_kinds(&orders_batch(&rows), &vec![3; rows.len()])
            .await
            .unwrap();
    }
    writer.commit(1).await.unwrap();
}

fn orders_batch(rows: &[(&str, i64, i32, &str)]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "p",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "k",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "v",
            Arc::new(Int32Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "s",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
    ])
    .unwrap()
}

/// Rows of batches as text cells (NULL as "NULL"), for comparing results.
fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let f: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..b.num_rows() {
            out.push(f.iter().map(|f| f.value(row).to_string()).collect());
        }
    }
    out
}

async fn sql(session: &StrataSession, q: &str) -> Vec<Vec<String>> {
    let result = session.sql(q).await.unwrap_or_else(|e| panic!("{q}: {e}"));
    cells(&result.batches)
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

/// The merged rows as (p, k, v, s), as `strata read` returns them.
async fn read_orders(table: &Table) -> Vec<(String, i64, i32, String)> {
    let batches = TableRead::new(table.clone()).read_all(None).await.unwrap();
    cells(&batches)
        .into_iter()
        .map(|r| {
            (
                r[0].clone(),
                r[1].parse().unwrap(),
                r[2].parse().unwrap(),
                r[3].clone(),
            )
        })
        .collect()
}

async fn orders_fixture(catalog: &Catalog) -> (Table, Table) {
    let orders = create(
        catalog,
        "orders",
        &[
            ("p", "STRING"),
            ("k", "BIGINT"),
            ("v", "INT"),
            ("s", "STRING"),
        ],
        &["p", "k"],
        &["p"],
        "2",
    )
    .await;
    let rows: Vec<(String, i64, i32, String)> = (0..60)
        .map(|i| {
            (
                ["a", "b", "c"][i % 3].to_string(),
                i as i64,
                (i * 7 % 50) as i32,
                format!("s{}", i % 5),
            )
        })
        .collect();
    let refs: Vec<(&str, i64, i32, &str)> = rows
        .iter()
        .map(|r| (r.0.as_str(), r.1, r.2, r.3.as_str()))
        .collect();
    commit_rows(&orders, &refs, &[]).await;
    // Updates (v changes), new keys, and deletes.
    let updates: Vec<(String, i64, i32, String)> = (0..60)
        .step_by(4)
        .map(|i| {
            (
                ["a", "b", "c"][i % 3].to_string(),
                i as i64,
                100 + i as i32,
                "upd".to_string(),
            )
        })
        .chain((60..70).map(|i| ("d".to_string(), i64::from(i), i, "new".to_string())))
        .collect();
    let refs: Vec<(&str, i64, i32, &str)> = updates
        .iter()
        .map(|r| (r.0.as_str(), r.1, r.2, r.3.as_str()))
        .collect();
    commit_rows(&orders, &refs, &[("b", 1), ("c", 2), ("a", 3), ("d", 61)]).await;
    let regions = create(
        catalog,
        "regions",
        &[("p", "STRING"), ("name", "STRING")],
        &["p"],
        &[],
        "1",
    )
    .await;
    let mut writer = TableWriter::builder(regions.clone()).build().unwrap();
    writer
        .write(
            &RecordBatch::try_from_iter([
                (
                    "p",
                    Arc::new(StringArray::from(vec!["a", "b", "d"])) as ArrayRef,
                ),
                (
                    "name",
                    Arc::new(StringArray::from(vec!["Alpha", "Beta", "Delta"])) as ArrayRef,
                ),
            ])
            .unwrap(),
        )
        .await
        .unwrap();
    writer.commit(1).await.unwrap();
    (orders, regions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_equal_the_same_queries_over_the_read_rows() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(dir.path().to_str().unwrap()).unwrap();
    let (orders, regions) = orders_fixture(&catalog).await;
    let rows = read_orders(&orders).await;
    assert!(rows.len() > 50);
    let session = StrataSession::new(catalog.clone()).await.unwrap();

    // All rows.
    let want: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![r.0.clone(), r.1.to_string(), r.2.to_string(), r.3.clone()])
        .collect();
    assert_eq!(
        sorted(sql(&session, "SELECT p, k, v, s FROM db.orders").await),
        sorted(want)
    );

    // Filters on a partition, a key and a value column.
    let want: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| r.0 != "c" && r.1 >= 10 && (r.2 > 20 || r.3 == "upd"))
        .map(|r| vec![r.1.to_string(), r.2.to_string()])
        .collect();
    assert_eq!(
        sorted(
            sql(
                &session,
                "SELECT k, v FROM db.orders WHERE p <> 'c' AND k >= 10 AND (v > 20 OR s = 'upd')"
            )
            .await
        ),
        sorted(want)
    );

    // Aggregates.
    let mut groups: BTreeMap<String, (i64, i64, i32)> = BTreeMap::new();
    for r in &rows {
        let g = groups.entry(r.0.clone()).or_insert((0, 0, i32::MIN));
        g.0 += 1;
        g.1 += i64::from(r.2);
        g.2 = g.2.max(r.2);
    }
    let want: Vec<Vec<String>> = groups
        .iter()
        .map(|(p, (n, sum, max))| vec![p.clone(), n.to_string(), sum.to_string(), max.to_string()])
        .collect();
    assert_eq!(
        sql(
            &session,
            "SELECT p, COUNT(*), SUM(v), MAX(v) FROM db.orders GROUP BY p ORDER BY p"
        )
        .await,
        want
    );
    assert_eq!(
        sql(&session, "SELECT COUNT(*) FROM db.orders").await,
        vec![vec![rows.len().to_string()]]
    );

    // A join with another Strata table.
    let region_rows = cells(
        &TableRead::new(regions.clone())
            .read_all(None)
            .await
            .unwrap(),
    );
    let names: BTreeMap<String, String> = region_rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let want: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| r.2 < 30)
        .filter_map(|r| names.get(&r.0).map(|n| vec![n.clone(), r.1.to_string()]))
        .collect();
    assert_eq!(
        sorted(
            sql(
                &session,
                "SELECT r.name, o.k FROM db.orders o JOIN db.regions r ON o.p = r.p WHERE o.v < 30"
            )
            .await
        ),
        sorted(want)
    );
}

/// Distinct data files read (GET, ranged GET or HEAD) among `requests`.
fn data_files_opened(requests: &[strata_tests::recording::Request]) -> BTreeSet<String> {
    requests
        .iter()
        .filter(|r| matches!(r.op, Op::Get | Op::GetRanges | Op::Head))
        .filter(|r| r.path.contains("/bucket-") && r.path.ends_with(".parquet"))
        .map(|r| r.path.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushdown_opens_only_the_files_that_can_match() {
    let dir = tempfile::tempdir().unwrap();
    let (recording, catalog) = recorded_catalog(dir.path());
    // Partition pruning: 4 partitions, one file each.
    let t = create(
        &catalog,
        "parts",
        &[
            ("p", "STRING"),
            ("k", "BIGINT"),
            ("v", "INT"),
            ("s", "STRING"),
        ],
        &["p", "k"],
        &["p"],
        "1",
    )
    .await;
    let rows: Vec<(&str, i64, i32, &str)> = (0..40)
        .map(|i| (["w", "x", "y", "z"][i % 4], i as i64, i as i32, "s"))
        .collect();
    commit_rows(&t, &rows, &[]).await;
    let session = StrataSession::new(catalog.clone()).await.unwrap();
    recording.take();
    let got = sql(&session, "SELECT k FROM db.parts WHERE p = 'x'").await;
    assert_eq!(got.len(), 10);
    let opened = data_files_opened(&recording.take());
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(opened.iter().all(|p| p.contains("/p=x/")), "{opened:?}");
    sql(&session, "SELECT k FROM db.parts").await;
    assert_eq!(data_files_opened(&recording.take()).len(), 4);

    // Key ranges and value statistics: three commits with disjoint keys and values, so
    // three level-0 files whose key ranges do not overlap.
    let t = create(
        &catalog,
        "ranges",
        &[
            ("p", "STRING"),
            ("k", "BIGINT"),
            ("v", "INT"),
            ("s", "STRING"),
        ],
        &["k"],
        &[],
        "1",
    )
    .await;
    for c in 0..3i64 {
        let rows: Vec<(&str, i64, i32, &str)> = (c * 100..c * 100 + 100)
            .map(|k| ("q", k, (k + 1000) as i32, "s"))
            .collect();
        commit_rows(&t, &rows, &[]).await;
    }
    recording.take();
    assert_eq!(
        sql(&session, "SELECT COUNT(*) FROM db.ranges WHERE k < 50").await,
        vec![vec!["50".to_string()]]
    );
    assert_eq!(data_files_opened(&recording.take()).len(), 1, "key range");
    assert_eq!(
        sql(&session, "SELECT COUNT(*) FROM db.ranges WHERE v >= 1250").await,
        vec![vec!["50".to_string()]]
    );
    assert_eq!(
        data_files_opened(&recording.take()).len(),
        1,
        "value statistics, no overlap"
    );
    assert_eq!(
        sql(&session, "SELECT COUNT(*) FROM db.ranges WHERE v > 99999").await,
        vec![vec!["0".to_string()]]
    );
    assert_eq!(
        data_files_opened(&recording.take()).len(),
        0,
        "no file can match"
    );

    // Merge-on-read: key 5 is updated from v=1005 to v=7; its old version still matches
    // `v = 1005` by the first file's statistics, and the new file (v=7) does not. Skipping the
    // new file by its statistics would show the stale row; both files must be read.
    commit_rows(&t, &[("q", 5, 7, "s")], &[]).await;
    recording.take();
    assert!(sql(&session, "SELECT k FROM db.ranges WHERE v = 1005")
        .await
        .is_empty());
    let opened = data_files_opened(&recording.take());
    assert_eq!(
        opened.len(),
        2,
        "the overlapping newer file must be read: {opened:?}"
    );
    assert_eq!(
        sql(&session, "SELECT v FROM db.ranges WHERE k = 5").await,
        vec![vec!["7".to_string()]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_incremental_audit_log_insert_and_alter() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(dir.path().to_str().unwrap()).unwrap();
    let t = create(
        &catalog,
        "t",
        &[
            ("p", "STRING"),
            ("k", "BIGINT"),
            ("v", "INT"),
            ("s", "STRING"),
        ],
        &["k"],
        &[],
        "2",
    )
    .await;
    commit_rows(&t, &[("a", 1, 10, "x"), ("a", 2, 20, "y")], &[]).await; // snapshot 1
    commit_rows(&t, &[("a", 2, 21, "y2"), ("a", 3, 30, "z")], &[("a", 1)]).await; // 2
    let session = StrataSession::new(catalog.clone()).await.unwrap();
    strata_format::maintenance::Maintenance::new(t.clone())
        .create_tag("first", Some(1), None)
        .await
        .unwrap();

    let at1 = sorted(sql(&session, "SELECT k, v FROM db.\"t$snapshot=1\"").await);
    assert_eq!(
        at1,
        vec![
            vec!["1".to_string(), "10".into()],
            vec!["2".into(), "20".into()]
        ]
    );
    assert_eq!(
        sorted(sql(&session, "SELECT k, v FROM db.\"t$tag=first\"").await),
        at1
    );
    // Snapshot 2's own commit: key 2 updated, key 3 new; key 1's delete is not a row.
    assert_eq!(
        sorted(sql(&session, "SELECT k, v FROM db.\"t$incremental=1,2\"").await),
        vec![
            vec!["2".to_string(), "21".into()],
            vec!["3".into(), "30".into()]
        ]
    );
    // The audit log shows the deleted key with its kind.
    assert_eq!(
        sorted(sql(&session, "SELECT rowkind, k FROM db.t$audit_log").await),
        vec![
            vec!["+I".to_string(), "2".into()],
            vec!["+I".into(), "3".into()],
            vec!["-D".into(), "1".into()]
        ]
    );

    // INSERT INTO commits through the writer; the rows equal the table's read.
    let inserted = sql(
        &session,
        "INSERT INTO db.t VALUES ('b', 4, 40, 'w'), ('b', 2, 22, 'u')",
    )
    .await;
    assert_eq!(inserted, vec![vec!["2".to_string()]]);
    assert_eq!(t.snapshot_manager().latest_id().await.unwrap(), Some(3));
    sql(
        &session,
        "INSERT INTO db.t SELECT p, k + 100, v, s FROM db.t WHERE k < 4",
    )
    .await;
    let read = read_orders(&t).await;
    let mut want: Vec<(String, i64, i32, String)> = vec![
        ("b".into(), 2, 22, "u".into()),
        ("a".into(), 3, 30, "z".into()),
        ("b".into(), 4, 40, "w".into()),
        ("b".into(), 102, 22, "u".into()),
        ("a".into(), 103, 30, "z".into()),
    ];
    want.sort_by_key(|r| r.1);
    let mut got = read.clone();
    got.sort_by_key(|r| r.1);
    assert_eq!(got, want);

    // ALTER TABLE, then old and new files read together; time travel keeps the old schema.
    sql(&session, "ALTER TABLE db.t ADD COLUMN note VARCHAR(20)").await;
    sql(&session, "ALTER TABLE db.t RENAME COLUMN s TO label").await;
    sql(
        &session,
        "ALTER TABLE db.t ALTER COLUMN v SET DATA TYPE BIGINT",
    )
    .await;
    sql(&session, "ALTER TABLE db.t DROP COLUMN p").await;
    sql(
        &session,
        "INSERT INTO db.t VALUES (5, 5000000000, 'l5', 'n5')",
    )
    .await;
    let got = sorted(sql(&session, "SELECT k, v, label, note FROM db.t").await);
    assert_eq!(
        got,
        sorted(vec![
            vec!["2".to_string(), "22".into(), "u".into(), "NULL".into()],
            vec!["3".into(), "30".into(), "z".into(), "NULL".into()],
            vec!["4".into(), "40".into(), "w".into(), "NULL".into()],
            vec!["5".into(), "5000000000".into(), "l5".into(), "n5".into()],
            vec!["102".into(), "22".into(), "u".into(), "NULL".into()],
            vec!["103".into(), "30".into(), "z".into(), "NULL".into()],
        ])
    );
    // Only compared columns (no second read of the files), and only a column the older
    // files lack (their second read has none of its columns).
    assert_eq!(
        sorted(sql(&session, "SELECT k FROM db.t").await),
        sorted(
            [2, 3, 4, 5, 102, 103]
                .iter()
                .map(|k| vec![k.to_string()])
                .collect()
        )
    );
    let notes = sorted(sql(&session, "SELECT note FROM db.t").await);
    let mut want = vec![vec!["NULL".to_string()]; 5];
    want.push(vec!["n5".to_string()]);
    assert_eq!(notes, sorted(want));
    let old = session
        .sql("SELECT * FROM db.\"t$snapshot=1\"")
        .await
        .unwrap();
    let names: Vec<String> = old
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, vec!["p", "k", "v", "s"]);
    let err = session
        .sql("ALTER TABLE db.t DROP COLUMN k")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("key"), "{err}");
    let err = session
        .sql("SELECT * FROM db.\"t$nope\"")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no system table"), "{err}");
}
