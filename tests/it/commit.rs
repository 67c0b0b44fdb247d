//! The commit protocol on its own: races for a snapshot id, retried commits applied once,
//! conflicts that publish nothing, and manifest counts that stay bounded.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_format::catalog::{Catalog, Identifier};
use strata_format::commit::{CommitMessage, RetryPolicy, TableCommit};
use strata_format::data::binary_row::BinaryRow;
use strata_format::data::Datum;
use strata_format::manifest::{DataFileMeta, FileSource, SimpleStats};
use strata_format::scan::{KeyRange, TableScan};
use strata_format::schema::TableSchema;
use strata_format::table::Table;
use strata_format::types::{DataType, TypeKind};
use strata_format::ErrorKind;

async fn table(options: &[(&str, &str)]) -> (tempfile::TempDir, Table) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(dir.path().to_str().unwrap()).unwrap();
    (dir, table_in(&catalog, options).await)
}

/// The test table in any warehouse (local or S3).
pub async fn table_in(catalog: &Catalog, options: &[(&str, &str)]) -> Table {
    catalog.create_database("db", false).await.unwrap();
    let mut opts: BTreeMap<String, String> = BTreeMap::new();
    opts.insert("bucket".into(), "2".into());
    for (k, v) in options {
        opts.insert(k.to_string(), v.to_string());
    }
    let schema = TableSchema::new_for_create(
        vec![
            ("k".to_string(), DataType::new(TypeKind::BigInt), None),
            ("v".to_string(), DataType::new(TypeKind::VarChar(100)), None),
        ],
        vec![],
        vec!["k".to_string()],
        opts,
        None,
    )
    .unwrap();
    catalog
        .create_table(&Identifier::new("db", "t").unwrap(), schema)
        .await
        .unwrap()
}

fn key(k: i64) -> Vec<u8> {
    BinaryRow::encode_with_arity(
        &[Some(Datum::BigInt(k))],
        &[DataType::new(TypeKind::BigInt)],
    )
    .unwrap()
}

/// Metadata of a data file holding keys `lo..=hi` (the file itself is not needed here).
fn file(name: &str, level: i32, lo: i64, hi: i64, rows: i64) -> DataFileMeta {
    DataFileMeta {
        file_name: name.to_string(),
        file_size: 100,
        row_count: rows,
        min_key: key(lo),
        max_key: key(hi),
        key_stats: SimpleStats::empty(),
        value_stats: SimpleStats::empty(),
        min_sequence_number: 0,
        max_sequence_number: rows,
        schema_id: 0,
        level,
        extra_files: vec![],
        creation_time: Some(0),
        delete_row_count: Some(0),
        embedded_index: None,
        file_source: Some(if level == 0 {
            FileSource::Append
        } else {
            FileSource::Compact
        }),
        value_stats_cols: None,
        external_path: None,
        first_row_id: None,
        write_cols: None,
        write_cols_sequences: None,
    }
}

fn unpartitioned() -> Vec<u8> {
    BinaryRow::encode_with_arity(&[], &[]).unwrap()
}

fn append(bucket: i32, files: Vec<DataFileMeta>) -> CommitMessage {
    CommitMessage {
        partition: unpartitioned(),
        bucket,
        total_buckets: 2,
        new_files: files,
        ..Default::default()
    }
}

async fn live_files(t: &Table) -> Vec<String> {
    let plan = TableScan::new(t.clone()).plan().await.unwrap();
    let mut names: Vec<String> = plan
        .splits
        .iter()
        .flat_map(|s| s.files.iter().map(|f| f.file_name.clone()))
        .collect();
    names.sort();
    names
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 100,
        min_wait: std::time::Duration::from_millis(1),
        max_wait: std::time::Duration::from_millis(20),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_committers_all_land_exactly_once() {
    let (_dir, t) = table(&[]).await;
    racing_committers(t).await;
}

/// 4 committers × 10 commits racing for snapshot ids: all land, none overwritten.
pub async fn racing_committers(t: Table) {
    let writers = 4;
    let commits = 10;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let committer = TableCommit::new(t, format!("writer-{w}"))
                .unwrap()
                .with_retry(fast_retries());
            for c in 0..commits {
                let name = format!("data-w{w}-c{c}.parquet");
                let ids = committer
                    .commit(
                        c,
                        vec![append((w % 2) as i32, vec![file(&name, 0, c, c, 1)])],
                    )
                    .await
                    .unwrap();
                assert_eq!(ids.len(), 1);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let sm = t.snapshot_manager();
    let ids = sm.list_ids().await.unwrap();
    assert_eq!(ids, (1..=(writers * commits)).collect::<Vec<i64>>());
    let latest = sm.latest().await.unwrap().unwrap();
    assert_eq!(latest.total_record_count, Some(writers * commits));
    // Every file of every writer is live, none twice.
    let files = live_files(&t).await;
    assert_eq!(files.len() as i64, writers * commits);
    let mut unique = files.clone();
    unique.dedup();
    assert_eq!(unique, files);
}

#[tokio::test]
async fn a_retried_commit_is_applied_once() {
    let (_dir, t) = table(&[]).await;
    let committer = TableCommit::new(t.clone(), "u").unwrap();
    let msg = vec![append(0, vec![file("data-a.parquet", 0, 1, 1, 1)])];
    let first = committer.commit(7, msg.clone()).await.unwrap();
    // Someone else commits in between.
    TableCommit::new(t.clone(), "other")
        .unwrap()
        .commit(1, vec![append(1, vec![file("data-b.parquet", 0, 2, 2, 1)])])
        .await
        .unwrap();
    let again = committer.commit(7, msg).await.unwrap();
    assert_eq!(
        first, again,
        "the retry must report the snapshot that landed"
    );
    assert_eq!(t.snapshot_manager().list_ids().await.unwrap(), vec![1, 2]);
    assert_eq!(
        live_files(&t).await,
        vec!["data-a.parquet", "data-b.parquet"]
    );
}

#[tokio::test]
async fn deleting_a_file_that_is_not_live_is_a_conflict_that_publishes_nothing() {
    let (_dir, t) = table(&[]).await;
    let committer = TableCommit::new(t.clone(), "u").unwrap();
    committer
        .commit(1, vec![append(0, vec![file("data-a.parquet", 0, 1, 5, 5)])])
        .await
        .unwrap();
    let compaction = CommitMessage {
        partition: unpartitioned(),
        bucket: 0,
        total_buckets: 2,
        compact_before: vec![file("data-gone.parquet", 0, 1, 5, 5)],
        compact_after: vec![file("data-c.parquet", 1, 1, 5, 5)],
        ..Default::default()
    };
    let err = TableCommit::new(t.clone(), "compactor")
        .unwrap()
        .commit(1, vec![compaction])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommitConflict, "{err}");
    assert!(err.to_string().contains("data-gone.parquet"), "{err}");
    assert_eq!(t.snapshot_manager().list_ids().await.unwrap(), vec![1]);
    assert_eq!(live_files(&t).await, vec!["data-a.parquet"]);
}

#[tokio::test]
async fn compaction_replaces_files_and_rejects_overlapping_levels() {
    let (_dir, t) = table(&[]).await;
    let committer = TableCommit::new(t.clone(), "u").unwrap();
    committer
        .commit(
            1,
            vec![append(
                0,
                vec![
                    file("data-a.parquet", 0, 1, 5, 5),
                    file("data-b.parquet", 0, 3, 9, 7),
                ],
            )],
        )
        .await
        .unwrap();
    let compaction = CommitMessage {
        partition: unpartitioned(),
        bucket: 0,
        total_buckets: 2,
        compact_before: vec![
            file("data-a.parquet", 0, 1, 5, 5),
            file("data-b.parquet", 0, 3, 9, 7),
        ],
        compact_after: vec![file("data-c.parquet", 5, 1, 9, 9)],
        ..Default::default()
    };
    let ids = TableCommit::new(t.clone(), "compactor")
        .unwrap()
        .commit(1, vec![compaction])
        .await
        .unwrap();
    assert_eq!(ids, vec![2]);
    let s = t.snapshot_manager().snapshot(2).await.unwrap();
    assert_eq!(s.commit_kind, strata_format::snapshot::CommitKind::Compact);
    // 12 rows replaced by the 9 that survive compaction.
    assert_eq!(s.total_record_count, Some(9));
    assert_eq!(live_files(&t).await, vec!["data-c.parquet"]);

    // A second level-5 file overlapping data-c breaks the LSM invariant.
    let overlapping = CommitMessage {
        partition: unpartitioned(),
        bucket: 0,
        total_buckets: 2,
        compact_after: vec![file("data-d.parquet", 5, 8, 20, 3)],
        ..Default::default()
    };
    let err = TableCommit::new(t.clone(), "bad")
        .unwrap()
        .commit(1, vec![overlapping])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("I5"), "{err}");
    assert_eq!(t.snapshot_manager().list_ids().await.unwrap(), vec![1, 2]);
}

#[tokio::test]
async fn the_bucket_count_of_a_partition_never_changes_silently() {
    let (_dir, t) = table(&[]).await;
    let committer = TableCommit::new(t.clone(), "u").unwrap();
    committer
        .commit(1, vec![append(0, vec![file("data-a.parquet", 0, 1, 1, 1)])])
        .await
        .unwrap();
    let mut msg = append(0, vec![file("data-b.parquet", 0, 2, 2, 1)]);
    msg.total_buckets = 3;
    let err = committer.commit(2, vec![msg]).await.unwrap_err();
    assert!(err.to_string().contains("I4"), "{err}");
    assert_eq!(t.snapshot_manager().list_ids().await.unwrap(), vec![1]);
}

#[tokio::test]
async fn manifests_stay_bounded_after_many_commits() {
    let (_dir, t) = table(&[("manifest.merge-min-count", "10")]).await;
    let committer = Arc::new(TableCommit::new(t.clone(), "u").unwrap());
    for c in 0..120 {
        committer
            .commit(
                c,
                vec![append(
                    (c % 2) as i32,
                    vec![file(&format!("data-{c}.parquet"), 0, c, c, 1)],
                )],
            )
            .await
            .unwrap();
    }
    let latest = t.snapshot_manager().latest().await.unwrap().unwrap();
    let metas = TableScan::new(t.clone())
        .manifest_metas(&latest)
        .await
        .unwrap();
    assert!(
        metas.len() <= 11,
        "{} manifests after 120 commits",
        metas.len()
    );
    assert_eq!(live_files(&t).await.len(), 120);
    assert_eq!(latest.total_record_count, Some(120));
}

#[tokio::test]
async fn key_ranges_prune_files_at_planning() {
    let (_dir, t) = table(&[]).await;
    let committer = TableCommit::new(t.clone(), "u").unwrap();
    committer
        .commit(
            1,
            vec![append(
                0,
                vec![
                    file("data-1-10.parquet", 0, 1, 10, 10),
                    file("data-11-20.parquet", 0, 11, 20, 10),
                    file("data-21-30.parquet", 0, 21, 30, 10),
                ],
            )],
        )
        .await
        .unwrap();
    let planned = |range: KeyRange| {
        let t = t.clone();
        async move {
            let plan = TableScan::new(t)
                .with_key_range(range)
                .plan()
                .await
                .unwrap();
            let mut names: Vec<String> = plan
                .splits
                .iter()
                .flat_map(|s| s.files.iter().map(|f| f.file_name.clone()))
                .collect();
            names.sort();
            names
        }
    };
    let k = |v: i64| Some(vec![Some(Datum::BigInt(v))]);
    assert_eq!(
        planned(KeyRange {
            lower: k(12),
            upper: k(15)
        })
        .await,
        vec!["data-11-20.parquet"]
    );
    assert_eq!(
        planned(KeyRange {
            lower: k(10),
            upper: k(11)
        })
        .await,
        vec!["data-1-10.parquet", "data-11-20.parquet"]
    );
    assert_eq!(
        planned(KeyRange {
            lower: k(25),
            upper: None
        })
        .await,
        vec!["data-21-30.parquet"]
    );
    assert!(planned(KeyRange {
        lower: k(31),
        upper: None
    })
    .await
    .is_empty());
    assert_eq!(planned(KeyRange::default()).await.len(), 3);
}
