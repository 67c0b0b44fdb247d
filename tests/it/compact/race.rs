//! Compactions committing while writers commit APPENDs to the same bucket, and two
//! compactors racing each other: every committed row stays, conflicts re-plan.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use strata_format::compact::Compactor;
use strata_format::ErrorKind;
use strata_writer::TableWriter;

use super::{read_rows, Fixture};

const COMMITS: i64 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compactions_race_writers_and_each_other_without_losing_rows() {
    let fx = Fixture::new(
        &[("k", "BIGINT NOT NULL"), ("v", "STRING")],
        &["k"],
        &[],
        &[
            ("bucket", "1"),
            ("write-only", "true"),
            ("num-sorted-run.compaction-trigger", "2"),
            ("commit.max-retries", "100"),
            ("commit.min-retry-wait", "1 ms"),
            ("commit.max-retry-wait", "20 ms"),
        ],
    )
    .await;
    let done = Arc::new(AtomicBool::new(false));

    // Two writers on the same bucket, disjoint keys, each key rewritten every commit.
    let mut writers = Vec::new();
    for w in 0..2i64 {
        let table = fx.table.clone();
        writers.push(tokio::spawn(async move {
            let mut writer = TableWriter::builder(table).build().unwrap();
            for c in 1..=COMMITS {
                let keys: Vec<i64> = (0..20).map(|i| i * 2 + w).collect();
                let values: Vec<String> = keys.iter().map(|k| format!("{k}@{c}")).collect();
                let batch = RecordBatch::try_from_iter([
                    ("k", Arc::new(Int64Array::from(keys)) as ArrayRef),
                    ("v", Arc::new(StringArray::from(values)) as ArrayRef),
                ])
                .unwrap();
                writer.write(&batch).await.unwrap();
                writer.commit(c).await.unwrap();
            }
        }));
    }
    // Two compactors looping until the writers are done.
    let mut compactors = Vec::new();
    for c in 0..2 {
        let table = fx.table.clone();
        let done = done.clone();
        compactors.push(tokio::spawn(async move {
            let compactor = Compactor::new(table, format!("compactor-{c}")).unwrap();
            let (mut committed, mut conflicts) = (0usize, 0usize);
            let mut round = 0;
            while !done.load(Ordering::SeqCst) {
                round += 1;
                match compactor.compact_table(round % 4 == 0).await {
                    Ok(reports) => {
                        committed += reports.len();
                        conflicts += reports.iter().map(|r| r.conflicts as usize).sum::<usize>();
                    }
                    // Giving up after repeated conflicts is allowed; losing data is not.
                    Err(e) if e.kind() == ErrorKind::CommitConflict => conflicts += 1,
                    Err(e) => panic!("compactor {c}: {e}"),
                }
            }
            (committed, conflicts)
        }));
    }
    // A reader checking every snapshot it sees: each key once, never going back.
    let reader = {
        let table = fx.table.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut last: BTreeMap<String, i64> = BTreeMap::new();
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) {
                let rows = read_rows(&table).await;
                let mut keys = std::collections::BTreeSet::new();
                for row in &rows {
                    assert!(keys.insert(row[0].clone()), "key {} read twice", row[0]);
                    let commit: i64 = row[1].split('@').nth(1).unwrap().parse().unwrap();
                    let before = last.insert(row[0].clone(), commit).unwrap_or(0);
                    assert!(
                        commit >= before,
                        "key {} went back from {before} to {commit}",
                        row[0]
                    );
                }
                for k in last.keys() {
                    assert!(keys.contains(k), "key {k} disappeared");
                }
                reads += 1;
            }
            reads
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let (mut committed, mut conflicts) = (0, 0);
    for c in compactors {
        let (n, k) = c.await.unwrap();
        committed += n;
        conflicts += k;
    }
    let reads = reader.await.unwrap();
    eprintln!(
        "race: {committed} compactions committed, {conflicts} conflicts met, {reads} reads checked"
    );
    assert!(committed > 0, "no compaction committed during the race");

    let want: BTreeMap<i64, String> = (0..40).map(|k| (k, format!("{k}@{COMMITS}"))).collect();
    let mut want: Vec<Vec<String>> = want
        .into_iter()
        .map(|(k, v)| vec![k.to_string(), v])
        .collect();
    want.sort();
    assert_eq!(read_rows(&fx.table).await, want);
    // And after one last full compaction.
    let last = Compactor::new(fx.table.clone(), "final").unwrap();
    last.compact_table(true).await.unwrap();
    assert_eq!(read_rows(&fx.table).await, want);
}
