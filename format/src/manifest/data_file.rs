//! `DataFileMeta`: what a manifest entry says about one data or changelog file.

use apache_avro::types::Value;

use super::avro::{nullable, record, string_array, Fields};
use super::stats::SimpleStats;
use crate::error::Result;
use crate::invalid;

/// How a file came to be (`_FILE_SOURCE`, a TINYINT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileSource {
    /// Written by a writer flush.
    Append,
    /// Written by compaction.
    Compact,
}

impl FileSource {
    pub fn to_byte(self) -> i8 {
        match self {
            FileSource::Append => 0,
            FileSource::Compact => 1,
        }
    }

    pub fn from_byte(value: i32) -> Result<Self> {
        match value {
            0 => Ok(FileSource::Append),
            1 => Ok(FileSource::Compact),
            other => Err(invalid!("unknown _FILE_SOURCE {other} (expected 0 or 1)")),
        }
    }
}

/// Metadata of one data file: Java `DataFileMeta` (21 Avro fields, the last pypaimon-only).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataFileMeta {
    pub file_name: String,
    /// Exact byte size; readers use it for range reads.
    pub file_size: i64,
    /// All rows, including retract (-D/-U) rows.
    pub row_count: i64,
    /// Serialized BinaryRow (with arity prefix) of the smallest trimmed primary key.
    pub min_key: Vec<u8>,
    pub max_key: Vec<u8>,
    /// Stats over the trimmed primary-key fields.
    pub key_stats: SimpleStats,
    /// Stats over the value fields listed in `value_stats_cols` (all when `None`).
    pub value_stats: SimpleStats,
    pub min_sequence_number: i64,
    pub max_sequence_number: i64,
    /// Schema id the file was written with.
    pub schema_id: i64,
    /// LSM level: 0 for flushed files, >= 1 for compaction output.
    pub level: i32,
    /// Side files such as file indexes, relative to the bucket directory.
    pub extra_files: Vec<String>,
    /// Creation time as epoch millis of the writer's local wall clock (Avro timestamp-millis).
    pub creation_time: Option<i64>,
    pub delete_row_count: Option<i64>,
    pub embedded_index: Option<Vec<u8>>,
    pub file_source: Option<FileSource>,
    /// Columns covered by `value_stats`: `None` = all columns, empty = none.
    pub value_stats_cols: Option<Vec<String>>,
    /// Full path when the file lives outside the table directory.
    pub external_path: Option<String>,
    /// Row-tracking: id of the first row.
    pub first_row_id: Option<i64>,
    /// Data evolution: the columns this file holds.
    pub write_cols: Option<Vec<String>>,
    /// pypaimon 2.1.0 / Paimon HEAD only: per-column sequence numbers for `write_cols`.
    pub write_cols_sequences: Option<Vec<i64>>,
}

impl DataFileMeta {
    pub(crate) fn to_avro(&self) -> Value {
        record(vec![
            ("_FILE_NAME", Value::String(self.file_name.clone())),
            ("_FILE_SIZE", Value::Long(self.file_size)),
            ("_ROW_COUNT", Value::Long(self.row_count)),
            ("_MIN_KEY", Value::Bytes(self.min_key.clone())),
            ("_MAX_KEY", Value::Bytes(self.max_key.clone())),
            ("_KEY_STATS", self.key_stats.to_avro()),
            ("_VALUE_STATS", self.value_stats.to_avro()),
            (
                "_MIN_SEQUENCE_NUMBER",
                Value::Long(self.min_sequence_number),
            ),
            (
                "_MAX_SEQUENCE_NUMBER",
                Value::Long(self.max_sequence_number),
            ),
            ("_SCHEMA_ID", Value::Long(self.schema_id)),
            ("_LEVEL", Value::Int(self.level)),
            ("_EXTRA_FILES", string_array(&self.extra_files)),
            (
                "_CREATION_TIME",
                nullable(self.creation_time, Value::TimestampMillis),
            ),
            (
                "_DELETE_ROW_COUNT",
                nullable(self.delete_row_count, Value::Long),
            ),
            (
                "_EMBEDDED_FILE_INDEX",
                nullable(self.embedded_index.clone(), Value::Bytes),
            ),
            (
                "_FILE_SOURCE",
                nullable(self.file_source, |s| Value::Int(i32::from(s.to_byte()))),
            ),
            (
                "_VALUE_STATS_COLS",
                nullable(self.value_stats_cols.as_deref(), string_array),
            ),
            (
                "_EXTERNAL_PATH",
                nullable(self.external_path.clone(), Value::String),
            ),
            ("_FIRST_ROW_ID", nullable(self.first_row_id, Value::Long)),
            (
                "_WRITE_COLS",
                nullable(self.write_cols.as_deref(), string_array),
            ),
            (
                "_WRITE_COLS_SEQUENCES",
                nullable(self.write_cols_sequences.as_ref(), |seqs| {
                    Value::Array(seqs.iter().map(|s| Value::Long(*s)).collect())
                }),
            ),
        ])
    }

    pub(crate) fn from_avro(mut f: Fields) -> Result<Self> {
        Ok(DataFileMeta {
            file_name: f.req_string("_FILE_NAME")?,
            file_size: f.req_i64("_FILE_SIZE")?,
            row_count: f.req_i64("_ROW_COUNT")?,
            min_key: f.req_bytes("_MIN_KEY")?,
            max_key: f.req_bytes("_MAX_KEY")?,
            key_stats: SimpleStats::from_avro(f.req_record("_KEY_STATS")?)?,
            value_stats: SimpleStats::from_avro(f.req_record("_VALUE_STATS")?)?,
            min_sequence_number: f.req_i64("_MIN_SEQUENCE_NUMBER")?,
            max_sequence_number: f.req_i64("_MAX_SEQUENCE_NUMBER")?,
            schema_id: f.req_i64("_SCHEMA_ID")?,
            level: f.req_i32("_LEVEL")?,
            extra_files: f.req_string_list("_EXTRA_FILES")?,
            creation_time: f.opt_i64("_CREATION_TIME")?,
            delete_row_count: f.opt_i64("_DELETE_ROW_COUNT")?,
            embedded_index: f.opt_bytes("_EMBEDDED_FILE_INDEX")?,
            file_source: f
                .opt_i32("_FILE_SOURCE")?
                .map(FileSource::from_byte)
                .transpose()
                .map_err(|e| e.context(f.role()))?,
            value_stats_cols: f.opt_string_list("_VALUE_STATS_COLS")?,
            external_path: f.opt_string("_EXTERNAL_PATH")?,
            first_row_id: f.opt_i64("_FIRST_ROW_ID")?,
            write_cols: f.opt_string_list("_WRITE_COLS")?,
            write_cols_sequences: f.opt_i64_list("_WRITE_COLS_SEQUENCES")?,
        })
    }
}
