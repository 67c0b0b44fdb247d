//! One table, now: `strata compact DB.T [--full]`. Every bucket that needs compaction is
//! compacted until the universal rules are satisfied (or once, fully, with `full`), with
//! a bounded number of buckets in flight.

use std::sync::Arc;

use strata_format::catalog::Identifier;
use strata_format::compact::{BucketRequest, CompactReport, Compactor};
use strata_format::scan::Split;
use strata_format::table::Table;
use strata_format::{Error, Result};

/// Compactions of one bucket in one call, at most: each takes two runs or more into one,
/// so a bucket runs out of work well before this.
const MAX_ROUNDS: usize = 32;

/// How to compact a table.
#[derive(Debug, Clone)]
pub struct TableRequest {
    /// Compact every bucket into the last level.
    pub full: bool,
    /// Buckets compacted at the same time.
    pub parallelism: usize,
    /// The commit user of the COMPACT snapshots; default `strata-compact-<uuid>`.
    pub commit_user: Option<String>,
}

impl Default for TableRequest {
    fn default() -> Self {
        TableRequest {
            full: false,
            parallelism: 2,
            commit_user: None,
        }
    }
}

/// What [`compact_table`] did.
#[derive(Debug, Clone)]
pub struct TableSummary {
    pub table: Identifier,
    /// Buckets with live files.
    pub buckets: usize,
    /// One report per committed compaction, by bucket.
    pub reports: Vec<CompactReport>,
}

impl TableSummary {
    /// Buckets that were compacted at least once.
    pub fn buckets_compacted(&self) -> usize {
        let mut seen: Vec<(&[u8], i32)> = self
            .reports
            .iter()
            .map(|r| (r.partition.as_slice(), r.bucket))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// The COMPACT snapshots created, ascending.
    pub fn snapshots(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.reports.iter().map(|r| r.snapshot_id).collect();
        ids.sort_unstable();
        ids
    }

    /// One line for people: what was compacted and which snapshots hold it.
    pub fn to_line(&self) -> String {
        if self.reports.is_empty() {
            return format!(
                "nothing to compact in {} ({} {})",
                self.table,
                self.buckets,
                plural(self.buckets, "bucket")
            );
        }
        let sum = |f: fn(&CompactReport) -> u64| self.reports.iter().map(f).sum::<u64>();
        let before = sum(|r| r.files_before as u64);
        let after = sum(|r| r.files_after as u64);
        let moved = sum(|r| r.stats.files_upgraded as u64);
        let ids: Vec<String> = self.snapshots().iter().map(|i| i.to_string()).collect();
        format!(
            "compacted {}: {} of {} {}, {before} {} replaced by {after} ({moved} moved up a level \
             without rewriting), {} rows read, {} rows written; {} {}",
            self.table,
            self.buckets_compacted(),
            self.buckets,
            plural(self.buckets, "bucket"),
            plural(before as usize, "file"),
            sum(|r| r.stats.rows_read),
            sum(|r| r.stats.rows_written),
            plural(ids.len(), "snapshot"),
            ids.join(", ")
        )
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// Compacts every bucket of `table` that needs it; see the module docs.
pub async fn compact_table(table: Table, request: &TableRequest) -> Result<TableSummary> {
    let user = request
        .commit_user
        .clone()
        .unwrap_or_else(|| format!("strata-compact-{}", uuid::Uuid::new_v4()));
    let identifier = table.identifier().clone();
    let compactor = Arc::new(Compactor::new(table, user)?);
    let splits = compactor.splits().await?;
    let buckets = splits.len();
    let full = request.full;
    // Tasks, not just futures: merging and encoding are CPU work.
    let mut queue = splits.into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut per_bucket = Vec::new();
    loop {
        while running.len() < request.parallelism.max(1) {
            let Some(split) = queue.next() else { break };
            let compactor = compactor.clone();
            running.spawn(async move { compact_until_done(&compactor, &split, full).await });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let reports =
            done.map_err(|e| Error::internal(format!("a compaction task failed: {e}")))??;
        per_bucket.push(reports);
    }
    let mut reports: Vec<CompactReport> = per_bucket.into_iter().flatten().collect();
    reports.sort_by(|a, b| {
        (&a.partition, a.bucket, a.snapshot_id).cmp(&(&b.partition, b.bucket, b.snapshot_id))
    });
    Ok(TableSummary {
        table: identifier,
        buckets,
        reports,
    })
}

/// Compacts one bucket until it needs nothing more (or once, fully).
pub async fn compact_until_done(
    compactor: &Compactor,
    split: &Split,
    full: bool,
) -> Result<Vec<CompactReport>> {
    let mut out = Vec::new();
    for round in 0..MAX_ROUNDS {
        let request = BucketRequest {
            full: full && round == 0,
            commits_since_full: 0,
        };
        match compactor
            .compact_bucket(&split.partition, split.bucket, request)
            .await?
        {
            Some(report) => out.push(report),
            None => break,
        }
        if full {
            break;
        }
    }
    Ok(out)
}
