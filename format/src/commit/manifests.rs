//! Writing manifests and manifest lists for commits, and merging small manifests so that
//! their number stays bounded after thousands of commits (`manifest.merge-min-count`,
//! `manifest.target-file-size`, `manifest.full-compaction-threshold-size`).

use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::data::binary_row::BinaryRow;
use crate::data::Datum;
use crate::error::Result;
use crate::manifest::{
    self, FileKind, IndexManifestEntry, ManifestCompression, ManifestEntry, ManifestFileMeta,
    SimpleStats,
};
use crate::paths::FileNames;
use crate::table::Table;
use crate::types::DataType;

/// Rough Avro size of one manifest entry, used to roll manifests near the target size.
const ESTIMATED_ENTRY_BYTES: u64 = 400;

/// Writes the manifest objects of one committer; names are `<kind>-<uuid>-<n>`.
pub struct ManifestWriter {
    table: Table,
    compression: ManifestCompression,
    uuid: String,
    counter: AtomicU64,
}

impl ManifestWriter {
    pub fn new(table: Table, compression: ManifestCompression) -> Self {
        ManifestWriter {
            table,
            compression,
            uuid: uuid::Uuid::new_v4().to_string(),
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, AtomicOrdering::Relaxed)
    }

    /// Writes entries into manifests rolled near `manifest.target-file-size`.
    pub async fn write_entries(&self, entries: &[ManifestEntry]) -> Result<Vec<ManifestFileMeta>> {
        let per_file = (self.table.options().manifest_target_file_size() / ESTIMATED_ENTRY_BYTES)
            .max(1) as usize;
        let mut metas = Vec::new();
        for chunk in entries.chunks(per_file) {
            metas.push(self.write_manifest(chunk).await?);
        }
        Ok(metas)
    }

    async fn write_manifest(&self, entries: &[ManifestEntry]) -> Result<ManifestFileMeta> {
        let name = FileNames::manifest(&self.uuid, self.next());
        let bytes = manifest::write_manifest_entries(entries, self.compression)?;
        let size = bytes.len() as i64;
        self.table
            .storage()
            .put(&self.table.paths().manifest_file(&name), Bytes::from(bytes))
            .await?;
        let partition_types = self.table.partition_types();
        Ok(ManifestFileMeta {
            file_name: name,
            file_size: size,
            num_added_files: entries.iter().filter(|e| e.kind == FileKind::Add).count() as i64,
            num_deleted_files: entries
                .iter()
                .filter(|e| e.kind == FileKind::Delete)
                .count() as i64,
            partition_stats: partition_stats(entries, &partition_types)?,
            schema_id: self.table.schema().id,
            min_bucket: entries.iter().map(|e| e.bucket).min(),
            max_bucket: entries.iter().map(|e| e.bucket).max(),
            min_level: entries.iter().map(|e| e.file.level).min(),
            max_level: entries.iter().map(|e| e.file.level).max(),
            min_row_id: None,
            max_row_id: None,
            total_buckets: None,
            extra_files: None,
        })
    }

    /// Writes a manifest list; returns its name and size.
    pub async fn write_list(&self, metas: &[ManifestFileMeta]) -> Result<(String, i64)> {
        let name = FileNames::manifest_list(&self.uuid, self.next());
        let bytes = manifest::write_manifest_list(metas, self.compression)?;
        let size = bytes.len() as i64;
        self.table
            .storage()
            .put(&self.table.paths().manifest_file(&name), Bytes::from(bytes))
            .await?;
        Ok((name, size))
    }

    /// Writes an index manifest holding `entries`; returns its name.
    pub async fn write_index_manifest(&self, entries: &[IndexManifestEntry]) -> Result<String> {
        let name = FileNames::index_manifest(&self.uuid, self.next());
        let bytes = manifest::write_index_manifest(entries, self.compression)?;
        self.table
            .storage()
            .put(&self.table.paths().manifest_file(&name), Bytes::from(bytes))
            .await?;
        Ok(name)
    }

    /// Removes a list that no snapshot will reference. Best effort: orphan cleanup
    /// collects whatever remains.
    pub async fn discard_list(&self, name: &str) {
        let _ = self
            .table
            .storage()
            .delete(&self.table.paths().manifest_file(name))
            .await;
    }

    /// The base manifests of the next snapshot: the previous base and delta manifests,
    /// with runs of small manifests merged once there are `manifest.merge-min-count` of
    /// them, and everything merged (cancelling ADD/DELETE pairs) while the whole set is
    /// below `manifest.full-compaction-threshold-size`.
    pub async fn merge(&self, metas: Vec<ManifestFileMeta>) -> Result<Vec<ManifestFileMeta>> {
        let options = self.table.options();
        let min_count = options.manifest_merge_min_count().max(2) as usize;
        if metas.len() < min_count {
            return Ok(metas);
        }
        let target = options.manifest_target_file_size() as i64;
        let total: i64 = metas.iter().map(|m| m.file_size).sum();
        let has_deletes = metas.iter().any(|m| m.num_deleted_files > 0);
        if has_deletes && total <= options.manifest_full_compaction_threshold_size() as i64 {
            return self.rewrite(&metas).await;
        }
        // Minor: merge each run of consecutive small manifests.
        let mut out = Vec::new();
        let mut run: Vec<ManifestFileMeta> = Vec::new();
        for m in metas {
            if m.file_size < target {
                run.push(m);
                continue;
            }
            out.extend(self.flush_run(std::mem::take(&mut run)).await?);
            out.push(m);
        }
        out.extend(self.flush_run(run).await?);
        Ok(out)
    }

    async fn flush_run(&self, run: Vec<ManifestFileMeta>) -> Result<Vec<ManifestFileMeta>> {
        if run.len() < 2 {
            return Ok(run);
        }
        self.rewrite(&run).await
    }

    /// Reads manifests, merges their entries by file identity and writes them anew. A
    /// DELETE whose ADD lives in an earlier manifest outside the set is kept.
    async fn rewrite(&self, metas: &[ManifestFileMeta]) -> Result<Vec<ManifestFileMeta>> {
        // Owned data in each future keeps the commit future `Send` for any caller.
        let jobs: Vec<(Table, String)> = metas
            .iter()
            .map(|m| (self.table.clone(), m.file_name.clone()))
            .collect();
        let lists: Vec<Vec<ManifestEntry>> = futures::stream::iter(jobs)
            .map(|(table, name)| async move {
                let path = table.paths().manifest_file(&name);
                let bytes = table.storage().get(&path).await?;
                manifest::read_manifest_entries(&bytes)
                    .map_err(|e| e.context(table.storage().display(&path)))
            })
            .buffered(8)
            .try_collect()
            .await?;
        let merged = manifest::merge_entries(lists.into_iter().flatten())?;
        if merged.is_empty() {
            return Ok(Vec::new());
        }
        self.write_entries(&merged).await
    }
}

/// Min/max/null counts over the partitions of `entries`.
fn partition_stats(entries: &[ManifestEntry], types: &[DataType]) -> Result<SimpleStats> {
    if types.is_empty() {
        return Ok(SimpleStats::empty());
    }
    let mut min: Vec<Option<Datum>> = vec![None; types.len()];
    let mut max: Vec<Option<Datum>> = vec![None; types.len()];
    let mut nulls = vec![0i64; types.len()];
    let mut last: Option<&[u8]> = None;
    for e in entries {
        if last == Some(e.partition.as_slice()) {
            continue;
        }
        last = Some(e.partition.as_slice());
        let values = BinaryRow::decode_with_arity(&e.partition, types)?;
        for (i, v) in values.into_iter().enumerate() {
            match v {
                None => nulls[i] += 1,
                Some(v) => {
                    if min[i]
                        .as_ref()
                        .is_none_or(|m| v.cmp_same_type(m) == Some(Ordering::Less))
                    {
                        min[i] = Some(v.clone());
                    }
                    if max[i]
                        .as_ref()
                        .is_none_or(|m| v.cmp_same_type(m) == Some(Ordering::Greater))
                    {
                        max[i] = Some(v);
                    }
                }
            }
        }
    }
    Ok(SimpleStats {
        min_values: BinaryRow::encode_with_arity(&min, types)?,
        max_values: BinaryRow::encode_with_arity(&max, types)?,
        null_counts: Some(nulls.into_iter().map(Some).collect()),
    })
}
