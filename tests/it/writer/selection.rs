//! Merge-on-read by selection against a model: a dozen overlapping sorted runs, read in
//! batches small enough that a key's versions straddle batch boundaries (and no output
//! batch larger than asked for), with BIGINT and INT keys (prefixes are the keys, decided
//! a window at a time) and a STRING key whose values share 17-byte prefixes or are short
//! and of different lengths (prefix ties settled by the full key).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use strata_format::read::TableRead;
use strata_writer::TableWriter;

use super::{rows, Fixture};
use crate::compact::Rng;

fn string_key(k: u64) -> String {
    if k.is_multiple_of(3) {
        k.to_string()
    } else {
        format!("customer-account-{k:06}")
    }
}

async fn against_the_model(key_type: &str) {
    let fx = Fixture::new(
        &[("k", key_type), ("v", "BIGINT")],
        &["k"],
        &[],
        &[
            ("bucket", "1"),
            // Every commit stays a sorted run of its own.
            ("write-only", "true"),
            ("num-sorted-run.stop-trigger", "1000"),
        ],
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let mut model: BTreeMap<String, i64> = BTreeMap::new();
    let mut rng = Rng(0x5e1e_c7ed);
    for round in 0..12i64 {
        let mut ops: BTreeMap<u64, (i8, i64)> = BTreeMap::new();
        for i in 0..150 {
            // Mostly inserts and updates, a few deletes.
            let kind = if rng.below(8) == 0 { 3 } else { 0 };
            ops.insert(rng.below(400), (kind, round * 1000 + i));
        }
        let key: ArrayRef = if key_type.starts_with("BIGINT") {
            Arc::new(Int64Array::from_iter_values(ops.keys().map(|k| *k as i64)))
        } else if key_type.starts_with("INT") {
            Arc::new(Int32Array::from_iter_values(ops.keys().map(|k| *k as i32)))
        } else {
            Arc::new(StringArray::from_iter_values(
                ops.keys().map(|k| string_key(*k)),
            ))
        };
        let values = Int64Array::from_iter_values(ops.values().map(|(_, v)| *v));
        let batch =
            RecordBatch::try_from_iter([("k", key), ("v", Arc::new(values) as ArrayRef)]).unwrap();
        let kinds: Vec<i8> = ops.values().map(|(kind, _)| *kind).collect();
        writer.write_with_kinds(&batch, &kinds).await.unwrap();
        writer.commit(round + 1).await.unwrap();
        for (k, (kind, v)) in ops {
            let shown = if key_type.starts_with("BIGINT") || key_type.starts_with("INT") {
                k.to_string()
            } else {
                string_key(k)
            };
            if kind == 0 {
                model.insert(shown, v);
            } else {
                model.remove(&shown);
            }
        }
    }
    let mut want: Vec<Vec<String>> = model
        .iter()
        .map(|(k, v)| vec![k.clone(), v.to_string()])
        .collect();
    want.sort();
    for batch_size in [1, 2, 7, 64, 8192] {
        let read = TableRead::new(fx.table.clone())
            .with_batch_size(batch_size)
            .read_all(None)
            .await
            .unwrap();
        assert_eq!(rows(&read), want, "{key_type}, batches of {batch_size}");
        // Files are read several output batches at a time; outputs are cut to size.
        let most = read.iter().map(|b| b.num_rows()).max().unwrap_or(0);
        assert!(
            most <= batch_size,
            "{key_type}: a batch of {most} rows, not {batch_size}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_with_a_bigint_key_reads_the_model() {
    against_the_model("BIGINT NOT NULL").await;
}

/// An INT key: prefixes are whole keys taken from key rows, not from BIGINT values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_with_an_int_key_reads_the_model() {
    against_the_model("INT NOT NULL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_with_a_string_key_reads_the_model() {
    against_the_model("STRING NOT NULL").await;
}
