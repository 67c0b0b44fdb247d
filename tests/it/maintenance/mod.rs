//! Maintenance end to end: expiry, tags, rollback, orphan cleanup and changelog retention
//! on real tables (Parquet files written by `TableWriter`, commits through
//! `format::commit`), checked against models and against the files on disk.
//!
//! The compactor is not part of these tests: compaction is simulated by reading a bucket's
//! merged rows and rewriting them as one sorted run at the highest level, committed as a
//! COMPACT `CommitMessage` (`compact_before` / `compact_after`), which is exactly what
//! expiry has to clean up after.

mod auto_tag;
mod changelog;
mod concurrent;
mod crash;
mod model;
mod s3;
mod storage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use arrow_array::{ArrayRef, Int32Array, Int64Array, Int8Array, RecordBatch, StringArray};
use futures::TryStreamExt;
use strata_format::commit::{Clock, CommitMessage, TableCommit};
use strata_format::maintenance::ChangelogManager;
use strata_format::maintenance::TagManager;
use strata_format::manifest::{read_manifest_list, FileSource};
use strata_format::read::TableRead;
use strata_format::scan::{Split, TableScan};
use strata_format::snapshot::Snapshot;
use strata_format::table::Table;
use strata_format::types::arrow::to_arrow_schema;
use strata_format::write::{DataFileWriter, FileTarget};
use strata_format::Result;

use crate::writer::{rows, Fixture};

/// Sorted display rows, as `crate::writer::rows` renders them.
pub type Rows = Vec<Vec<String>>;

/// A clock tests move by hand.
#[derive(Debug)]
pub struct TestClock(AtomicI64);

impl TestClock {
    /// Starts at the wall clock, so file modification times and the clock agree.
    pub fn now() -> Arc<TestClock> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Arc::new(TestClock(AtomicI64::new(now.as_millis() as i64)))
    }

    pub fn advance(&self, millis: i64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `db.t (p STRING, k INT, v STRING)`, primary key (p, k), partitioned by p.
pub async fn fixture(options: &[(&str, &str)]) -> Fixture {
    Fixture::new(
        &[("p", "STRING"), ("k", "INT"), ("v", "STRING")],
        &["p", "k"],
        &["p"],
        options,
    )
    .await
}

/// A batch of `(row kind, p, k, v)`.
pub fn batch(ops: &[(i8, String, i32, String)]) -> (RecordBatch, Vec<i8>) {
    let b = RecordBatch::try_from_iter([
        (
            "p",
            Arc::new(StringArray::from_iter_values(
                ops.iter().map(|o| o.1.clone()),
            )) as ArrayRef,
        ),
        (
            "k",
            Arc::new(Int32Array::from_iter_values(ops.iter().map(|o| o.2))) as ArrayRef,
        ),
        (
            "v",
            Arc::new(StringArray::from_iter_values(
                ops.iter().map(|o| o.3.clone()),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    (b, ops.iter().map(|o| o.0).collect())
}

/// The model's rows as `rows()` renders them.
pub fn model_rows(model: &BTreeMap<(String, i32), String>) -> Rows {
    let mut out: Rows = model
        .iter()
        .map(|((p, k), v)| vec![p.clone(), k.to_string(), v.clone()])
        .collect();
    out.sort();
    out
}

pub async fn read_snapshot(table: &Table, id: i64) -> Result<Rows> {
    Ok(rows(
        &TableRead::new(table.clone()).read_all(Some(id)).await?,
    ))
}

pub async fn read_snapshot_object(table: &Table, snapshot: Snapshot) -> Result<Rows> {
    let read = TableRead::new(table.clone());
    let plan = TableScan::new(table.clone())
        .plan_snapshot(snapshot)
        .await?;
    let batches: Vec<RecordBatch> = read.read_plan(plan)?.try_collect().await?;
    Ok(rows(&batches))
}

pub async fn read_tag(table: &Table, name: &str) -> Result<Rows> {
    let tag = TagManager::new(table.clone()).get_or_err(name).await?;
    read_snapshot_object(table, tag.snapshot).await
}

/// Rewrites one bucket's merged rows as one sorted run at the highest level: the commit
/// message a compaction of that bucket would produce.
pub async fn compaction_message(
    table: &Table,
    clock: Arc<dyn Clock>,
    split: Split,
) -> Result<CommitMessage> {
    let fields = table.schema().fields.clone();
    let read = TableRead::new(table.clone());
    let batches: Vec<RecordBatch> = read
        .read_split(split.clone(), fields.clone())
        .await?
        .try_collect()
        .await?;
    let mut after = Vec::new();
    let merged = concat_batches(&to_arrow_schema(&fields), &batches)?;
    if merged.num_rows() > 0 {
        let k = merged.column_by_name("k").unwrap().clone();
        let merged = take_record_batch(&merged, &sort_to_indices(&k, None, None)?)?;
        let n = merged.num_rows();
        let seq = split
            .files
            .iter()
            .map(|f| f.max_sequence_number)
            .max()
            .unwrap_or(0);
        let mut columns: Vec<ArrayRef> = vec![
            merged.column_by_name("k").unwrap().clone(),
            Arc::new(Int64Array::from(vec![seq; n])),
            Arc::new(Int8Array::from(vec![0i8; n])),
        ];
        columns.extend(merged.columns().iter().cloned());
        let kv =
            RecordBatch::try_new(to_arrow_schema(&table.schema().key_value_fields()), columns)?;
        let mut writer = DataFileWriter::new(table, clock)?;
        let target = FileTarget {
            partition: &split.partition_path,
            bucket: split.bucket as u32,
            level: table.options().num_levels() - 1,
            source: FileSource::Compact,
        };
        after = writer
            .write(target, &kv)
            .await?
            .into_iter()
            .map(|f| f.meta)
            .collect();
    }
    Ok(CommitMessage {
        partition: split.partition,
        bucket: split.bucket,
        total_buckets: split.total_buckets,
        compact_before: split.files,
        compact_after: after,
        ..CommitMessage::default()
    })
}

/// Compacts every bucket of the latest snapshot with more than one file; returns the
/// snapshot ids created (none when nothing needed compacting).
pub async fn compact_all(
    table: &Table,
    clock: Arc<dyn Clock>,
    commit: &TableCommit,
    identifier: i64,
) -> Result<Vec<i64>> {
    let plan = TableScan::new(table.clone()).plan().await?;
    let mut messages = Vec::new();
    for split in plan.splits.into_iter().filter(|s| s.files.len() > 1) {
        messages.push(compaction_message(table, clock.clone(), split).await?);
    }
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    commit.commit(identifier, messages).await
}

pub fn table_dir(fx: &Fixture) -> PathBuf {
    fx.dir.path().join("db.db").join("t")
}

/// Directories holding metadata JSON (not data, manifests or index files).
const METADATA_DIRS: &[&str] = &["schema", "snapshot", "tag", "consumer", "changelog"];

/// Data, manifest and index files below the table (relative path → size).
pub fn list_files(table_dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    walk(table_dir, table_dir, &mut out);
    out.retain(|path, _| {
        !METADATA_DIRS
            .iter()
            .any(|d| path.starts_with(&format!("{d}/")))
    });
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, u64>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(meta) = e.metadata() {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .to_string();
            out.insert(rel, meta.len());
        }
    }
}

/// Sets the modification time of every file below `dir` to `age` ago.
pub fn age_all(dir: &Path, age: Duration) {
    let when = SystemTime::now() - age;
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    for rel in files.keys() {
        let f = std::fs::File::options()
            .append(true)
            .open(dir.join(rel))
            .unwrap();
        f.set_modified(when).unwrap();
    }
}

/// What the snapshots, tags and long-lived changelogs of a table need, computed from the
/// reader's own planning (live files per snapshot) rather than from maintenance code:
/// manifest lists and manifests, live data files, changelog manifests and files.
pub async fn referenced(table: &Table, table_dir: &Path) -> BTreeMap<String, u64> {
    let sm = table.snapshot_manager();
    let mut anchors: Vec<Snapshot> = Vec::new();
    for id in sm.list_ids().await.unwrap() {
        anchors.push(sm.snapshot(id).await.unwrap());
    }
    for tag in TagManager::new(table.clone()).list().await.unwrap() {
        anchors.push(tag.snapshot);
    }
    let changelogs = ChangelogManager::new(table.clone()).list().await.unwrap();
    let mut out = BTreeMap::new();
    let size_of = |rel: &str| {
        std::fs::metadata(table_dir.join(rel))
            .map(|m| m.len())
            .unwrap_or_else(|_| panic!("referenced file {rel} is missing"))
    };
    let scan = TableScan::new(table.clone());
    for s in &anchors {
        for list in [&s.base_manifest_list, &s.delta_manifest_list] {
            let rel = format!("manifest/{list}");
            out.insert(rel.clone(), size_of(&rel));
        }
        for m in scan.manifest_metas(s).await.unwrap() {
            out.insert(format!("manifest/{}", m.file_name), m.file_size as u64);
        }
        let plan = scan.plan_snapshot(s.clone()).await.unwrap();
        for split in plan.splits {
            let dir = split.partition_path.as_relative();
            let prefix = if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            };
            for f in split.files {
                out.insert(
                    format!("{prefix}bucket-{}/{}", split.bucket, f.file_name),
                    f.file_size as u64,
                );
            }
        }
    }
    for s in anchors.iter().chain(&changelogs) {
        changelog_refs(table, table_dir, s, &mut out).await;
    }
    for c in &changelogs {
        delta_changelog_refs(table, table_dir, c, true, &mut out);
    }
    if table.options().changelog_lifecycle_decoupled() {
        for id in sm.list_ids().await.unwrap() {
            let s = sm.snapshot(id).await.unwrap();
            delta_changelog_refs(table, table_dir, &s, false, &mut out);
        }
    }
    out
}

/// A long-lived changelog without changelog files (`changelog-producer` = `none`) is its
/// delta: the base and delta lists, their manifests, and the files an APPEND delta added
/// (a COMPACT snapshot has no changelog to read). The append files a delta removed stay
/// until that delta's changelog expires, as in Paimon: for changelogs and, when
/// changelogs are decoupled, for snapshots (`is_changelog` false) too.
fn delta_changelog_refs(
    table: &Table,
    table_dir: &Path,
    c: &Snapshot,
    is_changelog: bool,
    out: &mut BTreeMap<String, u64>,
) {
    let producer = table.options().changelog_producer();
    if c.changelog_manifest_list.is_some()
        || producer != strata_format::options::ChangelogProducer::None
    {
        return;
    }
    for list in [&c.base_manifest_list, &c.delta_manifest_list] {
        if !is_changelog && list != &c.delta_manifest_list {
            continue;
        }
        let rel = format!("manifest/{list}");
        let bytes = std::fs::read(table_dir.join(&rel))
            .unwrap_or_else(|_| panic!("changelog {}: {rel} missing", c.id));
        out.insert(rel, bytes.len() as u64);
        for m in read_manifest_list(&bytes).unwrap() {
            out.insert(format!("manifest/{}", m.file_name), m.file_size as u64);
            if list != &c.delta_manifest_list {
                continue;
            }
            let bytes = std::fs::read(table_dir.join("manifest").join(&m.file_name)).unwrap();
            for e in strata_format::manifest::read_manifest_entries(&bytes).unwrap() {
                assert!(table.schema().partition_keys.is_empty());
                use strata_format::manifest::FileKind;
                // What an APPEND delta added is the changelog. The append files a delta
                // removed stay until this changelog expires (as in Paimon).
                let needed = match e.kind {
                    FileKind::Add => {
                        is_changelog && c.commit_kind == strata_format::snapshot::CommitKind::Append
                    }
                    FileKind::Delete => e.file.file_source != Some(FileSource::Compact),
                };
                if needed {
                    out.insert(
                        format!("bucket-{}/{}", e.bucket, e.file.file_name),
                        e.file.file_size as u64,
                    );
                }
            }
        }
    }
}

/// The changelog manifest list, its manifests and the changelog files of `s` (tables in
/// these tests with changelogs are unpartitioned: files sit in `bucket-<b>/`).
async fn changelog_refs(
    table: &Table,
    table_dir: &Path,
    s: &Snapshot,
    out: &mut BTreeMap<String, u64>,
) {
    let Some(list) = &s.changelog_manifest_list else {
        return;
    };
    let rel = format!("manifest/{list}");
    let Ok(bytes) = std::fs::read(table_dir.join(&rel)) else {
        return;
    };
    out.insert(rel, bytes.len() as u64);
    for m in read_manifest_list(&bytes).unwrap() {
        out.insert(format!("manifest/{}", m.file_name), m.file_size as u64);
        let bytes = std::fs::read(table_dir.join("manifest").join(&m.file_name)).unwrap();
        for e in strata_format::manifest::read_manifest_entries(&bytes).unwrap() {
            assert!(table.schema().partition_keys.is_empty());
            out.insert(
                format!("bucket-{}/{}", e.bucket, e.file.file_name),
                e.file.file_size as u64,
            );
        }
    }
}

/// Total bytes of a listing.
pub fn bytes(files: &BTreeMap<String, u64>) -> u64 {
    files.values().sum()
}

/// Every referenced file exists; with `exact`, nothing else does either.
pub async fn check_files(table: &Table, table_dir: &Path, exact: bool, context: &str) {
    let want = referenced(table, table_dir).await;
    let have = list_files(table_dir);
    for (path, size) in &want {
        assert_eq!(
            have.get(path),
            Some(size),
            "{context}: referenced file {path} missing or resized"
        );
    }
    if exact {
        let extra: Vec<&String> = have.keys().filter(|p| !want.contains_key(*p)).collect();
        assert!(
            extra.is_empty(),
            "{context}: unreferenced files remain: {extra:?}"
        );
    }
}
