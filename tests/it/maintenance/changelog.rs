//! Changelog retention with real changelog files. Strata's writer produces none yet, so
//! each commit carries a changelog Parquet file (the commit's rows as +I, named
//! `changelog-<uuid>-<n>.parquet`) in `CommitMessage::changelog_files`, committed through
//! `format::commit` like a changelog producer would.
//!
//! - Decoupled (changelog retention above the snapshot one): expired snapshots become
//!   `changelog/changelog-<id>` and keep their changelog files until changelog expiry;
//!   then exactly the files retained snapshots, changelogs and tags reference remain.
//! - Not decoupled: changelog files go with their snapshots.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, Int8Array, RecordBatch, StringArray};
use strata_format::commit::{Clock, TableCommit};
use strata_format::maintenance::{ChangelogManager, Maintenance};
use strata_format::manifest::FileSource;
use strata_format::paths::PartitionPath;
use strata_format::table::Table;
use strata_format::types::arrow::to_arrow_schema;
use strata_format::write::{DataFileWriter, FileTarget};
use strata_writer::TableWriter;

use super::{check_files, compact_all, read_snapshot, read_tag, table_dir, Rows, TestClock};
use crate::writer::{rows, Fixture};

async fn table(extra: &[(&str, &str)]) -> Fixture {
    let mut options = vec![("bucket", "1")];
    if !extra.iter().any(|(k, _)| *k == "changelog-producer") {
        options.push(("changelog-producer", "lookup"));
    }
    options.extend_from_slice(&[
        ("snapshot.num-retained.min", "2"),
        ("snapshot.num-retained.max", "3"),
        ("snapshot.time-retained", "1 ms"),
    ]);
    options.extend_from_slice(extra);
    Fixture::new(&[("k", "INT"), ("v", "STRING")], &["k"], &[], &options).await
}

/// Writes `rows` as a changelog file of bucket 0 (all +I).
async fn changelog_file(
    table: &Table,
    clock: Arc<dyn Clock>,
    rows: &[(i32, String)],
    seq: i64,
) -> strata_format::manifest::DataFileMeta {
    let mut sorted = rows.to_vec();
    sorted.sort();
    sorted.dedup_by(|a, b| a.0 == b.0);
    let n = sorted.len();
    let keys: ArrayRef = Arc::new(Int32Array::from_iter_values(sorted.iter().map(|r| r.0)));
    let kv = RecordBatch::try_new(
        to_arrow_schema(&table.schema().key_value_fields()),
        vec![
            keys.clone(),
            Arc::new(Int64Array::from(vec![seq; n])),
            Arc::new(Int8Array::from(vec![0i8; n])),
            keys,
            Arc::new(StringArray::from_iter_values(
                sorted.iter().map(|r| r.1.clone()),
            )),
        ],
    )
    .unwrap();
    let mut writer = DataFileWriter::new(table, clock).unwrap();
    let target = FileTarget {
        partition: &PartitionPath::unpartitioned(),
        bucket: 0,
        level: 0,
        source: FileSource::Append,
    };
    let written = writer.write(target, &kv).await.unwrap().remove(0);
    let mut meta = written.meta;
    let name = meta.file_name.replacen("data-", "changelog-", 1);
    let local = |name: &str| {
        table
            .storage()
            .local_path(
                &table
                    .paths()
                    .data_file(&PartitionPath::unpartitioned(), 0, name),
            )
            .unwrap()
    };
    std::fs::rename(local(&meta.file_name), local(&name)).unwrap();
    meta.file_name = name;
    meta
}

/// Commits with changelog files, compacting every fifth; returns the rows per snapshot.
async fn history(fx: &Fixture, commits: i64, changelog_files: bool) -> BTreeMap<i64, Rows> {
    let table = fx.table.clone();
    let clock = TestClock::now();
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let mut writer = TableWriter::builder(table.clone())
        .clock(dyn_clock.clone())
        .build()
        .unwrap();
    let committer = TableCommit::new(table.clone(), "changelog-writer")
        .unwrap()
        .with_clock(dyn_clock.clone());
    let compactor = TableCommit::new(table.clone(), "compactor")
        .unwrap()
        .with_clock(dyn_clock.clone());
    let mut model: BTreeMap<i32, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    let rows_of = |m: &BTreeMap<i32, String>| -> Rows {
        let mut r: Rows = m
            .iter()
            .map(|(k, v)| vec![k.to_string(), v.clone()])
            .collect();
        r.sort();
        r
    };
    for n in 1..=commits {
        clock.advance(1000);
        let ops: Vec<(i32, String)> = (0..20)
            .map(|i| (((n * 3 + i) % 25) as i32, format!("c{n}-{i}")))
            .collect();
        let batch = RecordBatch::try_from_iter([
            (
                "k",
                Arc::new(Int32Array::from_iter_values(ops.iter().map(|o| o.0))) as ArrayRef,
            ),
            (
                "v",
                Arc::new(StringArray::from_iter_values(
                    ops.iter().map(|o| o.1.clone()),
                )) as ArrayRef,
            ),
        ])
        .unwrap();
        writer.write(&batch).await.unwrap();
        for (k, v) in &ops {
            model.insert(*k, v.clone());
        }
        let mut messages = writer.prepare_commit().await.unwrap();
        if changelog_files {
            messages[0].changelog_files =
                vec![changelog_file(&table, dyn_clock.clone(), &ops, n).await];
        }
        for s in committer.commit(n * 2, messages).await.unwrap() {
            out.insert(s, rows_of(&model));
        }
        if n % 5 == 0 {
            for s in compact_all(&table, dyn_clock.clone(), &compactor, n * 2 + 1)
                .await
                .unwrap()
            {
                out.insert(s, rows_of(&model));
            }
        }
    }
    // The Maintenance clock must see these snapshots as old.
    clock.advance(60_000);
    out
}

fn maintenance(fx: &Fixture) -> Maintenance {
    let clock = TestClock::now();
    clock.advance(10 * 60_000);
    Maintenance::new(fx.table.clone()).with_clock(clock)
}

#[tokio::test]
async fn decoupled_changelogs_outlive_snapshots_and_then_expire() {
    let fx = table(&[
        ("changelog.num-retained.min", "6"),
        ("changelog.num-retained.max", "8"),
    ])
    .await;
    assert!(fx.table.options().changelog_lifecycle_decoupled());
    let expected = history(&fx, 16, true).await;
    let latest = *expected.keys().last().unwrap();
    let m = maintenance(&fx);
    m.create_tag("t3", Some(3), None).await.unwrap();
    let dir = table_dir(&fx);

    // Snapshot expiry keeps num-retained.min (2) old snapshots and turns the rest into
    // changelogs.
    let report = m.expire_snapshots(m.expire_config()).await.unwrap();
    assert_eq!(report.expired, Some((1, latest - 1)));
    assert_eq!(report.changelogs_written as i64, latest - 2);
    assert_eq!(
        report.removed.changelog.files, 0,
        "changelog files outlive their snapshots"
    );
    let changelogs = ChangelogManager::new(fx.table.clone());
    assert_eq!(
        changelogs.list_ids().await.unwrap(),
        (1..latest - 1).collect::<Vec<_>>()
    );
    check_files(&fx.table, &dir, true, "after snapshot expiry").await;
    for id in latest - 1..=latest {
        assert_eq!(read_snapshot(&fx.table, id).await.unwrap(), expected[&id]);
    }

    // Changelog expiry keeps changelog.num-retained.min (6) ids in all: four changelogs
    // plus the two snapshots.
    let c = m.expire_changelogs().await.unwrap();
    assert_eq!(c.expired, Some((1, latest - 5)));
    assert!(c.removed.changelog.files > 0);
    assert_eq!(
        changelogs.list_ids().await.unwrap(),
        (latest - 5..=latest - 2).collect::<Vec<_>>()
    );
    check_files(&fx.table, &dir, true, "after changelog expiry").await;
    // The tag keeps its snapshot's data and changelog files.
    assert_eq!(read_tag(&fx.table, "t3").await.unwrap(), expected[&3]);

    // Rolling back to the tag recreates snapshot 3; newer changelogs go with the rest.
    let r = m.rollback_to_tag("t3").await.unwrap();
    assert!(r.recreated_from_tag);
    assert_eq!(r.removed_changelogs, 4);
    assert!(changelogs.list_ids().await.unwrap().is_empty());
    assert_eq!(
        fx.table.snapshot_manager().list_ids().await.unwrap(),
        vec![3]
    );
    assert_eq!(read_snapshot(&fx.table, 3).await.unwrap(), expected[&3]);
    super::age_all(&dir, std::time::Duration::from_secs(3 * 24 * 3600));
    m.remove_orphans(std::time::Duration::from_secs(24 * 3600), false)
        .await
        .unwrap();
    check_files(&fx.table, &dir, true, "after rollback and orphan cleanup").await;
}

#[tokio::test]
async fn coupled_changelog_files_go_with_their_snapshots() {
    let fx = table(&[]).await;
    assert!(!fx.table.options().changelog_lifecycle_decoupled());
    let expected = history(&fx, 12, true).await;
    let latest = *expected.keys().last().unwrap();
    let m = maintenance(&fx);
    let report = m.run_scheduled().await.unwrap();
    assert_eq!(report.snapshots.expired, Some((1, latest - 1)));
    assert_eq!(report.snapshots.changelogs_written, 0);
    assert!(report.snapshots.removed.changelog.files >= 9);
    assert!(ChangelogManager::new(fx.table.clone())
        .list_ids()
        .await
        .unwrap()
        .is_empty());
    check_files(&fx.table, &table_dir(&fx), true, "after expiry").await;
    let got = rows(
        &strata_format::read::TableRead::new(fx.table.clone())
            .read_all(None)
            .await
            .unwrap(),
    );
    assert_eq!(got, expected[&latest]);
}

#[tokio::test]
async fn decoupled_changelogs_without_changelog_files_keep_the_append_files() {
    // changelog-producer = none: the changelog of a snapshot is the files its delta added.
    let fx = table(&[
        ("changelog-producer", "none"),
        ("changelog.num-retained.min", "6"),
        ("changelog.num-retained.max", "8"),
    ])
    .await;
    assert!(fx.table.options().changelog_lifecycle_decoupled());
    let expected = history(&fx, 16, false).await;
    let latest = *expected.keys().last().unwrap();
    let m = maintenance(&fx);
    let dir = table_dir(&fx);
    let report = m.expire_snapshots(m.expire_config()).await.unwrap();
    assert_eq!(report.expired, Some((1, latest - 1)));
    // Compaction outputs went; the append files compactions replaced stay for the
    // changelogs, and so do the expired snapshots' lists.
    check_files(&fx.table, &dir, true, "after snapshot expiry").await;
    let c = m.expire_changelogs().await.unwrap();
    assert_eq!(c.expired, Some((1, latest - 5)));
    assert!(c.removed.data.files > 0, "{c:?}");
    check_files(&fx.table, &dir, true, "after changelog expiry").await;
    for id in latest - 1..=latest {
        assert_eq!(read_snapshot(&fx.table, id).await.unwrap(), expected[&id]);
    }
    super::age_all(&dir, std::time::Duration::from_secs(3 * 24 * 3600));
    let orphans = m
        .remove_orphans(std::time::Duration::from_secs(24 * 3600), false)
        .await
        .unwrap();
    assert_eq!(orphans.removed.files, 0, "{:?}", orphans.files);
}
