//! The Avro writer schemas of the three manifest files.
//!
//! Field names, order and types are Java Paimon 1.4.2's (`ManifestEntry`, `DataFileMeta`,
//! `ManifestFileMeta`, `IndexManifestEntry` row types through `AvroSchemaConverter`), spelled
//! the way pypaimon 2.1.0 spells them: an unwrapped top-level record, pypaimon's record names,
//! and pypaimon's extra optional fields (`_WRITE_COLS_SEQUENCES`, the manifest list's
//! `_TOTAL_BUCKETS`/`_EXTRA_FILES`, the global index `_SOURCE_META`). Java resolves fields by
//! name and skips those extras. Nullable fields are `["null", T]` with default null (Java's
//! reader always takes branch 1 as the value); TINYINT is `int`; `_CREATION_TIME` is
//! `long`/`timestamp-millis`, which Java needs to read it as a TIMESTAMP(3).
//! Every record is defined inline: paimon-rust 0.4.0 cannot resolve named references.

use std::sync::LazyLock;

use apache_avro::Schema;

use crate::error::{Error, Result};

/// `_VERSION` of manifest entries (Java `ManifestEntrySerializer`).
pub const MANIFEST_ENTRY_VERSION: i32 = 2;
/// `_VERSION` of manifest-list entries (Java `ManifestFileMetaSerializer`).
pub const MANIFEST_FILE_META_VERSION: i32 = 2;
/// `_VERSION` of index manifest entries (Java `IndexManifestEntrySerializer`).
pub const INDEX_MANIFEST_ENTRY_VERSION: i32 = 1;

macro_rules! simple_stats {
    ($name:literal) => {
        concat!(
            r#"{"type": "record", "name": ""#,
            $name,
            r#"", "fields": [
                {"name": "_MIN_VALUES", "type": "bytes"},
                {"name": "_MAX_VALUES", "type": "bytes"},
                {"name": "_NULL_COUNTS", "type": ["null", {"type": "array", "items": ["null", "long"]}], "default": null}
            ]}"#
        )
    };
}

/// Data and changelog manifests (`manifest-*`).
pub const MANIFEST_ENTRY_SCHEMA: &str = concat!(
    r#"{"type": "record", "name": "ManifestEntry", "fields": [
    {"name": "_VERSION", "type": "int"},
    {"name": "_KIND", "type": "int"},
    {"name": "_PARTITION", "type": "bytes"},
    {"name": "_BUCKET", "type": "int"},
    {"name": "_TOTAL_BUCKETS", "type": "int"},
    {"name": "_FILE", "type": {"type": "record", "name": "DataFileMeta", "fields": [
        {"name": "_FILE_NAME", "type": "string"},
        {"name": "_FILE_SIZE", "type": "long"},
        {"name": "_ROW_COUNT", "type": "long"},
        {"name": "_MIN_KEY", "type": "bytes"},
        {"name": "_MAX_KEY", "type": "bytes"},
        {"name": "_KEY_STATS", "type": "#,
    simple_stats!("record_KEY_STATS"),
    r#"},
        {"name": "_VALUE_STATS", "type": "#,
    simple_stats!("record_VALUE_STATS"),
    r#"},
        {"name": "_MIN_SEQUENCE_NUMBER", "type": "long"},
        {"name": "_MAX_SEQUENCE_NUMBER", "type": "long"},
        {"name": "_SCHEMA_ID", "type": "long"},
        {"name": "_LEVEL", "type": "int"},
        {"name": "_EXTRA_FILES", "type": {"type": "array", "items": "string"}},
        {"name": "_CREATION_TIME", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": null},
        {"name": "_DELETE_ROW_COUNT", "type": ["null", "long"], "default": null},
        {"name": "_EMBEDDED_FILE_INDEX", "type": ["null", "bytes"], "default": null},
        {"name": "_FILE_SOURCE", "type": ["null", "int"], "default": null},
        {"name": "_VALUE_STATS_COLS", "type": ["null", {"type": "array", "items": "string"}], "default": null},
        {"name": "_EXTERNAL_PATH", "type": ["null", "string"], "default": null},
        {"name": "_FIRST_ROW_ID", "type": ["null", "long"], "default": null},
        {"name": "_WRITE_COLS", "type": ["null", {"type": "array", "items": "string"}], "default": null},
        {"name": "_WRITE_COLS_SEQUENCES", "type": ["null", {"type": "array", "items": "long"}], "default": null}
    ]}}
]}"#
);

/// Manifest lists (`manifest-list-*`).
pub const MANIFEST_FILE_META_SCHEMA: &str = concat!(
    r#"{"type": "record", "name": "ManifestFileMeta", "fields": [
    {"name": "_VERSION", "type": "int"},
    {"name": "_FILE_NAME", "type": "string"},
    {"name": "_FILE_SIZE", "type": "long"},
    {"name": "_NUM_ADDED_FILES", "type": "long"},
    {"name": "_NUM_DELETED_FILES", "type": "long"},
    {"name": "_PARTITION_STATS", "type": "#,
    simple_stats!("record_PARTITION_STATS"),
    r#"},
    {"name": "_SCHEMA_ID", "type": "long"},
    {"name": "_MIN_BUCKET", "type": ["null", "int"], "default": null},
    {"name": "_MAX_BUCKET", "type": ["null", "int"], "default": null},
    {"name": "_MIN_LEVEL", "type": ["null", "int"], "default": null},
    {"name": "_MAX_LEVEL", "type": ["null", "int"], "default": null},
    {"name": "_MIN_ROW_ID", "type": ["null", "long"], "default": null},
    {"name": "_MAX_ROW_ID", "type": ["null", "long"], "default": null},
    {"name": "_TOTAL_BUCKETS", "type": ["null", "int"], "default": null},
    {"name": "_EXTRA_FILES", "type": ["null", {"type": "array", "items": "string"}], "default": null}
]}"#
);

/// Index manifests (`index-manifest-*`).
pub const INDEX_MANIFEST_ENTRY_SCHEMA: &str = r#"{"type": "record", "name": "IndexManifestEntry", "fields": [
    {"name": "_VERSION", "type": "int"},
    {"name": "_KIND", "type": "int"},
    {"name": "_PARTITION", "type": "bytes"},
    {"name": "_BUCKET", "type": "int"},
    {"name": "_INDEX_TYPE", "type": "string"},
    {"name": "_FILE_NAME", "type": "string"},
    {"name": "_FILE_SIZE", "type": "long"},
    {"name": "_ROW_COUNT", "type": "long"},
    {"name": "_DELETIONS_VECTORS_RANGES", "type": ["null", {"type": "array", "items": {"type": "record", "name": "DeletionVectorMeta", "fields": [
        {"name": "f0", "type": "string"},
        {"name": "f1", "type": "int"},
        {"name": "f2", "type": "int"},
        {"name": "_CARDINALITY", "type": ["null", "long"], "default": null}
    ]}}], "default": null},
    {"name": "_EXTERNAL_PATH", "type": ["null", "string"], "default": null},
    {"name": "_GLOBAL_INDEX", "type": ["null", {"type": "record", "name": "GlobalIndexMeta", "fields": [
        {"name": "_ROW_RANGE_START", "type": "long"},
        {"name": "_ROW_RANGE_END", "type": "long"},
        {"name": "_INDEX_FIELD_ID", "type": "int"},
        {"name": "_EXTRA_FIELD_IDS", "type": ["null", {"type": "array", "items": "int"}], "default": null},
        {"name": "_INDEX_META", "type": ["null", "bytes"], "default": null},
        {"name": "_SOURCE_META", "type": ["null", "bytes"], "default": null}
    ]}], "default": null}
]}"#;

type Parsed = LazyLock<std::result::Result<Schema, String>>;

static MANIFEST_ENTRY: Parsed = LazyLock::new(|| parse(MANIFEST_ENTRY_SCHEMA));
static MANIFEST_FILE_META: Parsed = LazyLock::new(|| parse(MANIFEST_FILE_META_SCHEMA));
static INDEX_MANIFEST_ENTRY: Parsed = LazyLock::new(|| parse(INDEX_MANIFEST_ENTRY_SCHEMA));

fn parse(text: &str) -> std::result::Result<Schema, String> {
    Schema::parse_str(text).map_err(|e| e.to_string())
}

fn get(parsed: &'static Parsed) -> Result<&'static Schema> {
    parsed
        .as_ref()
        .map_err(|e| Error::internal(format!("built-in manifest Avro schema: {e}")))
}

pub(crate) fn manifest_entry_schema() -> Result<&'static Schema> {
    get(&MANIFEST_ENTRY)
}

pub(crate) fn manifest_file_meta_schema() -> Result<&'static Schema> {
    get(&MANIFEST_FILE_META)
}

pub(crate) fn index_manifest_entry_schema() -> Result<&'static Schema> {
    get(&INDEX_MANIFEST_ENTRY)
}
