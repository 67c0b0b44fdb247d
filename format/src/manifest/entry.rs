//! `ManifestEntry`: one ADD or DELETE of a data file, the records of data/changelog manifests.

use std::fmt;

use apache_avro::types::Value;

use super::avro::{read_container, record, write_container, Fields, FileRole};
use super::compression::ManifestCompression;
use super::data_file::DataFileMeta;
use super::schema::{manifest_entry_schema, MANIFEST_ENTRY_VERSION};
use crate::error::Result;
use crate::invalid;

/// Whether an entry adds or deletes a file (`_KIND`, a TINYINT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Add,
    Delete,
}

impl FileKind {
    pub fn to_byte(self) -> i8 {
        match self {
            FileKind::Add => 0,
            FileKind::Delete => 1,
        }
    }

    pub fn from_byte(value: i32) -> Result<Self> {
        match value {
            0 => Ok(FileKind::Add),
            1 => Ok(FileKind::Delete),
            other => Err(invalid!(
                "unknown _KIND {other} (expected 0 = ADD or 1 = DELETE)"
            )),
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Add => "ADD",
            FileKind::Delete => "DELETE",
        })
    }
}

/// One record of a data or changelog manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ManifestEntry {
    pub kind: FileKind,
    /// Serialized partition BinaryRow (with arity prefix).
    pub partition: Vec<u8>,
    pub bucket: i32,
    /// The table's bucket count when the file was written (-1 for dynamic bucket mode).
    pub total_buckets: i32,
    pub file: DataFileMeta,
}

impl ManifestEntry {
    pub(crate) fn to_avro(&self) -> Value {
        record(vec![
            ("_VERSION", Value::Int(MANIFEST_ENTRY_VERSION)),
            ("_KIND", Value::Int(i32::from(self.kind.to_byte()))),
            ("_PARTITION", Value::Bytes(self.partition.clone())),
            ("_BUCKET", Value::Int(self.bucket)),
            ("_TOTAL_BUCKETS", Value::Int(self.total_buckets)),
            ("_FILE", self.file.to_avro()),
        ])
    }

    pub(crate) fn from_avro(mut f: Fields) -> Result<Self> {
        f.check_version(MANIFEST_ENTRY_VERSION)?;
        Ok(ManifestEntry {
            kind: FileKind::from_byte(f.req_i32("_KIND")?).map_err(|e| e.context(f.role()))?,
            partition: f.req_bytes("_PARTITION")?,
            bucket: f.req_i32("_BUCKET")?,
            total_buckets: f.req_i32("_TOTAL_BUCKETS")?,
            file: DataFileMeta::from_avro(f.req_record("_FILE")?)?,
        })
    }
}

/// Serializes manifest entries as a data/changelog manifest file.
pub fn write_manifest_entries(
    entries: &[ManifestEntry],
    compression: ManifestCompression,
) -> Result<Vec<u8>> {
    write_container(
        manifest_entry_schema()?,
        FileRole::Manifest,
        entries.iter().map(ManifestEntry::to_avro),
        compression,
    )
}

/// Reads a data/changelog manifest file, in file order.
pub fn read_manifest_entries(bytes: &[u8]) -> Result<Vec<ManifestEntry>> {
    let mut out = Vec::new();
    read_container(bytes, FileRole::Manifest, |f| {
        out.push(ManifestEntry::from_avro(f)?);
        Ok(())
    })?;
    Ok(out)
}
