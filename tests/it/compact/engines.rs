//! For each merge engine: many commits of random upserts and retractions, with automatic
//! compactions after each commit and a full compaction every few; after every step the
//! table reads exactly the model. Also checks where retractions live: kept at levels below
//! the last (they still shadow older files), gone from the last level.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use strata_format::compact::{Compactor, Reason};
use strata_format::table::Table;
use strata_writer::TableWriter;

use super::{live_files, read_rows, Fixture, KvCommitter, Rng};

const ROUNDS: i64 = 40;
const FULL_EVERY: i64 = 9;
/// Keys 0..KEYS; round 0 loads them all, so the last level is much larger than a commit
/// and compactions below it happen (size ratio), not only full ones.
const KEYS: u64 = 600;

/// A model row: display strings of every column, as `read_rows` renders them.
type ModelRow = Vec<String>;
/// Partial-update model: visible, (a, c), b.
type PartialState = (bool, [Option<i64>; 2], Option<String>);
/// Aggregation model: sum, max, last non-null.
type AggState = (Option<i64>, Option<i32>, Option<String>);

fn show_i64(v: Option<i64>) -> String {
    v.map_or("NULL".into(), |v| v.to_string())
}

fn show_str(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "NULL".into())
}

/// What the compactions did over a whole run.
#[derive(Default)]
struct Seen {
    compactions: usize,
    intermediate_retractions: bool,
    upgrades: usize,
    rewrites: usize,
}

/// Compacts (fully every `FULL_EVERY` rounds), then checks reads and level contents.
async fn compact_and_check(
    compactor: &Compactor,
    table: &Table,
    round: i64,
    model: &BTreeMap<i64, ModelRow>,
    seen: &mut Seen,
) {
    let full = round % FULL_EVERY == FULL_EVERY - 1;
    let reports = compactor.compact_table(full).await.unwrap();
    for r in &reports {
        assert!(r.runs_after <= r.runs_before, "{r:?}");
        if full {
            assert_eq!(r.reason, Reason::Requested);
        }
        seen.upgrades += r.stats.files_upgraded;
        seen.rewrites += r.stats.files_rewritten;
    }
    seen.compactions += reports.len();
    let max_level = compactor.options().max_level();
    for f in live_files(table).await {
        let deletes = f.delete_row_count.unwrap_or(0);
        if f.level == max_level {
            assert_eq!(
                deletes, 0,
                "retractions at the last level in {}",
                f.file_name
            );
        } else if f.level > 0 && deletes > 0 {
            seen.intermediate_retractions = true;
        }
        if full {
            assert_eq!(
                f.level, max_level,
                "full compaction left {} at level {}",
                f.file_name, f.level
            );
        }
    }
    let mut want: Vec<ModelRow> = model.values().cloned().collect();
    want.sort();
    assert_eq!(read_rows(table).await, want, "round {round} (full: {full})");
}

fn check_seen(seen: &Seen, engine: &str) {
    assert!(
        seen.compactions >= 10,
        "{engine}: only {} compactions",
        seen.compactions
    );
    assert!(seen.rewrites > 0, "{engine}: nothing was rewritten");
    assert!(
        seen.intermediate_retractions,
        "{engine}: no compaction kept retractions below the last level"
    );
}

fn compactor(table: &Table) -> Compactor {
    Compactor::new(table.clone(), "test-compactor").unwrap()
}

/// Options shared by every engine: few runs before compaction, small files.
fn lsm_options<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut o = vec![
        ("num-sorted-run.compaction-trigger", "3"),
        ("target-file-size", "4 kb"),
        ("file.compression", "none"),
        // The compactor under test does the work, not the writer.
        ("write-only", "true"),
    ];
    o.extend_from_slice(extra);
    o
}

async fn write_with_writer(
    writer: &mut TableWriter,
    ops: &[(i8, i64, Option<i64>, Option<String>)],
    id: i64,
) {
    let batch = RecordBatch::try_from_iter([
        (
            "k",
            Arc::new(Int64Array::from_iter_values(ops.iter().map(|o| o.1))) as ArrayRef,
        ),
        (
            "a",
            Arc::new(Int64Array::from_iter(ops.iter().map(|o| o.2))) as ArrayRef,
        ),
        (
            "b",
            Arc::new(StringArray::from_iter(ops.iter().map(|o| o.3.clone()))) as ArrayRef,
        ),
    ])
    .unwrap();
    let kinds: Vec<i8> = ops.iter().map(|o| o.0).collect();
    writer.write_with_kinds(&batch, &kinds).await.unwrap();
    writer.commit(id).await.unwrap();
}

fn random_kv_ops(
    rng: &mut Rng,
    round: i64,
    kinds: &[i8],
) -> Vec<(i8, i64, Option<i64>, Option<String>)> {
    if round == 0 {
        return (0..KEYS as i64)
            .map(|k| (0, k, Some(k), Some(format!("first-{k}"))))
            .collect();
    }
    (0..40)
        .map(|_| {
            let kind = kinds[rng.below(kinds.len() as u64) as usize];
            let k = rng.below(KEYS) as i64;
            let a = (rng.below(5) != 0).then(|| rng.below(1_000_000) as i64);
            let b = (rng.below(5) != 0).then(|| format!("value-{}-{}", k, rng.below(10_000)));
            (kind, k, a, b)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deduplicate_reads_equal_the_model_through_compactions() {
    let fx = Fixture::new(
        &[("k", "BIGINT NOT NULL"), ("a", "BIGINT"), ("b", "STRING")],
        &["k"],
        &[],
        &lsm_options(&[("bucket", "2")]),
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let compactor = compactor(&fx.table);
    let mut rng = Rng(0x5eed_0001);
    let mut model: BTreeMap<i64, ModelRow> = BTreeMap::new();
    let mut seen = Seen::default();
    for round in 0..ROUNDS {
        // +I, +U, -U, -D; retractions are common so some reach compaction.
        let ops = random_kv_ops(&mut rng, round, &[0, 0, 0, 2, 1, 3, 3]);
        write_with_writer(&mut writer, &ops, round + 1).await;
        for (kind, k, a, b) in &ops {
            if matches!(kind, 0 | 2) {
                model.insert(*k, vec![k.to_string(), show_i64(*a), show_str(b)]);
            } else {
                model.remove(k);
            }
        }
        compact_and_check(&compactor, &fx.table, round, &model, &mut seen).await;
    }
    check_seen(&seen, "deduplicate");
}

/// Commits of ascending, disjoint key ranges (an append-like load): files do not overlap,
/// so compaction moves the large ones up a level instead of rewriting them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_overlapping_files_are_moved_up_not_rewritten() {
    let fx = Fixture::new(
        &[("k", "BIGINT NOT NULL"), ("a", "BIGINT"), ("b", "STRING")],
        &["k"],
        &[],
        &lsm_options(&[("bucket", "1")]),
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let compactor = compactor(&fx.table);
    let mut model: BTreeMap<i64, ModelRow> = BTreeMap::new();
    let mut seen = Seen::default();
    let (mut read, mut written) = (0u64, 0u64);
    for round in 0..8i64 {
        let ops: Vec<_> = (round * 300..(round + 1) * 300)
            .map(|k| (0i8, k, Some(k), Some(format!("row-{k}"))))
            .collect();
        write_with_writer(&mut writer, &ops, round + 1).await;
        for (_, k, a, b) in &ops {
            model.insert(*k, vec![k.to_string(), show_i64(*a), show_str(b)]);
        }
        for r in compactor.compact_table(false).await.unwrap() {
            seen.upgrades += r.stats.files_upgraded;
            seen.rewrites += r.stats.files_rewritten;
            read += r.stats.bytes_read;
            written += r.stats.bytes_written;
        }
        let mut want: Vec<ModelRow> = model.values().cloned().collect();
        want.sort();
        assert_eq!(read_rows(&fx.table).await, want, "round {round}");
    }
    assert!(
        seen.upgrades > seen.rewrites,
        "upgrades {} rewrites {}",
        seen.upgrades,
        seen.rewrites
    );
    assert!(written <= read, "rewrote {written} bytes for {read} read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_row_reads_equal_the_model_through_compactions() {
    let fx = Fixture::new(
        &[("k", "BIGINT NOT NULL"), ("a", "BIGINT"), ("b", "STRING")],
        &["k"],
        &[],
        &lsm_options(&[
            ("bucket", "2"),
            ("merge-engine", "first-row"),
            ("ignore-delete", "true"),
        ]),
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let compactor = compactor(&fx.table);
    let mut rng = Rng(0x5eed_0002);
    let mut model: BTreeMap<i64, ModelRow> = BTreeMap::new();
    let mut seen = Seen::default();
    for round in 0..ROUNDS {
        let ops = random_kv_ops(&mut rng, round, &[0, 0, 2, 3]);
        write_with_writer(&mut writer, &ops, round + 1).await;
        for (kind, k, a, b) in &ops {
            if matches!(kind, 0 | 2) {
                model
                    .entry(*k)
                    .or_insert_with(|| vec![k.to_string(), show_i64(*a), show_str(b)]);
            }
        }
        compact_and_check(&compactor, &fx.table, round, &model, &mut seen).await;
    }
    // First-row files never hold retractions (the writer drops ignored deletes).
    assert!(seen.compactions >= 10 && seen.rewrites > 0);
}

fn one_i64(v: Option<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(vec![v]))
}

fn one_i32(v: Option<i32>) -> ArrayRef {
    Arc::new(Int32Array::from(vec![v]))
}

fn one_str(v: Option<String>) -> ArrayRef {
    Arc::new(StringArray::from(vec![v]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_update_reads_equal_the_model_through_compactions() {
    let fx = Fixture::new(
        &[
            ("k", "BIGINT NOT NULL"),
            ("a", "BIGINT"),
            ("b", "STRING"),
            ("c", "BIGINT"),
        ],
        &["k"],
        &[],
        &lsm_options(&[
            ("bucket", "1"),
            ("merge-engine", "partial-update"),
            ("partial-update.remove-record-on-delete", "true"),
        ]),
    )
    .await;
    let mut committer = KvCommitter::new(&fx.table);
    let compactor = compactor(&fx.table);
    let mut rng = Rng(0x5eed_0003);
    // Visible or not, and the row the merge holds (a delete resets it to nulls).
    let mut state: BTreeMap<i64, PartialState> = BTreeMap::new();
    let mut seen = Seen::default();
    for round in 0..ROUNDS {
        let mut rows = BTreeMap::new();
        for i in 0..if round == 0 { KEYS as i64 } else { 40 } {
            let k = if round == 0 {
                i
            } else {
                rng.below(KEYS) as i64
            };
            // A partial insert after a delete would build on the delete's values, which a
            // compaction into the last level drops (Paimon's rule too): after a delete the
            // next insert sets every column.
            let after_delete = state.get(&k).is_some_and(|s| !s.0);
            if round > 0 && rng.below(5) == 0 {
                // A -D carrying nulls: the row goes, and what a later insert fills is the
                // same whether or not a compaction dropped the delete.
                rows.insert(k, (3i8, vec![one_i64(None), one_str(None), one_i64(None)]));
            } else {
                let set = |rng: &mut Rng| after_delete || rng.below(3) == 0;
                let a = set(&mut rng).then(|| rng.below(1000) as i64);
                let b = set(&mut rng).then(|| format!("b{}", rng.below(1000)));
                let c = set(&mut rng).then(|| rng.below(1000) as i64);
                rows.insert(k, (0i8, vec![one_i64(a), one_str(b), one_i64(c)]));
            }
        }
        for (k, (kind, values)) in &rows {
            let get_i = |a: &ArrayRef| {
                let a = a.as_any().downcast_ref::<Int64Array>().unwrap();
                (!a.is_null(0)).then(|| a.value(0))
            };
            let b = values[1].as_any().downcast_ref::<StringArray>().unwrap();
            let b = (!b.is_null(0)).then(|| b.value(0).to_string());
            let entry = state.entry(*k).or_insert((false, [None, None], None));
            if *kind == 3 {
                *entry = (false, [None, None], None);
            } else {
                entry.0 = true;
                if let Some(a) = get_i(&values[0]) {
                    entry.1[0] = Some(a);
                }
                if b.is_some() {
                    entry.2 = b;
                }
                if let Some(c) = get_i(&values[2]) {
                    entry.1[1] = Some(c);
                }
            }
        }
        committer.commit(rows).await;
        let model: BTreeMap<i64, ModelRow> = state
            .iter()
            .filter(|(_, s)| s.0)
            .map(|(k, s)| {
                (
                    *k,
                    vec![
                        k.to_string(),
                        show_i64(s.1[0]),
                        show_str(&s.2),
                        show_i64(s.1[1]),
                    ],
                )
            })
            .collect();
        compact_and_check(&compactor, &fx.table, round, &model, &mut seen).await;
    }
    check_seen(&seen, "partial-update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregation_reads_equal_the_model_through_compactions() {
    let fx = Fixture::new(
        &[
            ("k", "BIGINT NOT NULL"),
            ("s", "BIGINT"),
            ("m", "INT"),
            ("l", "STRING"),
        ],
        &["k"],
        &[],
        &lsm_options(&[
            ("bucket", "1"),
            ("merge-engine", "aggregation"),
            ("fields.s.aggregate-function", "sum"),
            ("fields.m.aggregate-function", "max"),
            ("fields.m.ignore-retract", "true"),
            ("fields.l.ignore-retract", "true"),
        ]),
    )
    .await;
    let mut committer = KvCommitter::new(&fx.table);
    let compactor = compactor(&fx.table);
    let mut rng = Rng(0x5eed_0004);
    let mut state: BTreeMap<i64, AggState> = BTreeMap::new();
    let mut seen = Seen::default();
    for round in 0..ROUNDS {
        let mut rows = BTreeMap::new();
        let mut next = state.clone();
        for i in 0..if round == 0 { KEYS as i64 } else { 40 } {
            let k = if round == 0 {
                i
            } else {
                rng.below(KEYS) as i64
            };
            if rows.contains_key(&k) {
                continue;
            }
            let s = (rng.below(4) != 0).then(|| rng.below(1000) as i64);
            let m = (rng.below(4) != 0).then(|| rng.below(1000) as i32);
            let l = (rng.below(4) != 0).then(|| format!("l{}", rng.below(1000)));
            // Only keys inserted before are retracted: a lone retraction of an unknown key
            // is invisible, its merge with others is not (Paimon's rule, not a model).
            let kind = if state.contains_key(&k) && rng.below(3) == 0 {
                [1i8, 3][rng.below(2) as usize]
            } else {
                [0i8, 2][rng.below(2) as usize]
            };
            let e = next.entry(k).or_insert((None, None, None));
            if kind == 0 || kind == 2 {
                if let Some(s) = s {
                    e.0 = Some(e.0.unwrap_or(0) + s);
                }
                if let Some(m) = m {
                    e.1 = Some(e.1.map_or(m, |x| x.max(m)));
                }
                if l.is_some() {
                    e.2 = l.clone();
                }
            } else if let Some(s) = s {
                e.0 = Some(e.0.unwrap_or(0) - s);
            }
            rows.insert(k, (kind, vec![one_i64(s), one_i32(m), one_str(l)]));
        }
        state = next;
        committer.commit(rows).await;
        let model: BTreeMap<i64, ModelRow> = state
            .iter()
            .map(|(k, s)| {
                (
                    *k,
                    vec![
                        k.to_string(),
                        show_i64(s.0),
                        s.1.map_or("NULL".into(), |m| m.to_string()),
                        show_str(&s.2),
                    ],
                )
            })
            .collect();
        compact_and_check(&compactor, &fx.table, round, &model, &mut seen).await;
    }
    check_seen(&seen, "aggregation");
}
