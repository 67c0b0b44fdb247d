//! Compaction as the writer sees it: keeping buckets under `num-sorted-run.stop-trigger`,
//! and compacting its own buckets unless the table is `write-only`.
//!
//! - Every APPEND commit is admitted only if no bucket it adds to ends above the stop
//!   trigger (checked by `format::commit` against the exact base, see
//!   `TableCommit::with_run_limit`). Before committing, a bucket that would overshoot is
//!   made room in: compacted by this writer, or, with `write-only`, waited for until a
//!   compactor (`strata compactor`) has compacted it. Waiting is a write stall.
//! - After a commit, a writer without `write-only` compacts each bucket it wrote to once if
//!   the universal rules call for it (and every `full-compaction.delta-commits` commits),
//!   using the one mechanism in `strata_format::compact`. Its failure (e.g. a concurrent
//!   compactor won) only logs: the data is committed already. For `changelog-producer` =
//!   `lookup` that compaction produces the commit's changelog; with `lookup-wait` =
//!   `false` it is deferred to the start of the writer's next commit, so a commit returns
//!   without waiting for it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use strata_format::commit::{CommitMessage, TableCommit};
use strata_format::compact::plan::{sorted_run_count, PlanOptions};
use strata_format::compact::{BucketRequest, Compactor};
use strata_format::options::ChangelogProducer;
use strata_format::scan::TableScan;
use strata_format::table::Table;
use strata_format::{Error, ErrorKind, Result};

/// Commit attempts when admissions fail because others filled the bucket meanwhile (and
/// for at least the stall timeout).
const MAX_ADMISSION_ATTEMPTS: u32 = 20;
/// Compactions a writer runs to make room before it reports a stall it cannot clear.
const MAX_ROOM_ROUNDS: u32 = 50;
/// How long a `write-only` writer waits for a compactor before giving up.
const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(600);

/// The stop trigger for [`TableCommit::with_run_limit`], when the table's options parse.
pub(crate) fn run_limit(table: &Table) -> Option<usize> {
    PlanOptions::from_options(table.options())
        .ok()
        .map(|o| o.stop_trigger)
}

type BucketKey = (Vec<u8>, i32);

/// The writer's compaction state; see the module docs.
pub(crate) struct WriterCompaction {
    table: Table,
    options: Option<PlanOptions>,
    /// `None` with `write-only`: a compactor elsewhere does the work.
    compactor: Option<Compactor>,
    /// Commits per bucket since this writer last compacted it fully.
    commits: HashMap<BucketKey, u64>,
    stall_timeout: Duration,
    /// `lookup` with `lookup-wait` = false: compactions wait for the next commit.
    defer: bool,
    /// Buckets written by the last commit whose compaction was deferred.
    deferred: Vec<BucketKey>,
}

impl WriterCompaction {
    pub fn new(table: &Table, commit_user: &str) -> Result<Self> {
        let options = PlanOptions::from_options(table.options()).ok();
        let compactor = if table.options().write_only() || options.is_none() {
            None
        } else {
            let user = format!("{commit_user}-compact-{}", uuid::Uuid::new_v4().simple());
            Some(Compactor::new(table.clone(), user)?)
        };
        Ok(WriterCompaction {
            table: table.clone(),
            options,
            compactor,
            commits: HashMap::new(),
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            defer: table.options().changelog_producer() == ChangelogProducer::Lookup
                && !table.options().lookup_wait(),
            deferred: Vec::new(),
        })
    }

    /// Commits `messages`, making room in full buckets first and again whenever the
    /// commit's admission finds a bucket filled meanwhile; then compacts what needs it.
    pub async fn commit(
        &mut self,
        commit: &TableCommit,
        identifier: i64,
        messages: Vec<CommitMessage>,
    ) -> Result<Vec<i64>> {
        let deferred = std::mem::take(&mut self.deferred);
        self.compact_buckets(&deferred).await;
        let mut attempt = 0;
        let started = Instant::now();
        let committed = loop {
            attempt += 1;
            self.make_room(&messages).await?;
            match commit.commit(identifier, messages.clone()).await {
                // Losing the room to another writer is no failure: several writers waiting
                // for one compactor lose it often. Give up only after many attempts and
                // the time a stall may last.
                Err(e)
                    if e.kind() == ErrorKind::CommitConflict
                        && (attempt < MAX_ADMISSION_ATTEMPTS
                            || started.elapsed() < self.stall_timeout) =>
                {
                    tracing::debug!(error = %e, attempt, "commit not admitted; making room again");
                }
                other => break other?,
            }
        };
        let written: Vec<BucketKey> = messages
            .iter()
            .filter(|m| !m.new_files.is_empty())
            .map(|m| (m.partition.clone(), m.bucket))
            .collect();
        if self.defer {
            self.deferred = written;
        } else {
            self.compact_buckets(&written).await;
        }
        Ok(committed)
    }

    /// Waits or compacts until every bucket of `messages` can take its new files.
    async fn make_room(&mut self, messages: &[CommitMessage]) -> Result<()> {
        let Some(options) = self.options else {
            return Ok(());
        };
        let started = Instant::now();
        let mut wait = Duration::from_millis(20);
        let mut warned = false;
        let mut rounds = 0;
        loop {
            let full = self.full_buckets(messages, options.stop_trigger).await?;
            if full.is_empty() {
                break;
            }
            match &self.compactor {
                Some(compactor) => {
                    rounds += 1;
                    if rounds > MAX_ROOM_ROUNDS {
                        return Err(Error::internal(format!(
                            "write stall: {} buckets of '{}' stay over \
                             num-sorted-run.stop-trigger after {MAX_ROOM_ROUNDS} compactions",
                            full.len(),
                            self.table.identifier()
                        )));
                    }
                    for (partition, bucket) in &full {
                        // Universal picks first; a bucket still over after two rounds (its
                        // new files alone nearly fill the allowance) is compacted fully,
                        // which leaves one run, always admitted.
                        let request = BucketRequest {
                            full: rounds > 2,
                            ..BucketRequest::default()
                        };
                        if let Err(e) = compactor.compact_bucket(partition, *bucket, request).await
                        {
                            // Someone else compacting the same bucket is progress too.
                            if e.kind() != ErrorKind::CommitConflict {
                                return Err(e);
                            }
                        }
                    }
                }
                None => {
                    if started.elapsed() > self.stall_timeout {
                        return Err(Error::new(
                            ErrorKind::Unavailable,
                            format!(
                                "write stall: '{}' is write-only and {} of its buckets stayed at \
                                 num-sorted-run.stop-trigger ({}) for {}s; run `strata compactor` \
                                 (or `strata compact`) for this warehouse",
                                self.table.identifier(),
                                full.len(),
                                options.stop_trigger,
                                started.elapsed().as_secs()
                            ),
                        ));
                    }
                    if !warned && started.elapsed() > Duration::from_secs(5) {
                        warned = true;
                        tracing::warn!(
                            table = %self.table.identifier(),
                            buckets = full.len(),
                            "write stall: waiting for a compactor"
                        );
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
        Ok(())
    }

    /// Buckets of `messages` whose live runs plus the new files exceed `limit`, among
    /// those with more than one run (see `TableCommit::with_run_limit`).
    async fn full_buckets(
        &self,
        messages: &[CommitMessage],
        limit: usize,
    ) -> Result<Vec<BucketKey>> {
        let mut added: BTreeMap<BucketKey, usize> = BTreeMap::new();
        for m in messages {
            *added.entry((m.partition.clone(), m.bucket)).or_default() += m.new_files.len();
        }
        if added.is_empty() {
            return Ok(Vec::new());
        }
        let Some(snapshot) = self.table.snapshot_manager().latest().await? else {
            return Ok(Vec::new());
        };
        let partitions: HashSet<Vec<u8>> = added.keys().map(|k| k.0.clone()).collect();
        let entries = TableScan::new(self.table.clone())
            .with_partitions(partitions)
            .live_entries(&snapshot)
            .await?;
        let mut files: HashMap<BucketKey, Vec<_>> = HashMap::new();
        for e in &entries {
            files
                .entry((e.partition.clone(), e.bucket))
                .or_default()
                .push(&e.file);
        }
        Ok(added
            .into_iter()
            .filter(|(key, new)| {
                let runs = files
                    .get(key)
                    .map_or(0, |f| sorted_run_count(f.iter().copied()));
                runs > 1 && runs + new > limit
            })
            .map(|(key, _)| key)
            .collect())
    }

    /// Compacts each bucket once, if it needs it (not with `write-only`). Failures only
    /// log: the data is committed already.
    async fn compact_buckets(&mut self, buckets: &[BucketKey]) {
        let Some(compactor) = &self.compactor else {
            return;
        };
        for key in buckets {
            let commits = self.commits.entry(key.clone()).or_default();
            *commits += 1;
            let request = BucketRequest {
                full: false,
                commits_since_full: *commits,
            };
            match compactor.compact_bucket(&key.0, key.1, request).await {
                Ok(Some(report)) => {
                    if report.full {
                        self.commits.insert(key.clone(), 0);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    table = %self.table.identifier(),
                    bucket = key.1,
                    error = %e,
                    "compaction after commit failed; the data is committed, the bucket is \
                     compacted later"
                ),
            }
        }
    }
}
