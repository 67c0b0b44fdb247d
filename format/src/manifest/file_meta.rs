//! `ManifestFileMeta`: one manifest-list record, describing one manifest file.

use apache_avro::types::Value;

use super::avro::{
    nullable, read_container, record, string_array, write_container, Fields, FileRole,
};
use super::compression::ManifestCompression;
use super::schema::{manifest_file_meta_schema, MANIFEST_FILE_META_VERSION};
use super::stats::SimpleStats;
use crate::error::Result;

/// A manifest file as listed in a manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ManifestFileMeta {
    pub file_name: String,
    pub file_size: i64,
    pub num_added_files: i64,
    pub num_deleted_files: i64,
    /// Stats over the partition fields of all entries.
    pub partition_stats: SimpleStats,
    pub schema_id: i64,
    pub min_bucket: Option<i32>,
    pub max_bucket: Option<i32>,
    pub min_level: Option<i32>,
    pub max_level: Option<i32>,
    pub min_row_id: Option<i64>,
    pub max_row_id: Option<i64>,
    /// pypaimon-only: the bucket count of the entries, when uniform.
    pub total_buckets: Option<i32>,
    /// pypaimon-only: side files of the manifest (e.g. a manifest sidecar).
    pub extra_files: Option<Vec<String>>,
}

impl ManifestFileMeta {
    pub(crate) fn to_avro(&self) -> Value {
        record(vec![
            ("_VERSION", Value::Int(MANIFEST_FILE_META_VERSION)),
            ("_FILE_NAME", Value::String(self.file_name.clone())),
            ("_FILE_SIZE", Value::Long(self.file_size)),
            ("_NUM_ADDED_FILES", Value::Long(self.num_added_files)),
            ("_NUM_DELETED_FILES", Value::Long(self.num_deleted_files)),
            ("_PARTITION_STATS", self.partition_stats.to_avro()),
            ("_SCHEMA_ID", Value::Long(self.schema_id)),
            ("_MIN_BUCKET", nullable(self.min_bucket, Value::Int)),
            ("_MAX_BUCKET", nullable(self.max_bucket, Value::Int)),
            ("_MIN_LEVEL", nullable(self.min_level, Value::Int)),
            ("_MAX_LEVEL", nullable(self.max_level, Value::Int)),
            ("_MIN_ROW_ID", nullable(self.min_row_id, Value::Long)),
            ("_MAX_ROW_ID", nullable(self.max_row_id, Value::Long)),
            ("_TOTAL_BUCKETS", nullable(self.total_buckets, Value::Int)),
            (
                "_EXTRA_FILES",
                nullable(self.extra_files.as_deref(), string_array),
            ),
        ])
    }

    pub(crate) fn from_avro(mut f: Fields) -> Result<Self> {
        f.check_version(MANIFEST_FILE_META_VERSION)?;
        Ok(ManifestFileMeta {
            file_name: f.req_string("_FILE_NAME")?,
            file_size: f.req_i64("_FILE_SIZE")?,
            num_added_files: f.req_i64("_NUM_ADDED_FILES")?,
            num_deleted_files: f.req_i64("_NUM_DELETED_FILES")?,
            partition_stats: SimpleStats::from_avro(f.req_record("_PARTITION_STATS")?)?,
            schema_id: f.req_i64("_SCHEMA_ID")?,
            min_bucket: f.opt_i32("_MIN_BUCKET")?,
            max_bucket: f.opt_i32("_MAX_BUCKET")?,
            min_level: f.opt_i32("_MIN_LEVEL")?,
            max_level: f.opt_i32("_MAX_LEVEL")?,
            min_row_id: f.opt_i64("_MIN_ROW_ID")?,
            max_row_id: f.opt_i64("_MAX_ROW_ID")?,
            total_buckets: f.opt_i32("_TOTAL_BUCKETS")?,
            extra_files: f.opt_string_list("_EXTRA_FILES")?,
        })
    }
}

/// Serializes a manifest list.
pub fn write_manifest_list(
    metas: &[ManifestFileMeta],
    compression: ManifestCompression,
) -> Result<Vec<u8>> {
    write_container(
        manifest_file_meta_schema()?,
        FileRole::ManifestList,
        metas.iter().map(ManifestFileMeta::to_avro),
        compression,
    )
}

/// Reads a manifest list, in file order.
pub fn read_manifest_list(bytes: &[u8]) -> Result<Vec<ManifestFileMeta>> {
    let mut out = Vec::new();
    read_container(bytes, FileRole::ManifestList, |f| {
        out.push(ManifestFileMeta::from_avro(f)?);
        Ok(())
    })?;
    Ok(out)
}
