//! pypaimon 2.1.0 reads what the Rust writer writes (runs `tests/python/check_rust_manifests.py`
//! with `$STRATA_PYTHON`, else `<repo>/.venv/bin/python`, as `scripts/test` sets up; a
//! missing interpreter fails the test rather than skipping it).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value as Json};

use super::test_util::*;
use super::*;

fn python() -> PathBuf {
    let path = std::env::var_os("STRATA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    let ok = Command::new(&path)
        .args(["-c", "import pypaimon, fastavro"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "no Python with pypaimon at {} (run scripts/test or set STRATA_PYTHON)",
        path.display()
    );
    path
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn kind(k: FileKind) -> i8 {
    k.to_byte()
}

/// Entries whose partitions and keys are valid rows of the checker's table (dt STRING, k BIGINT)
/// and whose schema id exists there (pypaimon loads it to decode value stats).
fn entries() -> Vec<ManifestEntry> {
    let mut entries = sample_entries();
    entries[2].partition = string_row("2024-01-02");
    for e in &mut entries {
        e.file.schema_id = 0;
        if e.file.value_stats.min_values.is_empty() {
            // Stats over zero columns, with a null _NULL_COUNTS.
            e.file.value_stats.min_values = EMPTY_ROW_BYTES.to_vec();
            e.file.value_stats.max_values = EMPTY_ROW_BYTES.to_vec();
            e.file.value_stats_cols = Some(vec![]);
        }
    }
    entries
}

fn index_entries() -> Vec<IndexManifestEntry> {
    let mut entries = sample_index_entries();
    for e in &mut entries {
        e.partition = string_row("2024-01-03");
    }
    entries
}

fn expected() -> Json {
    let manifest: Vec<Json> = entries()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let f = &e.file;
            json!({
                "kind": kind(e.kind), "partition": if i == 2 { "2024-01-02" } else { "2024-01-01" },
                "bucket": e.bucket, "total_buckets": e.total_buckets,
                "file_name": f.file_name, "file_size": f.file_size, "row_count": f.row_count,
                "min_sequence_number": f.min_sequence_number,
                "max_sequence_number": f.max_sequence_number, "schema_id": f.schema_id,
                "level": f.level, "extra_files": f.extra_files,
                "creation_time": f.creation_time, "delete_row_count": f.delete_row_count,
                "embedded_index": f.embedded_index.as_deref().map(hex),
                "file_source": f.file_source.map(|s| s.to_byte()),
                "value_stats_cols": f.value_stats_cols, "external_path": f.external_path,
                "first_row_id": f.first_row_id, "write_cols": f.write_cols,
                "write_cols_sequences": f.write_cols_sequences,
                "min_key": 1, "max_key": if f.max_key == bigint_row(99) { 99 } else { 1 },
                "key_null_counts": f.key_stats.null_counts,
                "value_null_counts": f.value_stats.null_counts,
            })
        })
        .collect();
    let list: Vec<Json> = sample_metas()
        .iter()
        .map(|m| {
            let (min, max) = if m.partition_stats == SimpleStats::empty() {
                (Json::Null, Json::Null)
            } else {
                (json!("2024-01-01"), json!("2024-01-02"))
            };
            json!({
                "file_name": m.file_name, "file_size": m.file_size,
                "num_added_files": m.num_added_files, "num_deleted_files": m.num_deleted_files,
                "schema_id": m.schema_id, "min_bucket": m.min_bucket, "max_bucket": m.max_bucket,
                "min_level": m.min_level, "max_level": m.max_level, "min_row_id": m.min_row_id,
                "max_row_id": m.max_row_id, "total_buckets": m.total_buckets,
                "extra_files": m.extra_files,
                "partition_null_counts": m.partition_stats.null_counts,
                "partition_min": min, "partition_max": max,
            })
        })
        .collect();
    let index: Vec<Json> = index_entries()
        .iter()
        .map(|e| {
            let f = &e.index_file;
            json!({
                "kind": kind(e.kind), "partition": "2024-01-03", "bucket": e.bucket,
                "index_type": f.index_type, "file_name": f.file_name, "file_size": f.file_size,
                "row_count": f.row_count, "external_path": f.external_path,
                "dv_ranges": f.dv_ranges.as_ref().map(|r| r.iter().map(|d| json!(
                    [d.data_file_name, d.offset, d.length, d.cardinality])).collect::<Vec<_>>()),
                "global_index": f.global_index.as_ref().map(|g| json!([
                    g.row_range_start, g.row_range_end, g.index_field_id, g.extra_field_ids,
                    g.index_meta.as_deref().map(hex), g.source_meta.as_deref().map(hex)])),
            })
        })
        .collect();
    json!({"manifest": manifest, "manifest_list": list, "index_manifest": index})
}

/// Writes the three manifests and `expected.json` into `dir`.
fn write_check_files(dir: &Path) {
    let zstd = ManifestCompression::Zstd;
    let files = [
        (
            "manifest-rust-0",
            write_manifest_entries(&entries(), zstd).unwrap(),
        ),
        (
            "manifest-list-rust-0",
            write_manifest_list(&sample_metas(), zstd).unwrap(),
        ),
        (
            "index-manifest-rust-0",
            write_index_manifest(&index_entries(), zstd).unwrap(),
        ),
        (
            "expected.json",
            serde_json::to_vec_pretty(&expected()).unwrap(),
        ),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn pypaimon_reads_rust_written_manifests() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    write_check_files(dir.path());
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/python/check_rust_manifests.py");
    let out = Command::new(python)
        .arg(script)
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pypaimon check failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(
            "OK: pypaimon read 2 manifest-list entries, 3 manifest entries and 3 index entries"
        ),
        "{stdout}"
    );
}

/// For manual checks with other readers (Java Paimon, paimon-rust):
/// `STRATA_MANIFEST_DUMP_DIR=/tmp/x cargo test -p strata-format --lib dump_manifests -- --ignored`
#[test]
#[ignore]
fn dump_manifests_for_external_readers() {
    let dir = PathBuf::from(
        std::env::var_os("STRATA_MANIFEST_DUMP_DIR").expect("set STRATA_MANIFEST_DUMP_DIR"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    write_check_files(&dir);
}
