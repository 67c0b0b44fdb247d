//! Snapshot expiry: removes the oldest snapshots and every file only they needed.
//!
//! ```text
//!  earliest ........ end-1 | end ........ latest
//!  └── expired ──────────┘ └── retained ───────┘
//!
//!  1. plan      end = first snapshot kept (num-retained.max/min, time-retained of the
//!               NEXT snapshot, consumers, expire.limit)
//!  2. data      files removed from the table by the deltas of (earliest, end],
//!               minus the live files of `end` and of every tag            → delete
//!  3. changelog changelog files of [earliest, end) (unless changelogs outlive snapshots)
//!  4. manifests manifests, lists, index manifests and index files of [earliest, end),
//!               minus everything `end` and the tags reference             → delete
//!  5. snapshots (copy to changelog/changelog-<id> when decoupled) delete snapshot-<id>
//!               in ascending order
//!  6. EARLIEST  hint = end
//! ```
//!
//! Why no retained snapshot loses a file: file names are never reused and a file, once a
//! snapshot's delta has removed it, never comes back in a later snapshot. So a file that
//! an expired snapshot and a retained one both need is live in every snapshot between
//! them, `end` included; and a manifest or index file shared by an expired and a retained
//! snapshot is referenced by `end` too, because every snapshot's lists are built from its
//! predecessor's. Protecting `end` and the tags therefore protects every retained
//! snapshot. Tags matter because a tag may hold a snapshot the range expires.
//!
//! Why a crash is harmless: data files go first, then manifests, then snapshot files,
//! so a crash leaves every snapshot from `end` on complete, and the expired snapshots that
//! remain still name what was not deleted yet. A rerun plans again from the snapshot files
//! that remain; objects already gone count as done. Failpoints at the windows:
//! `expire.after-plan`, `expire.mid-data`, `expire.after-data`, `expire.mid-manifests`,
//! `expire.after-manifests`, `expire.mid-snapshots`, `expire.before-earliest-hint`.

use std::collections::HashSet;
use std::time::Duration;

use object_store::path::Path;

use super::changelog::ChangelogManager;
use super::consumer::ConsumerManager;
use super::delete::{delete_files, Removed, RemovedFiles};
use super::refs::{FileRef, MetaRefs, Parts, RefReader};
use super::tag::TagManager;
use crate::commit::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::failpoint;
use crate::manifest::FileSource;
use crate::options::{ChangelogProducer, CoreOptions};
use crate::snapshot::Snapshot;
use crate::table::Table;

/// What to keep. [`ExpireConfig::from_options`] reads the table options; the CLI
/// overrides single fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireConfig {
    /// `snapshot.num-retained.min` (≥ 1): the newest snapshots always kept.
    pub retain_min: i32,
    /// `snapshot.num-retained.max`: at most this many snapshots kept.
    pub retain_max: i32,
    /// `snapshot.time-retained`: a snapshot goes only once its successor is this old.
    pub time_retained: Duration,
    /// `snapshot.expire.limit`: most snapshots expired in one run.
    pub max_deletes: i32,
    /// Changelogs outlive snapshots (see `changelog` module).
    pub changelog_decoupled: bool,
    /// `changelog-producer` is `none`: the changelog is the delta's files.
    pub changelog_from_delta: bool,
    /// Consumers hold snapshots (false with `consumer.changelog-only`).
    pub consumer_protects: bool,
}

impl ExpireConfig {
    pub fn from_options(options: &CoreOptions) -> Self {
        ExpireConfig {
            retain_min: options.snapshot_num_retained_min(),
            retain_max: options.snapshot_num_retained_max(),
            time_retained: options.snapshot_time_retained(),
            max_deletes: options.snapshot_expire_limit(),
            changelog_decoupled: options.changelog_lifecycle_decoupled(),
            changelog_from_delta: options.changelog_producer() == ChangelogProducer::None,
            consumer_protects: !options.consumer_changelog_only(),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.retain_min < 1 {
            return Err(Error::data_invalid(format!(
                "retain-min (snapshot.num-retained.min) must be at least 1, got {}",
                self.retain_min
            )));
        }
        if self.retain_max < self.retain_min {
            return Err(Error::data_invalid(format!(
                "retain-max (snapshot.num-retained.max) {} is less than retain-min \
                 (snapshot.num-retained.min) {}; raise the one or lower the other",
                self.retain_max, self.retain_min
            )));
        }
        if self.max_deletes < 1 {
            return Err(Error::data_invalid(format!(
                "snapshot.expire.limit must be at least 1, got {}",
                self.max_deletes
            )));
        }
        Ok(())
    }
}

/// What one expiry did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpireReport {
    /// Snapshot ids expired, `[first, end)`; `None` when nothing expired.
    pub expired: Option<(i64, i64)>,
    /// Snapshots kept afterwards, `(earliest, latest)`; `None` for a table without any.
    pub retained: Option<(i64, i64)>,
    /// Long-lived changelogs written for expired snapshots (decoupled changelogs).
    pub changelogs_written: u64,
    pub removed: RemovedFiles,
}

impl ExpireReport {
    /// Number of snapshots expired.
    pub fn expired_count(&self) -> i64 {
        self.expired.map_or(0, |(a, b)| b - a)
    }
}

/// Computes the first snapshot to keep; pure, so the policy is tested without IO.
/// `next_time(id)` is the commit time of snapshot `id` when it exists.
pub fn plan_end(
    config: &ExpireConfig,
    earliest: i64,
    latest: i64,
    consumer_min_next: Option<i64>,
    older_than_millis: i64,
    next_time: impl Fn(i64) -> Option<i64>,
) -> i64 {
    let min = (latest - i64::from(config.retain_max) + 1).max(earliest);
    let mut max_exclusive = latest - i64::from(config.retain_min) + 1;
    if config.consumer_protects {
        if let Some(next) = consumer_min_next {
            max_exclusive = max_exclusive.min(next);
        }
    }
    max_exclusive = max_exclusive.min(earliest.saturating_add(i64::from(config.max_deletes)));
    for id in min..max_exclusive {
        // A snapshot goes only once the snapshot after it is older than the retention:
        // then at any moment the snapshot that was current time-retained ago is kept.
        if let Some(t) = next_time(id + 1) {
            if older_than_millis <= t {
                return id.max(earliest);
            }
        }
    }
    max_exclusive.max(earliest)
}

/// The tags whose live files can include a file removed by a delta of `(begin, end]`:
/// those from the last tag at or before `begin` up to `end` (exclusive). A file removed at
/// `k` was live at `k − 1 ≥ begin`; if an older tag holds it too, it is live in every
/// snapshot between them (files never come back), so the last tag at or before `begin`
/// holds it as well. Tags at or after `end` cannot hold it. `tags` is sorted by id.
pub fn tags_in_range(tags: &[Snapshot], begin: i64, end: i64) -> Vec<&Snapshot> {
    let from = tags
        .iter()
        .rev()
        .find(|t| t.id <= begin)
        .map_or(begin, |t| t.id);
    tags.iter().filter(|t| t.id >= from && t.id < end).collect()
}

/// Expires the snapshots of one table; see the module docs.
pub struct SnapshotExpiry<'a> {
    table: &'a Table,
    config: ExpireConfig,
    clock: &'a dyn Clock,
}

impl<'a> SnapshotExpiry<'a> {
    pub fn new(table: &'a Table, config: ExpireConfig, clock: &'a dyn Clock) -> Self {
        SnapshotExpiry {
            table,
            config,
            clock,
        }
    }

    pub async fn run(&self) -> Result<ExpireReport> {
        self.config.validate()?;
        let sm = self.table.snapshot_manager();
        let Some(latest) = sm.latest_id().await? else {
            return Ok(ExpireReport::default());
        };
        let Some(earliest) = sm.earliest_id().await? else {
            return Ok(ExpireReport::default());
        };
        let consumer_min = if self.config.consumer_protects {
            ConsumerManager::new(self.table.clone())
                .min_next_snapshot()
                .await?
        } else {
            None
        };
        let older_than = self.clock.now_millis()
            - i64::try_from(self.config.time_retained.as_millis()).unwrap_or(i64::MAX);
        // Commit times of the candidates, read once (a missing one was expired meanwhile).
        let last = latest.min(earliest.saturating_add(i64::from(self.config.max_deletes)) + 1);
        let mut times = std::collections::HashMap::new();
        for id in earliest..=last {
            match sm.snapshot(id).await {
                Ok(s) => {
                    times.insert(id, s.time_millis);
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let end = plan_end(
            &self.config,
            earliest,
            latest,
            consumer_min,
            older_than,
            |id| times.get(&id).copied(),
        );
        let mut report = self.expire_until(earliest, end).await?;
        report.retained = Some((end.max(earliest), latest));
        Ok(report)
    }

    /// Expires `[earliest, end)`; `end` must exist.
    pub async fn expire_until(&self, earliest: i64, end: i64) -> Result<ExpireReport> {
        let sm = self.table.snapshot_manager();
        if end <= earliest {
            if !self
                .table
                .storage()
                .exists(&self.table.paths().earliest_hint())
                .await?
            {
                sm.write_earliest_hint(earliest).await;
            }
            return Ok(ExpireReport::default());
        }
        let end_snapshot = sm.snapshot(end).await?;
        let mut expired: Vec<Snapshot> = Vec::new();
        for id in earliest..end {
            match sm.snapshot(id).await {
                Ok(s) => expired.push(s),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let tags: Vec<Snapshot> = TagManager::new(self.table.clone())
            .list()
            .await?
            .into_iter()
            .map(|t| t.snapshot)
            .collect();
        failpoint::hit("expire.after-plan");

        let reader = RefReader::new(self.table.clone());
        let storage = self.table.storage();
        let mut removed = RemovedFiles::default();

        // Data files: removed by the deltas of (earliest, end], kept by no anchor.
        let mut anchors: Vec<&Snapshot> = vec![&end_snapshot];
        anchors.extend(tags.iter());
        let mut data_anchors: Vec<&Snapshot> = vec![&end_snapshot];
        data_anchors.extend(tags_in_range(&tags, earliest, end));
        let mut protected: HashSet<Path> = HashSet::new();
        for a in &data_anchors {
            protected.extend(reader.live_files(a).await?);
            protected.extend(
                reader
                    .changelog_files(a, true)
                    .await?
                    .into_iter()
                    .map(|f| f.path),
            );
        }
        let keep_appends = self.config.changelog_decoupled && self.config.changelog_from_delta;
        let mut data: Vec<FileRef> = Vec::new();
        for s in expired.iter().skip(1).chain(std::iter::once(&end_snapshot)) {
            // A missing delta was cleaned by an interrupted run: its data went first.
            let files = reader
                .deleted_in_delta(s, true, |e| {
                    keep_appends && e.file.file_source != Some(FileSource::Compact)
                })
                .await?;
            data.extend(files.into_iter().filter(|f| !protected.contains(&f.path)));
        }
        removed.data = delete_files(storage, data, Some("expire.mid-data")).await?;

        if !self.config.changelog_decoupled {
            let mut changelog: Vec<FileRef> = Vec::new();
            for s in &expired {
                changelog.extend(
                    reader
                        .changelog_files(s, true)
                        .await?
                        .into_iter()
                        .filter(|f| !protected.contains(&f.path)),
                );
            }
            removed.changelog = delete_files(storage, changelog, None).await?;
        }
        failpoint::hit("expire.after-data");

        // Manifests: those of expired snapshots that no anchor references.
        let mut skip = MetaRefs::default();
        for a in &anchors {
            skip.extend(reader.meta_refs(a, Parts::ALL, false).await?);
        }
        let parts = Parts {
            // Without changelog files a decoupled changelog reads the delta: keep the lists.
            data_lists: !keep_appends,
            changelog_list: !self.config.changelog_decoupled,
            index: true,
        };
        let mut meta = MetaRefs::default();
        for s in &expired {
            meta.extend(reader.meta_refs(s, parts, true).await?);
        }
        meta.subtract(&skip);
        let files = meta.files(self.table.paths());
        removed
            .manifest
            .add(delete_files(storage, files.manifests, Some("expire.mid-manifests")).await?);
        removed
            .index
            .add(delete_files(storage, files.index, None).await?);
        removed
            .manifest
            .add(delete_files(storage, files.lists, None).await?);
        failpoint::hit("expire.after-manifests");

        // Snapshot files, oldest first, so those left after a crash stay contiguous.
        let changelogs = ChangelogManager::new(self.table.clone());
        let mut written = 0;
        for (i, s) in expired.iter().enumerate() {
            let path = self.table.paths().snapshot_file(s.id);
            if self.config.changelog_decoupled {
                match storage.get_opt(&path).await? {
                    Some(bytes) => {
                        changelogs.commit_from_snapshot_file(s.id, bytes).await?;
                        written += 1;
                    }
                    None => continue,
                }
            }
            let size = storage.head(&path).await.ok().map(|m| m.size);
            storage.delete(&path).await?;
            if let Some(size) = size {
                removed.metadata.add(Removed {
                    files: 1,
                    bytes: size,
                });
            }
            if i == 0 {
                failpoint::hit("expire.mid-snapshots");
            }
        }
        failpoint::hit("expire.before-earliest-hint");
        sm.write_earliest_hint(end).await;
        tracing::info!(
            table = %self.table.identifier(),
            from = earliest,
            to = end,
            "expired snapshots"
        );
        Ok(ExpireReport {
            expired: Some((earliest, end)),
            retained: None,
            changelogs_written: written,
            removed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(min: i32, max: i32, secs: u64, limit: i32) -> ExpireConfig {
        ExpireConfig {
            retain_min: min,
            retain_max: max,
            time_retained: Duration::from_secs(secs),
            max_deletes: limit,
            changelog_decoupled: false,
            changelog_from_delta: true,
            consumer_protects: true,
        }
    }

    /// Snapshot `id` committed at `id * 1000` millis.
    fn time(id: i64) -> Option<i64> {
        Some(id * 1000)
    }

    #[test]
    fn count_limits() {
        // 20 snapshots, all young: num-retained.max 5 still expires 1..16.
        assert_eq!(plan_end(&config(1, 5, 0, 100), 1, 20, None, 0, time), 16);
        // All old: everything but num-retained.min goes.
        assert_eq!(
            plan_end(&config(1, 5, 0, 100), 1, 20, None, i64::MAX, time),
            20
        );
        assert_eq!(
            plan_end(&config(10, 10, 0, 100), 1, 20, None, i64::MAX, time),
            11
        );
        // The limit caps one run.
        assert_eq!(plan_end(&config(1, 5, 0, 3), 1, 20, None, 0, time), 4);
        // A consumer at 7 holds 7 and later.
        assert_eq!(
            plan_end(&config(1, 5, 0, 100), 1, 20, Some(7), i64::MAX, time),
            7
        );
        // Nothing to do: end never goes below earliest.
        assert_eq!(
            plan_end(&config(10, 100, 0, 100), 15, 20, None, i64::MAX, time),
            15
        );
    }

    #[test]
    fn tags_that_can_hold_removed_files() {
        let tag = |id: i64| {
            let json = format!(
                r#"{{"version":3,"id":{id},"schemaId":0,"baseManifestList":"b","deltaManifestList":"d","commitUser":"u","commitIdentifier":1,"commitKind":"APPEND","timeMillis":0}}"#
            );
            Snapshot::from_json(json.as_bytes()).unwrap()
        };
        let tags: Vec<Snapshot> = [2, 5, 5, 9, 14].into_iter().map(tag).collect();
        let ids = |begin, end| {
            tags_in_range(&tags, begin, end)
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(6, 12), vec![5, 5, 9]);
        assert_eq!(ids(5, 9), vec![5, 5]);
        assert_eq!(ids(1, 3), vec![2]);
        assert_eq!(ids(15, 20), vec![14]);
        assert_eq!(ids(10, 14), vec![9]);
    }

    #[test]
    fn time_retention_looks_at_the_next_snapshot() {
        // Retain by time only (max = infinite): snapshots whose successor was committed
        // before 10_500 go; snapshot 10's successor (11, at 11_000) is too young.
        let c = config(1, i32::MAX, 0, 100);
        assert_eq!(plan_end(&c, 1, 20, None, 10_500, time), 10);
        // Exactly at the boundary the successor counts as young.
        assert_eq!(plan_end(&c, 1, 20, None, 11_000, time), 10);
        // Past retain-max, time does not protect.
        let c = config(1, 5, 0, 100);
        assert_eq!(plan_end(&c, 1, 20, None, 0, time), 16);
    }
}
