//! `IndexManifestEntry`: one ADD or DELETE of an index file (HASH bucket index, deletion
//! vectors, global indexes). A snapshot's index manifest holds the complete index state.

use apache_avro::types::Value;

use super::avro::{nullable, read_container, record, write_container, Fields, FileRole};
use super::compression::ManifestCompression;
use super::entry::FileKind;
use super::schema::{index_manifest_entry_schema, INDEX_MANIFEST_ENTRY_VERSION};
use crate::error::Result;

/// `_INDEX_TYPE` of dynamic-bucket key-hash index files.
pub const HASH_INDEX: &str = "HASH";
/// `_INDEX_TYPE` of deletion-vector index files.
pub const DELETION_VECTORS_INDEX: &str = "DELETION_VECTORS";

/// Where one data file's deletion vector lives inside a deletion-vector index file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeletionVectorMeta {
    /// Avro `f0`.
    pub data_file_name: String,
    /// Avro `f1`: byte offset of the vector's size prefix in the index file.
    pub offset: i32,
    /// Avro `f2`: serialized length (see the DV index format for what it covers).
    pub length: i32,
    /// Number of deleted rows, when known.
    pub cardinality: Option<i64>,
}

/// Row range and field of a global index file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GlobalIndexMeta {
    pub row_range_start: i64,
    pub row_range_end: i64,
    pub index_field_id: i32,
    pub extra_field_ids: Option<Vec<i32>>,
    pub index_meta: Option<Vec<u8>>,
    /// pypaimon-only; Java 1.4.2 skips it.
    pub source_meta: Option<Vec<u8>>,
}

/// One index file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexFileMeta {
    /// [`HASH_INDEX`], [`DELETION_VECTORS_INDEX`] or a global index type.
    pub index_type: String,
    pub file_name: String,
    pub file_size: i64,
    /// HASH: number of hashes; DELETION_VECTORS: number of vectors.
    pub row_count: i64,
    /// Deletion-vector ranges in file order, one per data file (Java keeps a LinkedHashMap).
    pub dv_ranges: Option<Vec<DeletionVectorMeta>>,
    pub external_path: Option<String>,
    pub global_index: Option<GlobalIndexMeta>,
}

/// One record of an index manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexManifestEntry {
    pub kind: FileKind,
    /// Serialized partition BinaryRow (with arity prefix).
    pub partition: Vec<u8>,
    pub bucket: i32,
    pub index_file: IndexFileMeta,
}

impl DeletionVectorMeta {
    fn to_avro(&self) -> Value {
        record(vec![
            ("f0", Value::String(self.data_file_name.clone())),
            ("f1", Value::Int(self.offset)),
            ("f2", Value::Int(self.length)),
            ("_CARDINALITY", nullable(self.cardinality, Value::Long)),
        ])
    }

    fn from_avro(mut f: Fields) -> Result<Self> {
        Ok(DeletionVectorMeta {
            data_file_name: f.req_string("f0")?,
            offset: f.req_i32("f1")?,
            length: f.req_i32("f2")?,
            cardinality: f.opt_i64("_CARDINALITY")?,
        })
    }
}

impl GlobalIndexMeta {
    fn to_avro(&self) -> Value {
        record(vec![
            ("_ROW_RANGE_START", Value::Long(self.row_range_start)),
            ("_ROW_RANGE_END", Value::Long(self.row_range_end)),
            ("_INDEX_FIELD_ID", Value::Int(self.index_field_id)),
            (
                "_EXTRA_FIELD_IDS",
                nullable(self.extra_field_ids.as_ref(), |ids| {
                    Value::Array(ids.iter().map(|i| Value::Int(*i)).collect())
                }),
            ),
            (
                "_INDEX_META",
                nullable(self.index_meta.clone(), Value::Bytes),
            ),
            (
                "_SOURCE_META",
                nullable(self.source_meta.clone(), Value::Bytes),
            ),
        ])
    }

    fn from_avro(mut f: Fields) -> Result<Self> {
        Ok(GlobalIndexMeta {
            row_range_start: f.req_i64("_ROW_RANGE_START")?,
            row_range_end: f.req_i64("_ROW_RANGE_END")?,
            index_field_id: f.req_i32("_INDEX_FIELD_ID")?,
            extra_field_ids: f.opt_i32_list("_EXTRA_FIELD_IDS")?,
            index_meta: f.opt_bytes("_INDEX_META")?,
            source_meta: f.opt_bytes("_SOURCE_META")?,
        })
    }
}

impl IndexManifestEntry {
    pub(crate) fn to_avro(&self) -> Value {
        let file = &self.index_file;
        record(vec![
            ("_VERSION", Value::Int(INDEX_MANIFEST_ENTRY_VERSION)),
            ("_KIND", Value::Int(i32::from(self.kind.to_byte()))),
            ("_PARTITION", Value::Bytes(self.partition.clone())),
            ("_BUCKET", Value::Int(self.bucket)),
            ("_INDEX_TYPE", Value::String(file.index_type.clone())),
            ("_FILE_NAME", Value::String(file.file_name.clone())),
            ("_FILE_SIZE", Value::Long(file.file_size)),
            ("_ROW_COUNT", Value::Long(file.row_count)),
            (
                "_DELETIONS_VECTORS_RANGES",
                nullable(file.dv_ranges.as_ref(), |ranges| {
                    Value::Array(ranges.iter().map(DeletionVectorMeta::to_avro).collect())
                }),
            ),
            (
                "_EXTERNAL_PATH",
                nullable(file.external_path.clone(), Value::String),
            ),
            (
                "_GLOBAL_INDEX",
                nullable(file.global_index.as_ref(), GlobalIndexMeta::to_avro),
            ),
        ])
    }

    pub(crate) fn from_avro(mut f: Fields) -> Result<Self> {
        f.check_version(INDEX_MANIFEST_ENTRY_VERSION)?;
        let kind = FileKind::from_byte(f.req_i32("_KIND")?).map_err(|e| e.context(f.role()))?;
        let partition = f.req_bytes("_PARTITION")?;
        let bucket = f.req_i32("_BUCKET")?;
        let index_file = IndexFileMeta {
            index_type: f.req_string("_INDEX_TYPE")?,
            file_name: f.req_string("_FILE_NAME")?,
            file_size: f.req_i64("_FILE_SIZE")?,
            row_count: f.req_i64("_ROW_COUNT")?,
            dv_ranges: f
                .opt_record_list("_DELETIONS_VECTORS_RANGES")?
                .map(|items| {
                    items
                        .into_iter()
                        .map(DeletionVectorMeta::from_avro)
                        .collect()
                })
                .transpose()?,
            external_path: f.opt_string("_EXTERNAL_PATH")?,
            global_index: f
                .opt_record("_GLOBAL_INDEX")?
                .map(GlobalIndexMeta::from_avro)
                .transpose()?,
        };
        Ok(IndexManifestEntry {
            kind,
            partition,
            bucket,
            index_file,
        })
    }
}

/// Serializes an index manifest.
pub fn write_index_manifest(
    entries: &[IndexManifestEntry],
    compression: ManifestCompression,
) -> Result<Vec<u8>> {
    write_container(
        index_manifest_entry_schema()?,
        FileRole::IndexManifest,
        entries.iter().map(IndexManifestEntry::to_avro),
        compression,
    )
}

/// Reads an index manifest, in file order.
pub fn read_index_manifest(bytes: &[u8]) -> Result<Vec<IndexManifestEntry>> {
    let mut out = Vec::new();
    read_container(bytes, FileRole::IndexManifest, |f| {
        out.push(IndexManifestEntry::from_avro(f)?);
        Ok(())
    })?;
    Ok(out)
}
