//! What a snapshot (or a tag, or a long-lived changelog: all three are snapshot JSON)
//! references: its manifest lists and manifests, its index manifest and index files, its
//! statistics file, and the data and changelog files named in its manifests.
//!
//! Every cleanup works the same way: a set of *candidates* (files only expired objects
//! needed) minus a set of *protected* files (read from the objects that stay). This module
//! reads both sides; the callers decide which objects are which.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use crate::data::binary_row::BinaryRow;
use crate::error::{ErrorKind, Result};
use crate::manifest::{
    self, FileKind, IndexManifestEntry, ManifestEntry, ManifestFileMeta, UnmatchedDeletes,
};
use crate::paths::{PartitionPath, TablePaths};
use crate::snapshot::Snapshot;
use crate::table::Table;
use crate::types::DataType;

/// Manifests read at once.
const CONCURRENCY: usize = 16;

/// A file to delete and its size when the metadata knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileRef {
    pub path: Path,
    pub size: Option<u64>,
}

impl FileRef {
    pub fn new(path: Path, size: Option<i64>) -> Self {
        FileRef {
            path,
            size: size.and_then(|s| u64::try_from(s).ok()),
        }
    }
}

/// Which parts of a snapshot's metadata to collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Base and delta manifest lists and their manifests.
    pub data_lists: bool,
    /// The changelog manifest list and its manifests.
    pub changelog_list: bool,
    /// The index manifest and its index files, and the statistics file.
    pub index: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        data_lists: true,
        changelog_list: true,
        index: true,
    };
}

/// Metadata objects (in `manifest/`, `index/`, `statistics/`) by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaRefs {
    /// Manifest lists and index manifests: deleted after what they list.
    pub lists: HashMap<String, Option<u64>>,
    /// Manifests.
    pub manifests: HashMap<String, Option<u64>>,
    pub index_files: HashMap<String, Option<u64>>,
    pub statistics: HashSet<String>,
}

impl MetaRefs {
    pub fn extend(&mut self, other: MetaRefs) {
        self.lists.extend(other.lists);
        self.manifests.extend(other.manifests);
        self.index_files.extend(other.index_files);
        self.statistics.extend(other.statistics);
    }

    /// Every name, whatever its kind (names are unique per directory and kind prefix).
    pub fn contains(&self, name: &str) -> bool {
        self.lists.contains_key(name)
            || self.manifests.contains_key(name)
            || self.index_files.contains_key(name)
            || self.statistics.contains(name)
    }

    /// The objects as files, in deletion order: first manifests, index and statistics
    /// files, then the lists and index manifests naming them (so that a crash in between
    /// leaves lists a rerun can still follow).
    pub fn files(&self, paths: &TablePaths) -> MetaFiles {
        let refs = |m: &HashMap<String, Option<u64>>, f: &dyn Fn(&str) -> Path| -> Vec<FileRef> {
            m.iter()
                .map(|(name, size)| FileRef {
                    path: f(name),
                    size: *size,
                })
                .collect()
        };
        let mut index = refs(&self.index_files, &|n| paths.index_file(n));
        index.extend(self.statistics.iter().map(|n| FileRef {
            path: paths.statistics_file(n),
            size: None,
        }));
        MetaFiles {
            manifests: refs(&self.manifests, &|n| paths.manifest_file(n)),
            index,
            lists: refs(&self.lists, &|n| paths.manifest_file(n)),
        }
    }

    /// Drops every name `protected` holds.
    pub fn subtract(&mut self, protected: &MetaRefs) {
        self.lists.retain(|n, _| !protected.contains(n));
        self.manifests.retain(|n, _| !protected.contains(n));
        self.index_files.retain(|n, _| !protected.contains(n));
        self.statistics.retain(|n| !protected.contains(n));
    }
}

/// [`MetaRefs`] as files to delete, grouped by deletion wave.
#[derive(Debug, Clone, Default)]
pub struct MetaFiles {
    pub manifests: Vec<FileRef>,
    /// Index and statistics files.
    pub index: Vec<FileRef>,
    /// Manifest lists and index manifests.
    pub lists: Vec<FileRef>,
}

/// Reads the references of snapshots of one table; partition paths are cached.
#[derive(Clone)]
pub struct RefReader {
    table: Table,
    partition_types: Arc<Vec<DataType>>,
    partitions: Arc<Mutex<HashMap<Vec<u8>, PartitionPath>>>,
}

impl RefReader {
    pub fn new(table: Table) -> Self {
        RefReader {
            partition_types: Arc::new(table.partition_types()),
            table,
            partitions: Arc::default(),
        }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub async fn manifest_list(&self, name: &str) -> Result<Vec<ManifestFileMeta>> {
        let path = self.table.paths().manifest_file(name);
        let bytes = self.table.storage().get(&path).await?;
        manifest::read_manifest_list(&bytes).map_err(|e| {
            e.context(format!(
                "manifest list {}",
                self.table.storage().display(&path)
            ))
        })
    }

    pub async fn manifest(&self, name: &str) -> Result<Vec<ManifestEntry>> {
        let path = self.table.paths().manifest_file(name);
        let bytes = self.table.storage().get(&path).await?;
        manifest::read_manifest_entries(&bytes)
            .map_err(|e| e.context(format!("manifest {}", self.table.storage().display(&path))))
    }

    pub async fn index_manifest(&self, name: &str) -> Result<Vec<IndexManifestEntry>> {
        let path = self.table.paths().manifest_file(name);
        let bytes = self.table.storage().get(&path).await?;
        manifest::read_index_manifest(&bytes).map_err(|e| {
            e.context(format!(
                "index manifest {}",
                self.table.storage().display(&path)
            ))
        })
    }

    /// The directory of a partition and bucket, computed as readers compute it.
    fn bucket_dir(&self, partition: &[u8], bucket: i32) -> Result<Path> {
        let cached = self
            .partitions
            .lock()
            .ok()
            .and_then(|c| c.get(partition).cloned());
        let path = match cached {
            Some(p) => p,
            None => {
                let schema = self.table.schema();
                let fields = schema.partition_fields();
                let names: Vec<(&str, &DataType)> = fields
                    .iter()
                    .map(|f| (f.name.as_str(), &f.data_type))
                    .collect();
                let values = BinaryRow::decode_with_arity(partition, &self.partition_types)
                    .map_err(|e| e.context("partition of a manifest entry"))?;
                let options = self.table.options();
                let p = PartitionPath::new(
                    &names,
                    &values,
                    options.partition_default_name(),
                    options.partition_legacy_name(),
                )?;
                if let Ok(mut c) = self.partitions.lock() {
                    c.insert(partition.to_vec(), p.clone());
                }
                p
            }
        };
        Ok(self.table.paths().bucket_dir(&path, bucket))
    }

    /// The data (or changelog) file of an entry and its extra files (file indexes).
    pub fn entry_files(&self, entry: &ManifestEntry) -> Result<Vec<FileRef>> {
        if entry.file.external_path.is_some() {
            // Files outside the table are not Strata's to delete.
            return Ok(Vec::new());
        }
        let dir = self.bucket_dir(&entry.partition, entry.bucket)?;
        let mut out = vec![FileRef::new(
            dir.clone().join(entry.file.file_name.as_str()),
            Some(entry.file.file_size),
        )];
        for extra in &entry.file.extra_files {
            if !extra.contains('/') {
                out.push(FileRef::new(dir.clone().join(extra.as_str()), None));
            }
        }
        Ok(out)
    }

    /// Reads manifests concurrently, in order.
    async fn read_manifests(&self, names: Vec<String>) -> Result<Vec<Vec<ManifestEntry>>> {
        futures::stream::iter(names)
            .map(|name| {
                let this = self.clone();
                async move { this.manifest(&name).await }
            })
            .buffered(CONCURRENCY)
            .try_collect()
            .await
    }

    /// Metadata names a snapshot references. A missing list or manifest is an error
    /// unless `tolerate_missing`, for objects that cleanup may have half-removed.
    pub async fn meta_refs(
        &self,
        snapshot: &Snapshot,
        parts: Parts,
        tolerate_missing: bool,
    ) -> Result<MetaRefs> {
        let mut refs = MetaRefs::default();
        let mut lists: Vec<(&str, Option<i64>)> = Vec::new();
        if parts.data_lists {
            lists.push((
                &snapshot.base_manifest_list,
                snapshot.base_manifest_list_size,
            ));
            lists.push((
                &snapshot.delta_manifest_list,
                snapshot.delta_manifest_list_size,
            ));
        }
        if parts.changelog_list {
            if let Some(l) = &snapshot.changelog_manifest_list {
                lists.push((l, snapshot.changelog_manifest_list_size));
            }
        }
        let changelog_list = snapshot.changelog_manifest_list.as_deref();
        for (list, size) in lists {
            // A changelog is never needed to read a snapshot, and Paimon's expiry removes
            // it while tags still name it: its absence is never an error.
            let tolerate = tolerate_missing || Some(list) == changelog_list;
            match self.manifest_list(list).await {
                Ok(metas) => {
                    for m in metas {
                        let size = u64::try_from(m.file_size).ok();
                        refs.manifests.insert(m.file_name, size);
                    }
                    refs.lists
                        .insert(list.to_string(), size.and_then(|s| u64::try_from(s).ok()));
                }
                Err(e) if tolerate && e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if parts.index {
            if let Some(index) = &snapshot.index_manifest {
                match self.index_manifest(index).await {
                    Ok(entries) => {
                        for e in entries {
                            if e.kind == FileKind::Add && e.index_file.external_path.is_none() {
                                let size = u64::try_from(e.index_file.file_size).ok();
                                refs.index_files.insert(e.index_file.file_name, size);
                            }
                        }
                        refs.lists.insert(index.clone(), None);
                    }
                    Err(e) if tolerate_missing && e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            if let Some(stats) = &snapshot.statistics {
                refs.statistics.insert(stats.clone());
            }
        }
        Ok(refs)
    }

    /// The live data files of a snapshot (base + delta merged), with extra files.
    pub async fn live_files(&self, snapshot: &Snapshot) -> Result<HashSet<Path>> {
        Ok(self
            .live_file_refs(snapshot)
            .await?
            .into_iter()
            .map(|f| f.path)
            .collect())
    }

    /// Like [`RefReader::live_files`], with sizes.
    pub async fn live_file_refs(&self, snapshot: &Snapshot) -> Result<Vec<FileRef>> {
        let mut names = Vec::new();
        for list in [&snapshot.base_manifest_list, &snapshot.delta_manifest_list] {
            names.extend(
                self.manifest_list(list)
                    .await?
                    .into_iter()
                    .map(|m| m.file_name),
            );
        }
        let entries = self.read_manifests(names).await?;
        let live = manifest::live_entries(entries.into_iter().flatten(), UnmatchedDeletes::Ignore)?;
        let mut out = Vec::new();
        for e in &live {
            out.extend(self.entry_files(e)?);
        }
        Ok(out)
    }

    /// Files ADDed by a snapshot's changelog manifests.
    pub async fn changelog_files(
        &self,
        snapshot: &Snapshot,
        tolerate_missing: bool,
    ) -> Result<Vec<FileRef>> {
        let Some(list) = &snapshot.changelog_manifest_list else {
            return Ok(Vec::new());
        };
        self.added_in_list(list, tolerate_missing).await
    }

    /// Files ADDed by the manifests of one list (changelog lists; deltas in changelogs).
    pub async fn added_in_list(&self, list: &str, tolerate_missing: bool) -> Result<Vec<FileRef>> {
        let entries = self.entries_of_list(list, tolerate_missing).await?;
        let mut out = Vec::new();
        for e in entries.iter().filter(|e| e.kind == FileKind::Add) {
            out.extend(self.entry_files(e)?);
        }
        Ok(out)
    }

    async fn entries_of_list(
        &self,
        list: &str,
        tolerate_missing: bool,
    ) -> Result<Vec<ManifestEntry>> {
        let metas = match self.manifest_list(list).await {
            Ok(m) => m,
            Err(e) if tolerate_missing && e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for m in metas {
            match self.manifest(&m.file_name).await {
                Ok(entries) => out.extend(entries),
                Err(e) if tolerate_missing && e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Files a snapshot's delta removed from the table: DELETE entries whose file is not
    /// ADDed back by the same delta (a level change deletes and re-adds one file). With
    /// `keep` a predicate can spare entries (e.g. append files a changelog still needs).
    pub async fn deleted_in_delta(
        &self,
        snapshot: &Snapshot,
        tolerate_missing: bool,
        keep: impl Fn(&ManifestEntry) -> bool,
    ) -> Result<Vec<FileRef>> {
        let entries = self
            .entries_of_list(&snapshot.delta_manifest_list, tolerate_missing)
            .await?;
        let mut deleted: HashMap<Path, Vec<FileRef>> = HashMap::new();
        for e in &entries {
            let files = self.entry_files(e)?;
            let Some(first) = files.first() else {
                continue;
            };
            match e.kind {
                FileKind::Add => {
                    deleted.remove(&first.path);
                }
                FileKind::Delete if !keep(e) => {
                    deleted.insert(first.path.clone(), files);
                }
                FileKind::Delete => {}
            }
        }
        Ok(deleted.into_values().flatten().collect())
    }

    /// Every data file name the `manifests` mention (ADD or DELETE), with extra files,
    /// read once per manifest. A missing manifest is an error when `strict` holds it and
    /// skipped otherwise (it belongs to a snapshot that expiry is removing).
    pub async fn files_named_in(
        &self,
        manifests: &HashSet<String>,
        strict: &HashSet<String>,
    ) -> Result<HashSet<String>> {
        let names: Vec<String> = manifests.iter().cloned().collect();
        let results: Vec<(String, Result<Vec<ManifestEntry>>)> = futures::stream::iter(names)
            .map(|name| {
                let this = self.clone();
                async move {
                    let r = this.manifest(&name).await;
                    (name, r)
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut out = HashSet::new();
        for (name, result) in results {
            match result {
                Ok(entries) => {
                    for e in entries {
                        out.extend(e.file.extra_files.iter().cloned());
                        out.insert(e.file.file_name);
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound && !strict.contains(&name) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
