//! Long-lived changelogs (`changelog/changelog-<id>`) and their retention.
//!
//! When changelogs should outlive snapshots (`changelog.num-retained.*` or
//! `changelog.time-retained` above the snapshot settings, Paimon's "decoupled" lifecycle),
//! snapshot expiry copies each expired snapshot's JSON to `changelog/changelog-<id>` before
//! deleting `snapshot-<id>`, and leaves what the changelog needs:
//!
//! - with changelog files (`changelogManifestList` set): the changelog manifest list, its
//!   manifests and the changelog files;
//! - without (`changelog-producer` = `none`, where the changelog is the snapshot's delta):
//!   the base and delta manifest lists, their manifests and the append files the delta
//!   removed.
//!
//! Changelog expiry then removes them in id order, each changelog's files before its
//! `changelog-<id>` file, and finally writes `changelog/EARLIEST`. A crash leaves the
//! oldest remaining changelog possibly half cleaned; the next run skips what is gone.

use std::collections::HashSet;

use bytes::Bytes;
use object_store::path::Path;

use super::delete::{delete_files, delete_meta, RemovedFiles};
use super::refs::{MetaRefs, Parts, RefReader};
use super::tag::TagManager;
use crate::commit::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::failpoint;
use crate::paths::CHANGELOG_PREFIX;
use crate::snapshot::Snapshot;
use crate::table::Table;

/// Reads and writes the long-lived changelogs of one table.
#[derive(Debug, Clone)]
pub struct ChangelogManager {
    table: Table,
}

impl ChangelogManager {
    pub fn new(table: Table) -> Self {
        ChangelogManager { table }
    }

    /// Ids of the `changelog-<id>` files present, ascending.
    pub async fn list_ids(&self) -> Result<Vec<i64>> {
        let (_, objects) = self
            .table
            .storage()
            .list_dir(&self.table.paths().changelog_dir())
            .await?;
        let mut ids: Vec<i64> = objects
            .iter()
            .filter_map(|m| {
                m.location
                    .filename()?
                    .strip_prefix(CHANGELOG_PREFIX)?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The changelog with `id`, or `None` when it does not exist.
    pub async fn get(&self, id: i64) -> Result<Option<Snapshot>> {
        let path = self.table.paths().changelog_file(id);
        match self.table.storage().get_opt(&path).await? {
            Some(bytes) => {
                Ok(Some(Snapshot::from_json(&bytes).map_err(|e| {
                    e.context(self.table.storage().display(&path))
                })?))
            }
            None => Ok(None),
        }
    }

    /// Every changelog present, ascending; ones removed meanwhile are skipped.
    pub async fn list(&self) -> Result<Vec<Snapshot>> {
        let mut out = Vec::new();
        for id in self.list_ids().await? {
            if let Some(c) = self.get(id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Copies a snapshot file verbatim to `changelog-<id>` (all fields kept) and moves the
    /// `LATEST` hint. Idempotent: a rerun of an interrupted expiry writes the same bytes.
    pub async fn commit_from_snapshot_file(&self, id: i64, snapshot_json: Bytes) -> Result<()> {
        let storage = self.table.storage();
        storage
            .put(&self.table.paths().changelog_file(id), snapshot_json)
            .await?;
        let latest = self.read_hint(true).await;
        if latest.is_none_or(|l| l < id) {
            let _ = storage
                .put(
                    &self.table.paths().changelog_latest_hint(),
                    Bytes::from(id.to_string()),
                )
                .await;
        }
        Ok(())
    }

    async fn read_hint(&self, latest: bool) -> Option<i64> {
        let paths = self.table.paths();
        let path = if latest {
            paths.changelog_latest_hint()
        } else {
            paths.changelog_earliest_hint()
        };
        let bytes = self.table.storage().get_opt(&path).await.ok()??;
        std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
    }

    async fn write_earliest_hint(&self, id: i64) {
        let _ = self
            .table
            .storage()
            .put(
                &self.table.paths().changelog_earliest_hint(),
                Bytes::from(id.to_string()),
            )
            .await;
    }

    /// Deletes the changelogs with ids above `id` (rollback); returns how many.
    pub async fn delete_after(&self, id: i64) -> Result<u64> {
        let ids = self.list_ids().await?;
        let mut deleted = 0;
        for c in ids.iter().rev().filter(|c| **c > id) {
            self.table
                .storage()
                .delete(&self.table.paths().changelog_file(*c))
                .await?;
            deleted += 1;
        }
        if deleted > 0 {
            let storage = self.table.storage();
            let remaining = ids.iter().filter(|c| **c <= id).max();
            let hint = remaining.map_or(-1, |c| *c);
            let _ = storage
                .put(
                    &self.table.paths().changelog_latest_hint(),
                    Bytes::from(hint.to_string()),
                )
                .await;
        }
        Ok(deleted)
    }

    /// What a retained changelog keeps alive: its manifest lists and manifests, and the
    /// changelog files or (without changelog files) the files its delta added. Missing
    /// objects are tolerated: snapshot expiry removes base and delta lists of changelogs
    /// that have changelog files.
    pub async fn protected_by(
        &self,
        reader: &RefReader,
        changelog: &Snapshot,
    ) -> Result<(MetaRefs, HashSet<Path>)> {
        let parts = Parts {
            data_lists: true,
            changelog_list: true,
            index: false,
        };
        let meta = reader.meta_refs(changelog, parts, true).await?;
        let mut files: HashSet<Path> = reader
            .changelog_files(changelog, true)
            .await?
            .into_iter()
            .map(|f| f.path)
            .collect();
        files.extend(
            reader
                .added_in_list(&changelog.delta_manifest_list, true)
                .await?
                .into_iter()
                .map(|f| f.path),
        );
        Ok((meta, files))
    }
}

/// Retention of long-lived changelogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangelogRetention {
    pub retain_min: i32,
    pub retain_max: i32,
    pub time_retained: std::time::Duration,
    pub max_deletes: i32,
    pub consumer_protects: bool,
}

/// What a changelog expiry did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangelogExpiry {
    /// Ids of the changelogs removed, `[first, end)`.
    pub expired: Option<(i64, i64)>,
    pub removed: RemovedFiles,
}

/// Expires long-lived changelogs per `retention` (see the module docs).
pub async fn expire_changelogs(
    table: &Table,
    retention: ChangelogRetention,
    clock: &dyn Clock,
) -> Result<ChangelogExpiry> {
    let manager = ChangelogManager::new(table.clone());
    let ids = manager.list_ids().await?;
    let (Some(&earliest), Some(&latest_changelog)) = (ids.first(), ids.last()) else {
        return Ok(ChangelogExpiry::default());
    };
    let sm = table.snapshot_manager();
    let Some(latest) = sm.latest_id().await? else {
        return Ok(ChangelogExpiry::default());
    };
    if retention.retain_min < 1 || retention.retain_max < retention.retain_min {
        return Err(Error::data_invalid(format!(
            "changelog retention needs 1 <= changelog.num-retained.min ({}) <= \
             changelog.num-retained.max ({})",
            retention.retain_min, retention.retain_max
        )));
    }
    let min = (latest - i64::from(retention.retain_max) + 1).max(earliest);
    let mut max_exclusive = latest - i64::from(retention.retain_min) + 1;
    if retention.consumer_protects {
        if let Some(next) = super::consumer::ConsumerManager::new(table.clone())
            .min_next_snapshot()
            .await?
        {
            max_exclusive = max_exclusive.min(next);
        }
    }
    max_exclusive = max_exclusive
        .min(earliest.saturating_add(i64::from(retention.max_deletes.max(0))))
        // The end must be a changelog file: its lists anchor the manifests kept.
        .min(latest_changelog);
    if max_exclusive <= earliest {
        return Ok(ChangelogExpiry::default());
    }
    let older_than =
        clock.now_millis() - i64::try_from(retention.time_retained.as_millis()).unwrap_or(i64::MAX);
    let mut end = max_exclusive;
    for id in min..=max_exclusive {
        if let Some(c) = manager.get(id).await? {
            if older_than <= c.time_millis {
                end = id;
                break;
            }
        }
    }
    expire_changelogs_until(table, &manager, earliest, end).await
}

async fn expire_changelogs_until(
    table: &Table,
    manager: &ChangelogManager,
    begin: i64,
    end: i64,
) -> Result<ChangelogExpiry> {
    if end <= begin {
        return Ok(ChangelogExpiry::default());
    }
    let reader = RefReader::new(table.clone());
    let Some(end_changelog) = manager.get(end).await? else {
        return Err(Error::not_found(format!(
            "changelog {end} of table '{}' is missing; changelog expiry stopped",
            table.identifier()
        )));
    };
    // Anchors: the first kept changelog, the earliest snapshot and the tags.
    let mut skip = MetaRefs::default();
    let mut protected: HashSet<Path> = HashSet::new();
    let (meta, files) = manager.protected_by(&reader, &end_changelog).await?;
    skip.extend(meta);
    protected.extend(files);
    let sm = table.snapshot_manager();
    let mut earliest_snapshot = None;
    if let Some(earliest) = sm.earliest_id().await? {
        earliest_snapshot = Some(sm.snapshot(earliest).await?);
    }
    let tags: Vec<Snapshot> = TagManager::new(table.clone())
        .list()
        .await?
        .into_iter()
        .map(|t| t.snapshot)
        .collect();
    let in_range: HashSet<i64> = super::expire::tags_in_range(&tags, begin, end)
        .iter()
        .map(|t| t.id)
        .collect();
    for a in earliest_snapshot.iter().chain(&tags) {
        skip.extend(reader.meta_refs(a, Parts::ALL, false).await?);
        if in_range.contains(&a.id) || Some(a.id) == earliest_snapshot.as_ref().map(|e| e.id) {
            protected.extend(reader.live_files(a).await?);
        }
        protected.extend(
            reader
                .changelog_files(a, true)
                .await?
                .into_iter()
                .map(|f| f.path),
        );
    }

    let storage = table.storage();
    let mut removed = RemovedFiles::default();
    for id in begin..end {
        let Some(c) = manager.get(id).await? else {
            continue;
        };
        let lists = if let Some(list) = &c.changelog_manifest_list {
            let files: Vec<_> = reader
                .added_in_list(list, true)
                .await?
                .into_iter()
                .filter(|f| !protected.contains(&f.path))
                .collect();
            removed
                .changelog
                .add(delete_files(storage, files, None).await?);
            Parts {
                data_lists: false,
                changelog_list: true,
                index: false,
            }
        } else {
            // The changelog was the delta: remove what the delta took out of the table.
            let files: Vec<_> = reader
                .deleted_in_delta(&c, true, |_| false)
                .await?
                .into_iter()
                .filter(|f| !protected.contains(&f.path))
                .collect();
            removed.data.add(delete_files(storage, files, None).await?);
            Parts {
                data_lists: true,
                changelog_list: false,
                index: false,
            }
        };
        let mut meta = reader.meta_refs(&c, lists, true).await?;
        meta.subtract(&skip);
        delete_meta(storage, table.paths(), &meta, &mut removed).await?;
        failpoint::hit("changelog-expire.before-changelog-file");
        match storage.delete(&table.paths().changelog_file(id)).await {
            Ok(()) => removed.metadata.files += 1,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    manager.write_earliest_hint(end).await;
    Ok(ChangelogExpiry {
        expired: Some((begin, end)),
        removed,
    })
}
