//! Deleting planned files and counting what went: files and bytes per kind of file.

use std::fmt;

use futures::StreamExt;
use object_store::ObjectStoreExt;

use super::refs::{FileRef, MetaRefs};
use crate::error::Result;
use crate::failpoint;
use crate::paths::TablePaths;
use crate::storage::Storage;

/// Deletes issued at once.
const CONCURRENCY: usize = 16;

/// Files and bytes removed (or, in a dry run, that would be).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub files: u64,
    pub bytes: u64,
}

impl Removed {
    pub fn add(&mut self, other: Removed) {
        self.files += other.files;
        self.bytes += other.bytes;
    }
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} files, {} bytes", self.files, self.bytes)
    }
}

/// What a cleanup removed, by kind of file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovedFiles {
    /// Data files and their extra files (file indexes).
    pub data: Removed,
    /// Changelog files (the Parquet files a changelog manifest lists).
    pub changelog: Removed,
    /// Manifests, manifest lists and index manifests.
    pub manifest: Removed,
    /// Index files (deletion vectors, hash indexes) and statistics files.
    pub index: Removed,
    /// Snapshot, long-lived changelog and tag metadata files.
    pub metadata: Removed,
}

impl RemovedFiles {
    pub fn total(&self) -> Removed {
        let mut t = Removed::default();
        for r in [
            self.data,
            self.changelog,
            self.manifest,
            self.index,
            self.metadata,
        ] {
            t.add(r);
        }
        t
    }

    pub fn add(&mut self, other: &RemovedFiles) {
        self.data.add(other.data);
        self.changelog.add(other.changelog);
        self.manifest.add(other.manifest);
        self.index.add(other.index);
        self.metadata.add(other.metadata);
    }

    /// `(kind, removed)` in a fixed order, for printing.
    pub fn by_kind(&self) -> [(&'static str, Removed); 5] {
        [
            ("data", self.data),
            ("changelog", self.changelog),
            ("manifest", self.manifest),
            ("index", self.index),
            ("metadata", self.metadata),
        ]
    }
}

/// Deletes `files`, `CONCURRENCY` at a time. When `halfway` names a failpoint, it is hit
/// after the first half is gone (crash tests need a window inside a phase). Files already
/// gone are not counted where the store says so (local); sizes unknown to the metadata are
/// read with a HEAD first.
pub async fn delete_files(
    storage: &Storage,
    mut files: Vec<FileRef>,
    halfway: Option<&str>,
) -> Result<Removed> {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    let second = files.split_off(files.len() / 2);
    let mut removed = delete_batch(storage, files).await?;
    if let Some(point) = halfway {
        failpoint::hit(point);
    }
    removed.add(delete_batch(storage, second).await?);
    Ok(removed)
}

async fn delete_batch(storage: &Storage, files: Vec<FileRef>) -> Result<Removed> {
    let results: Vec<Result<Option<u64>>> = futures::stream::iter(files)
        .map(|f| {
            let storage = storage.clone();
            async move { delete_one(&storage, f).await }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut removed = Removed::default();
    for r in results {
        if let Some(bytes) = r? {
            removed.files += 1;
            removed.bytes += bytes;
        }
    }
    Ok(removed)
}

/// Deletes one file; `None` when it did not exist.
async fn delete_one(storage: &Storage, file: FileRef) -> Result<Option<u64>> {
    let size = match file.size {
        Some(s) => s,
        None => match storage.object_store().head(&file.path).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(crate::Error::from(e).context(storage.display(&file.path))),
        },
    };
    match storage.object_store().delete(&file.path).await {
        Ok(()) => Ok(Some(size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(crate::Error::from(e).context(storage.display(&file.path))),
    }
}

/// Deletes metadata objects in two waves (manifests, index and statistics files first,
/// then the lists naming them) and adds what went to `removed`.
pub async fn delete_meta(
    storage: &Storage,
    paths: &TablePaths,
    meta: &MetaRefs,
    removed: &mut RemovedFiles,
) -> Result<()> {
    let files = meta.files(paths);
    removed
        .manifest
        .add(delete_files(storage, files.manifests, None).await?);
    removed
        .index
        .add(delete_files(storage, files.index, None).await?);
    removed
        .manifest
        .add(delete_files(storage, files.lists, None).await?);
    Ok(())
}
