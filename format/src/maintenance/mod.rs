//! Table maintenance: snapshot expiry, changelog retention, tags, rollback and orphan
//! cleanup. Storage must not grow without bound, and cleaning up must never break a reader
//! of a retained snapshot or delete a live file; `spec/maintenance.md` states what each
//! operation deletes, in which order, and why that is safe.
//!
//! Every operation follows one pattern: a set of *candidate* files (needed only by what
//! goes away) minus a set of *protected* files (read from what stays: the first retained
//! snapshot, every tag, retained changelogs), deleted data first, then manifests, then the
//! metadata file that named them. A crash between steps leaves extra files, never missing
//! ones, and a rerun finishes the job.
//!
//! The CLI and the compactor daemon run the same code through [`Maintenance`]:
//!
//! ```no_run
//! # async fn f(table: strata_format::table::Table) -> strata_format::Result<()> {
//! use strata_format::maintenance::Maintenance;
//! let m = Maintenance::new(table);
//! m.create_tag("before-migration", None, None).await?;
//! let report = m.run_scheduled().await?; // auto tags, tag TTLs, expiry, consumers
//! println!("expired {} snapshots", report.snapshots.expired_count());
//! # Ok(()) }
//! ```

pub mod auto_tag;
pub mod changelog;
pub mod consumer;
pub mod delete;
pub mod expire;
pub mod orphan;
pub mod refs;
pub mod rollback;
pub mod tag;

use std::sync::Arc;
use std::time::Duration;

use crate::commit::{Clock, SystemClock};
use crate::error::Result;
use crate::table::Table;

pub use auto_tag::AutoTagReport;
pub use changelog::{ChangelogExpiry, ChangelogManager, ChangelogRetention};
pub use consumer::{Consumer, ConsumerManager};
pub use delete::{Removed, RemovedFiles};
pub use expire::{ExpireConfig, ExpireReport};
pub use orphan::{OrphanReport, DEFAULT_OLDER_THAN};
pub use rollback::RollbackReport;
pub use tag::{Tag, TagDeletion, TagManager};

/// What [`Maintenance::run_scheduled`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduledReport {
    pub auto_tags: AutoTagReport,
    /// Tags deleted because their `tagTimeRetained` passed.
    pub expired_tags: Vec<TagDeletion>,
    pub snapshots: ExpireReport,
    pub changelogs: ChangelogExpiry,
    /// Consumers deleted by `consumer.expiration-time`.
    pub expired_consumers: Vec<String>,
}

/// The maintenance operations of one table, with an injectable clock.
#[derive(Clone)]
pub struct Maintenance {
    table: Table,
    clock: Arc<dyn Clock>,
}

impl Maintenance {
    pub fn new(table: Table) -> Self {
        Maintenance {
            table,
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` for retention decisions and tag times (tests pin it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Expiry settings from the table options.
    pub fn expire_config(&self) -> ExpireConfig {
        ExpireConfig::from_options(self.table.options())
    }

    /// Expires snapshots with `config` (see [`expire`]).
    pub async fn expire_snapshots(&self, config: ExpireConfig) -> Result<ExpireReport> {
        expire::SnapshotExpiry::new(&self.table, config, self.clock.as_ref())
            .run()
            .await
    }

    /// Expires long-lived changelogs per the table's `changelog.*` options.
    pub async fn expire_changelogs(&self) -> Result<ChangelogExpiry> {
        let o = self.table.options();
        let retention = ChangelogRetention {
            retain_min: o.changelog_num_retained_min(),
            retain_max: o.changelog_num_retained_max(),
            time_retained: o.changelog_time_retained(),
            max_deletes: o.snapshot_expire_limit(),
            consumer_protects: true,
        };
        changelog::expire_changelogs(&self.table, retention, self.clock.as_ref()).await
    }

    pub fn tags(&self) -> TagManager {
        TagManager::new(self.table.clone())
    }

    pub fn consumers(&self) -> ConsumerManager {
        ConsumerManager::new(self.table.clone())
    }

    /// Tags `name` on snapshot `snapshot_id` (default: the latest).
    pub async fn create_tag(
        &self,
        name: &str,
        snapshot_id: Option<i64>,
        time_retained: Option<Duration>,
    ) -> Result<Tag> {
        self.tags()
            .create(name, snapshot_id, time_retained, self.clock.now_millis())
            .await
    }

    pub async fn delete_tag(&self, name: &str) -> Result<TagDeletion> {
        self.tags().delete(name).await
    }

    pub async fn rollback_to_snapshot(&self, id: i64) -> Result<RollbackReport> {
        rollback::rollback_to_snapshot(&self.table, id).await
    }

    pub async fn rollback_to_tag(&self, name: &str) -> Result<RollbackReport> {
        rollback::rollback_to_tag(&self.table, name).await
    }

    /// Deletes (or with `dry_run` lists) unreferenced files older than `older_than`.
    pub async fn remove_orphans(
        &self,
        older_than: Duration,
        dry_run: bool,
    ) -> Result<OrphanReport> {
        orphan::OrphanCleanup::new(&self.table, older_than, dry_run, self.clock.as_ref())
            .run()
            .await
    }

    /// Creates due automatic tags (`tag.automatic-creation`).
    pub async fn create_auto_tags(&self) -> Result<AutoTagReport> {
        auto_tag::create_auto_tags(&self.table, self.clock.now_millis()).await
    }

    /// One scheduled pass, in the order that keeps what each step protects: automatic
    /// tags first (a snapshot must be tagged before it may expire), tags past their
    /// retention, consumers past `consumer.expiration-time`, snapshots, then changelogs.
    pub async fn run_scheduled(&self) -> Result<ScheduledReport> {
        self.run_scheduled_with(self.expire_config()).await
    }

    /// [`Maintenance::run_scheduled`] with snapshot retention `config` (CLI overrides).
    pub async fn run_scheduled_with(&self, config: ExpireConfig) -> Result<ScheduledReport> {
        let auto_tags = self.create_auto_tags().await?;
        let expired_tags = self.tags().expire_by_time(self.clock.now_millis()).await?;
        let expired_consumers = match self.table.options().consumer_expiration_time() {
            Some(ttl) => {
                let older =
                    self.clock.now_millis() - i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
                self.consumers().expire(older).await?
            }
            None => Vec::new(),
        };
        let snapshots = self.expire_snapshots(config).await?;
        let changelogs = self.expire_changelogs().await?;
        Ok(ScheduledReport {
            auto_tags,
            expired_tags,
            snapshots,
            changelogs,
            expired_consumers,
        })
    }
}
