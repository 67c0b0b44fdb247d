//! Orphan cleanup: deletes files below the table that nothing references and that are
//! older than a threshold (default one day).
//!
//! Orphans come from commits that lost or crashed (their data files and manifests were
//! written but no snapshot names them), from rollbacks (files only the removed snapshots
//! used), from tag deletions interrupted after the tag file went, and from temporary files
//! of interrupted uploads.
//!
//! Safety rests on three rules:
//!
//! 1. **Age.** Only files last modified before `now - older_than` are candidates. A commit
//!    in flight writes its files before its snapshot, so they are younger than the
//!    threshold as long as a commit takes less time than it.
//! 2. **List first, then read references.** Every candidate is listed before the
//!    references are read, so a snapshot committed in between is read too. A file a newer
//!    snapshot needs is either new (too young to be a candidate) or was needed by the
//!    snapshot before it, which is read as well.
//! 3. **References are read conservatively.** Every snapshot, tag and long-lived
//!    changelog is read; every file any of their manifests names (added or deleted) is
//!    kept, matched by file name as Paimon does. A missing manifest of the latest snapshot
//!    or of a tag stops the cleanup with an error. Older snapshots may be half removed by
//!    an expiry running now or interrupted before; their readable parts still count.
//!
//! Only these places are cleaned: `manifest/`, `index/`, `statistics/`, the bucket
//! directories of the partition tree, and temporary files (names without the expected
//! prefix) in `snapshot/`, `changelog/`, `tag/`, `consumer/` and `schema/`. Anything else
//! (`branch/`, unknown directories) is never touched.

use std::collections::HashSet;
use std::time::Duration;

use super::changelog::ChangelogManager;
use super::delete::{delete_files, Removed};
use super::refs::{FileRef, MetaRefs, Parts, RefReader};
use super::tag::TagManager;
use crate::commit::Clock;
use crate::error::{ErrorKind, Result};
use crate::failpoint;
use crate::paths::{
    BRANCH_DIR, BUCKET_PREFIX, CHANGELOG_DIR, CHANGELOG_PREFIX, CONSUMER_DIR, CONSUMER_PREFIX,
    EARLIEST_HINT, INDEX_DIR, LATEST_HINT, MANIFEST_DIR, SCHEMA_DIR, SCHEMA_PREFIX, SNAPSHOT_DIR,
    SNAPSHOT_PREFIX, STATISTICS_DIR, TAG_DIR, TAG_PREFIX,
};
use crate::table::Table;

/// The threshold when none is given.
pub const DEFAULT_OLDER_THAN: Duration = Duration::from_secs(24 * 3600);

/// One orphan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanFile {
    /// Path below the table directory, e.g. `manifest/manifest-…-0`.
    pub path: String,
    pub size: u64,
}

/// What an orphan cleanup found and removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrphanReport {
    /// Orphans, sorted by path.
    pub files: Vec<OrphanFile>,
    /// What was removed (in a dry run: what would be).
    pub removed: Removed,
    pub dry_run: bool,
    /// Snapshots whose metadata was partly missing (being expired); their readable parts
    /// were kept.
    pub partial_snapshots: Vec<i64>,
}

/// Where a listed object sits, and so which references decide its fate.
enum Class {
    /// In `manifest/`, `index/` or `statistics/`: kept if referenced by name.
    Meta(String),
    /// In a bucket directory: kept if a manifest names it.
    Data(String),
    /// A temporary file in a metadata directory.
    Stray,
    /// Anything else: never deleted.
    Keep,
}

/// Whether `relative` lies in a place cleanup owns (see the module docs).
fn owned(relative: &str, partition_depth: usize) -> bool {
    let parts: Vec<&str> = relative.split('/').collect();
    match (parts.first().copied(), parts.len()) {
        (
            Some(
                MANIFEST_DIR | INDEX_DIR | STATISTICS_DIR | SNAPSHOT_DIR | CHANGELOG_DIR | TAG_DIR
                | CONSUMER_DIR | SCHEMA_DIR,
            ),
            2,
        ) => true,
        (Some(BRANCH_DIR), _) => false,
        (_, n) => {
            n == partition_depth + 2
                && parts
                    .get(..partition_depth)
                    .is_some_and(|d| d.iter().all(|c| c.contains('=')))
                && parts
                    .get(partition_depth)
                    .is_some_and(|b| b.starts_with(BUCKET_PREFIX))
        }
    }
}

/// A local staging file of an interrupted upload: `<name>#<digits>`.
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Staging files below a local directory: (relative path, size, modified millis).
fn local_staging_files(root: &std::path::Path) -> Vec<(String, u64, i64)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = e.file_name().to_string_lossy().to_string();
            if !is_staging_name(&name) {
                continue;
            }
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let modified = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(i64::MAX, |d| {
                    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
                });
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, meta.len(), modified));
        }
    }
    out
}

fn classify(relative: &str, partition_depth: usize) -> Class {
    let parts: Vec<&str> = relative.split('/').collect();
    let name = parts.last().copied().unwrap_or_default();
    let keep_prefix = |prefix: &str, hints: bool| {
        if name.starts_with(prefix) || (hints && (name == LATEST_HINT || name == EARLIEST_HINT)) {
            Class::Keep
        } else {
            Class::Stray
        }
    };
    match (parts.first().copied(), parts.len()) {
        (Some(MANIFEST_DIR | INDEX_DIR | STATISTICS_DIR), 2) => Class::Meta(name.to_string()),
        (Some(SNAPSHOT_DIR), 2) => keep_prefix(SNAPSHOT_PREFIX, true),
        (Some(CHANGELOG_DIR), 2) => keep_prefix(CHANGELOG_PREFIX, true),
        (Some(TAG_DIR), 2) => keep_prefix(TAG_PREFIX, false),
        (Some(CONSUMER_DIR), 2) => keep_prefix(CONSUMER_PREFIX, false),
        (Some(SCHEMA_DIR), 2) => keep_prefix(SCHEMA_PREFIX, false),
        (Some(BRANCH_DIR), _) => Class::Keep,
        (_, n) if n == partition_depth + 2 => {
            let dirs = parts.get(..partition_depth).unwrap_or_default();
            let bucket = parts.get(partition_depth).copied().unwrap_or_default();
            if dirs.iter().all(|d| d.contains('=')) && bucket.starts_with(BUCKET_PREFIX) {
                Class::Data(name.to_string())
            } else {
                Class::Keep
            }
        }
        _ => Class::Keep,
    }
}

/// Finds and (unless a dry run) deletes orphans; see the module docs.
pub struct OrphanCleanup<'a> {
    table: &'a Table,
    older_than: Duration,
    dry_run: bool,
    clock: &'a dyn Clock,
}

impl<'a> OrphanCleanup<'a> {
    pub fn new(
        table: &'a Table,
        older_than: Duration,
        dry_run: bool,
        clock: &'a dyn Clock,
    ) -> Self {
        OrphanCleanup {
            table,
            older_than,
            dry_run,
            clock,
        }
    }

    pub async fn run(&self) -> Result<OrphanReport> {
        let storage = self.table.storage();
        let paths = self.table.paths();
        let threshold = self.clock.now_millis()
            - i64::try_from(self.older_than.as_millis()).unwrap_or(i64::MAX);
        let depth = self.table.schema().partition_keys.len();

        // 1. Candidates: old enough, in a place cleanup owns.
        let mut meta_candidates = Vec::new();
        let mut data_candidates = Vec::new();
        let mut strays = Vec::new();
        for object in storage.list(paths.root()).await? {
            if object.last_modified.timestamp_millis() >= threshold {
                continue;
            }
            let Some(relative) = paths.strip_root(&object.location) else {
                continue;
            };
            let file = (relative.clone(), object.location.clone(), object.size);
            match classify(&relative, depth) {
                Class::Meta(name) => meta_candidates.push((name, file)),
                Class::Data(name) => data_candidates.push((name, file)),
                Class::Stray => strays.push(file),
                Class::Keep => {}
            }
        }
        // Staging files of interrupted local uploads, invisible to object_store.
        let mut staging = Vec::new();
        if let Some(root) = storage.local_path(paths.root()) {
            let found = tokio::task::spawn_blocking(move || local_staging_files(&root))
                .await
                .map_err(|e| crate::Error::internal(format!("listing staging files: {e}")))?;
            staging = found
                .into_iter()
                .filter(|(rel, _, modified)| *modified < threshold && owned(rel, depth))
                .map(|(rel, size, _)| (rel, size))
                .collect();
        }
        let mut report = OrphanReport {
            dry_run: self.dry_run,
            ..OrphanReport::default()
        };
        let mut orphans = strays;
        if !meta_candidates.is_empty() || !data_candidates.is_empty() {
            // 2. References, read after the listing.
            let (meta, strict, partial) = self.references().await?;
            report.partial_snapshots = partial;
            let reader = RefReader::new(self.table.clone());
            let manifests: HashSet<String> = meta.manifests.keys().cloned().collect();
            let data_names = if data_candidates.is_empty() {
                HashSet::new()
            } else {
                reader.files_named_in(&manifests, &strict).await?
            };
            orphans.extend(
                meta_candidates
                    .into_iter()
                    .filter(|(name, _)| !meta.contains(name))
                    .map(|(_, f)| f),
            );
            orphans.extend(
                data_candidates
                    .into_iter()
                    .filter(|(name, _)| !data_names.contains(name))
                    .map(|(_, f)| f),
            );
        }
        orphans.sort_by(|a, b| a.0.cmp(&b.0));
        failpoint::hit("orphans.after-plan");
        report.files = orphans
            .iter()
            .map(|(relative, _, size)| (relative, size))
            .chain(staging.iter().map(|(relative, size)| (relative, size)))
            .map(|(relative, size)| OrphanFile {
                path: relative.clone(),
                size: *size,
            })
            .collect();
        report.files.sort_by(|a, b| a.path.cmp(&b.path));
        if self.dry_run {
            report.removed = Removed {
                files: report.files.len() as u64,
                bytes: report.files.iter().map(|f| f.size).sum(),
            };
        } else {
            let files: Vec<FileRef> = orphans
                .into_iter()
                .map(|(_, path, size)| FileRef {
                    path,
                    size: Some(size),
                })
                .collect();
            report.removed = delete_files(storage, files, Some("orphans.mid-delete")).await?;
            if let Some(root) = storage.local_path(paths.root()) {
                for (rel, size) in staging {
                    if tokio::fs::remove_file(root.join(&rel)).await.is_ok() {
                        report.removed.files += 1;
                        report.removed.bytes += size;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Everything snapshots, tags and long-lived changelogs reference, the manifests that
    /// must exist, and the snapshots read only in part.
    async fn references(&self) -> Result<(MetaRefs, HashSet<String>, Vec<i64>)> {
        let reader = RefReader::new(self.table.clone());
        let sm = self.table.snapshot_manager();
        let mut meta = MetaRefs::default();
        let mut strict: HashSet<String> = HashSet::new();
        let mut partial = Vec::new();
        let ids = sm.list_ids().await?;
        let latest = ids.last().copied();
        for id in ids {
            let snapshot = match sm.snapshot(id).await {
                Ok(s) => s,
                // Expired since the listing.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            match reader.meta_refs(&snapshot, Parts::ALL, false).await {
                Ok(refs) => {
                    strict.extend(refs.manifests.keys().cloned());
                    meta.extend(refs);
                }
                Err(e) if e.kind() == ErrorKind::NotFound && Some(id) != latest => {
                    tracing::warn!(snapshot = id, error = %e, "snapshot partly removed; keeping what it still names");
                    meta.extend(reader.meta_refs(&snapshot, Parts::ALL, true).await?);
                    partial.push(id);
                }
                Err(e) => return Err(e.context(format!("snapshot {id}; orphan cleanup stopped"))),
            }
        }
        for tag in TagManager::new(self.table.clone()).list().await? {
            let refs = reader
                .meta_refs(&tag.snapshot, Parts::ALL, false)
                .await
                .map_err(|e| e.context(format!("tag '{}'; orphan cleanup stopped", tag.name)))?;
            strict.extend(refs.manifests.keys().cloned());
            meta.extend(refs);
        }
        for changelog in ChangelogManager::new(self.table.clone()).list().await? {
            meta.extend(reader.meta_refs(&changelog, Parts::ALL, true).await?);
        }
        Ok((meta, strict, partial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(relative: &str, depth: usize) -> &'static str {
        match classify(relative, depth) {
            Class::Meta(_) => "meta",
            Class::Data(_) => "data",
            Class::Stray => "stray",
            Class::Keep => "keep",
        }
    }

    #[test]
    fn classifies_what_cleanup_owns() {
        assert_eq!(class("manifest/manifest-a-0", 1), "meta");
        assert_eq!(class("index/index-a-0", 1), "meta");
        assert_eq!(class("dt=1/bucket-0/data-a-0.parquet", 1), "data");
        assert_eq!(class("dt=1/bucket-postpone/x", 1), "data");
        assert_eq!(class("bucket-0/data-a-0.parquet", 0), "data");
        // Wrong depth, or not a partition/bucket directory: never touched.
        assert_eq!(class("bucket-0/data-a-0.parquet", 1), "keep");
        assert_eq!(class("dt/bucket-0/x", 1), "keep");
        assert_eq!(class("dt=1/other/x", 1), "keep");
        assert_eq!(class("README", 0), "keep");
        assert_eq!(class("branch/branch-b/snapshot/.tmp", 0), "keep");
        assert_eq!(class("manifest/sub/x", 0), "keep");
        // Metadata directories: only temporary names are strays.
        assert_eq!(class("snapshot/snapshot-3", 0), "keep");
        assert_eq!(class("snapshot/LATEST", 0), "keep");
        assert_eq!(class("snapshot/.snapshot-3.abc.tmp", 0), "stray");
        assert_eq!(class("snapshot/LATEST#1", 0), "stray");
        assert_eq!(class("changelog/changelog-3", 0), "keep");
        assert_eq!(class("tag/tag-a", 0), "keep");
        assert_eq!(class("tag/.tag-a.x.tmp", 0), "stray");
        assert_eq!(class("schema/schema-0", 0), "keep");
        assert_eq!(class("consumer/consumer-c", 0), "keep");
        assert!(is_staging_name("data-a-0.parquet#12"));
        assert!(!is_staging_name("data-a-0.parquet#x"));
        assert!(!is_staging_name("data-a-0.parquet"));
        assert!(owned("dt=1/bucket-0/data#1", 1) && owned("snapshot/LATEST#2", 0));
        assert!(!owned("branch/branch-b/snapshot/LATEST#2", 0) && !owned("x/y#1", 0));
    }
}
