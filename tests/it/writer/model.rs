//! Many commits of upserts, updates and deletes against a `BTreeMap` model: partitioned and
//! not, several buckets, small buffers that spill to local disk (one sorted run per bucket
//! and commit, merged in rounds past a fan-in of 2), flush (several overlapping level-0
//! files) or spill until the spill area is full, small target files, and a writer reopened
//! midway.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use strata_format::read::runs::sorted_runs;
use strata_format::scan::TableScan;
use strata_writer::TableWriter;

use super::{read_rows, Fixture};

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Key = (String, i32);
type Value = (Option<String>, Option<i64>);

/// One random batch: row kinds, keys, values. Keys repeat within a batch on purpose.
fn random_ops(rng: &mut Rng, partitions: &[&str], rows: usize) -> Vec<(i8, Key, Value)> {
    (0..rows)
        .map(|_| {
            let p = partitions[rng.below(partitions.len() as u64) as usize].to_string();
            let k = rng.below(60) as i32 - 10;
            let kind = match rng.below(10) {
                0 => 3,     // -D
                1 => 1,     // -U
                2 | 3 => 2, // +U
                _ => 0,     // +I
            };
            let v = (rng.below(7) != 0).then(|| format!("v{}", rng.below(1000)));
            let n = (rng.below(5) != 0).then(|| rng.next() as i64);
            (kind, (p, k), (v, n))
        })
        .collect()
}

fn batch(ops: &[(i8, Key, Value)], partitioned: bool) -> (RecordBatch, Vec<i8>) {
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    if partitioned {
        columns.push((
            "p",
            Arc::new(StringArray::from_iter_values(
                ops.iter().map(|o| o.1 .0.clone()),
            )),
        ));
    }
    columns.push((
        "k",
        Arc::new(Int32Array::from_iter_values(ops.iter().map(|o| o.1 .1))),
    ));
    columns.push((
        "v",
        Arc::new(StringArray::from_iter(ops.iter().map(|o| o.2 .0.clone()))),
    ));
    columns.push((
        "n",
        Arc::new(Int64Array::from_iter(ops.iter().map(|o| o.2 .1))),
    ));
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    (batch, ops.iter().map(|o| o.0).collect())
}

fn apply(model: &mut BTreeMap<Key, Value>, ops: &[(i8, Key, Value)]) {
    for (kind, key, value) in ops {
        if matches!(kind, 0 | 2) {
            model.insert(key.clone(), value.clone());
        } else {
            model.remove(key);
        }
    }
}

fn expected(model: &BTreeMap<Key, Value>, partitioned: bool) -> Vec<Vec<String>> {
    let null = || "NULL".to_string();
    let mut out: Vec<Vec<String>> = model
        .iter()
        .map(|((p, k), (v, n))| {
            let mut row = Vec::new();
            if partitioned {
                row.push(p.clone());
            }
            row.push(k.to_string());
            row.push(v.clone().unwrap_or_else(null));
            row.push(n.map(|n| n.to_string()).unwrap_or_else(null));
            row
        })
        .collect();
    out.sort();
    out
}

/// What the writer does when its buffers are full.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Overflow {
    /// Spill to local disk (the default): one sorted run per bucket and commit.
    Spill,
    /// `write-buffer-spillable` = false: flush a level-0 run each time.
    Flush,
    /// Spill, but the spill area fills up and the writer flushes.
    SpillAreaFull,
    /// Spill without compression.
    SpillUncompressed,
    /// Spill with a fan-in of 2: every bucket's runs are merged in rounds as it spills.
    SpillInRounds,
}

async fn run(partitioned: bool, buckets: &str, seed: u64, overflow: Overflow) {
    let (columns, keys, partition_keys): (Vec<(&str, &str)>, Vec<&str>, Vec<&str>) = if partitioned
    {
        (
            vec![
                ("p", "STRING"),
                ("k", "INT"),
                ("v", "STRING"),
                ("n", "BIGINT"),
            ],
            vec!["p", "k"],
            vec!["p"],
        )
    } else {
        (
            vec![("k", "INT"), ("v", "STRING"), ("n", "BIGINT")],
            vec!["k"],
            vec![],
        )
    };
    let options = [
        ("bucket", buckets),
        // Rounds need several spills of a bucket before a commit: every write overflows.
        (
            "write-buffer-size",
            if overflow == Overflow::SpillInRounds {
                "1 kb"
            } else {
                "8 kb"
            },
        ),
        ("target-file-size", "2 kb"),
        // Level-0 files only: the writer must not compact them away, nor wait for a
        // compactor at the stop trigger.
        ("write-only", "true"),
        ("num-sorted-run.stop-trigger", "1000"),
        (
            "write-buffer-spillable",
            if overflow == Overflow::Flush {
                "false"
            } else {
                "true"
            },
        ),
        (
            "write-buffer-spill.max-disk-size",
            if overflow == Overflow::SpillAreaFull {
                "2 kb"
            } else {
                "infinite"
            },
        ),
        (
            "local-sort.max-num-file-handles",
            if overflow == Overflow::SpillInRounds {
                "2"
            } else {
                "128"
            },
        ),
        (
            "spill-compression",
            if overflow == Overflow::SpillUncompressed {
                "none"
            } else {
                "zstd"
            },
        ),
    ];
    let spills = matches!(
        overflow,
        Overflow::Spill | Overflow::SpillUncompressed | Overflow::SpillInRounds
    );
    let fx = Fixture::new(&columns, &keys, &partition_keys, &options).await;
    let partitions: &[&str] = if partitioned {
        &["a", "b/c", "日本 x=y"]
    } else {
        &[""]
    };
    let mut rng = Rng(seed);
    let mut model = BTreeMap::new();
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let mut snapshots = 0;
    let key_types: Vec<_> = fx
        .table
        .schema()
        .trimmed_primary_key_fields()
        .into_iter()
        .map(|f| f.data_type)
        .collect();
    let mut seen = HashSet::new();
    let mut most_runs = 0;
    for commit in 1..=8i64 {
        if commit == 5 {
            // A new process: sequence numbers must continue after the committed ones, or
            // its updates would lose against older rows.
            writer = TableWriter::builder(fx.reload().await).build().unwrap();
        }
        for _ in 0..3 {
            let rows = 20 + rng.below(150) as usize;
            let ops = random_ops(&mut rng, partitions, rows);
            let (b, kinds) = batch(&ops, partitioned);
            writer.write_with_kinds(&b, &kinds).await.unwrap();
            apply(&mut model, &ops);
        }
        let outcome = writer.commit(commit).await.unwrap();
        snapshots += outcome.snapshot_ids.len();
        assert_eq!(outcome.snapshot_ids, vec![snapshots as i64]);
        assert_eq!(
            read_rows(&fx.table).await,
            expected(&model, partitioned),
            "after commit {commit}"
        );
        // The files this commit added, per bucket, as if they were one level: how many
        // sorted runs they form.
        let plan = TableScan::new(fx.table.clone()).plan().await.unwrap();
        for split in &plan.splits {
            let new: Vec<_> = split
                .files
                .iter()
                .filter(|f| seen.insert(f.file_name.clone()))
                .map(|f| {
                    let mut f = f.clone();
                    f.level = 1;
                    f
                })
                .collect();
            let runs = sorted_runs(new, &key_types).len();
            if spills {
                assert!(runs <= 1, "commit {commit} added {runs} runs to a bucket");
            }
            most_runs = most_runs.max(runs);
        }
    }
    if !spills {
        assert!(most_runs > 1, "no commit flushed more than one run");
    }
    // Small buffers and files: several level-0 files per bucket, all sequence ranges
    // disjoint and increasing within a bucket.
    let plan = TableScan::new(fx.table.clone()).plan().await.unwrap();
    let buckets: i32 = buckets.parse().unwrap();
    assert!(plan.splits.iter().all(|s| s.bucket < buckets));
    for split in &plan.splits {
        assert!(
            split.files.len() > 3,
            "bucket {} has few files",
            split.bucket
        );
        let mut ranges: Vec<(i64, i64)> = split
            .files
            .iter()
            .map(|f| (f.min_sequence_number, f.max_sequence_number))
            .collect();
        ranges.sort();
        for pair in ranges.windows(2) {
            assert!(
                pair[0].1 < pair[1].0,
                "overlapping sequence ranges {pair:?}"
            );
        }
    }
}

#[tokio::test]
async fn unpartitioned_three_buckets_against_a_model() {
    run(false, "3", 7, Overflow::Spill).await;
}

#[tokio::test]
async fn partitioned_four_buckets_against_a_model() {
    run(true, "4", 11, Overflow::Spill).await;
}

#[tokio::test]
async fn partitioned_one_bucket_against_a_model() {
    run(true, "1", 5, Overflow::Spill).await;
}

/// The same writes overflow the buffers several times per commit: flushed, they make
/// several runs per bucket (asserted by `run`); spilled, one.
#[tokio::test]
async fn flushing_buffers_against_a_model() {
    run(true, "3", 13, Overflow::Flush).await;
}

#[tokio::test]
async fn spilling_the_same_buffers_against_a_model() {
    run(true, "3", 13, Overflow::Spill).await;
}

#[tokio::test]
async fn a_full_spill_area_flushes_against_a_model() {
    run(true, "3", 13, Overflow::SpillAreaFull).await;
}

#[tokio::test]
async fn spilling_uncompressed_against_a_model() {
    run(true, "3", 13, Overflow::SpillUncompressed).await;
}

#[tokio::test]
async fn spilling_in_rounds_against_a_model() {
    run(true, "3", 13, Overflow::SpillInRounds).await;
}

/// A `spill-compression` the spill cannot use fails when the writer is built, naming it.
#[tokio::test]
async fn an_unknown_spill_compression_is_refused_before_any_write() {
    let fx = Fixture::new(
        &[("k", "INT"), ("v", "STRING")],
        &["k"],
        &[],
        &[("bucket", "1"), ("spill-compression", "snappy")],
    )
    .await;
    let err = TableWriter::builder(fx.table.clone())
        .build()
        .err()
        .expect("snappy spills are refused");
    assert!(
        err.to_string().contains("'spill-compression' = 'snappy'"),
        "{err}"
    );
}

/// Sequence numbers continue from the bucket's largest committed one after a restart, so a
/// new writer's update wins over the old row.
#[tokio::test]
async fn sequence_numbers_continue_after_reopening() {
    let fx = Fixture::new(
        &[("k", "INT"), ("v", "STRING")],
        &["k"],
        &[],
        &[("bucket", "2")],
    )
    .await;
    let upsert = |v: &str| {
        RecordBatch::try_from_iter([
            ("k", Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef),
            ("v", Arc::new(StringArray::from(vec![v, v, v])) as ArrayRef),
        ])
        .unwrap()
    };
    let mut first = TableWriter::builder(fx.table.clone()).build().unwrap();
    first.write(&upsert("old")).await.unwrap();
    first.write(&upsert("older-but-later")).await.unwrap();
    first.commit(1).await.unwrap();
    let max_before = max_sequences(&fx).await;

    let mut second = TableWriter::builder(fx.reload().await).build().unwrap();
    second.write(&upsert("new")).await.unwrap();
    second.commit(1).await.unwrap();
    let rows = read_rows(&fx.table).await;
    assert!(rows.iter().all(|r| r[1] == "new"), "{rows:?}");

    let plan = TableScan::new(fx.table.clone()).plan().await.unwrap();
    for split in plan.splits {
        let newest = split
            .files
            .iter()
            .max_by_key(|f| f.max_sequence_number)
            .unwrap();
        let before = max_before[&split.bucket];
        assert_eq!(
            newest.min_sequence_number,
            before + 1,
            "bucket {}",
            split.bucket
        );
    }
}

async fn max_sequences(fx: &Fixture) -> BTreeMap<i32, i64> {
    let plan = TableScan::new(fx.table.clone()).plan().await.unwrap();
    plan.splits
        .iter()
        .map(|s| {
            let max = s.files.iter().map(|f| f.max_sequence_number).max().unwrap();
            (s.bucket, max)
        })
        .collect()
}
