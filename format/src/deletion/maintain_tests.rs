//! Deletion-vector maintenance over real files: level-0 data compacted into level 1
//! deletes the superseded copies above, the committed result reads like the model through
//! the normal read path, and input files take their vectors with them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Int64Array, StringArray};

use super::maintain::{maintain_after_compaction, DvMaintainer};
use super::{DeletionVector, IndexFileWriter};
use crate::commit::{CommitMessage, TableCommit};
use crate::data::binary_row::BinaryRow;
use crate::lookup::{CacheLimits, LookupCache};
use crate::manifest::DataFileMeta;
use crate::read::TableRead;
use crate::scan::TableScan;
use crate::table::Table;
use crate::test_table::{self, key_column, rows, write_file, Row, DELETE, INSERT};
use crate::ErrorKind;

fn cache(dir: &std::path::Path, max_disk: Option<u64>) -> Arc<LookupCache> {
    Arc::new(
        LookupCache::open(
            dir.join("lookup"),
            CacheLimits {
                max_disk_bytes: max_disk,
                max_memory_bytes: 1 << 20,
                retention: Duration::from_secs(3600),
            },
        )
        .unwrap(),
    )
}

fn message() -> CommitMessage {
    CommitMessage {
        partition: BinaryRow::encode_with_arity(&[], &[]).unwrap(),
        bucket: 0,
        total_buckets: 1,
        ..Default::default()
    }
}

async fn commit(table: &Table, id: i64, messages: Vec<CommitMessage>) {
    TableCommit::new(table.clone(), "test")
        .unwrap()
        .commit(id, messages)
        .await
        .unwrap();
}

async fn read(table: &Table) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    for b in TableRead::new(table.clone()).read_all(None).await.unwrap() {
        let k = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let v = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            assert!(
                out.insert(k.value(i), v.value(i).to_string()).is_none(),
                "key {} twice",
                k.value(i)
            );
        }
    }
    out
}

/// Level 3 holds keys 0..100; level 2 holds 50..60, newer, their level-3 copies deleted.
async fn base(table: &Table) -> (DataFileMeta, DataFileMeta) {
    let l3 = write_file(table, 3, &rows(0..100, 0, "l3-")).await;
    let l2 = write_file(table, 2, &rows(50..60, 1000, "l2-")).await;
    let dv = DeletionVector::from_positions(50..60);
    let index = IndexFileWriter::new(table.clone())
        .write([(l3.file_name.as_str(), &dv)])
        .await
        .unwrap()
        .unwrap();
    commit(
        table,
        1,
        vec![CommitMessage {
            compact_after: vec![l3.clone(), l2.clone()],
            new_index_files: vec![index],
            ..message()
        }],
    )
    .await;
    (l3, l2)
}

fn model(changes: &[(i64, Option<&str>)]) -> BTreeMap<i64, String> {
    let mut m: BTreeMap<i64, String> = (0..100)
        .map(|k| {
            (
                k,
                if (50..60).contains(&k) {
                    format!("l2-{k}")
                } else {
                    format!("l3-{k}")
                },
            )
        })
        .collect();
    for (k, v) in changes {
        match v {
            Some(v) => m.insert(*k, v.to_string()),
            None => m.remove(k),
        };
    }
    m
}

async fn plan(table: &Table) -> (crate::snapshot::Snapshot, crate::scan::Split) {
    let plan = TableScan::new(table.clone()).plan().await.unwrap();
    (
        plan.snapshot.unwrap(),
        plan.splits.into_iter().next().unwrap(),
    )
}

#[tokio::test]
async fn level0_keys_delete_their_copies_above_the_output_level() {
    let dir = tempfile::tempdir().unwrap();
    let table = test_table::table(dir.path(), &[("deletion-vectors.enabled", "true")]).await;
    let (l3, l2) = base(&table).await;
    assert_eq!(read(&table).await, model(&[]));

    // New level-0 data: 5 and 55 replace live copies (in level 3 and level 2), 7 is
    // deleted, 150 is new.
    let l0: Vec<Row> = vec![
        (5, 5000, INSERT, "new-5".into()),
        (7, 5001, DELETE, "".into()),
        (55, 5002, INSERT, "new-55".into()),
        (150, 5003, INSERT, "new-150".into()),
    ];
    let l0 = write_file(&table, 0, &l0).await;
    commit(
        &table,
        2,
        vec![CommitMessage {
            new_files: vec![l0.clone()],
            ..message()
        }],
    )
    .await;
    // Level 0 is invisible to deletion-vector reads until compacted.
    assert_eq!(read(&table).await, model(&[]));

    // The compaction's output at level 1 (deletes dropped), then its vectors.
    let out = write_file(
        &table,
        1,
        &[
            (5, 5000, INSERT, "new-5".into()),
            (55, 5002, INSERT, "new-55".into()),
            (150, 5003, INSERT, "new-150".into()),
        ],
    )
    .await;
    let (snapshot, split) = plan(&table).await;
    let changes = maintain_after_compaction(
        &table,
        &snapshot,
        &split,
        cache(dir.path(), None),
        std::slice::from_ref(&l0),
        std::slice::from_ref(&out),
        1,
    )
    .await
    .unwrap();
    assert_eq!(changes.new_index_files.len(), 1);
    assert_eq!(changes.deleted_index_files.len(), 1);
    let ranges = changes.new_index_files[0].dv_ranges.clone().unwrap();
    let cardinality: BTreeMap<String, i64> = ranges
        .iter()
        .map(|r| (r.data_file_name.clone(), r.cardinality.unwrap()))
        .collect();
    // Level 3: 50..60 before, plus 5 and 7 (55's copy there was already deleted).
    assert_eq!(cardinality[&l3.file_name], 12);
    assert_eq!(cardinality[&l2.file_name], 1);

    let mut m = CommitMessage {
        compact_before: vec![l0],
        compact_after: vec![out],
        ..message()
    };
    changes.apply_to(&mut m);
    commit(&table, 3, vec![m]).await;
    let want = model(&[
        (5, Some("new-5")),
        (7, None),
        (55, Some("new-55")),
        (150, Some("new-150")),
    ]);
    assert_eq!(read(&table).await, want);
}

#[tokio::test]
async fn full_compaction_drops_vectors_of_replaced_files() {
    let dir = tempfile::tempdir().unwrap();
    let table = test_table::table(dir.path(), &[("deletion-vectors.enabled", "true")]).await;
    let (l3, l2) = base(&table).await;
    let merged = write_file(&table, 3, &rows(0..100, 9000, "m-")).await;
    let (snapshot, split) = plan(&table).await;
    let before = vec![l3, l2];
    let changes = maintain_after_compaction(
        &table,
        &snapshot,
        &split,
        cache(dir.path(), None),
        &before,
        std::slice::from_ref(&merged),
        3,
    )
    .await
    .unwrap();
    // No vectors remain: the old index file is deleted and none replaces it.
    assert!(changes.new_index_files.is_empty());
    assert_eq!(changes.deleted_index_files.len(), 1);
    let mut m = CommitMessage {
        compact_before: before,
        compact_after: vec![merged],
        ..message()
    };
    changes.apply_to(&mut m);
    commit(&table, 2, vec![m]).await;
    let want: BTreeMap<i64, String> = (0..100).map(|k| (k, format!("m-{k}"))).collect();
    assert_eq!(read(&table).await, want);
}

#[tokio::test]
async fn lookups_survive_eviction_and_find_the_newest_live_copy() {
    let dir = tempfile::tempdir().unwrap();
    let table = test_table::table(dir.path(), &[("deletion-vectors.enabled", "true")]).await;
    let (l3, l2) = base(&table).await;
    let (snapshot, split) = plan(&table).await;
    // A one-byte disk bound evicts every lookup file as soon as the next one is built.
    let tiny = cache(dir.path(), Some(1));
    let value = table.schema().field("v").unwrap().clone();
    let mut m = DvMaintainer::open(&table, &snapshot, &split, tiny)
        .await
        .unwrap()
        .with_values(vec![value]);
    m.begin_compaction(&[], 1).unwrap();
    let found = m
        .lookup_above(&key_column(&[55]), 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.file_name.as_str(), found.level),
        (l2.file_name.as_str(), 2)
    );
    assert_eq!(found.entry.position, 5);
    let codec = m.spec().value_codec().unwrap().unwrap();
    let v = codec
        .decode(&[found.entry.value.as_deref().unwrap()])
        .unwrap();
    assert_eq!(
        v[0].as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(0),
        "l2-55"
    );
    let found = m
        .lookup_above(&key_column(&[20]), 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.file_name.as_str(), found.entry.position),
        (l3.file_name.as_str(), 20)
    );
    assert!(m
        .lookup_above(&key_column(&[500]), 0)
        .await
        .unwrap()
        .is_none());

    let deleted = m
        .supersede(&key_column(&[1, 2, 55, 56, 99, 1000]))
        .await
        .unwrap();
    assert_eq!(deleted, 5);
    // The same keys again change nothing.
    assert_eq!(m.supersede(&key_column(&[1, 55])).await.unwrap(), 0);
    assert_eq!(
        m.vector_of(&l2.file_name)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        vec![5, 6]
    );
    assert!(m.vector_of(&l3.file_name).unwrap().is_deleted(99));
}

#[tokio::test]
async fn other_merge_engines_must_merge_the_superseded_copy() {
    let dir = tempfile::tempdir().unwrap();
    let table = test_table::table(
        dir.path(),
        &[
            ("deletion-vectors.enabled", "true"),
            ("merge-engine", "partial-update"),
        ],
    )
    .await;
    let (_, _) = base(&table).await;
    let (snapshot, split) = plan(&table).await;
    let err = maintain_after_compaction(
        &table,
        &snapshot,
        &split,
        cache(dir.path(), None),
        &[],
        &[],
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.message().contains("take_above"), "{err}");
}

/// One step of the model test: a level-0 batch (key, deleted?) or a compaction into a level.
#[derive(Debug, Clone)]
enum Step {
    Write(BTreeMap<i64, bool>),
    Compact(i32),
}

fn steps() -> impl proptest::strategy::Strategy<Value = Vec<Step>> {
    use proptest::prelude::*;
    let write = prop::collection::btree_map(0i64..40, prop::bool::weighted(0.25), 1..8)
        .prop_map(Step::Write);
    let compact = (1i32..=3).prop_map(Step::Compact);
    prop::collection::vec(prop_oneof![2 => write, 1 => compact], 1..10)
}

/// Runs steps against a real table; after every compaction the table reads as the model
/// (the latest value of every key written so far).
async fn run_model(steps: Vec<Step>) {
    let dir = tempfile::tempdir().unwrap();
    let table = test_table::table(dir.path(), &[("deletion-vectors.enabled", "true")]).await;
    let cache = cache(dir.path(), Some(4096));
    let mut model: BTreeMap<i64, String> = BTreeMap::new();
    let mut files: Vec<(DataFileMeta, Vec<i64>)> = Vec::new();
    let mut seq = 0i64;
    let mut id = 0i64;
    for step in steps.into_iter().chain([Step::Compact(1)]) {
        id += 1;
        match step {
            Step::Write(batch) => {
                let mut rows = Vec::new();
                for (k, deleted) in batch {
                    seq += 1;
                    if deleted {
                        model.remove(&k);
                        rows.push((k, seq, DELETE, String::new()));
                    } else {
                        let v = format!("v{seq}");
                        model.insert(k, v.clone());
                        rows.push((k, seq, INSERT, v));
                    }
                }
                let f = write_file(&table, 0, &rows).await;
                files.push((f.clone(), rows.iter().map(|r| r.0).collect()));
                commit(
                    &table,
                    id,
                    vec![CommitMessage {
                        new_files: vec![f],
                        ..message()
                    }],
                )
                .await;
            }
            Step::Compact(level) => {
                let (inputs, rest): (Vec<_>, Vec<_>) =
                    files.into_iter().partition(|(f, _)| f.level <= level);
                files = rest;
                if inputs.is_empty() {
                    continue;
                }
                let keys: std::collections::BTreeSet<i64> =
                    inputs.iter().flat_map(|(_, k)| k.iter().copied()).collect();
                let out_rows: Vec<Row> = keys
                    .iter()
                    .filter_map(|k| model.get(k).map(|v| (*k, seq, INSERT, v.clone())))
                    .collect();
                let after = if out_rows.is_empty() {
                    vec![]
                } else {
                    vec![write_file(&table, level, &out_rows).await]
                };
                let before: Vec<DataFileMeta> = inputs.into_iter().map(|(f, _)| f).collect();
                let (snapshot, split) = plan(&table).await;
                let changes = maintain_after_compaction(
                    &table,
                    &snapshot,
                    &split,
                    cache.clone(),
                    &before,
                    &after,
                    level,
                )
                .await
                .unwrap();
                let mut m = CommitMessage {
                    compact_before: before,
                    compact_after: after.clone(),
                    ..message()
                };
                changes.apply_to(&mut m);
                commit(&table, id, vec![m]).await;
                for f in after {
                    files.push((f, out_rows.iter().map(|r| r.0).collect()));
                }
                // Level 0 is always compacted away here, so the read is the whole model.
                if files.iter().all(|(f, _)| f.level > 0) {
                    assert_eq!(read(&table).await, model);
                }
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 32, ..Default::default() })]
    #[test]
    fn compactions_with_vectors_read_as_the_model(steps in steps()) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_model(steps));
    }
}
