//! Deletion-vector tables built file by file (level ≥ 1 files from `DataFileWriter`, vectors
//! in index files, committed through `format::commit`) and read by Strata, pypaimon and the
//! `paimon` crate; vector bytes exchanged with pypaimon both ways; invariant I10.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, Int8Array, RecordBatch, StringArray};
use futures::TryStreamExt;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::commit::{CommitMessage, SystemClock, TableCommit};
use strata_format::data::binary_row::BinaryRow;
use strata_format::deletion::{self, DeletionVector, IndexFileWriter, VectorFormat};
use strata_format::manifest::{DataFileMeta, FileSource, IndexFileMeta};
use strata_format::paths::PartitionPath;
use strata_format::read::TableRead;
use strata_format::scan::TableScan;
use strata_format::schema::TableSchema;
use strata_format::table::Table;
use strata_format::types::arrow::to_arrow_schema;
use strata_format::types::{DataType, TypeKind};
use strata_format::write::{DataFileWriter, FileTarget};
use strata_format::ErrorKind;
use strata_tests::python;

const INSERT: i8 = 0;
const DELETE: i8 = 3;

async fn dv_table(dir: &std::path::Path, options: &[(&str, &str)]) -> Table {
    let catalog = Catalog::open(dir.to_str().unwrap()).unwrap();
    catalog.create_database("db", true).await.unwrap();
    let mut opts: BTreeMap<String, String> = BTreeMap::new();
    opts.insert("bucket".into(), "1".into());
    opts.insert("deletion-vectors.enabled".into(), "true".into());
    for (k, v) in options {
        opts.insert(k.to_string(), v.to_string());
    }
    let schema = TableSchema::new_for_create(
        vec![
            ("k".to_string(), DataType::new(TypeKind::BigInt), None),
            ("v".to_string(), DataType::new(TypeKind::VarChar(100)), None),
        ],
        vec![],
        vec!["k".to_string()],
        opts,
        None,
    )
    .unwrap();
    catalog
        .create_table(&Identifier::new("db", "t").unwrap(), schema)
        .await
        .unwrap()
}

/// A key-value batch in data file layout: `_KEY_k, _SEQUENCE_NUMBER, _VALUE_KIND, k, v`.
fn kv(table: &Table, rows: &[(i64, i64, i8, String)]) -> RecordBatch {
    let schema = to_arrow_schema(&table.schema().key_value_fields());
    let keys: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0)));
    let columns: Vec<ArrayRef> = vec![
        keys.clone(),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2))),
        keys,
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.3.clone()),
        )),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

async fn write_file(table: &Table, level: i32, rows: &[(i64, i64, i8, String)]) -> DataFileMeta {
    let mut writer = DataFileWriter::new(table, Arc::new(SystemClock)).unwrap();
    let partition = PartitionPath::unpartitioned();
    let target = FileTarget {
        partition: &partition,
        bucket: 0,
        level,
        source: if level == 0 {
            FileSource::Append
        } else {
            FileSource::Compact
        },
    };
    let mut files = writer.write(target, &kv(table, rows)).await.unwrap();
    assert_eq!(files.len(), 1);
    files.remove(0).meta
}

fn message() -> CommitMessage {
    CommitMessage {
        partition: BinaryRow::encode_with_arity(&[], &[]).unwrap(),
        bucket: 0,
        total_buckets: 1,
        ..Default::default()
    }
}

fn rows(
    from: std::ops::Range<i64>,
    step: usize,
    seq: i64,
    tag: &str,
) -> Vec<(i64, i64, i8, String)> {
    from.step_by(step)
        .map(|k| (k, seq + k, INSERT, format!("{tag}{k}")))
        .collect()
}

/// Rows of a Strata read as JSON lists, sorted.
async fn strata_rows(table: &Table) -> Vec<String> {
    batch_rows(&TableRead::new(table.clone()).read_all(None).await.unwrap())
}

fn batch_rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let k = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let v = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            out.push(serde_json::json!([k.value(i), v.value(i)]).to_string());
        }
    }
    out.sort();
    out
}

fn client_rows(warehouse: &std::path::Path, reader: &str) -> Vec<String> {
    let out = python::run_script(
        "dv_tool.py",
        &[
            "read",
            "--warehouse",
            warehouse.to_str().unwrap(),
            "--table",
            "db.t",
            "--reader",
            reader,
        ],
    );
    let mut rows: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap()
                .to_string()
        })
        .collect();
    rows.sort();
    rows
}

fn model(entries: impl IntoIterator<Item = (i64, String)>) -> Vec<String> {
    let map: BTreeMap<i64, String> = entries.into_iter().collect();
    let mut out: Vec<String> = map
        .into_iter()
        .map(|(k, v)| serde_json::json!([k, v]).to_string())
        .collect();
    out.sort();
    out
}

/// Level 2 holds keys 0..2000; level 1 holds every third key, newer; the level-2 copies
/// of those keys are deleted by a vector, and so are keys 1990..2000 (gone from the table,
/// which only a reader that applies the vector shows); a level-0 file is not visible yet.
async fn build_two_level_table(table: &Table) -> (DataFileMeta, DataFileMeta, IndexFileMeta) {
    let l2 = write_file(table, 2, &rows(0..2000, 1, 0, "old")).await;
    let l1 = write_file(table, 1, &rows(0..2000, 3, 10_000, "new")).await;
    let l0 = write_file(table, 0, &rows(5000..5010, 1, 20_000, "fresh")).await;
    // Keys are positions in the level-2 file.
    let dv = DeletionVector::from_positions((0..2000u64).step_by(3).chain(1990..2000));
    let index = IndexFileWriter::new(table.clone())
        .write([(l2.file_name.as_str(), &dv)])
        .await
        .unwrap()
        .unwrap();
    let commit = TableCommit::new(table.clone(), "test").unwrap();
    let ids = commit
        .commit(
            1,
            vec![
                CommitMessage {
                    new_files: vec![l0],
                    ..message()
                },
                CommitMessage {
                    compact_after: vec![l2.clone(), l1.clone()],
                    new_index_files: vec![index.clone()],
                    ..message()
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(ids, vec![1, 2]);
    (l2, l1, index)
}

fn two_level_model() -> Vec<String> {
    model((0..2000).filter(|k| k % 3 == 0 || *k < 1990).map(|k| {
        let tag = if k % 3 == 0 { "new" } else { "old" };
        (k, format!("{tag}{k}"))
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pypaimon_and_the_paimon_crate_read_vectors_strata_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let table = dv_table(dir.path(), &[]).await;
    let (l2, _, _) = build_two_level_table(&table).await;
    let want = two_level_model();
    assert_eq!(strata_rows(&table).await, want);
    assert_eq!(client_rows(dir.path(), "pypaimon"), want, "pypaimon");
    assert_eq!(
        client_rows(dir.path(), "paimon-rust"),
        want,
        "the paimon crate"
    );

    // The export API sees the same vector.
    let snapshot = table.snapshot_manager().latest().await.unwrap().unwrap();
    let all = deletion::snapshot_deletions(&table, &snapshot)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].data_file, l2.file_name);
    assert_eq!(all[0].vector.cardinality(), 667 + 7);
}

/// Time travel (by id, by snapshot object as tags and SQL plan it) applies the snapshot's
/// vectors like a read of the latest snapshot (regression: planning a given snapshot
/// object once skipped them, so superseded rows showed twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_applies_the_snapshots_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let table = dv_table(dir.path(), &[]).await;
    build_two_level_table(&table).await;
    let want = two_level_model();
    let by_id = TableRead::new(table.clone())
        .read_all(Some(2))
        .await
        .unwrap();
    assert_eq!(batch_rows(&by_id), want, "read of snapshot 2 by id");
    let snapshot = table.snapshot_manager().snapshot(2).await.unwrap();
    let plan = TableScan::new(table.clone())
        .plan_snapshot(snapshot)
        .await
        .unwrap();
    assert!(plan.splits.iter().any(|s| !s.deletion_files.is_empty()));
    let batches: Vec<RecordBatch> = TableRead::new(table.clone())
        .read_plan(plan)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        batch_rows(&batches),
        want,
        "read of a planned snapshot object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitmap64_vectors_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let table = dv_table(dir.path(), &[("deletion-vectors.bitmap64", "true")]).await;
    let (_, _, index) = build_two_level_table(&table).await;
    let bytes = std::fs::read(dir.path().join("db.db/t/index").join(&index.file_name)).unwrap();
    let range = &index.dv_ranges.as_ref().unwrap()[0];
    // bitmap64 records the whole blob as its length.
    let (_, format, len) = DeletionVector::deserialize(&bytes[range.offset as usize..]).unwrap();
    assert_eq!(format, VectorFormat::Bitmap64);
    assert_eq!(range.length as usize, len);
    assert_eq!(strata_rows(&table).await, two_level_model());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_bytes_cross_between_strata_and_pypaimon() {
    let positions: Vec<u64> = vec![0, 1, 2, 100, 65_535, 65_536, 1_000_000, 2_000_000_000];
    // pypaimon's bytes decode to the same positions here.
    let args: Vec<String> = positions.iter().map(|p| p.to_string()).collect();
    let mut argv = vec!["encode"];
    argv.extend(args.iter().map(|s| s.as_str()));
    let theirs = python::run_script("dv_tool.py", &argv);
    let theirs: Vec<u8> = (0..theirs.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&theirs.trim()[i..i + 2], 16).unwrap())
        .collect();
    let (dv, format, _) = DeletionVector::deserialize(&theirs).unwrap();
    assert_eq!(format, VectorFormat::Bitmap32);
    assert_eq!(dv.iter().collect::<Vec<_>>(), positions);
    // Ours decode in pypaimon's DeletionVector.read, from an index file.
    let dir = tempfile::tempdir().unwrap();
    let ours = DeletionVector::from_positions(positions.iter().copied().chain(300..400));
    let (bytes, ranges) =
        deletion::index_file::encode_index_file([("f", &ours)], VectorFormat::Bitmap32).unwrap();
    let path = dir.path().join("index-x-0");
    std::fs::write(&path, bytes).unwrap();
    let out = python::run_script(
        "dv_tool.py",
        &[
            "decode",
            "--index-file",
            path.to_str().unwrap(),
            "--offset",
            &ranges[0].offset.to_string(),
            "--length",
            &ranges[0].length.to_string(),
        ],
    );
    let decoded: Vec<u64> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(decoded, ours.iter().collect::<Vec<_>>());
    // bitmap64 (Iceberg's blob), positions beyond 32 bits included, through CRoaring.
    let wide = DeletionVector::from_positions([3, 70_000, (1 << 32) + 5, (7 << 32) + 9]);
    let blob: String = wide
        .to_iceberg_blob()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = python::run_script("dv_tool.py", &["decode64", &blob]);
    let decoded: Vec<u64> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(decoded, wide.iter().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_with_retractions_are_merged_with_vectors_applied() {
    let dir = tempfile::tempdir().unwrap();
    let table = dv_table(dir.path(), &[]).await;
    let l2 = write_file(&table, 2, &rows(0..10, 1, 0, "old")).await;
    let l1 = write_file(
        &table,
        1,
        &[
            (3, 100, DELETE, "gone".into()),
            (4, 101, INSERT, "new4".into()),
        ],
    )
    .await;
    assert_eq!(l1.delete_row_count, Some(1));
    // Position 5 of level 2 is marked deleted; key 4's old copy is left for the merge.
    let dv = DeletionVector::from_positions([5]);
    let index = IndexFileWriter::new(table.clone())
        .write([(l2.file_name.as_str(), &dv)])
        .await
        .unwrap()
        .unwrap();
    TableCommit::new(table.clone(), "test")
        .unwrap()
        .commit(
            1,
            vec![CommitMessage {
                compact_after: vec![l2, l1],
                new_index_files: vec![index],
                ..message()
            }],
        )
        .await
        .unwrap();
    let want = model(
        [0, 1, 2, 6, 7, 8, 9]
            .into_iter()
            .map(|k| (k, format!("old{k}")))
            .chain([(4, "new4".to_string())]),
    );
    assert_eq!(strata_rows(&table).await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_changes_replace_a_buckets_vectors_or_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let table = dv_table(dir.path(), &[]).await;
    let (l2, l1, first) = build_two_level_table(&table).await;
    let commit = TableCommit::new(table.clone(), "test").unwrap();
    let mut writer = IndexFileWriter::new(table.clone());

    // Replacing the bucket's file: every key of level 2 below 30 is now deleted.
    let dv = DeletionVector::from_positions((0..2000u64).step_by(3).chain(0..30).chain(1990..2000));
    let second = writer
        .write([(l2.file_name.as_str(), &dv)])
        .await
        .unwrap()
        .unwrap();
    commit
        .commit(
            2,
            vec![CommitMessage {
                new_index_files: vec![second.clone()],
                deleted_index_files: vec![first.clone()],
                ..message()
            }],
        )
        .await
        .unwrap();
    let snapshot = table.snapshot_manager().latest().await.unwrap().unwrap();
    let live = deletion::index_entries(&table, &snapshot).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].index_file.file_name, second.file_name);
    let want = model(
        (0..2000)
            .filter(|k| k % 3 == 0 || (30..1990).contains(k))
            .map(|k| {
                let tag = if k % 3 == 0 { "new" } else { "old" };
                (k, format!("{tag}{k}"))
            }),
    );
    assert_eq!(strata_rows(&table).await, want);

    // A change computed from the old file conflicts: that file is gone.
    let third = writer
        .write([(l2.file_name.as_str(), &dv)])
        .await
        .unwrap()
        .unwrap();
    let stale = CommitMessage {
        new_index_files: vec![third.clone()],
        deleted_index_files: vec![first.clone()],
        ..message()
    };
    let err = commit.commit(3, vec![stale]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommitConflict, "{err}");
    assert!(err.message().contains("I10"), "{err}");

    // Adding a second vector file to the bucket without replacing the first conflicts too.
    let err = commit
        .commit(
            4,
            vec![CommitMessage {
                new_index_files: vec![third.clone()],
                ..message()
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommitConflict, "{err}");

    // A vector for a file that is not live conflicts.
    let ghost = writer
        .write([("data-ghost.parquet", &DeletionVector::from_positions([1]))])
        .await
        .unwrap()
        .unwrap();
    let err = commit
        .commit(
            5,
            vec![CommitMessage {
                new_index_files: vec![ghost],
                deleted_index_files: vec![second.clone()],
                ..message()
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommitConflict, "{err}");

    // Removing every vector with the files they belonged to: a compaction replaces both
    // levels and deletes the index file; the index manifest then holds nothing.
    let merged = write_file(&table, 3, &rows(0..1, 1, 50_000, "merged")).await;
    commit
        .commit(
            6,
            vec![CommitMessage {
                compact_before: vec![l2, l1],
                compact_after: vec![merged],
                deleted_index_files: vec![second],
                ..message()
            }],
        )
        .await
        .unwrap();
    let snapshot = table.snapshot_manager().latest().await.unwrap().unwrap();
    assert!(deletion::index_entries(&table, &snapshot)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        strata_rows(&table).await,
        model([(0, "merged0".to_string())])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_apply_even_when_the_option_is_off() {
    let dir = tempfile::tempdir().unwrap();
    // Vectors left by a table that once had them: the merge read still honours them, and
    // level 0 is visible again (the merge read includes it).
    let table = dv_table(dir.path(), &[("deletion-vectors.enabled", "false")]).await;
    build_two_level_table(&table).await;
    let mut want = two_level_model();
    let mut fresh = model((5000..5010).map(|k| (k, format!("fresh{k}"))));
    want.append(&mut fresh);
    want.sort();
    assert_eq!(strata_rows(&table).await, want);
}
