//! Deletion-vector index files (`index/index-<uuid>-<n>`): one version byte (1), then the
//! serialized vectors of one bucket's data files back to back. The index manifest records,
//! per data file, the offset of its vector's size prefix and its length
//! ([`DeletionVectorMeta`]); readers seek there, so the order inside the file is free.

use bytes::Bytes;

use super::vector::{DeletionVector, VectorFormat};
use crate::error::Result;
use crate::invalid;
use crate::manifest::{DeletionVectorMeta, IndexFileMeta, DELETION_VECTORS_INDEX};
use crate::paths::FileNames;
use crate::table::Table;

/// First byte of every deletion-vector index file.
pub const INDEX_FILE_VERSION: u8 = 1;

/// Serializes vectors (data file name, vector) into index file bytes and the ranges the
/// index manifest records for them, in the given order.
pub fn encode_index_file<'a>(
    vectors: impl IntoIterator<Item = (&'a str, &'a DeletionVector)>,
    format: VectorFormat,
) -> Result<(Vec<u8>, Vec<DeletionVectorMeta>)> {
    let mut out = vec![INDEX_FILE_VERSION];
    let mut ranges = Vec::new();
    for (file, dv) in vectors {
        let offset = i32::try_from(out.len())
            .map_err(|_| invalid!("a deletion-vector index file would exceed 2 GB"))?;
        let blob = dv.serialize(format)?;
        let length = i32::try_from(format.manifest_length(blob.len()))
            .map_err(|_| invalid!("a deletion vector would exceed 2 GB"))?;
        out.extend_from_slice(&blob);
        ranges.push(DeletionVectorMeta {
            data_file_name: file.to_string(),
            offset,
            length,
            cardinality: Some(i64::try_from(dv.cardinality()).unwrap_or(i64::MAX)),
        });
    }
    Ok((out, ranges))
}

/// Decodes the vector at `range` of an index file's bytes, checking the version byte and
/// that the recorded length matches the vector's own size.
pub fn decode_vector(index_file: &[u8], range: &DeletionVectorMeta) -> Result<DeletionVector> {
    match index_file.first() {
        Some(&INDEX_FILE_VERSION) => {}
        Some(v) => {
            return Err(invalid!(
                "deletion-vector index file has version {v}; only {INDEX_FILE_VERSION} is known"
            ))
        }
        None => return Err(invalid!("deletion-vector index file is empty")),
    }
    let offset = usize::try_from(range.offset)
        .ok()
        .filter(|o| *o >= 1 && *o < index_file.len())
        .ok_or_else(|| {
            invalid!(
                "vector of {} starts at offset {}, outside the index file of {} bytes",
                range.data_file_name,
                range.offset,
                index_file.len()
            )
        })?;
    let (dv, format, blob_len) = DeletionVector::deserialize(&index_file[offset..])
        .map_err(|e| e.context(format!("deletion vector of {}", range.data_file_name)))?;
    let expected = format.manifest_length(blob_len);
    if i64::from(range.length) != expected as i64 {
        return Err(invalid!(
            "deletion vector of {} has length {} in the index manifest but {expected} in the file",
            range.data_file_name,
            range.length
        ));
    }
    Ok(dv)
}

/// Decodes every vector an index file holds, as (data file name, vector).
pub fn decode_index_file(
    index_file: &[u8],
    meta: &IndexFileMeta,
) -> Result<Vec<(String, DeletionVector)>> {
    let ranges = meta.dv_ranges.as_deref().unwrap_or_default();
    ranges
        .iter()
        .map(|r| Ok((r.data_file_name.clone(), decode_vector(index_file, r)?)))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| e.context(format!("index file {}", meta.file_name)))
}

/// Writes index files under the table's `index/` directory with unique names.
pub struct IndexFileWriter {
    table: Table,
    uuid: String,
    next: u64,
}

impl IndexFileWriter {
    pub fn new(table: Table) -> Self {
        IndexFileWriter {
            table,
            uuid: uuid::Uuid::new_v4().to_string(),
            next: 0,
        }
    }

    /// Uploads one index file holding `vectors` (empty vectors are skipped) and describes
    /// it; `None` when there is nothing to write. The table's `deletion-vectors.bitmap64`
    /// picks the form.
    pub async fn write<'a>(
        &mut self,
        vectors: impl IntoIterator<Item = (&'a str, &'a DeletionVector)>,
    ) -> Result<Option<IndexFileMeta>> {
        let format =
            VectorFormat::from_bitmap64_option(self.table.options().deletion_vectors_bitmap64());
        let kept: Vec<(&str, &DeletionVector)> = vectors
            .into_iter()
            .filter(|(_, dv)| !dv.is_empty())
            .collect();
        if kept.is_empty() {
            return Ok(None);
        }
        let (bytes, ranges) = encode_index_file(kept, format)?;
        let name = FileNames::index_file(&self.uuid, self.next);
        self.next += 1;
        let size = bytes.len() as i64;
        let path = self.table.paths().index_file(&name);
        self.table.storage().put(&path, Bytes::from(bytes)).await?;
        Ok(Some(IndexFileMeta {
            index_type: DELETION_VECTORS_INDEX.to_string(),
            file_name: name,
            file_size: size,
            row_count: ranges.len() as i64,
            dv_ranges: Some(ranges),
            external_path: None,
            global_index: None,
        }))
    }

    /// Removes an index file no snapshot will reference (best effort).
    pub async fn discard(&self, meta: &IndexFileMeta) {
        let path = self.table.paths().index_file(&meta.file_name);
        if let Err(e) = self.table.storage().delete(&path).await {
            tracing::warn!(path = %path, error = %e, "could not delete an uncommitted index file");
        }
    }
}
