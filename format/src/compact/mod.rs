//! LSM compaction of primary-key buckets: plan (pure) → execute → commit.
//!
//! ```text
//!  latest snapshot ──► bucket's live files ──► plan::level_runs ──► plan::pick ──► unit?
//!        ▲                                                                   │ none ──► done
//!        │                                                                   ▼
//!        │                              execute: upgrades + streaming merges ──► new files
//!        │                                                                   │
//!        │                                                                   ▼
//!        │          format::commit: COMPACT snapshot (DELETE inputs, ADD outputs)
//!        │                │ committed ──► done
//!        └── re-plan ◄────┘ conflict (I2: an input is gone; I5: a level overlaps):
//!                           outputs deleted, nothing published
//! ```
//!
//! The mechanism lives here, in `format`, because both the writer (which compacts its own
//! buckets unless `write-only`) and the compactor daemon use it and must not depend on each
//! other; they only choose *when* to call [`Compactor::compact_bucket`].
//!
//! Safety against concurrent writers comes from the commit: a compaction publishes only if
//! every input file is still live in the snapshot it builds on (invariant I2) and the
//! output level stays free of overlaps (I5). Files appended meanwhile are at level 0 and
//! newer than anything compacted, so they stay as they are. A compaction that loses the
//! race deletes its own outputs and plans again from the new latest snapshot (or finds
//! nothing left to do); it never removes a file it did not merge.
//!
//! Crash windows have failpoints: `compact.after-first-output` (some outputs uploaded) and
//! `compact.before-commit` (all uploaded, nothing committed), besides the commit's own.
//! Either leaves only unreferenced files; the next run plans from storage again.

pub mod changelog;
pub mod execute;
pub mod lookup;
pub mod plan;

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::commit::{Clock, CommitMessage, SystemClock, TableCommit};
use crate::error::{Error, ErrorKind, Result};
use crate::failpoint;
use crate::lookup::{CacheLimits, LookupCache};
use crate::options::ChangelogProducer;
use crate::paths::PartitionPath;
use crate::read::DEFAULT_BATCH_SIZE;
use crate::scan::{Split, TableScan};
use crate::snapshot::Snapshot;
use crate::table::Table;
use crate::write::data_file::local_millis;

pub use execute::{CompactOutput, CompactStats};
pub use plan::{CompactUnit, LevelRun, PlanContext, PlanOptions, Reason};

/// Attempts (plan, execute, commit) before a bucket's compaction gives up on conflicts.
const DEFAULT_MAX_ATTEMPTS: u32 = 4;

/// What one committed compaction did.
#[derive(Debug, Clone)]
pub struct CompactReport {
    pub partition_path: PartitionPath,
    pub partition: Vec<u8>,
    pub bucket: i32,
    /// The COMPACT snapshot.
    pub snapshot_id: i64,
    pub reason: Reason,
    pub output_level: i32,
    /// The unit held every run: the bucket is one run at the last level now.
    pub full: bool,
    /// Sorted runs of the bucket before and after.
    pub runs_before: usize,
    pub runs_after: usize,
    pub files_before: usize,
    pub files_after: usize,
    pub stats: CompactStats,
    /// Commit conflicts met (each followed by a fresh plan).
    pub conflicts: u32,
    pub elapsed: Duration,
}

/// What a caller asks of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketRequest {
    /// Compact everything into the last level.
    pub full: bool,
    /// Commits that touched the bucket since its last full compaction, as the caller
    /// counted them (for `full-compaction.delta-commits`).
    pub commits_since_full: u64,
}

/// Compacts the buckets of one table; see the module docs.
pub struct Compactor {
    table: Table,
    commit: TableCommit,
    options: PlanOptions,
    clock: Arc<dyn Clock>,
    batch_size: usize,
    max_attempts: u32,
    next_identifier: AtomicI64,
    /// Local lookup files for deletion-vector and `first-row` compactions: the one given,
    /// or a private temporary cache made on first need.
    lookup_cache: std::sync::Mutex<Option<Arc<LookupCache>>>,
}

impl Compactor {
    /// `commit_user` names the compactions' snapshots; each compactor should have its own.
    pub fn new(table: Table, commit_user: impl Into<String>) -> Result<Self> {
        let options = PlanOptions::from_options(table.options())
            .map_err(|e| e.context(format!("table '{}'", table.identifier())))?;
        // The compaction changelog compares merged reads before and after a compaction;
        // with deletion vectors the "after" side would still see the old vectors.
        let producer = match table.options().changelog_producer() {
            ChangelogProducer::Lookup => Some("lookup"),
            ChangelogProducer::FullCompaction => Some("full-compaction"),
            ChangelogProducer::None | ChangelogProducer::Input => None,
        };
        if let (true, Some(producer)) = (table.options().deletion_vectors_enabled(), producer) {
            return Err(Error::unsupported(format!(
                "table '{}' has 'deletion-vectors.enabled' with 'changelog-producer' = '{}';                  Strata does not produce compaction changelogs for deletion-vector tables yet:                  use 'changelog-producer' = 'input' or disable deletion vectors",
                table.identifier(),
                producer
            )));
        }
        let commit = TableCommit::new(table.clone(), commit_user)?;
        Ok(Compactor {
            table,
            commit,
            options,
            clock: Arc::new(SystemClock),
            batch_size: DEFAULT_BATCH_SIZE,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            next_identifier: AtomicI64::new(1),
            lookup_cache: std::sync::Mutex::new(None),
        })
    }

    /// The lookup cache for compactions that look keys up (one per process is best; see
    /// [`LookupCache`]). Without one, a temporary cache is made when first needed and
    /// removed with the compactor.
    pub fn with_lookup_cache(self, cache: Arc<LookupCache>) -> Self {
        *self.lookup_cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(cache);
        self
    }

    fn lookup_cache(&self) -> Result<Arc<LookupCache>> {
        let mut slot = self.lookup_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cache) = slot.as_ref() {
            return Ok(cache.clone());
        }
        let cache = Arc::new(LookupCache::temporary(CacheLimits::from_options(
            self.table.options(),
        ))?);
        *slot = Some(cache.clone());
        Ok(cache)
    }

    /// The clock for file times, snapshot times and the interval rule (tests pin it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.commit = self.commit.with_clock(clock.clone());
        self.clock = clock;
        self
    }

    /// Plans tried per bucket before a conflict is returned.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn options(&self) -> &PlanOptions {
        &self.options
    }

    pub fn commit_user(&self) -> &str {
        self.commit.commit_user()
    }

    /// Now on the clock file creation times use (the writer's local wall clock), for
    /// [`PlanContext::now_millis`].
    pub fn now_millis(&self) -> i64 {
        local_millis(self.clock.now_millis())
    }

    /// The live files of every bucket at the latest snapshot.
    pub async fn splits(&self) -> Result<Vec<Split>> {
        Ok(TableScan::new(self.table.clone()).plan().await?.splits)
    }

    /// The live files of one bucket at the latest snapshot, if it has any.
    pub async fn split(&self, partition: &[u8], bucket: i32) -> Result<Option<Split>> {
        Ok(self.split_at(partition, bucket).await?.map(|(_, s)| s))
    }

    /// The latest snapshot and the live files of one bucket in it, if it has any.
    async fn split_at(&self, partition: &[u8], bucket: i32) -> Result<Option<(Snapshot, Split)>> {
        let plan = TableScan::new(self.table.clone())
            .with_partitions(HashSet::from([partition.to_vec()]))
            .plan()
            .await?;
        let Some(snapshot) = plan.snapshot else {
            return Ok(None);
        };
        Ok(plan
            .splits
            .into_iter()
            .find(|s| s.partition == partition && s.bucket == bucket)
            .map(|s| (snapshot, s)))
    }

    /// The planner's context for `split`: the request, the current time, and the bucket's
    /// last full compaction as its files show it (the newest file at the last level).
    pub fn context_for(&self, split: &Split, request: BucketRequest) -> PlanContext {
        PlanContext {
            full_requested: request.full,
            now_millis: self.now_millis(),
            last_full_millis: last_full_compaction(split, &self.options),
            commits_since_full: request.commits_since_full,
        }
    }

    /// Whether the bucket of `split` needs a compaction now.
    pub fn plan(&self, split: &Split, request: BucketRequest) -> Option<CompactUnit> {
        let runs = plan::level_runs(&split.files);
        plan::pick(&runs, &self.options, &self.context_for(split, request))
    }

    /// Plans one bucket from the latest snapshot and, if it needs compaction, executes and
    /// commits it. A conflict re-plans from the new latest snapshot, up to the attempt
    /// limit; `Ok(None)` means there was nothing (left) to do.
    pub async fn compact_bucket(
        &self,
        partition: &[u8],
        bucket: i32,
        request: BucketRequest,
    ) -> Result<Option<CompactReport>> {
        let started = Instant::now();
        let mut conflicts = 0;
        loop {
            let Some((snapshot, split)) = self.split_at(partition, bucket).await? else {
                return Ok(None);
            };
            let Some(unit) = self.plan(&split, request) else {
                return Ok(None);
            };
            match self.run_unit(&snapshot, &split, &unit).await {
                Ok((snapshot_id, out)) => {
                    let report = self.report(&split, &unit, snapshot_id, &out, conflicts, started);
                    tracing::info!(
                        table = %self.table.identifier(),
                        partition = %report.partition_path.as_relative(),
                        bucket,
                        snapshot = snapshot_id,
                        reason = unit.reason.as_str(),
                        output_level = unit.output_level,
                        runs_before = report.runs_before,
                        runs_after = report.runs_after,
                        rows_read = out.stats.rows_read,
                        rows_written = out.stats.rows_written,
                        "compacted"
                    );
                    return Ok(Some(report));
                }
                Err(e) if e.kind() == ErrorKind::CommitConflict => {
                    conflicts += 1;
                    tracing::info!(
                        table = %self.table.identifier(),
                        partition = %split.partition_path.as_relative(),
                        bucket,
                        conflicts,
                        error = %e,
                        "compaction lost a race; planning again"
                    );
                    if conflicts >= self.max_attempts {
                        return Err(e.context(format!(
                            "compaction of '{}' bucket {bucket} gave up after {conflicts} conflicts",
                            self.table.identifier()
                        )));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Compacts every bucket that needs it (all of them with `full`) once, one after
    /// another.
    pub async fn compact_table(&self, full: bool) -> Result<Vec<CompactReport>> {
        let mut reports = Vec::new();
        let request = BucketRequest {
            full,
            commits_since_full: 0,
        };
        for split in self.splits().await? {
            if let Some(r) = self
                .compact_bucket(&split.partition, split.bucket, request)
                .await?
            {
                reports.push(r);
            }
        }
        Ok(reports)
    }

    /// Executes and commits one unit of `split` (planned at `snapshot`); returns the
    /// COMPACT snapshot id and what was done.
    async fn run_unit(
        &self,
        snapshot: &Snapshot,
        split: &Split,
        unit: &CompactUnit,
    ) -> Result<(i64, CompactOutput)> {
        let lookup = if lookup::uses_lookup(&self.table) {
            let cache = self.lookup_cache()?;
            lookup::UnitLookup::open(
                &self.table,
                snapshot,
                split,
                &unit.files,
                unit.output_level,
                cache,
            )
            .await?
        } else {
            None
        };
        let out = execute::execute(
            &self.table,
            split,
            unit,
            &self.options,
            self.clock.clone(),
            self.batch_size,
            lookup,
        )
        .await?;
        failpoint::hit("compact.before-commit");
        let mut message = CommitMessage {
            partition: split.partition.clone(),
            bucket: split.bucket,
            total_buckets: split.total_buckets,
            compact_before: out.before.clone(),
            compact_after: out.after.clone(),
            compact_changelog_files: out.changelog.clone(),
            ..CommitMessage::default()
        };
        out.index_changes.clone().apply_to(&mut message);
        let identifier = self.next_identifier.fetch_add(1, Ordering::Relaxed);
        match self.commit.commit(identifier, vec![message]).await {
            Ok(ids) => {
                let id = ids
                    .last()
                    .copied()
                    .ok_or_else(|| Error::internal("a compaction commit created no snapshot"))?;
                Ok((id, out))
            }
            Err(e) => {
                // Rejected before publishing: the outputs are ours alone. Other failures
                // (storage errors) may hide a landed snapshot, so the files are left.
                if matches!(e.kind(), ErrorKind::CommitConflict | ErrorKind::DataInvalid) {
                    for w in &out.written {
                        if let Err(e) = self.table.storage().delete(&w.path).await {
                            tracing::warn!(path = %w.path, error = %e, "could not delete an uncommitted compaction output");
                        }
                    }
                    for f in &out.index_changes.new_index_files {
                        let path = self.table.paths().index_file(&f.file_name);
                        if let Err(e) = self.table.storage().delete(&path).await {
                            tracing::warn!(path = %path, error = %e, "could not delete an uncommitted index file");
                        }
                    }
                }
                Err(e)
            }
        }
    }

    fn report(
        &self,
        split: &Split,
        unit: &CompactUnit,
        snapshot_id: i64,
        out: &CompactOutput,
        conflicts: u32,
        started: Instant,
    ) -> CompactReport {
        let replaced: HashSet<(&str, i32)> = out
            .before
            .iter()
            .map(|f| (f.file_name.as_str(), f.level))
            .collect();
        let after = split
            .files
            .iter()
            .filter(|f| !replaced.contains(&(f.file_name.as_str(), f.level)))
            .chain(out.after.iter());
        CompactReport {
            partition_path: split.partition_path.clone(),
            partition: split.partition.clone(),
            bucket: split.bucket,
            snapshot_id,
            reason: unit.reason,
            output_level: unit.output_level,
            full: unit.drop_deletes,
            runs_before: plan::sorted_run_count(&split.files),
            runs_after: plan::sorted_run_count(after),
            files_before: out.before.len(),
            files_after: out.after.len(),
            stats: out.stats,
            conflicts,
            elapsed: started.elapsed(),
        }
    }
}

/// When a bucket was last fully compacted, as its files tell: the newest creation time
/// among files at the last level (only a unit holding every run outputs there).
pub fn last_full_compaction(split: &Split, options: &PlanOptions) -> Option<i64> {
    split
        .files
        .iter()
        .filter(|f| f.level == options.max_level())
        .filter_map(|f| f.creation_time)
        .max()
}
