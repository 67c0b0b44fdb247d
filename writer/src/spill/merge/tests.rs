use std::sync::Arc;

use arrow::array::{Int32Array, Int64Array, Int8Array, StringArray};
use futures::{StreamExt, TryStreamExt};
use rand::{Rng, SeedableRng};
use strata_format::read::merge::MergeRead;

use super::*;
use crate::test_table::table;

/// Whether the spill of a table with `columns`, key `keys` and `options` merges by prefix.
async fn merges_by_prefix(
    columns: &[(&str, &str)],
    keys: &[&str],
    options: &[(&str, &str)],
) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let table = table(dir.path(), columns, keys, options).await;
    PrefixMerge::for_table(&table, &MergeRead::run_layout(&table))
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn only_deduplicate_tables_with_keys_that_fit_the_prefix_merge_by_prefix() {
    let ints = [
        ("a", "INT NOT NULL"),
        ("b", "BIGINT NOT NULL"),
        ("v", "INT"),
    ];
    assert!(merges_by_prefix(&ints, &["b"], &[]).await);
    assert!(merges_by_prefix(&ints, &["a", "b"], &[]).await);
    // 5 + 9 bytes fit; three such columns do not.
    let three = [
        ("a", "BIGINT NOT NULL"),
        ("b", "BIGINT NOT NULL"),
        ("c", "INT NOT NULL"),
    ];
    assert!(!merges_by_prefix(&three, &["a", "b", "c"], &[]).await);
    let text = [("k", "STRING NOT NULL"), ("v", "INT")];
    assert!(!merges_by_prefix(&text, &["k"], &[]).await);
    let with = |o: (&'static str, &'static str)| [o];
    assert!(!merges_by_prefix(&ints, &["b"], &with(("sequence.field", "v"))).await);
    for engine in ["partial-update", "first-row", "aggregation"] {
        let options = with(("merge-engine", engine));
        assert!(!merges_by_prefix(&ints, &["b"], &options).await, "{engine}");
    }
}

/// Runs in the run layout of (a INT, b BIGINT, v STRING): each run's keys unique and
/// sorted, sequence numbers growing run after run, some rows deletes.
fn runs(
    table: &Table,
    seed: u64,
    runs: usize,
    keys: i64,
    composite: bool,
) -> Vec<Vec<RecordBatch>> {
    let layout = MergeRead::run_layout(table);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut sequence = 0i64;
    (0..runs)
        .map(|_| {
            let mut picked: Vec<(i32, i64)> = (0..keys)
                .filter(|_| rng.random_bool(0.4))
                .map(|k| {
                    if composite {
                        ((k % 7) as i32 - 3, k / 7 - 20)
                    } else {
                        (0, k * 31 % keys - keys / 2)
                    }
                })
                .collect();
            picked.sort_unstable();
            let mut batches = Vec::new();
            // Uneven batches, one of them empty.
            let mut sizes = [0usize, 1, 97, 500, 1000].iter().cycle();
            let mut rest = picked.as_slice();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap()).min(rest.len());
                let (these, more) = rest.split_at(n);
                rest = more;
                let seqs: Vec<i64> = these
                    .iter()
                    .map(|_| {
                        sequence += 1;
                        sequence
                    })
                    .collect();
                let kinds: Vec<i8> = these
                    .iter()
                    .map(|_| if rng.random_bool(0.1) { 3 } else { 0 })
                    .collect();
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(Int64Array::from(seqs.clone())),
                    Arc::new(Int8Array::from(kinds)),
                    Arc::new(Int32Array::from_iter_values(these.iter().map(|k| k.0))),
                    Arc::new(Int64Array::from_iter_values(these.iter().map(|k| k.1))),
                    Arc::new(StringArray::from_iter_values(
                        seqs.iter().map(|s| format!("value-{s}")),
                    )),
                ];
                batches.push(RecordBatch::try_new(layout.clone(), columns).unwrap());
            }
            batches
        })
        .collect()
}

fn batches(run: &[RecordBatch]) -> Batches {
    Box::new(Vec::from(run).into_iter().map(Ok))
}

/// The compaction merge of the same runs, keeping retractions, as the spill used before.
async fn compaction_merge(table: &Table, runs: &[Vec<RecordBatch>]) -> Vec<RecordBatch> {
    let split = crate::spill::tests::split();
    let streams = runs
        .iter()
        .map(|r| futures::stream::iter(batches(r)).boxed())
        .collect();
    MergeRead::key_values(table.clone(), split, 8192, true)
        .unwrap()
        .with_runs(streams)
        .into_stream()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    let schema = batches.first().unwrap().schema();
    arrow::compute::concat_batches(&schema, batches).unwrap()
}

/// The prefix merge keeps what the compaction merge keeps, row for row (deletes too, as a
/// spill must still shadow older files), for single and composite keys, many runs with
/// overlapping keys, uneven and empty batches, and chunks of at most `CHUNK_ROWS`.
#[tokio::test]
async fn the_prefix_merge_keeps_what_the_compaction_merge_keeps() {
    let columns = [
        ("a", "INT NOT NULL"),
        ("b", "BIGINT NOT NULL"),
        ("v", "STRING"),
    ];
    for (keys, composite) in [(&["b"][..], false), (&["a", "b"][..], true)] {
        let dir = tempfile::tempdir().unwrap();
        let table = table(dir.path(), &columns, keys, &[]).await;
        let merge = PrefixMerge::for_table(&table, &MergeRead::run_layout(&table))
            .unwrap()
            .unwrap();
        for (seed, count, keys) in [(1, 1, 50), (2, 5, 3000), (3, 12, 40_000)] {
            let runs = runs(&table, seed, count, keys, composite);
            let chunks: Vec<RecordBatch> = merge
                .merge(runs.iter().map(|r| batches(r)).collect())
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
            assert!(chunks.iter().all(|c| c.num_rows() <= CHUNK_ROWS));
            assert!(chunks.iter().all(|c| c.num_rows() > 0));
            let expected = compaction_merge(&table, &runs).await;
            let (got, expected) = (concat(&chunks), concat(&expected));
            assert_eq!(got.schema().fields(), expected.schema().fields());
            assert_eq!(
                got.columns(),
                expected.columns(),
                "seed {seed}, keys {keys:?}"
            );
        }
    }
}

/// A run that fails to read fails the merge with its error.
#[tokio::test]
async fn a_run_that_fails_to_read_fails_the_merge() {
    let columns = [
        ("a", "INT NOT NULL"),
        ("b", "BIGINT NOT NULL"),
        ("v", "STRING"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let table = table(dir.path(), &columns, &["b"], &[]).await;
    let merge = PrefixMerge::for_table(&table, &MergeRead::run_layout(&table))
        .unwrap()
        .unwrap();
    let good = runs(&table, 4, 1, 20_000, false).remove(0);
    let failing: Batches = Box::new(
        good.clone()
            .into_iter()
            .take(2)
            .map(Ok)
            .chain([Err(Error::internal("disk gone"))]),
    );
    let results: Vec<Result<RecordBatch>> = merge
        .merge(vec![batches(&good), failing])
        .unwrap()
        .collect();
    let error = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(error.to_string().contains("disk gone"), "{error}");
}
