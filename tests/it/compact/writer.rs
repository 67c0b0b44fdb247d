//! Writers and the stop trigger: a writer without `write-only` compacts its own buckets and
//! never leaves more than `num-sorted-run.stop-trigger` runs; a `write-only` writer waits
//! for a compactor at the stop trigger; the commit admission itself rejects an overshoot.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use strata_format::commit::{CommitMessage, TableCommit};
use strata_format::compact::plan::sorted_run_count;
use strata_format::compact::Compactor;
use strata_format::scan::TableScan;
use strata_format::table::Table;
use strata_format::ErrorKind;
use strata_writer::TableWriter;

use super::{read_rows, Fixture};

fn batch(keys: &[i64], tag: &str) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("k", Arc::new(Int64Array::from(keys.to_vec())) as ArrayRef),
        (
            "v",
            Arc::new(StringArray::from_iter_values(
                keys.iter().map(|k| format!("{k}-{tag}")),
            )) as ArrayRef,
        ),
    ])
    .unwrap()
}

/// The largest number of sorted runs any bucket had in any snapshot.
async fn max_runs_ever(table: &Table) -> usize {
    let sm = table.snapshot_manager();
    let latest = sm.latest_id().await.unwrap().unwrap_or(0);
    let mut max = 0;
    for id in 1..=latest {
        let plan = TableScan::new(table.clone())
            .with_snapshot(Some(id))
            .plan()
            .await
            .unwrap();
        for split in plan.splits {
            max = max.max(sorted_run_count(&split.files));
        }
    }
    max
}

async fn kinds(table: &Table) -> HashMap<String, usize> {
    let sm = table.snapshot_manager();
    let mut out = HashMap::new();
    for id in 1..=sm.latest_id().await.unwrap().unwrap_or(0) {
        *out.entry(format!("{:?}", sm.snapshot(id).await.unwrap().commit_kind))
            .or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_compacts_its_own_buckets_under_the_stop_trigger() {
    let fx = Fixture::new(
        &[("k", "BIGINT NOT NULL"), ("v", "STRING")],
        &["k"],
        &[],
        &[
            ("bucket", "2"),
            ("num-sorted-run.compaction-trigger", "3"),
            ("num-sorted-run.stop-trigger", "4"),
            // Several level-0 files per flush, so runs pile up faster than commits.
            ("target-file-size", "2 kb"),
        ],
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let mut model = BTreeMap::new();
    for c in 1..=20i64 {
        let keys: Vec<i64> = (0..120).map(|i| (i * 7 + c * 11) % 300).collect();
        writer.write(&batch(&keys, &c.to_string())).await.unwrap();
        writer.commit(c).await.unwrap();
        for k in keys {
            model.insert(k, format!("{k}-{c}"));
        }
    }
    let want: Vec<Vec<String>> = {
        let mut w: Vec<Vec<String>> = model
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect();
        w.sort();
        w
    };
    assert_eq!(read_rows(&fx.table).await, want);
    let max = max_runs_ever(&fx.table).await;
    assert!(max <= 4, "a bucket reached {max} sorted runs");
    let kinds = kinds(&fx.table).await;
    assert_eq!(kinds.get("Append"), Some(&20));
    assert!(kinds.get("Compact").copied().unwrap_or(0) >= 5, "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_write_only_writer_waits_for_the_compactor_at_the_stop_trigger() {
    let fx = Fixture::new(
        &[("k", "BIGINT NOT NULL"), ("v", "STRING")],
        &["k"],
        &[],
        &[
            ("bucket", "1"),
            ("write-only", "true"),
            ("num-sorted-run.compaction-trigger", "2"),
            ("num-sorted-run.stop-trigger", "3"),
        ],
    )
    .await;
    let done = Arc::new(AtomicBool::new(false));
    let compactor = {
        let (table, done) = (fx.table.clone(), done.clone());
        tokio::spawn(async move {
            let compactor = Compactor::new(table, "daemon-like").unwrap();
            let mut n = 0;
            while !done.load(Ordering::SeqCst) {
                // Slower than the writer, so the writer has to wait.
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                n += compactor.compact_table(false).await.unwrap().len();
            }
            n
        })
    };
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    for c in 1..=12i64 {
        writer.write(&batch(&[c, c + 100], "x")).await.unwrap();
        writer.commit(c).await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let compactions = compactor.await.unwrap();
    assert!(compactions > 0);
    let max = max_runs_ever(&fx.table).await;
    assert!(max <= 3, "a bucket reached {max} sorted runs");
    assert_eq!(read_rows(&fx.table).await.len(), 24);
}

#[tokio::test]
async fn the_commit_admission_rejects_an_append_over_the_limit() {
    let fx = Fixture::new(
        &[("k", "BIGINT NOT NULL"), ("v", "STRING")],
        &["k"],
        &[],
        &[
            ("bucket", "1"),
            ("write-only", "true"),
            ("num-sorted-run.stop-trigger", "1000"),
        ],
    )
    .await;
    // Three runs committed without a limit.
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    for c in 1..=3 {
        writer.write(&batch(&[c], "a")).await.unwrap();
        writer.commit(c).await.unwrap();
    }
    let files = TableScan::new(fx.table.clone())
        .plan()
        .await
        .unwrap()
        .splits[0]
        .files
        .clone();
    let message = |name: &str| {
        let mut f = files[0].clone();
        f.file_name = name.to_string();
        CommitMessage {
            partition: strata_format::data::binary_row::BinaryRow::encode_with_arity(&[], &[])
                .unwrap(),
            bucket: 0,
            total_buckets: 1,
            new_files: vec![f],
            ..CommitMessage::default()
        }
    };
    let limited = TableCommit::new(fx.table.clone(), "limited")
        .unwrap()
        .with_run_limit(Some(3));
    let e = limited
        .commit(1, vec![message("extra-1.parquet")])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommitConflict);
    assert!(e.to_string().contains("write stall: bucket 0"), "{e}");
    assert!(e.to_string().contains("would have 4 sorted runs"), "{e}");
    // Nothing was published; with room (limit 4) the same commit is admitted.
    assert_eq!(
        fx.table.snapshot_manager().latest_id().await.unwrap(),
        Some(3)
    );
    let roomy = TableCommit::new(fx.table.clone(), "roomy")
        .unwrap()
        .with_run_limit(Some(4));
    assert_eq!(
        roomy
            .commit(1, vec![message("extra-2.parquet")])
            .await
            .unwrap(),
        vec![4]
    );
}
