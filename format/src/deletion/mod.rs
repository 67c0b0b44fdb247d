//! Deletion vectors: which rows of a data file no longer count.
//!
//! With `deletion-vectors.enabled`, a compaction that moves level-0 data up marks the
//! superseded versions of its keys in higher levels as deleted instead of rewriting those
//! files ([`maintain`]). Readers then read every level ≥ 1 file minus its deleted rows and
//! need no merge; level-0 files stay invisible until compacted (Paimon's rule).
//!
//! The vectors of one bucket live in one index file ([`index_file`]) that the snapshot's
//! index manifest lists with a byte range per data file. A vector's bytes ([`vector`]) are
//! Paimon's bitmap32 or bitmap64 layout; bitmap64 is also Iceberg v3's `deletion-vector-v1`
//! Puffin blob. See `spec/deletion-vectors.md`.

pub mod index_file;
pub mod maintain;
pub mod vector;

#[cfg(test)]
mod maintain_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::manifest::{
    read_index_manifest, DeletionVectorMeta, FileKind, IndexFileMeta, IndexManifestEntry,
    DELETION_VECTORS_INDEX,
};
use crate::snapshot::Snapshot;
use crate::table::Table;

pub use index_file::IndexFileWriter;
pub use vector::{DeletionVector, VectorFormat};

/// Where one data file's deletion vector is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionFile {
    /// Name of the index file under the table's `index/` directory.
    pub index_file: String,
    pub range: DeletionVectorMeta,
}

/// Deletion vectors of one bucket, by data file name.
pub type BucketVectors = BTreeMap<String, Arc<DeletionVector>>;

/// The index manifest of a snapshot (empty when it has none), as ADD entries.
pub async fn index_entries(table: &Table, snapshot: &Snapshot) -> Result<Vec<IndexManifestEntry>> {
    let Some(name) = &snapshot.index_manifest else {
        return Ok(Vec::new());
    };
    let path = table.paths().manifest_file(name);
    let bytes = table.storage().get(&path).await?;
    let entries = read_index_manifest(&bytes)
        .map_err(|e| e.context(format!("index manifest {}", table.storage().display(&path))))?;
    Ok(entries
        .into_iter()
        .filter(|e| e.kind == FileKind::Add)
        .collect())
}

/// The deletion-vector index files of a snapshot, by (serialized partition, bucket).
pub fn dv_index_files(
    entries: &[IndexManifestEntry],
) -> BTreeMap<(Vec<u8>, i32), Vec<IndexFileMeta>> {
    let mut out: BTreeMap<(Vec<u8>, i32), Vec<IndexFileMeta>> = BTreeMap::new();
    for e in entries {
        if e.index_file.index_type == DELETION_VECTORS_INDEX {
            out.entry((e.partition.clone(), e.bucket))
                .or_default()
                .push(e.index_file.clone());
        }
    }
    out
}

/// Where each data file's vector lives, for the index files of one bucket.
pub fn deletion_files(index_files: &[IndexFileMeta]) -> Result<BTreeMap<String, DeletionFile>> {
    let mut out = BTreeMap::new();
    for f in index_files {
        check_locatable(f)?;
        for r in f.dv_ranges.as_deref().unwrap_or_default() {
            out.insert(
                r.data_file_name.clone(),
                DeletionFile {
                    index_file: f.file_name.clone(),
                    range: r.clone(),
                },
            );
        }
    }
    Ok(out)
}

async fn read_index_file(table: &Table, name: &str) -> Result<bytes::Bytes> {
    let path = table.paths().index_file(name);
    table
        .storage()
        .get(&path)
        .await
        .map_err(|e| e.context("deletion-vector index file"))
}

/// Loads the vectors of the given data files (each index file is read once).
pub async fn load_vectors(
    table: &Table,
    files: &BTreeMap<String, DeletionFile>,
) -> Result<BucketVectors> {
    let mut by_index: BTreeMap<&str, Vec<(&String, &DeletionFile)>> = BTreeMap::new();
    for (data_file, df) in files {
        by_index
            .entry(df.index_file.as_str())
            .or_default()
            .push((data_file, df));
    }
    let mut out = BTreeMap::new();
    for (index_name, wanted) in by_index {
        let bytes = read_index_file(table, index_name).await?;
        for (data_file, df) in wanted {
            let dv = index_file::decode_vector(&bytes, &df.range)
                .map_err(|e| e.context(format!("index file {index_name}")))?;
            out.insert(data_file.clone(), Arc::new(dv));
        }
    }
    Ok(out)
}

/// Loads every vector held by a bucket's index files.
pub async fn load_bucket(table: &Table, index_files: &[IndexFileMeta]) -> Result<BucketVectors> {
    load_vectors(table, &deletion_files(index_files)?).await
}

/// The deleted positions of one data file at a snapshot.
#[derive(Debug, Clone)]
pub struct FileDeletions {
    /// Serialized partition BinaryRow, as manifests store it.
    pub partition: Vec<u8>,
    pub bucket: i32,
    pub data_file: String,
    pub vector: Arc<DeletionVector>,
}

/// Every deletion vector of a snapshot, per data file (for exporting deletes, e.g. as
/// Iceberg position deletes or Puffin deletion vectors). Vectors are listed as the index
/// manifest holds them; join with the snapshot's live files by (partition, bucket, name).
pub async fn snapshot_deletions(table: &Table, snapshot: &Snapshot) -> Result<Vec<FileDeletions>> {
    let entries = index_entries(table, snapshot).await?;
    let mut out = Vec::new();
    for ((partition, bucket), files) in dv_index_files(&entries) {
        for (data_file, vector) in load_bucket(table, &files).await? {
            out.push(FileDeletions {
                partition: partition.clone(),
                bucket,
                data_file,
                vector,
            });
        }
    }
    Ok(out)
}

/// Rejects index files Strata cannot locate.
fn check_locatable(meta: &IndexFileMeta) -> Result<()> {
    if meta.external_path.is_some() {
        return Err(Error::unsupported(format!(
            "index file {} lives at an external path, which Strata does not read yet",
            meta.file_name
        )));
    }
    Ok(())
}
