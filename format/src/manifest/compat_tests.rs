//! Round trips and schema-evolution compatibility of the manifest readers and writers.

use apache_avro::types::Value;
use serde_json::{json, Value as Json};

use super::schema::*;
use super::test_util::*;
use super::*;
use crate::error::ErrorKind;

const CODECS: [ManifestCompression; 4] = [
    ManifestCompression::Zstd,
    ManifestCompression::Snappy,
    ManifestCompression::Deflate,
    ManifestCompression::Null,
];

#[test]
fn manifest_entries_round_trip() {
    for codec in CODECS {
        let entries = sample_entries();
        let bytes = write_manifest_entries(&entries, codec).unwrap();
        assert_eq!(read_manifest_entries(&bytes).unwrap(), entries, "{codec}");
    }
}

#[test]
fn manifest_list_round_trip() {
    for codec in CODECS {
        let metas = sample_metas();
        let bytes = write_manifest_list(&metas, codec).unwrap();
        assert_eq!(read_manifest_list(&bytes).unwrap(), metas, "{codec}");
    }
}

#[test]
fn index_manifest_round_trip() {
    for codec in CODECS {
        let entries = sample_index_entries();
        let bytes = write_index_manifest(&entries, codec).unwrap();
        assert_eq!(read_index_manifest(&bytes).unwrap(), entries, "{codec}");
    }
}

#[test]
fn empty_files_round_trip() {
    let bytes = write_manifest_list(&[], ManifestCompression::Zstd).unwrap();
    assert!(read_manifest_list(&bytes).unwrap().is_empty());
    let bytes = write_manifest_entries(&[], ManifestCompression::Zstd).unwrap();
    assert!(read_manifest_entries(&bytes).unwrap().is_empty());
    let bytes = write_index_manifest(&[], ManifestCompression::Zstd).unwrap();
    assert!(read_index_manifest(&bytes).unwrap().is_empty());
}

#[test]
fn many_entries_span_several_blocks() {
    let entries: Vec<_> = (0..500)
        .map(|i| {
            entry(
                FileKind::Add,
                i % 4,
                full_data_file(&format!("data-{i}.parquet"), 0),
            )
        })
        .collect();
    let bytes = write_manifest_entries(&entries, ManifestCompression::Zstd).unwrap();
    assert_eq!(read_manifest_entries(&bytes).unwrap(), entries);
}

#[test]
fn written_codec_and_schema_match_pypaimon() {
    let cases = [
        (
            write_manifest_entries(&sample_entries(), ManifestCompression::Zstd).unwrap(),
            "pk/manifest-f2763c15-b91a-44c7-ab8d-adf062d012c3-0",
        ),
        (
            write_manifest_list(&sample_metas(), ManifestCompression::Zstd).unwrap(),
            "pk/manifest-list-235076cd-0b27-4b58-81b5-100d8fb75f77-1",
        ),
        (
            write_index_manifest(&sample_index_entries(), ManifestCompression::Zstd).unwrap(),
            "dv/index-manifest-d3b27d2f-1127-4e8f-a124-fc5c9109fb50",
        ),
    ];
    for (ours, fixture_path) in cases {
        let theirs = fixture(fixture_path);
        assert_eq!(
            header_schema(&ours),
            header_schema(&theirs),
            "{fixture_path}"
        );
        assert_eq!(
            raw_header_schema(&ours),
            raw_header_schema(&theirs),
            "{fixture_path}"
        );
        let reader = apache_avro::Reader::new(&ours[..]).unwrap();
        assert_eq!(
            reader.user_metadata().get("avro.codec"),
            None,
            "codec is not user metadata"
        );
    }
    // The constants are the schemas pypaimon writes, verbatim modulo whitespace.
    for (text, fixture_path) in [
        (
            MANIFEST_ENTRY_SCHEMA,
            "pk/manifest-63a33309-cb86-4ec9-a760-9c80e3a9aded-0",
        ),
        (
            MANIFEST_FILE_META_SCHEMA,
            "pk/manifest-list-ea4cbf46-e500-4859-9bb6-c4a46d8c2868-1",
        ),
        (
            INDEX_MANIFEST_ENTRY_SCHEMA,
            "dyn/index-manifest-9f2ca0df-c529-4be3-885e-bcddfc2f53b7",
        ),
    ] {
        let ours: Json = serde_json::from_str(text).unwrap();
        assert_eq!(
            ours,
            raw_header_schema(&fixture(fixture_path)),
            "{fixture_path}"
        );
    }
}

/// The `avro.schema` header text exactly as stored, parsed as JSON only.
fn raw_header_schema(bytes: &[u8]) -> Json {
    let text = String::from_utf8_lossy(bytes);
    let start = text.find("{\"type\"").unwrap();
    let mut depth = 0;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            return serde_json::from_str(&text[start..start + i + 1]).unwrap();
        }
    }
    panic!("no schema");
}

/// Java 1.4.2's shape: the top-level record wrapped in ["null", record], Java's record names,
/// no pypaimon-only fields; stats wrapped nullable as paimon-rust 0.4.0 writes them.
fn java_manifest_entry_schema() -> Json {
    let mut schema: Json = serde_json::from_str(MANIFEST_ENTRY_SCHEMA).unwrap();
    drop_schema_field(&mut schema, "_FILE._WRITE_COLS_SEQUENCES");
    schema["name"] = json!("org.apache.paimon.avro.generated.record");
    let file = &mut schema["fields"][5]["type"];
    file["name"] = json!("record__FILE");
    for (i, name) in [
        (5, "record__FILE__KEY_STATS"),
        (6, "record__FILE__VALUE_STATS"),
    ] {
        let mut stats = file["fields"][i]["type"].take();
        stats["name"] = json!(name);
        file["fields"][i]["type"] = json!(["null", stats]);
        file["fields"][i]["default"] = Json::Null;
    }
    json!(["null", schema])
}

fn wrap(v: Value) -> Value {
    Value::Union(1, Box::new(v))
}

#[test]
fn reads_java_shaped_manifest() {
    let mut expected = sample_entries();
    let records = expected
        .iter_mut()
        .map(|e| {
            e.file.write_cols_sequences = None;
            let mut v = e.to_avro();
            drop_value_field(&mut v, "_FILE._WRITE_COLS_SEQUENCES");
            let Value::Record(fields) = &mut v else {
                unreachable!()
            };
            let Value::Record(file) = &mut fields[5].1 else {
                unreachable!()
            };
            for i in [5, 6] {
                file[i].1 = wrap(file[i].1.clone());
            }
            wrap(v)
        })
        .collect();
    let bytes = write_with_schema(
        &java_manifest_entry_schema(),
        records,
        ManifestCompression::Zstd,
    );
    assert_eq!(read_manifest_entries(&bytes).unwrap(), expected);
}

#[test]
fn reads_older_files_without_optional_fields() {
    // Roughly Paimon 0.8: DataFileMeta ends at _EMBEDDED_FILE_INDEX; manifest lists have no
    // bucket/level/row-id ranges; index entries have no external path or global index.
    let late_file_fields = [
        "_FILE_SOURCE",
        "_VALUE_STATS_COLS",
        "_EXTERNAL_PATH",
        "_FIRST_ROW_ID",
        "_WRITE_COLS",
        "_WRITE_COLS_SEQUENCES",
    ];
    let mut schema: Json = serde_json::from_str(MANIFEST_ENTRY_SCHEMA).unwrap();
    for f in late_file_fields {
        drop_schema_field(&mut schema, &format!("_FILE.{f}"));
    }
    let mut expected = sample_entries();
    let records = expected
        .iter_mut()
        .map(|e| {
            let mut v = e.to_avro();
            for f in late_file_fields {
                drop_value_field(&mut v, &format!("_FILE.{f}"));
            }
            let file = &mut e.file;
            file.file_source = None;
            file.value_stats_cols = None;
            file.external_path = None;
            file.first_row_id = None;
            file.write_cols = None;
            file.write_cols_sequences = None;
            v
        })
        .collect();
    let bytes = write_with_schema(&schema, records, ManifestCompression::Snappy);
    assert_eq!(read_manifest_entries(&bytes).unwrap(), expected);

    let late_list_fields = [
        "_MIN_BUCKET",
        "_MAX_BUCKET",
        "_MIN_LEVEL",
        "_MAX_LEVEL",
        "_MIN_ROW_ID",
        "_MAX_ROW_ID",
        "_TOTAL_BUCKETS",
        "_EXTRA_FILES",
    ];
    let mut schema: Json = serde_json::from_str(MANIFEST_FILE_META_SCHEMA).unwrap();
    let metas = sample_metas();
    let mut records: Vec<Value> = metas.iter().map(ManifestFileMeta::to_avro).collect();
    for f in late_list_fields {
        drop_schema_field(&mut schema, f);
        records.iter_mut().for_each(|r| drop_value_field(r, f));
    }
    let bytes = write_with_schema(&schema, records, ManifestCompression::Null);
    let read = read_manifest_list(&bytes).unwrap();
    assert_eq!(read[0].file_name, "manifest-x-0");
    assert_eq!(read[0].partition_stats, metas[0].partition_stats);
    assert_eq!(
        (
            read[0].min_bucket,
            read[0].max_level,
            read[0].extra_files.clone()
        ),
        (None, None, None)
    );

    let mut schema: Json = serde_json::from_str(INDEX_MANIFEST_ENTRY_SCHEMA).unwrap();
    let mut records: Vec<Value> = sample_index_entries().iter().map(|e| e.to_avro()).collect();
    for f in [
        "_EXTERNAL_PATH",
        "_GLOBAL_INDEX",
        "_DELETIONS_VECTORS_RANGES._CARDINALITY",
    ] {
        drop_schema_field(&mut schema, f);
    }
    for r in &mut records {
        drop_value_field(r, "_EXTERNAL_PATH");
        drop_value_field(r, "_GLOBAL_INDEX");
    }
    // Drop _CARDINALITY from the DV range items too.
    let Value::Record(fields) = &mut records[1] else {
        unreachable!()
    };
    let Value::Union(1, ranges) = &mut fields[8].1 else {
        unreachable!()
    };
    let Value::Array(items) = &mut **ranges else {
        unreachable!()
    };
    items
        .iter_mut()
        .for_each(|i| drop_value_field(i, "_CARDINALITY"));
    let bytes = write_with_schema(&schema, records, ManifestCompression::Deflate);
    let read = read_index_manifest(&bytes).unwrap();
    assert_eq!(read[1].index_file.external_path, None);
    assert_eq!(read[2].index_file.global_index, None);
    let ranges = read[1].index_file.dv_ranges.as_ref().unwrap();
    assert_eq!(
        (ranges[0].offset, ranges[0].length, ranges[0].cardinality),
        (1, 22, None)
    );
}

#[test]
fn writer_only_fields_are_skipped() {
    let mut schema: Json = serde_json::from_str(MANIFEST_ENTRY_SCHEMA).unwrap();
    schema["fields"]
        .as_array_mut()
        .unwrap()
        .insert(2, json!({"name": "_FUTURE", "type": ["null", {"type": "map", "values": "double"}], "default": null}));
    schema["fields"][6]["type"]["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "_FUTURE_FLAG", "type": "boolean"}));
    let entries = sample_entries();
    let records = entries
        .iter()
        .map(|e| {
            let Value::Record(mut fields) = e.to_avro() else {
                unreachable!()
            };
            let future = Value::Map(
                [("x".to_string(), Value::Double(1.5))]
                    .into_iter()
                    .collect(),
            );
            fields.insert(2, ("_FUTURE".into(), wrap(future)));
            let Value::Record(file) = &mut fields[6].1 else {
                unreachable!()
            };
            file.push(("_FUTURE_FLAG".into(), Value::Boolean(true)));
            Value::Record(fields)
        })
        .collect();
    let bytes = write_with_schema(&schema, records, ManifestCompression::Zstd);
    assert_eq!(read_manifest_entries(&bytes).unwrap(), entries);
}

fn assert_invalid(err: crate::Error, needles: &[&str]) {
    assert_eq!(err.kind(), ErrorKind::DataInvalid, "{err}");
    for n in needles {
        assert!(err.message().contains(n), "`{n}` not in: {err}");
    }
}

type ReadFn = fn(&[u8]) -> crate::Result<()>;

#[test]
fn missing_required_fields_name_field_and_role() {
    let cases: [(&str, &str, ReadFn, Vec<Value>, &str); 4] = [
        (
            MANIFEST_ENTRY_SCHEMA,
            "_FILE._LEVEL",
            |b| read_manifest_entries(b).map(drop),
            sample_entries().iter().map(|e| e.to_avro()).collect(),
            "manifest file",
        ),
        (
            MANIFEST_ENTRY_SCHEMA,
            "_FILE._KEY_STATS._MIN_VALUES",
            |b| read_manifest_entries(b).map(drop),
            sample_entries().iter().map(|e| e.to_avro()).collect(),
            "manifest file",
        ),
        (
            MANIFEST_FILE_META_SCHEMA,
            "_SCHEMA_ID",
            |b| read_manifest_list(b).map(drop),
            sample_metas().iter().map(|m| m.to_avro()).collect(),
            "manifest list",
        ),
        (
            INDEX_MANIFEST_ENTRY_SCHEMA,
            "_INDEX_TYPE",
            |b| read_index_manifest(b).map(drop),
            sample_index_entries().iter().map(|e| e.to_avro()).collect(),
            "index manifest",
        ),
    ];
    for (schema_text, field, read, mut records, role) in cases {
        let mut schema: Json = serde_json::from_str(schema_text).unwrap();
        drop_schema_field(&mut schema, field);
        records.iter_mut().for_each(|r| drop_value_field(r, field));
        let bytes = write_with_schema(&schema, records, ManifestCompression::Zstd);
        let err = read(&bytes).unwrap_err();
        assert_invalid(
            err,
            &[role, "missing required field", &format!("`{field}`")],
        );
    }
}

#[test]
fn bad_values_are_rejected() {
    let schema: Json = serde_json::from_str(MANIFEST_ENTRY_SCHEMA).unwrap();
    let write_one = |path: &str, value: Value| {
        let mut v = sample_entries()[0].to_avro();
        set_value_field(&mut v, path, value);
        write_with_schema(&schema, vec![v], ManifestCompression::Null)
    };
    let err = read_manifest_entries(&write_one("_VERSION", Value::Int(1))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.message().contains("_VERSION 1"), "{err}");
    let err = read_manifest_entries(&write_one("_KIND", Value::Int(7))).unwrap_err();
    assert_invalid(err, &["_KIND 7"]);
    let err =
        read_manifest_entries(&write_one("_FILE._FILE_SOURCE", wrap(Value::Int(9)))).unwrap_err();
    assert_invalid(err, &["_FILE_SOURCE 9"]);
}

#[test]
fn truncated_and_garbage_files_are_malformed() {
    let bytes = write_manifest_entries(&sample_entries(), ManifestCompression::Null).unwrap();
    for cut in [0, 3, 10, bytes.len() / 2, bytes.len() - 1] {
        let err = read_manifest_entries(&bytes[..cut]).unwrap_err();
        assert_invalid(err, &["malformed Avro manifest (manifest file)"]);
    }
    let err = read_manifest_list(b"definitely not avro").unwrap_err();
    assert_invalid(
        err,
        &["malformed Avro manifest (manifest list)", "bad magic"],
    );
    // A manifest list is not a manifest file (both are _VERSION 2): the first entry field fails.
    let list = write_manifest_list(&sample_metas(), ManifestCompression::Zstd).unwrap();
    let err = read_manifest_entries(&list).unwrap_err();
    assert_invalid(err, &["manifest file: missing required field `_KIND`"]);
}
