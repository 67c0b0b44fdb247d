//! Golden tests over real files written by pypaimon 2.1.0
//! (`tests/python/gen_manifest_fixture.py`; see that script for the tables and commits).

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::test_util::*;
use super::*;

const M1: &str = "manifest-f2763c15-b91a-44c7-ab8d-adf062d012c3-0";
const M2: &str = "manifest-63a33309-cb86-4ec9-a760-9c80e3a9aded-0";
const M3: &str = "manifest-a2e99233-374b-49fd-928a-a7560d4e86de-0";
const F_2024_01_01_B0: &str = "data-0a0300fe-444d-4368-ba62-2fad7757a8a3-0.parquet";
const F_2024_01_01_B1: &str = "data-59a45d4e-35f5-4265-9e54-c6615c94502c-0.parquet";
const F_2024_01_02_B0: &str = "data-fecd86a8-cf09-46b0-a9e9-efb661cf74d6-0.parquet";
const F_UPDATE: &str = "data-24b9f587-34da-498a-89ee-33df65e6d213-0.parquet";
const F_OVERWRITE: &str = "data-c49b6928-5667-4013-b1d9-3c56ee7dc796-0.parquet";

fn snapshot(dir: &str, id: u32) -> Json {
    serde_json::from_slice(&fixture(&format!("{dir}/snapshot-{id}"))).unwrap()
}

/// Reads a snapshot's base or delta manifest list, checking the recorded size.
fn manifest_list(dir: &str, snap: &Json, which: &str) -> Vec<ManifestFileMeta> {
    let name = snap[format!("{which}ManifestList")].as_str().unwrap();
    let bytes = fixture(&format!("{dir}/{name}"));
    assert_eq!(snap[format!("{which}ManifestListSize")], bytes.len() as u64);
    read_manifest_list(&bytes).unwrap()
}

/// Reads the manifests of a list, checking each recorded size and add/delete count.
fn entries_of(dir: &str, metas: &[ManifestFileMeta]) -> Vec<ManifestEntry> {
    let mut out = Vec::new();
    for meta in metas {
        let bytes = fixture(&format!("{dir}/{}", meta.file_name));
        assert_eq!(meta.file_size, bytes.len() as i64, "{}", meta.file_name);
        let entries = read_manifest_entries(&bytes).unwrap();
        let adds = entries.iter().filter(|e| e.kind == FileKind::Add).count() as i64;
        assert_eq!(
            (meta.num_added_files, meta.num_deleted_files),
            (adds, entries.len() as i64 - adds)
        );
        out.extend(entries);
    }
    out
}

fn names(entries: &[ManifestEntry]) -> Vec<(FileKind, &str)> {
    entries
        .iter()
        .map(|e| (e.kind, e.file.file_name.as_str()))
        .collect()
}

#[test]
fn pk_snapshot_1_initial_insert() {
    let snap = snapshot("pk", 1);
    assert_eq!(snap["commitKind"], "APPEND");
    assert!(manifest_list("pk", &snap, "base").is_empty());
    let delta = manifest_list("pk", &snap, "delta");
    assert_eq!(delta.len(), 1);
    let meta = &delta[0];
    assert_eq!(meta.file_name, M1);
    assert_eq!(
        (meta.file_size, meta.num_added_files, meta.num_deleted_files),
        (2439, 3, 0)
    );
    assert_eq!(meta.schema_id, 0);
    assert_eq!((meta.min_bucket, meta.max_bucket), (Some(0), Some(1)));
    assert_eq!((meta.min_level, meta.max_level), (Some(0), Some(0)));
    assert_eq!((meta.min_row_id, meta.max_row_id), (None, None));
    assert_eq!(
        (meta.total_buckets, meta.extra_files.clone()),
        (Some(2), None)
    );
    assert_eq!(
        meta.partition_stats,
        SimpleStats {
            min_values: string_row("2024-01-01"),
            max_values: string_row("2024-01-02"),
            null_counts: Some(vec![Some(0)]),
        }
    );

    let entries = entries_of("pk", &delta);
    assert_eq!(
        names(&entries),
        [
            (FileKind::Add, F_2024_01_01_B0),
            (FileKind::Add, F_2024_01_01_B1),
            (FileKind::Add, F_2024_01_02_B0)
        ]
    );
    let first = &entries[0];
    assert_eq!(first.partition, string_row("2024-01-01"));
    assert_eq!((first.bucket, first.total_buckets), (0, 2));
    let f = &first.file;
    assert_eq!((f.file_size, f.row_count), (1954, 2));
    assert_eq!(
        (f.min_key.clone(), f.max_key.clone()),
        (bigint_row(1), bigint_row(2))
    );
    assert_eq!(
        f.key_stats,
        SimpleStats {
            min_values: bigint_row(1),
            max_values: bigint_row(2),
            null_counts: Some(vec![Some(0)]),
        }
    );
    // pypaimon collects no value stats by default.
    assert_eq!(f.value_stats, SimpleStats::empty());
    assert_eq!(f.value_stats_cols, Some(vec![]));
    assert_eq!((f.min_sequence_number, f.max_sequence_number), (0, 1));
    assert_eq!((f.schema_id, f.level), (0, 0));
    assert!(f.extra_files.is_empty());
    assert_eq!(f.creation_time, Some(1_795_434_896_046));
    assert_eq!(f.delete_row_count, Some(0));
    assert_eq!(f.file_source, Some(FileSource::Append));
    assert_eq!(
        (f.embedded_index.clone(), f.external_path.clone()),
        (None, None)
    );
    assert_eq!(
        (
            f.first_row_id,
            f.write_cols.clone(),
            f.write_cols_sequences.clone()
        ),
        (None, None, None)
    );

    let b1 = &entries[1];
    assert_eq!(
        (b1.bucket, b1.file.row_count, b1.file.file_size),
        (1, 1, 1921)
    );
    assert_eq!(
        (b1.file.min_sequence_number, b1.file.max_sequence_number),
        (0, 0)
    );
    assert_eq!(b1.file.min_key, bigint_row(3));
    let other = &entries[2];
    assert_eq!(other.partition, string_row("2024-01-02"));
    assert_eq!(
        (other.bucket, other.file.min_key.clone()),
        (0, bigint_row(1))
    );
    assert_eq!(snap["deltaRecordCount"], 4);
}

#[test]
fn pk_snapshot_2_update_adds_level0_file() {
    let snap = snapshot("pk", 2);
    let base = manifest_list("pk", &snap, "base");
    assert_eq!(
        base.iter()
            .map(|m| m.file_name.as_str())
            .collect::<Vec<_>>(),
        [M1]
    );
    let delta = manifest_list("pk", &snap, "delta");
    assert_eq!(delta.len(), 1);
    assert_eq!(
        (delta[0].file_name.as_str(), delta[0].file_size),
        (M2, 2345)
    );
    assert_eq!(
        (delta[0].min_bucket, delta[0].max_bucket),
        (Some(0), Some(0))
    );
    let entries = entries_of("pk", &delta);
    assert_eq!(names(&entries), [(FileKind::Add, F_UPDATE)]);
    let f = &entries[0].file;
    assert_eq!(entries[0].partition, string_row("2024-01-01"));
    assert_eq!((entries[0].bucket, f.level, f.row_count), (0, 0, 1));
    // The bucket writer continues after the restored max sequence number 1.
    assert_eq!((f.min_sequence_number, f.max_sequence_number), (2, 2));
    assert_eq!(
        (f.min_key.clone(), f.max_key.clone()),
        (bigint_row(2), bigint_row(2))
    );
}

#[test]
fn pk_snapshot_3_overwrite_deletes_and_merges() {
    let snap = snapshot("pk", 3);
    assert_eq!(snap["commitKind"], "OVERWRITE");
    let base = manifest_list("pk", &snap, "base");
    assert_eq!(
        base.iter()
            .map(|m| m.file_name.as_str())
            .collect::<Vec<_>>(),
        [M1, M2]
    );
    let delta = manifest_list("pk", &snap, "delta");
    assert_eq!(delta[0].file_name, M3);
    assert_eq!(
        (delta[0].num_added_files, delta[0].num_deleted_files),
        (1, 1)
    );
    let delta_entries = entries_of("pk", &delta);
    assert_eq!(
        names(&delta_entries),
        [
            (FileKind::Delete, F_2024_01_02_B0),
            (FileKind::Add, F_OVERWRITE)
        ]
    );
    let deleted = &delta_entries[0];
    assert_eq!(
        (deleted.partition.clone(), deleted.bucket),
        (string_row("2024-01-02"), 0)
    );
    assert_eq!(deleted.file.creation_time, Some(1_795_434_896_048));
    assert_eq!(delta_entries[1].file.min_key, bigint_row(5));
    assert_eq!(
        (
            delta_entries[1].file.min_sequence_number,
            delta_entries[1].file.max_sequence_number
        ),
        (1, 1)
    );

    // Snapshot record counts follow from the entries.
    let signed: i64 = delta_entries
        .iter()
        .map(|e| match e.kind {
            FileKind::Add => e.file.row_count,
            FileKind::Delete => -e.file.row_count,
        })
        .sum();
    assert_eq!(snap["deltaRecordCount"], signed);

    let mut all = entries_of("pk", &base);
    all.extend(delta_entries);
    let live = live_entries(all, UnmatchedDeletes::Reject).unwrap();
    assert_eq!(
        names(&live),
        [
            (FileKind::Add, F_2024_01_01_B0),
            (FileKind::Add, F_2024_01_01_B1),
            (FileKind::Add, F_UPDATE),
            (FileKind::Add, F_OVERWRITE)
        ]
    );
    assert_eq!(
        snap["totalRecordCount"],
        live.iter().map(|e| e.file.row_count).sum::<i64>()
    );

    // Every live file exists with exactly the recorded size; the deleted one is not live.
    let on_disk: BTreeMap<String, i64> =
        serde_json::from_slice(&fixture("pk/data_files.json")).unwrap();
    for e in &live {
        let found = on_disk.iter().find(|(path, _)| {
            path.ends_with(&format!("/bucket-{}/{}", e.bucket, e.file.file_name))
        });
        assert_eq!(
            found.map(|(_, size)| *size),
            Some(e.file.file_size),
            "{}",
            e.file.file_name
        );
    }
    assert_eq!(on_disk.len(), live.len() + 1);
}

#[test]
fn dynamic_bucket_table_and_hash_index() {
    let snap = snapshot("dyn", 1);
    let delta = manifest_list("dyn", &snap, "delta");
    assert_eq!(delta[0].partition_stats, SimpleStats::empty());
    assert_eq!(delta[0].total_buckets, None);
    let entries = entries_of("dyn", &delta);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        e.file.file_name,
        "data-3d9425bd-4f7b-4018-81fa-c1a3ca814bc0-0.parquet"
    );
    assert_eq!(
        (e.partition.as_slice(), e.bucket, e.total_buckets),
        (&EMPTY_ROW_BYTES[..], 0, -1)
    );
    assert_eq!((e.file.row_count, e.file.file_size), (3, 1703));
    assert_eq!(
        (e.file.min_sequence_number, e.file.max_sequence_number),
        (0, 2)
    );
    assert_eq!(
        (e.file.min_key.clone(), e.file.max_key.clone()),
        (bigint_row(1), bigint_row(3))
    );

    let name = snap["indexManifest"].as_str().unwrap();
    let index = read_index_manifest(&fixture(&format!("dyn/{name}"))).unwrap();
    assert_eq!(
        index,
        [IndexManifestEntry {
            kind: FileKind::Add,
            partition: EMPTY_ROW_BYTES.to_vec(),
            bucket: 0,
            index_file: IndexFileMeta {
                index_type: HASH_INDEX.into(),
                file_name: "index-48f481c0-545e-41ba-9910-10acc57cef41-0".into(),
                // Three 4-byte key hashes.
                file_size: 12,
                row_count: 3,
                dv_ranges: None,
                external_path: None,
                global_index: None,
            },
        }]
    );
}

#[test]
fn deletion_vector_index_manifest() {
    let index = read_index_manifest(&fixture(
        "dv/index-manifest-d3b27d2f-1127-4e8f-a124-fc5c9109fb50",
    ))
    .unwrap();
    let dv = |name: &str, offset, length, cardinality| DeletionVectorMeta {
        data_file_name: name.into(),
        offset,
        length,
        cardinality,
    };
    assert_eq!(
        index,
        [
            IndexManifestEntry {
                kind: FileKind::Add,
                partition: string_row("2024-01-01"),
                bucket: 0,
                index_file: IndexFileMeta {
                    index_type: DELETION_VECTORS_INDEX.into(),
                    file_name: "index-dv-fixture-0".into(),
                    file_size: 123,
                    row_count: 2,
                    dv_ranges: Some(vec![
                        dv("data-a.parquet", 1, 22, Some(3)),
                        dv("data-b.parquet", 31, 18, None),
                    ]),
                    external_path: None,
                    global_index: None,
                },
            },
            IndexManifestEntry {
                kind: FileKind::Delete,
                partition: string_row("2024-01-02"),
                bucket: 1,
                index_file: IndexFileMeta {
                    index_type: DELETION_VECTORS_INDEX.into(),
                    file_name: "index-dv-fixture-1".into(),
                    file_size: 45,
                    row_count: 0,
                    dv_ranges: None,
                    external_path: Some("s3://bucket/ext/index-dv-fixture-1".into()),
                    global_index: None,
                },
            },
        ]
    );
}

#[test]
fn pypaimon_files_survive_rewrite() {
    let list = read_manifest_list(&fixture(
        "pk/manifest-list-294057ec-0291-461f-a5a1-02e4eba83141-0",
    ))
    .unwrap();
    let entries = read_manifest_entries(&fixture(&format!("pk/{M1}"))).unwrap();
    for codec in [ManifestCompression::Zstd, ManifestCompression::Null] {
        let bytes = write_manifest_list(&list, codec).unwrap();
        assert_eq!(read_manifest_list(&bytes).unwrap(), list);
        let bytes = write_manifest_entries(&entries, codec).unwrap();
        assert_eq!(read_manifest_entries(&bytes).unwrap(), entries);
    }
}
