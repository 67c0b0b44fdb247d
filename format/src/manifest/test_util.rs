//! Shared test data and Avro helpers for the manifest tests.

use std::path::PathBuf;

use apache_avro::types::Value;
use serde_json::Value as Json;

use super::*;

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/pypaimon-2.1.0")
}

pub fn fixture(path: &str) -> Vec<u8> {
    let p = fixture_dir().join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A serialized one-field BinaryRow holding a string (longer than 7 bytes: stored in the var
/// part at offset 16).
pub fn string_row(s: &str) -> Vec<u8> {
    assert!(s.len() > 7);
    let mut b = vec![0, 0, 0, 1];
    b.extend([0u8; 8]);
    b.extend((s.len() as u32).to_le_bytes());
    b.extend(16u32.to_le_bytes());
    b.extend(s.as_bytes());
    b.resize(b.len() + (8 - s.len() % 8) % 8, 0);
    b
}

/// A serialized one-field BinaryRow holding a BIGINT.
pub fn bigint_row(v: i64) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 1];
    b.extend([0u8; 8]);
    b.extend(v.to_le_bytes());
    b
}

/// A data file with every optional field set.
pub fn full_data_file(name: &str, level: i32) -> DataFileMeta {
    DataFileMeta {
        file_name: name.to_string(),
        file_size: 4096,
        row_count: 10,
        min_key: bigint_row(1),
        max_key: bigint_row(99),
        key_stats: SimpleStats {
            min_values: bigint_row(1),
            max_values: bigint_row(99),
            null_counts: Some(vec![Some(0)]),
        },
        value_stats: SimpleStats {
            min_values: bigint_row(1),
            max_values: bigint_row(99),
            null_counts: Some(vec![None]),
        },
        min_sequence_number: 5,
        max_sequence_number: 14,
        schema_id: 3,
        level,
        extra_files: vec![format!("{name}.index")],
        creation_time: Some(1_700_000_000_123),
        delete_row_count: Some(2),
        embedded_index: Some(vec![1, 2, 3]),
        file_source: Some(FileSource::Compact),
        value_stats_cols: Some(vec!["k".to_string()]),
        external_path: Some(format!("s3://ext/{name}")),
        first_row_id: Some(1000),
        write_cols: Some(vec!["k".to_string(), "v".to_string()]),
        write_cols_sequences: Some(vec![7, 8]),
    }
}

/// A data file with every optional field unset.
pub fn bare_data_file(name: &str, level: i32) -> DataFileMeta {
    DataFileMeta {
        file_name: name.to_string(),
        file_size: 1,
        row_count: 1,
        min_key: bigint_row(1),
        max_key: bigint_row(1),
        key_stats: SimpleStats::empty(),
        value_stats: SimpleStats {
            min_values: vec![],
            max_values: vec![],
            null_counts: None,
        },
        min_sequence_number: 0,
        max_sequence_number: 0,
        schema_id: 0,
        level,
        extra_files: vec![],
        creation_time: None,
        delete_row_count: None,
        embedded_index: None,
        file_source: None,
        value_stats_cols: None,
        external_path: None,
        first_row_id: None,
        write_cols: None,
        write_cols_sequences: None,
    }
}

pub fn entry(kind: FileKind, bucket: i32, file: DataFileMeta) -> ManifestEntry {
    ManifestEntry {
        kind,
        partition: string_row("2024-01-01"),
        bucket,
        total_buckets: 2,
        file,
    }
}

pub fn sample_entries() -> Vec<ManifestEntry> {
    vec![
        entry(FileKind::Add, 0, full_data_file("data-a.parquet", 0)),
        entry(FileKind::Delete, 1, bare_data_file("data-b.parquet", 3)),
        ManifestEntry {
            total_buckets: -1,
            partition: EMPTY_ROW_BYTES.to_vec(),
            ..entry(FileKind::Add, 7, bare_data_file("data-c.orc", 5))
        },
    ]
}

pub fn sample_metas() -> Vec<ManifestFileMeta> {
    vec![
        ManifestFileMeta {
            file_name: "manifest-x-0".into(),
            file_size: 2439,
            num_added_files: 3,
            num_deleted_files: 1,
            partition_stats: SimpleStats {
                min_values: string_row("2024-01-01"),
                max_values: string_row("2024-01-02"),
                null_counts: Some(vec![Some(0)]),
            },
            schema_id: 1,
            min_bucket: Some(0),
            max_bucket: Some(1),
            min_level: Some(0),
            max_level: Some(5),
            min_row_id: Some(10),
            max_row_id: Some(20),
            total_buckets: Some(2),
            extra_files: Some(vec!["manifest-x-0.sidecar".into()]),
        },
        ManifestFileMeta {
            file_name: "manifest-y-0".into(),
            file_size: 1,
            num_added_files: 0,
            num_deleted_files: 0,
            partition_stats: SimpleStats::empty(),
            schema_id: 0,
            min_bucket: None,
            max_bucket: None,
            min_level: None,
            max_level: None,
            min_row_id: None,
            max_row_id: None,
            total_buckets: None,
            extra_files: None,
        },
    ]
}

pub fn sample_index_entries() -> Vec<IndexManifestEntry> {
    let file = |index_type: &str, name: &str| IndexFileMeta {
        index_type: index_type.into(),
        file_name: name.into(),
        file_size: 12,
        row_count: 3,
        dv_ranges: None,
        external_path: None,
        global_index: None,
    };
    vec![
        IndexManifestEntry {
            kind: FileKind::Add,
            partition: EMPTY_ROW_BYTES.to_vec(),
            bucket: 0,
            index_file: file(HASH_INDEX, "index-h-0"),
        },
        IndexManifestEntry {
            kind: FileKind::Delete,
            partition: string_row("2024-01-01"),
            bucket: 1,
            index_file: IndexFileMeta {
                dv_ranges: Some(vec![
                    DeletionVectorMeta {
                        data_file_name: "data-a.parquet".into(),
                        offset: 1,
                        length: 22,
                        cardinality: Some(3),
                    },
                    DeletionVectorMeta {
                        data_file_name: "data-b.parquet".into(),
                        offset: 31,
                        length: 18,
                        cardinality: None,
                    },
                ]),
                external_path: Some("s3://ext/index-dv-0".into()),
                ..file(DELETION_VECTORS_INDEX, "index-dv-0")
            },
        },
        IndexManifestEntry {
            kind: FileKind::Add,
            partition: EMPTY_ROW_BYTES.to_vec(),
            bucket: 0,
            index_file: IndexFileMeta {
                global_index: Some(GlobalIndexMeta {
                    row_range_start: 0,
                    row_range_end: 99,
                    index_field_id: 4,
                    extra_field_ids: Some(vec![5, 6]),
                    index_meta: Some(vec![9]),
                    source_meta: None,
                }),
                ..file("btree", "index-g-0")
            },
        },
    ]
}

/// Writes `records` with an arbitrary (test-made) writer schema.
pub fn write_with_schema(
    schema: &Json,
    records: Vec<Value>,
    codec: ManifestCompression,
) -> Vec<u8> {
    let schema = apache_avro::Schema::parse(schema).unwrap();
    let mut w = apache_avro::Writer::with_codec(&schema, Vec::new(), codec.avro_codec());
    for r in records {
        w.append(r).unwrap();
    }
    w.into_inner().unwrap()
}

/// The `avro.schema` header of a (trusted) container file.
pub fn header_schema(bytes: &[u8]) -> Json {
    let reader = apache_avro::Reader::new(bytes).unwrap();
    serde_json::to_value(reader.writer_schema()).unwrap()
}

/// Removes field `path` ("_FILE._LEVEL") from a record schema.
pub fn drop_schema_field(schema: &mut Json, path: &str) {
    let (head, rest) = path
        .split_once('.')
        .map_or((path, None), |(h, r)| (h, Some(r)));
    let fields = record_of(schema)["fields"].as_array_mut().unwrap();
    match rest {
        None => fields.retain(|f| f["name"] != head),
        Some(rest) => {
            let f = fields.iter_mut().find(|f| f["name"] == head).unwrap();
            drop_schema_field(&mut f["type"], rest);
        }
    }
}

/// The record inside a union and/or array schema.
fn record_of(schema: &mut Json) -> &mut Json {
    if schema.is_array() {
        let i = schema
            .as_array()
            .unwrap()
            .iter()
            .position(|b| b.is_object())
            .unwrap();
        record_of(&mut schema[i])
    } else if schema["type"] == "array" {
        record_of(&mut schema["items"])
    } else {
        schema
    }
}

/// Removes field `path` from a record value.
pub fn drop_value_field(value: &mut Value, path: &str) {
    let (head, rest) = path
        .split_once('.')
        .map_or((path, None), |(h, r)| (h, Some(r)));
    let fields = match value {
        Value::Record(fields) => fields,
        Value::Union(_, inner) => return drop_value_field(inner, path),
        other => panic!("not a record: {other:?}"),
    };
    match rest {
        None => fields.retain(|(n, _)| n != head),
        Some(rest) => {
            let (_, v) = fields.iter_mut().find(|(n, _)| n == head).unwrap();
            drop_value_field(v, rest);
        }
    }
}

/// Sets field `path` of a record value.
pub fn set_value_field(value: &mut Value, path: &str, new: Value) {
    let (head, rest) = path
        .split_once('.')
        .map_or((path, None), |(h, r)| (h, Some(r)));
    let Value::Record(fields) = value else {
        panic!("not a record")
    };
    let (_, v) = fields.iter_mut().find(|(n, _)| n == head).unwrap();
    match rest {
        None => *v = new,
        Some(rest) => set_value_field(v, rest, new),
    }
}
