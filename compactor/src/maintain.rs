//! Scheduled maintenance inside the daemon: every `maintenance_interval`, each table of the
//! warehouse gets one [`Maintenance::run_scheduled`] pass (automatic tags, tags past their
//! retention, expired consumers, snapshot and changelog expiry, as `strata expire` does);
//! every `orphan_interval`, one orphan cleanup (`strata remove-orphans`) with the configured
//! age threshold.
//!
//! It runs as its own task beside the compaction loop, so a slow expiry never delays
//! compaction; the operations of one table run one after another, never two at once
//! (`spec/maintenance.md`: "run the maintenance operations of one table one after another,
//! as the daemon does"). Expiry and orphan cleanup are safe beside writers, compactors and
//! readers. A table's first pass runs as soon as the daemon finds it; a failure is logged
//! and counted, and the table is tried again at its next turn.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_format::catalog::{Catalog, Identifier};
use strata_format::maintenance::{Maintenance, RemovedFiles, ScheduledReport};
use strata_format::Result;
use tokio::sync::watch;

use crate::metrics::{self, Labels, Metrics};

/// When maintenance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Between scheduled passes of one table; `None` is off.
    pub interval: Option<Duration>,
    /// Between orphan cleanups of one table; `None` is off.
    pub orphan_interval: Option<Duration>,
    /// Orphan cleanup removes only files older than this.
    pub orphan_older_than: Duration,
}

#[derive(Default)]
struct Due {
    scheduled: Option<Instant>,
    orphans: Option<Instant>,
}

/// Runs until `stop` turns true.
pub(crate) async fn run(
    catalog: Catalog,
    schedule: Schedule,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(tick) = [schedule.interval, schedule.orphan_interval]
        .into_iter()
        .flatten()
        .min()
    else {
        return;
    };
    // Check often enough for the shorter interval, but never spin.
    let tick = (tick / 4).clamp(Duration::from_millis(10), Duration::from_secs(30));
    let mut due: HashMap<Identifier, Due> = HashMap::new();
    while !*stop.borrow() {
        match tables(&catalog).await {
            Ok(ids) => {
                due.retain(|id, _| ids.contains(id));
                for id in ids {
                    if *stop.borrow() {
                        break;
                    }
                    let next = due.entry(id.clone()).or_default();
                    maintain(&catalog, &id, &schedule, next, &metrics).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "maintenance cannot list the warehouse's tables");
                metrics.inc(metrics::MAINTENANCE_ERRORS, table_label(""), 1.0);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn tables(catalog: &Catalog) -> Result<Vec<Identifier>> {
    let mut out = Vec::new();
    for db in catalog.list_databases().await? {
        for t in catalog.list_tables(&db).await? {
            out.push(Identifier::new(db.clone(), t)?);
        }
    }
    Ok(out)
}

/// One table's turn: whatever is due.
async fn maintain(
    catalog: &Catalog,
    id: &Identifier,
    schedule: &Schedule,
    due: &mut Due,
    metrics: &Metrics,
) {
    let now = Instant::now();
    let scheduled = schedule
        .interval
        .filter(|_| due.scheduled.is_none_or(|t| t <= now));
    let orphans = schedule
        .orphan_interval
        .filter(|_| due.orphans.is_none_or(|t| t <= now));
    if scheduled.is_none() && orphans.is_none() {
        return;
    }
    let table = match catalog.load_table(id).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(table = %id, error = %e, "maintenance cannot load the table");
            metrics.inc(
                metrics::MAINTENANCE_ERRORS,
                table_label(&id.to_string()),
                1.0,
            );
            return;
        }
    };
    let maintenance = Maintenance::new(table);
    let labels = table_label(&id.to_string());
    if let Some(interval) = scheduled {
        due.scheduled = Some(now + interval);
        match maintenance.run_scheduled().await {
            Ok(report) => record_scheduled(id, &report, metrics),
            Err(e) => {
                tracing::warn!(table = %id, error = %e, "scheduled maintenance failed");
                metrics.inc(metrics::MAINTENANCE_ERRORS, labels.clone(), 1.0);
            }
        }
    }
    if let Some(interval) = orphans {
        due.orphans = Some(now + interval);
        match maintenance
            .remove_orphans(schedule.orphan_older_than, false)
            .await
        {
            Ok(report) => {
                metrics.inc(metrics::ORPHAN_RUNS, labels.clone(), 1.0);
                removed(
                    metrics,
                    id,
                    "orphan",
                    report.removed.files,
                    report.removed.bytes,
                );
                if report.removed.files > 0 {
                    tracing::info!(
                        table = %id,
                        files = report.removed.files,
                        bytes = report.removed.bytes,
                        "removed orphan files"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(table = %id, error = %e, "orphan cleanup failed");
                metrics.inc(metrics::MAINTENANCE_ERRORS, labels, 1.0);
            }
        }
    }
}

fn record_scheduled(id: &Identifier, report: &ScheduledReport, metrics: &Metrics) {
    let labels = table_label(&id.to_string());
    metrics.inc(metrics::MAINTENANCE_RUNS, labels.clone(), 1.0);
    let expired = report.snapshots.expired_count();
    metrics.inc(metrics::SNAPSHOTS_EXPIRED, labels.clone(), expired as f64);
    let created = report.auto_tags.created.len();
    metrics.inc(metrics::TAGS_CREATED, labels.clone(), created as f64);
    let deleted = report.auto_tags.deleted.len() + report.expired_tags.len();
    metrics.inc(metrics::TAGS_DELETED, labels, deleted as f64);
    let mut files = RemovedFiles::default();
    files.add(&report.snapshots.removed);
    files.add(&report.changelogs.removed);
    for t in report
        .auto_tags
        .deleted
        .iter()
        .chain(report.expired_tags.iter())
    {
        files.add(&t.removed);
    }
    for (kind, r) in files.by_kind() {
        removed(metrics, id, kind, r.files, r.bytes);
    }
    let total = files.total();
    if expired > 0 || created > 0 || deleted > 0 || total.files > 0 {
        tracing::info!(
            table = %id,
            snapshots_expired = expired,
            tags_created = created,
            tags_deleted = deleted,
            consumers_expired = report.expired_consumers.len(),
            files_removed = total.files,
            bytes_removed = total.bytes,
            "maintained"
        );
    }
}

fn removed(metrics: &Metrics, id: &Identifier, kind: &str, files: u64, bytes: u64) {
    let labels = || -> Labels { vec![("table", id.to_string()), ("kind", kind.to_string())] };
    metrics.inc(metrics::FILES_REMOVED, labels(), files as f64);
    metrics.inc(metrics::BYTES_REMOVED, labels(), bytes as f64);
}

fn table_label(id: &str) -> Labels {
    vec![("table", id.to_string())]
}
