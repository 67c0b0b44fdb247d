//! Publishing snapshots: the only code that makes new data visible.
//!
//! ```text
//!  writer / compactor                      format::commit
//!  ──────────────────                      ─────────────────────────────────────────────
//!  data files uploaded ──► CommitMessage ──► write the delta manifest (once)
//!                                             │
//!                                             ▼
//!                         ┌──────────► read the latest snapshot N
//!                         │                   │ already applied (user, identifier)? ──► done
//!                         │                   ▼
//!                         │            conflict checks + invariants (spec/invariants.md)
//!                         │                   │ violated ──► CommitConflict / DataInvalid
//!                         │                   ▼
//!                         │            write manifest lists (base = N's base + delta, merged)
//!                         │                   ▼
//!                         │            create snapshot-(N+1) if not exists
//!                         │                   │ someone else created it
//!                         └── backoff ◄───────┘
//!                                             │ created
//!                                             ▼
//!                                      LATEST hint (advisory) ──► done
//! ```
//!
//! A crash anywhere before the create leaves only unreferenced files (orphans); a crash
//! after it leaves a complete snapshot. Nothing is ever renamed over an existing object.

pub mod index;
pub mod invariants;
mod manifests;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, ErrorKind, Result};
use crate::failpoint;
use crate::manifest::{
    DataFileMeta, FileKind, IndexFileMeta, ManifestCompression, ManifestEntry, ManifestFileMeta,
};
use crate::scan::TableScan;
use crate::snapshot::{CommitKind, Snapshot, SnapshotManager, SNAPSHOT_VERSION};
use crate::table::Table;

pub use index::IndexChanges;
pub use manifests::ManifestWriter;

/// Milliseconds since the epoch; injected so tests can be deterministic.
pub trait Clock: Send + Sync {
    fn now_millis(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The files one writer (or compaction) changed in one bucket of one partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitMessage {
    /// Serialized partition BinaryRow (with the arity prefix), as manifests store it.
    pub partition: Vec<u8>,
    pub bucket: i32,
    pub total_buckets: i32,
    /// New level-0 files from writes.
    pub new_files: Vec<DataFileMeta>,
    /// Files a compaction replaced, and what replaced them.
    pub compact_before: Vec<DataFileMeta>,
    pub compact_after: Vec<DataFileMeta>,
    /// Changelog files produced with the new files (`input` producer); they go into the
    /// APPEND snapshot's changelog manifest list.
    pub changelog_files: Vec<DataFileMeta>,
    /// Changelog files a compaction produced (`lookup`, `full-compaction`); they go into
    /// the COMPACT snapshot's changelog manifest list.
    pub compact_changelog_files: Vec<DataFileMeta>,
    /// Index files added to this bucket (e.g. its new deletion-vector file).
    pub new_index_files: Vec<IndexFileMeta>,
    /// Index files of this bucket that the new ones replace, as read from the base
    /// snapshot; they must still be live when the commit lands (invariant I10).
    pub deleted_index_files: Vec<IndexFileMeta>,
}

impl CommitMessage {
    pub fn is_empty(&self) -> bool {
        self.new_files.is_empty()
            && self.compact_before.is_empty()
            && self.compact_after.is_empty()
            && self.changelog_files.is_empty()
            && self.compact_changelog_files.is_empty()
            && self.new_index_files.is_empty()
            && self.deleted_index_files.is_empty()
    }
}

/// Retry settings (`commit.max-retries`, `commit.min-retry-wait`, `commit.max-retry-wait`).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub min_wait: Duration,
    pub max_wait: Duration,
}

/// Commits for one writer identity (`commitUser`).
pub struct TableCommit {
    table: Table,
    commit_user: String,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    manifests: ManifestWriter,
    /// Identifiers this committer has tried before: only those can have landed already.
    attempted: std::sync::Mutex<HashSet<i64>>,
    /// Most sorted runs an APPEND may leave in a bucket it adds to (writers that honour
    /// `num-sorted-run.stop-trigger`).
    run_limit: Option<usize>,
}

/// What one attempt ended with.
enum Attempt {
    Committed(i64),
    /// Another committer created the snapshot id first: refresh and retry.
    Lost,
}

impl TableCommit {
    pub fn new(table: Table, commit_user: impl Into<String>) -> Result<Self> {
        let options = table.options();
        let retry = RetryPolicy {
            max_retries: options.commit_max_retries().max(0) as u32,
            min_wait: options.commit_min_retry_wait(),
            max_wait: options.commit_max_retry_wait(),
        };
        let compression = ManifestCompression::from_option(options.manifest_compression())?;
        let manifests = ManifestWriter::new(table.clone(), compression);
        Ok(TableCommit {
            table,
            commit_user: commit_user.into(),
            clock: Arc::new(SystemClock),
            retry,
            manifests,
            attempted: Default::default(),
            run_limit: None,
        })
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Rejects an APPEND that would leave more than `limit` sorted runs in a bucket it
    /// adds files to (`CommitConflict`, nothing published), unless the bucket had at most
    /// one run before: compaction cannot make room there. Checked against the exact base
    /// of every attempt, so concurrent writers cannot overshoot together.
    pub fn with_run_limit(mut self, limit: Option<usize>) -> Self {
        self.run_limit = limit;
        self
    }

    pub fn commit_user(&self) -> &str {
        &self.commit_user
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Commits `messages` under `identifier`. Appends and compactions become separate
    /// snapshots (APPEND first, then COMPACT), as Paimon does; each carries its own
    /// changelog files in its changelog manifest list; index changes go with the
    /// compaction (with the append when there is none). Returns the ids created, or the ids
    /// of an earlier attempt with the same (user, identifier) that already landed.
    pub async fn commit(&self, identifier: i64, messages: Vec<CommitMessage>) -> Result<Vec<i64>> {
        let mut append = Vec::new();
        let mut changelog = Vec::new();
        let mut compact = Vec::new();
        let mut compact_changelog = Vec::new();
        for m in &messages {
            invariants::check_message(m)?;
            let entry = |kind, file: &DataFileMeta| ManifestEntry {
                kind,
                partition: m.partition.clone(),
                bucket: m.bucket,
                total_buckets: m.total_buckets,
                file: file.clone(),
            };
            append.extend(m.new_files.iter().map(|f| entry(FileKind::Add, f)));
            changelog.extend(m.changelog_files.iter().map(|f| entry(FileKind::Add, f)));
            compact.extend(m.compact_before.iter().map(|f| entry(FileKind::Delete, f)));
            compact.extend(m.compact_after.iter().map(|f| entry(FileKind::Add, f)));
            compact_changelog.extend(
                m.compact_changelog_files
                    .iter()
                    .map(|f| entry(FileKind::Add, f)),
            );
        }
        let index = IndexChanges::from_messages(&messages);
        let index_with_append = compact.is_empty() && !append.is_empty();
        let mut created = Vec::new();
        if !append.is_empty() || !changelog.is_empty() {
            let index = if index_with_append {
                index.clone()
            } else {
                IndexChanges::default()
            };
            created.push(
                self.commit_kind(identifier, CommitKind::Append, append, changelog, index)
                    .await?,
            );
        }
        if !compact.is_empty()
            || !compact_changelog.is_empty()
            || (!index.is_empty() && !index_with_append)
        {
            created.push(
                self.commit_kind(
                    identifier,
                    CommitKind::Compact,
                    compact,
                    compact_changelog,
                    index,
                )
                .await?,
            );
        }
        Ok(created)
    }

    async fn commit_kind(
        &self,
        identifier: i64,
        kind: CommitKind,
        delta: Vec<ManifestEntry>,
        changelog: Vec<ManifestEntry>,
        index: IndexChanges,
    ) -> Result<i64> {
        let sm = self.table.snapshot_manager();
        // The delta does not depend on the base: write it once, reuse it on every retry.
        let delta_metas = self.manifests.write_entries(&delta).await?;
        let changelog_metas = self.manifests.write_entries(&changelog).await?;
        failpoint::hit("commit.after-delta-manifest");
        let retried = !self
            .attempted
            .lock()
            .map(|mut a| a.insert(identifier))
            .unwrap_or(true);
        // A first try can only have landed before if this identifier was tried already.
        let mut checked_up_to: Option<i64> = if retried { None } else { sm.latest_id().await? };
        let mut attempt = 0u32;
        loop {
            let latest = sm.latest().await?;
            if let Some(id) = self
                .find_applied(&sm, identifier, kind, latest.as_ref(), checked_up_to)
                .await?
            {
                return Ok(id);
            }
            checked_up_to = latest.as_ref().map(|s| s.id);
            match self
                .try_commit(
                    identifier,
                    kind,
                    &delta,
                    &delta_metas,
                    &changelog,
                    &changelog_metas,
                    &index,
                    latest,
                )
                .await?
            {
                Attempt::Committed(id) => return Ok(id),
                Attempt::Lost => {
                    attempt += 1;
                    if attempt > self.retry.max_retries {
                        return Err(Error::new(
                            ErrorKind::CommitConflict,
                            format!(
                                "commit to '{}' lost the race for a snapshot id {} times; \
                                 raise commit.max-retries or reduce concurrent committers",
                                self.table.identifier(),
                                attempt
                            ),
                        ));
                    }
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.retry.min_wait.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << attempt.min(16));
        let capped = exp.min(self.retry.max_wait.as_millis() as u64).max(1);
        // Jitter so racing committers spread out.
        let jitter = (uuid::Uuid::new_v4().as_u128() as u64) % capped.max(1);
        Duration::from_millis(capped / 2 + jitter / 2)
    }

    /// Looks for a snapshot of ours with this identifier that already landed (a retried
    /// commit whose earlier attempt succeeded), scanning only snapshots not yet checked.
    async fn find_applied(
        &self,
        sm: &SnapshotManager,
        identifier: i64,
        kind: CommitKind,
        latest: Option<&Snapshot>,
        checked_up_to: Option<i64>,
    ) -> Result<Option<i64>> {
        let Some(latest) = latest else {
            return Ok(None);
        };
        // On the first attempt only the tail matters: identifiers grow per user, so an
        // earlier landing of this identifier is among the recent snapshots.
        let from = match checked_up_to {
            Some(c) => c + 1,
            None => {
                let earliest = sm.earliest_id().await?.unwrap_or(1);
                (latest.id - DUPLICATE_SCAN_DEPTH).max(earliest)
            }
        };
        for id in (from..=latest.id).rev() {
            let s = if id == latest.id {
                latest.clone()
            } else {
                match sm.snapshot(id).await {
                    Ok(s) => s,
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            };
            if s.commit_user == self.commit_user
                && s.commit_identifier == identifier
                && s.commit_kind == kind
                && identifier != crate::snapshot::BATCH_COMMIT_IDENTIFIER
            {
                return Ok(Some(s.id));
            }
        }
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    async fn try_commit(
        &self,
        identifier: i64,
        kind: CommitKind,
        delta: &[ManifestEntry],
        delta_metas: &[ManifestFileMeta],
        changelog: &[ManifestEntry],
        changelog_metas: &[ManifestFileMeta],
        index: &IndexChanges,
        latest: Option<Snapshot>,
    ) -> Result<Attempt> {
        let table = &self.table;
        let schema_id = table
            .schema_manager()
            .latest()
            .await?
            .map(|s| s.id)
            .unwrap_or(0);

        // Base state of the partitions this commit touches.
        let mut previous_metas: Vec<ManifestFileMeta> = Vec::new();
        let mut base_entries: Vec<ManifestEntry> = Vec::new();
        if let Some(latest) = &latest {
            let partitions: HashSet<Vec<u8>> = delta
                .iter()
                .map(|e| &e.partition)
                .chain(index.partitions())
                .cloned()
                .collect();
            let scan = TableScan::new(table.clone()).with_partitions(partitions);
            base_entries = scan.live_entries(latest).await?;
            previous_metas = scan.manifest_metas(latest).await?;
        }
        invariants::check_commit(table, kind, schema_id, &base_entries, delta)?;
        let index_manifest = self
            .next_index_manifest(latest.as_ref(), index, &base_entries, delta)
            .await?;
        if let (CommitKind::Append, Some(limit)) = (kind, self.run_limit) {
            check_run_limit(table, &base_entries, delta, limit)?;
        }

        let base_metas = self.manifests.merge(previous_metas).await?;
        let base_list = self.manifests.write_list(&base_metas).await?;
        let delta_list = self.manifests.write_list(delta_metas).await?;
        let changelog_list = if changelog.is_empty() {
            None
        } else {
            Some(self.manifests.write_list(changelog_metas).await?)
        };

        let delta_count: i64 = delta
            .iter()
            .map(|e| match e.kind {
                FileKind::Add => e.file.row_count,
                FileKind::Delete => -e.file.row_count,
            })
            .sum();
        let previous_total = latest
            .as_ref()
            .and_then(|s| s.total_record_count)
            .unwrap_or(0);
        let id = latest.as_ref().map_or(1, |s| s.id + 1);
        let snapshot = Snapshot {
            version: SNAPSHOT_VERSION,
            id,
            schema_id,
            base_manifest_list: base_list.0.clone(),
            base_manifest_list_size: Some(base_list.1),
            delta_manifest_list: delta_list.0.clone(),
            delta_manifest_list_size: Some(delta_list.1),
            changelog_manifest_list: changelog_list.as_ref().map(|l| l.0.clone()),
            changelog_manifest_list_size: changelog_list.as_ref().map(|l| l.1),
            index_manifest: index_manifest.clone(),
            commit_user: self.commit_user.clone(),
            commit_identifier: identifier,
            commit_kind: kind,
            time_millis: self.clock.now_millis(),
            total_record_count: Some(previous_total + delta_count),
            delta_record_count: Some(delta_count),
            changelog_record_count: if changelog.is_empty() {
                None
            } else {
                Some(changelog.iter().map(|e| e.file.row_count).sum())
            },
            watermark: latest.as_ref().and_then(|s| s.watermark),
            statistics: None,
            properties: None,
            next_row_id: latest.as_ref().and_then(|s| s.next_row_id),
        };
        invariants::check_snapshot(latest.as_ref(), &snapshot)?;
        failpoint::hit("commit.before-snapshot");
        let path = table.paths().snapshot_file(id);
        let created = table
            .storage()
            .put_if_absent(&path, Bytes::from(snapshot.to_json()))
            .await?;
        if !created {
            // A retried PUT may report "exists" for our own landed write: check whose it is.
            if let Ok(existing) = table.snapshot_manager().snapshot(id).await {
                if existing.commit_user == snapshot.commit_user
                    && existing.base_manifest_list == snapshot.base_manifest_list
                {
                    table.snapshot_manager().write_latest_hint(id).await;
                    return Ok(Attempt::Committed(id));
                }
            }
            // Lost the race: our lists reference a base that is no longer the latest.
            self.manifests.discard_list(&base_list.0).await;
            self.manifests.discard_list(&delta_list.0).await;
            if let Some(l) = &changelog_list {
                self.manifests.discard_list(&l.0).await;
            }
            if !index.is_empty() {
                if let Some(name) = &index_manifest {
                    self.manifests.discard_list(name).await;
                }
            }
            return Ok(Attempt::Lost);
        }
        failpoint::hit("commit.after-snapshot");
        table.snapshot_manager().write_latest_hint(id).await;
        tracing::debug!(table = %table.identifier(), snapshot = id, ?kind, "committed");
        Ok(Attempt::Committed(id))
    }
}

impl TableCommit {
    /// The index manifest of the next snapshot: inherited when `index` is empty, else the
    /// previous state ⊕ the changes, checked against I10 and written as a new file.
    async fn next_index_manifest(
        &self,
        latest: Option<&Snapshot>,
        index: &IndexChanges,
        base: &[ManifestEntry],
        delta: &[ManifestEntry],
    ) -> Result<Option<String>> {
        let inherited = latest.and_then(|s| s.index_manifest.clone());
        if index.is_empty() {
            return Ok(inherited);
        }
        let previous = match latest {
            Some(s) => crate::deletion::index_entries(&self.table, s).await?,
            None => Vec::new(),
        };
        let combined = index::combine(&previous, index)?;
        let live: HashSet<(Vec<u8>, i32, String)> =
            crate::manifest::merge_entries(base.iter().chain(delta).cloned())?
                .into_iter()
                .filter(|e| e.kind == FileKind::Add)
                .map(|e| (e.partition, e.bucket, e.file.file_name))
                .collect();
        index::check_vectors_reference_live_files(index, &live)?;
        Ok(Some(self.manifests.write_index_manifest(&combined).await?))
    }
}

/// The stop-trigger admission of [`TableCommit::with_run_limit`].
fn check_run_limit(
    table: &Table,
    base: &[ManifestEntry],
    delta: &[ManifestEntry],
    limit: usize,
) -> Result<()> {
    // (partition, bucket) → (files before, files added).
    type Files<'a> = (Vec<&'a DataFileMeta>, Vec<&'a DataFileMeta>);
    let mut buckets: BTreeMap<(&[u8], i32), Files> = BTreeMap::new();
    for e in delta.iter().filter(|e| e.kind == FileKind::Add) {
        buckets
            .entry((e.partition.as_slice(), e.bucket))
            .or_default()
            .1
            .push(&e.file);
    }
    for e in base {
        if let Some(b) = buckets.get_mut(&(e.partition.as_slice(), e.bucket)) {
            b.0.push(&e.file);
        }
    }
    for ((_, bucket), (before, added)) in buckets {
        let runs_before = crate::compact::plan::sorted_run_count(before.iter().copied());
        let runs_after =
            crate::compact::plan::sorted_run_count(before.iter().chain(added.iter()).copied());
        if runs_after > limit && runs_before > 1 {
            return Err(Error::new(
                ErrorKind::CommitConflict,
                format!(
                    "write stall: bucket {bucket} of '{}' would have {runs_after} sorted runs, \
                     more than num-sorted-run.stop-trigger ({limit}); it must be compacted first",
                    table.identifier()
                ),
            ));
        }
    }
    Ok(())
}

/// How many recent snapshots a first attempt scans for an earlier landing of itself.
const DUPLICATE_SCAN_DEPTH: i64 = 100;

/// Groups messages' files by (partition, bucket) for reporting.
pub fn files_by_bucket(messages: &[CommitMessage]) -> BTreeMap<(Vec<u8>, i32), usize> {
    let mut out = BTreeMap::new();
    for m in messages {
        *out.entry((m.partition.clone(), m.bucket)).or_default() +=
            m.new_files.len() + m.compact_after.len();
    }
    out
}
