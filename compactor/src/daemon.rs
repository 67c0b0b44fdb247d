//! The compaction daemon (`strata compactor`, and inside `strata serve`).
//!
//! ```text
//!  every cycle:  catalog ──► primary-key tables with fixed buckets
//!                  │ latest snapshot unchanged and nothing pending ──► skip the table
//!                  ▼
//!                live files per bucket ──► sorted runs (metric) ──► plan::pick ──► job?
//!                  ▼
//!                jobs by need (most runs first), at most `parallelism` at once
//!                  │ committed ──► metrics      │ conflict / error ──► bucket backs off
//!                  ▼
//!                work done? next cycle at once : sleep `poll_interval`
//! ```
//!
//! The daemon keeps no state of its own on storage: everything it needs is in the table
//! (live files, levels, creation times of last-level files). After a restart it simply
//! plans again; a compaction cut short by a crash left only unreferenced files. What it
//! keeps in memory is a cache (which snapshot each table was last planned at), backoffs,
//! and the commits counted per bucket for `full-compaction.delta-commits` (counting starts
//! again after a restart, which can only delay such a full compaction).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_format::catalog::{Catalog, Identifier};
use strata_format::compact::plan::sorted_run_count;
use strata_format::compact::{BucketRequest, CompactReport, Compactor};
use strata_format::lookup::{CacheLimits, LookupCache};
use strata_format::maintenance::DEFAULT_OLDER_THAN;
use strata_format::options::CoreOptions;
use strata_format::snapshot::CommitKind;
use strata_format::table::Table;
use strata_format::{Error, ErrorKind, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::maintain::{self, Schedule};
use crate::metrics::{self, Labels, Metrics};

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// How long to wait after a cycle that found nothing to do.
    pub poll_interval: Duration,
    /// Buckets compacted at the same time.
    pub parallelism: usize,
    /// Where to serve `GET /metrics`; `None` for no endpoint.
    pub metrics_bind: Option<SocketAddr>,
    /// Prefix of the commit users of the COMPACT snapshots (one user per table).
    pub commit_user: String,
    /// The longest a bucket waits after conflicts or errors before it is tried again.
    pub max_backoff: Duration,
    /// How often each table's scheduled maintenance runs (automatic tags, tag and consumer
    /// expiry, snapshot and changelog expiry); `None` turns it off.
    pub maintenance_interval: Option<Duration>,
    /// How often each table's orphan cleanup runs; `None` turns it off.
    pub orphan_interval: Option<Duration>,
    /// Orphan cleanup removes only unreferenced files older than this.
    pub orphan_older_than: Duration,
    /// The directory of the lookup files deletion-vector and first-row compactions build;
    /// `None` is a fresh temporary directory, removed when the daemon stops.
    pub lookup_cache_dir: Option<PathBuf>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            poll_interval: Duration::from_secs(5),
            parallelism: 2,
            metrics_bind: None,
            commit_user: format!("strata-compactor-{}", uuid::Uuid::new_v4()),
            max_backoff: Duration::from_secs(60),
            maintenance_interval: Some(Duration::from_secs(10 * 60)),
            orphan_interval: Some(Duration::from_secs(24 * 3600)),
            orphan_older_than: DEFAULT_OLDER_THAN,
            lookup_cache_dir: None,
        }
    }
}

/// A running daemon; [`DaemonHandle::stop`] ends it after the compactions in flight.
pub struct DaemonHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    maintenance: tokio::task::JoinHandle<()>,
    server: Option<tokio::task::JoinHandle<()>>,
    metrics: Arc<Metrics>,
    metrics_addr: Option<SocketAddr>,
}

impl DaemonHandle {
    /// The metrics the daemon updates.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The address the metrics endpoint listens on (useful with port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Asks the daemon to stop and waits for it: compactions in flight finish (or fail)
    /// first, so nothing is left half done that a restart would not clean up anyway.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = self.maintenance.await;
        if let Some(server) = self.server {
            let _ = server.await;
        }
    }
}

/// Starts the daemon over every table of `catalog`'s warehouse.
pub async fn start(catalog: Catalog, config: DaemonConfig) -> Result<DaemonHandle> {
    let metrics = Metrics::new();
    let (stop, stop_rx) = watch::channel(false);
    let (server, metrics_addr) = match config.metrics_bind {
        None => (None, None),
        Some(addr) => {
            let listener = metrics::bind(addr).await?;
            let bound = listener.local_addr().ok();
            let task = tokio::spawn(metrics::serve(listener, metrics.clone(), stop_rx.clone()));
            (Some(task), bound)
        }
    };
    let limits = CacheLimits::from_options(&CoreOptions::from_map(Vec::<(&str, &str)>::new())?);
    let lookup_cache = Arc::new(match &config.lookup_cache_dir {
        Some(dir) => LookupCache::open(dir, limits)?,
        None => LookupCache::temporary(limits)?,
    });
    tracing::info!(
        warehouse = %catalog.storage().uri(),
        parallelism = config.parallelism,
        metrics = ?metrics_addr,
        lookup_cache = %lookup_cache.dir().display(),
        maintenance_interval = ?config.maintenance_interval,
        orphan_interval = ?config.orphan_interval,
        "compactor started"
    );
    let schedule = Schedule {
        interval: config.maintenance_interval,
        orphan_interval: config.orphan_interval,
        orphan_older_than: config.orphan_older_than,
    };
    let maintenance = tokio::spawn(maintain::run(
        catalog.clone(),
        schedule,
        metrics.clone(),
        stop_rx.clone(),
    ));
    let daemon = Daemon {
        catalog,
        config,
        metrics: metrics.clone(),
        tables: BTreeMap::new(),
        stop: stop_rx,
        lookup_cache,
    };
    let task = tokio::spawn(daemon.run());
    Ok(DaemonHandle {
        stop,
        task,
        maintenance,
        server,
        metrics,
        metrics_addr,
    })
}

struct Daemon {
    catalog: Catalog,
    config: DaemonConfig,
    metrics: Arc<Metrics>,
    tables: BTreeMap<Identifier, TableState>,
    stop: watch::Receiver<bool>,
    /// One lookup cache for every table's compactions (one per process, as it should be).
    lookup_cache: Arc<LookupCache>,
}

/// What the daemon remembers about a table between cycles.
struct TableState {
    compactor: Arc<Compactor>,
    schema_id: i64,
    /// The snapshot the table was last planned at, and whether anything was left to do.
    planned_at: Option<i64>,
    pending: bool,
    buckets: HashMap<(Vec<u8>, i32), BucketState>,
}

#[derive(Default)]
struct BucketState {
    commits_since_full: u64,
    failures: u32,
    retry_at: Option<Instant>,
    stalled: bool,
}

/// A finished job: its table, partition, bucket, partition path and outcome.
type JobResult = (
    Identifier,
    Vec<u8>,
    i32,
    String,
    Result<Option<CompactReport>>,
);

/// One bucket to compact.
struct Job {
    table: Identifier,
    compactor: Arc<Compactor>,
    partition: Vec<u8>,
    partition_path: String,
    bucket: i32,
    runs: usize,
    request: BucketRequest,
}

impl Daemon {
    async fn run(mut self) {
        while !self.stopped() {
            let jobs = self.plan_cycle().await;
            let worked = !jobs.is_empty();
            self.run_jobs(jobs).await;
            if !worked && !self.stopped() {
                let mut stop = self.stop.clone();
                tokio::select! {
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        tracing::info!("compactor stopped");
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Finds the buckets that need compaction now, most sorted runs first.
    async fn plan_cycle(&mut self) -> Vec<Job> {
        let ids = match self.discover().await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the warehouse's tables");
                self.metrics
                    .inc(metrics::ERRORS, vec![("table", String::new())], 1.0);
                return Vec::new();
            }
        };
        self.tables.retain(|id, _| ids.contains(id));
        self.metrics.retain(metrics::SORTED_RUNS, |l| {
            ids.iter().any(|id| has_table(l, id))
        });
        let mut jobs = Vec::new();
        for id in ids {
            match self.plan_table(&id).await {
                Ok(mut table_jobs) => jobs.append(&mut table_jobs),
                Err(e) => {
                    tracing::warn!(table = %id, error = %e, "cannot plan compaction");
                    self.metrics.inc(metrics::ERRORS, table_label(&id), 1.0);
                }
            }
        }
        let watched = self.tables.len();
        self.metrics
            .set(metrics::TABLES, Vec::new(), watched as f64);
        jobs.sort_by_key(|j| std::cmp::Reverse(j.runs));
        jobs
    }

    async fn discover(&self) -> Result<Vec<Identifier>> {
        let mut out = Vec::new();
        for db in self.catalog.list_databases().await? {
            for t in self.catalog.list_tables(&db).await? {
                out.push(Identifier::new(db.clone(), t)?);
            }
        }
        Ok(out)
    }

    async fn plan_table(&mut self, id: &Identifier) -> Result<Vec<Job>> {
        let table = self.catalog.load_table(id).await?;
        if !compactable(&table) {
            self.tables.remove(id);
            return Ok(Vec::new());
        }
        let latest = table.snapshot_manager().latest_id().await?;
        let schema_id = table.schema().id;
        let state = match self.tables.get_mut(id) {
            Some(s) if s.schema_id == schema_id => s,
            _ => {
                tracing::info!(table = %id, schema = schema_id, "watching table");
                let user = format!("{}-{id}", self.config.commit_user);
                let compactor = Arc::new(
                    Compactor::new(table.clone(), user)?
                        .with_lookup_cache(self.lookup_cache.clone()),
                );
                self.tables.insert(
                    id.clone(),
                    TableState {
                        compactor,
                        schema_id,
                        planned_at: None,
                        pending: true,
                        buckets: HashMap::new(),
                    },
                );
                self.tables
                    .get_mut(id)
                    .ok_or_else(|| Error::internal("table state"))?
            }
        };
        if latest.is_none() || (latest == state.planned_at && !state.pending) {
            return Ok(Vec::new());
        }
        let appends = count_appends(&table, state.planned_at, latest).await?;
        let compactor = state.compactor.clone();
        let options = *compactor.options();
        let splits = compactor.splits().await?;
        let now = Instant::now();
        let mut jobs = Vec::new();
        let mut pending = false;
        let mut present = Vec::new();
        for split in splits {
            let key = (split.partition.clone(), split.bucket);
            present.push(key.clone());
            let bucket = state.buckets.entry(key).or_default();
            bucket.commits_since_full += appends;
            let runs = sorted_run_count(&split.files);
            let labels = bucket_labels(id, &split.partition_path.as_relative(), split.bucket);
            self.metrics.set(metrics::SORTED_RUNS, labels, runs as f64);
            let stalled = runs >= options.stop_trigger;
            if stalled && !bucket.stalled {
                self.metrics
                    .inc(metrics::WRITE_STALLS, table_label(id), 1.0);
            }
            bucket.stalled = stalled;
            let request = BucketRequest {
                full: false,
                commits_since_full: bucket.commits_since_full,
            };
            if compactor.plan(&split, request).is_none() {
                continue;
            }
            if bucket.retry_at.is_some_and(|t| t > now) {
                pending = true;
                continue;
            }
            jobs.push(Job {
                table: id.clone(),
                compactor: compactor.clone(),
                partition: split.partition.clone(),
                partition_path: split.partition_path.as_relative(),
                bucket: split.bucket,
                runs,
                request,
            });
        }
        state.buckets.retain(|k, _| present.contains(k));
        let stalled = state.buckets.values().filter(|b| b.stalled).count();
        self.metrics
            .set(metrics::STALLED_BUCKETS, table_label(id), stalled as f64);
        state.planned_at = latest;
        // Jobs leave the table pending until they ran: the next cycle looks again.
        state.pending = pending || !jobs.is_empty();
        Ok(jobs)
    }

    async fn run_jobs(&mut self, jobs: Vec<Job>) {
        let mut queue = jobs.into_iter();
        let mut running: JoinSet<JobResult> = JoinSet::new();
        loop {
            while running.len() < self.config.parallelism.max(1) && !self.stopped() {
                let Some(job) = queue.next() else { break };
                running.spawn(async move {
                    let result = job
                        .compactor
                        .compact_bucket(&job.partition, job.bucket, job.request)
                        .await;
                    (
                        job.table,
                        job.partition,
                        job.bucket,
                        job.partition_path,
                        result,
                    )
                });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            match done {
                Ok((table, partition, bucket, path, result)) => {
                    self.finish(&table, partition, bucket, &path, result)
                }
                Err(e) => tracing::error!(error = %e, "a compaction task panicked"),
            }
        }
    }

    fn finish(
        &mut self,
        table: &Identifier,
        partition: Vec<u8>,
        bucket: i32,
        path: &str,
        result: Result<Option<CompactReport>>,
    ) {
        let max_backoff = self.config.max_backoff;
        let state = self
            .tables
            .get_mut(table)
            .and_then(|t| t.buckets.get_mut(&(partition, bucket)));
        let labels = table_label(table);
        match result {
            Ok(None) => {}
            Ok(Some(report)) => {
                let m = &self.metrics;
                let reason = vec![
                    ("table", table.to_string()),
                    ("reason", report.reason.as_str().to_string()),
                ];
                m.inc(metrics::COMPACTIONS, reason, 1.0);
                m.inc(
                    metrics::ROWS_READ,
                    labels.clone(),
                    report.stats.rows_read as f64,
                );
                m.inc(
                    metrics::ROWS_WRITTEN,
                    labels.clone(),
                    report.stats.rows_written as f64,
                );
                m.inc(
                    metrics::BYTES_READ,
                    labels.clone(),
                    report.stats.bytes_read as f64,
                );
                m.inc(
                    metrics::BYTES_WRITTEN,
                    labels.clone(),
                    report.stats.bytes_written as f64,
                );
                m.inc(
                    metrics::FILES_UPGRADED,
                    labels.clone(),
                    report.stats.files_upgraded as f64,
                );
                m.inc(
                    metrics::CONFLICTS,
                    labels.clone(),
                    f64::from(report.conflicts),
                );
                m.observe(metrics::LATENCY, labels, report.elapsed.as_secs_f64());
                m.set(
                    metrics::SORTED_RUNS,
                    bucket_labels(table, path, bucket),
                    report.runs_after as f64,
                );
                if let Some(s) = state {
                    s.failures = 0;
                    s.retry_at = None;
                    if report.full {
                        s.commits_since_full = 0;
                    }
                }
            }
            Err(e) => {
                let conflict = e.kind() == ErrorKind::CommitConflict;
                if conflict {
                    self.metrics.inc(metrics::CONFLICTS, labels, 1.0);
                } else {
                    self.metrics.inc(metrics::ERRORS, labels, 1.0);
                }
                if let Some(s) = state {
                    s.failures += 1;
                    let wait = backoff(s.failures, max_backoff);
                    s.retry_at = Some(Instant::now() + wait);
                    tracing::warn!(
                        table = %table, partition = path, bucket, error = %e,
                        retry_in_ms = wait.as_millis() as u64,
                        "compaction failed; backing off"
                    );
                }
            }
        }
    }
}

/// Exponential backoff with jitter: 1 s, 2 s, 4 s, … up to `max`.
fn backoff(failures: u32, max: Duration) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let capped = base.min(max);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u64;
    capped / 2 + Duration::from_millis(jitter * capped.as_millis() as u64 / 2000)
}

/// Tables the daemon compacts: primary keys and fixed buckets (what Strata writes).
fn compactable(table: &Table) -> bool {
    !table.schema().primary_keys.is_empty() && table.options().bucket() >= 1
}

/// APPEND snapshots after `from` up to `to` (the last 1000 at most).
async fn count_appends(table: &Table, from: Option<i64>, to: Option<i64>) -> Result<u64> {
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(0);
    };
    let sm = table.snapshot_manager();
    let mut n = 0;
    for id in (from + 1).max(to - 999)..=to {
        match sm.snapshot(id).await {
            Ok(s) if s.commit_kind == CommitKind::Append => n += 1,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn table_label(id: &Identifier) -> Labels {
    vec![("table", id.to_string())]
}

fn bucket_labels(id: &Identifier, partition: &str, bucket: i32) -> Labels {
    vec![
        ("table", id.to_string()),
        ("partition", partition.to_string()),
        ("bucket", bucket.to_string()),
    ]
}

fn has_table(labels: &Labels, id: &Identifier) -> bool {
    labels
        .iter()
        .any(|(k, v)| *k == "table" && *v == id.to_string())
}
