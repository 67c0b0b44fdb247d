//! Lookup compaction end to end: deletion-vector tables of every merge engine that allows
//! them, and first-row tables. Random commits against a model; after every commit and
//! every compaction Strata reads exactly the model (DV tables and first-row tables are read
//! without level 0, so a compaction must move level 0 up each time); pypaimon and the
//! `paimon` crate read the same rows from the same files.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use serde_json::{json, Value};
use strata_format::compact::{Compactor, Reason};
use strata_format::deletion;
use strata_format::snapshot::CommitKind;
use strata_format::table::Table;
use strata_tests::python;
use strata_writer::TableWriter;

use super::{live_files, read_rows, Fixture, Rng};

const KEYS: u64 = 300;

/// One operation: row kind (0 +I, 1 -U, 2 +U, 3 -D), key, a, b.
type Op = (i8, i64, Option<i64>, Option<String>);
/// A visible row: a, b.
type Row = (Option<i64>, Option<String>);

/// How an engine's visible rows follow from the operations it is given.
trait Model {
    /// The operations of one commit (at most one per key).
    fn ops(&mut self, rng: &mut Rng, round: i64) -> Vec<Op>;
    fn apply(&mut self, op: &Op);
    fn rows(&self) -> BTreeMap<i64, Row>;
}

fn random_b(rng: &mut Rng, k: i64) -> Option<String> {
    (rng.below(5) != 0).then(|| format!("b{k}-{}", rng.below(10_000)))
}

/// Keys of one commit, each once; round 0 loads every key.
fn commit_keys(rng: &mut Rng, round: i64) -> Vec<i64> {
    if round == 0 {
        return (0..KEYS as i64).collect();
    }
    let mut keys: Vec<i64> = (0..30).map(|_| rng.below(KEYS) as i64).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// deduplicate: the last version wins; a winning retraction removes the key.
#[derive(Default)]
struct Dedupe(BTreeMap<i64, Row>);

impl Model for Dedupe {
    fn ops(&mut self, rng: &mut Rng, round: i64) -> Vec<Op> {
        commit_keys(rng, round)
            .into_iter()
            .map(|k| {
                let kind = if round == 0 {
                    0
                } else {
                    [0, 0, 2, 1, 3][rng.below(5) as usize]
                };
                let a = (rng.below(5) != 0).then(|| rng.below(1_000_000) as i64);
                (kind, k, a, random_b(rng, k))
            })
            .collect()
    }

    fn apply(&mut self, (kind, k, a, b): &Op) {
        if matches!(kind, 0 | 2) {
            self.0.insert(*k, (*a, b.clone()));
        } else {
            self.0.remove(k);
        }
    }

    fn rows(&self) -> BTreeMap<i64, Row> {
        self.0.clone()
    }
}

/// deduplicate with `sequence.field` = a: the version with the largest (a, arrival) wins.
/// Late arrivals (smaller a) come only for keys whose winner is an addition, because a
/// retraction that compaction dropped cannot beat a late insert any more (Paimon's rule).
#[derive(Default)]
struct DedupeSequence {
    winners: BTreeMap<i64, (i64, bool, Row)>,
    clock: i64,
}

impl Model for DedupeSequence {
    fn ops(&mut self, rng: &mut Rng, round: i64) -> Vec<Op> {
        commit_keys(rng, round)
            .into_iter()
            .map(|k| {
                self.clock += 10;
                let alive = self.winners.get(&k).is_some_and(|w| w.1);
                let kind = if round == 0 {
                    0
                } else {
                    [0, 2, 3][rng.below(3) as usize]
                };
                let late = alive && kind != 3 && rng.below(3) == 0;
                let ts = if late {
                    self.winners[&k].0 - 1 - rng.below(5) as i64
                } else {
                    self.clock
                };
                (kind, k, Some(ts), random_b(rng, k))
            })
            .collect()
    }

    fn apply(&mut self, (kind, k, a, b): &Op) {
        let ts = a.unwrap_or(i64::MIN);
        let wins = self.winners.get(k).is_none_or(|w| ts >= w.0);
        if wins {
            self.winners
                .insert(*k, (ts, matches!(kind, 0 | 2), (*a, b.clone())));
        }
    }

    fn rows(&self) -> BTreeMap<i64, Row> {
        self.winners
            .iter()
            .filter(|(_, w)| w.1)
            .map(|(k, w)| (*k, w.2.clone()))
            .collect()
    }
}

/// partial-update, with deletes under `remove-record-on-delete`: non-null values
/// overwrite; -D removes the row. An insert after a delete sets every column (what a
/// dropped delete left behind is then irrelevant, see spec/compaction.md).
#[derive(Default)]
struct Partial {
    rows: BTreeMap<i64, Option<Row>>,
    deletes: bool,
}

impl Model for Partial {
    fn ops(&mut self, rng: &mut Rng, round: i64) -> Vec<Op> {
        commit_keys(rng, round)
            .into_iter()
            .map(|k| {
                let alive = matches!(self.rows.get(&k), Some(Some(_)));
                if self.deletes && round > 0 && alive && rng.below(5) == 0 {
                    return (3, k, None, None);
                }
                let full = !alive;
                let a = (full || rng.below(2) == 0).then(|| rng.below(1000) as i64);
                let b = (full || rng.below(2) == 0).then(|| format!("b{k}-{}", rng.below(1000)));
                (0, k, a, b)
            })
            .collect()
    }

    fn apply(&mut self, (kind, k, a, b): &Op) {
        if *kind == 3 {
            self.rows.insert(*k, None);
            return;
        }
        let row = self.rows.entry(*k).or_default().get_or_insert((None, None));
        if a.is_some() {
            row.0 = *a;
        }
        if b.is_some() {
            row.1 = b.clone();
        }
    }

    fn rows(&self) -> BTreeMap<i64, Row> {
        self.rows
            .iter()
            .filter_map(|(k, r)| r.clone().map(|r| (*k, r)))
            .collect()
    }
}

/// aggregation: a = sum (retractions subtract), b = last non-null value (ignoring
/// retractions). Only keys that exist are retracted.
#[derive(Default)]
struct Aggregate(BTreeMap<i64, Row>);

impl Model for Aggregate {
    fn ops(&mut self, rng: &mut Rng, round: i64) -> Vec<Op> {
        commit_keys(rng, round)
            .into_iter()
            .map(|k| {
                let kind = if self.0.contains_key(&k) && rng.below(3) == 0 {
                    [1, 3][rng.below(2) as usize]
                } else {
                    [0, 2][rng.below(2) as usize]
                };
                let a = (rng.below(4) != 0).then(|| rng.below(1000) as i64);
                (kind, k, a, random_b(rng, k))
            })
            .collect()
    }

    fn apply(&mut self, (kind, k, a, b): &Op) {
        let row = self.0.entry(*k).or_insert((None, None));
        if matches!(kind, 0 | 2) {
            if let Some(a) = a {
                row.0 = Some(row.0.unwrap_or(0) + a);
            }
            if b.is_some() {
                row.1 = b.clone();
            }
        } else if let Some(a) = a {
            row.0 = Some(row.0.unwrap_or(0) - a);
        }
    }

    fn rows(&self) -> BTreeMap<i64, Row> {
        self.0.clone()
    }
}

/// first-row (with `ignore-delete`): the first addition of a key wins for good.
#[derive(Default)]
struct FirstRow(BTreeMap<i64, Row>);

impl Model for FirstRow {
    fn ops(&mut self, rng: &mut Rng, round: i64) -> Vec<Op> {
        commit_keys(rng, round)
            .into_iter()
            .map(|k| {
                let kind = if round == 0 {
                    0
                } else {
                    [0, 2, 3][rng.below(3) as usize]
                };
                let a = (rng.below(5) != 0).then(|| rng.below(1000) as i64);
                (kind, k, a, random_b(rng, k))
            })
            .collect()
    }

    fn apply(&mut self, (kind, k, a, b): &Op) {
        if matches!(kind, 0 | 2) {
            self.0.entry(*k).or_insert((*a, b.clone()));
        }
    }

    fn rows(&self) -> BTreeMap<i64, Row> {
        self.0.clone()
    }
}

async fn fixture(options: &[(&str, &str)]) -> Fixture {
    let mut o = vec![
        ("bucket", "2"),
        ("num-sorted-run.compaction-trigger", "3"),
        ("target-file-size", "4 kb"),
        ("file.compression", "none"),
    ];
    o.extend_from_slice(options);
    Fixture::new(
        &[("k", "BIGINT NOT NULL"), ("a", "BIGINT"), ("b", "STRING")],
        &["k"],
        &[],
        &o,
    )
    .await
}

async fn write(writer: &mut TableWriter, ops: &[Op], id: i64) {
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

fn show(rows: &BTreeMap<i64, Row>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = rows
        .iter()
        .map(|(k, (a, b))| {
            vec![
                k.to_string(),
                a.map_or("NULL".into(), |a| a.to_string()),
                b.clone().unwrap_or_else(|| "NULL".into()),
            ]
        })
        .collect();
    out.sort();
    out
}

/// The rows as the client script prints them: sorted JSON lists.
fn as_json(rows: &BTreeMap<i64, Row>) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|(k, (a, b))| {
            let a = a.map_or(Value::Null, |a| json!(a));
            let b = b.clone().map_or(Value::Null, Value::String);
            json!([k, a, b]).to_string()
        })
        .collect();
    out.sort();
    out
}

/// pypaimon's and the `paimon` crate's reads of the latest snapshot.
fn client_rows(table: &Fixture, reader: &str) -> Vec<String> {
    let out = python::run_script(
        "dv_tool.py",
        &[
            "read",
            "--warehouse",
            table.dir.path().to_str().unwrap(),
            "--table",
            "db.t",
            "--reader",
            reader,
        ],
    );
    let mut rows: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap().to_string())
        .collect();
    rows.sort();
    rows
}

/// The `paimon` crate reads every table here; pypaimon 2.1.0 refuses some options
/// (`ignore-retract`, `remove-record-on-delete`), so it reads only the others.
fn assert_clients_agree(fx: &Fixture, want: &BTreeMap<i64, Row>, what: &str) {
    let want = as_json(want);
    let theirs = client_rows(fx, "paimon-rust");
    assert_eq!(theirs, want, "the paimon crate, {what}");
    let refused = fx
        .table
        .schema()
        .options
        .keys()
        .any(|k| k.ends_with(".ignore-retract") || k.ends_with("remove-record-on-delete"));
    if !refused {
        assert_eq!(client_rows(fx, "pypaimon"), want, "pypaimon, {what}");
    }
}

/// What the lookup compactions of a run did.
#[derive(Default)]
struct Seen {
    vectors: u64,
    level0_units: usize,
}

/// After a compaction: nothing left in level 0, no retraction above it, reads = model.
async fn check_compacted(table: &Table, model: &dyn Model, what: &str, seen: &mut Seen) {
    for f in live_files(table).await {
        assert!(f.level > 0, "{what}: {} left in level 0", f.file_name);
        assert_eq!(
            f.delete_row_count,
            Some(0),
            "{what}: retractions above level 0 in {}",
            f.file_name
        );
    }
    let snapshot = table.snapshot_manager().latest().await.unwrap().unwrap();
    seen.vectors += deletion::snapshot_deletions(table, &snapshot)
        .await
        .unwrap()
        .iter()
        .map(|d| d.vector.cardinality())
        .sum::<u64>();
    assert_eq!(read_rows(table).await, show(&model.rows()), "{what}");
}

/// Write-only commits, each followed by the compactor: level 0 is invisible until the
/// compaction moves it up, then the table reads the model. Every seventh round is a full
/// compaction. The clients read the same at the end and once in between.
async fn compactor_run(model: &mut dyn Model, options: &[(&str, &str)], seed: u64) -> Seen {
    let mut o = vec![("write-only", "true")];
    o.extend_from_slice(options);
    let fx = fixture(&o).await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let compactor = Compactor::new(fx.table.clone(), "dv-compactor").unwrap();
    let mut rng = Rng(seed);
    let mut seen = Seen::default();
    const ROUNDS: i64 = 24;
    for round in 0..ROUNDS {
        let before = model.rows();
        let ops = model.ops(&mut rng, round);
        write(&mut writer, &ops, round + 1).await;
        for op in &ops {
            model.apply(op);
        }
        // The new level-0 files are not visible yet.
        assert_eq!(
            read_rows(&fx.table).await,
            show(&before),
            "round {round}, uncompacted"
        );
        let full = round % 7 == 6;
        for r in compactor.compact_table(full).await.unwrap() {
            if r.reason == Reason::Level0 {
                seen.level0_units += 1;
            }
        }
        let what = format!("round {round} (full: {full})");
        check_compacted(&fx.table, model, &what, &mut seen).await;
        if round == ROUNDS / 2 {
            assert_clients_agree(&fx, &model.rows(), &what);
        }
    }
    assert_clients_agree(&fx, &model.rows(), "at the end");
    seen
}

fn dv(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut o = vec![("deletion-vectors.enabled", "true")];
    o.extend_from_slice(extra);
    o
}

fn assert_vectors_used(seen: &Seen, engine: &str) {
    assert!(seen.vectors > 0, "{engine}: no deletion vector was written");
    assert!(
        seen.level0_units > 5,
        "{engine}: only {} level-0 compactions",
        seen.level0_units
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dv_deduplicate_compactions_keep_reads_equal_to_the_model() {
    let seen = compactor_run(&mut Dedupe::default(), &dv(&[]), 0xd7_0001).await;
    assert_vectors_used(&seen, "deduplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dv_deduplicate_with_sequence_field_merges_the_old_copy() {
    let options = dv(&[("sequence.field", "a")]);
    let seen = compactor_run(&mut DedupeSequence::default(), &options, 0xd7_0002).await;
    assert_vectors_used(&seen, "deduplicate with sequence.field");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dv_partial_update_compactions_keep_reads_equal_to_the_model() {
    let options = dv(&[
        ("merge-engine", "partial-update"),
        ("partial-update.remove-record-on-delete", "true"),
    ]);
    let mut model = Partial {
        deletes: true,
        ..Partial::default()
    };
    let seen = compactor_run(&mut model, &options, 0xd7_0003).await;
    assert_vectors_used(&seen, "partial-update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dv_aggregation_compactions_keep_reads_equal_to_the_model() {
    let options = dv(&[
        ("merge-engine", "aggregation"),
        ("fields.a.aggregate-function", "sum"),
        ("fields.b.aggregate-function", "last_non_null_value"),
        ("fields.b.ignore-retract", "true"),
    ]);
    let seen = compactor_run(&mut Aggregate::default(), &options, 0xd7_0004).await;
    assert_vectors_used(&seen, "aggregation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_row_compactions_drop_keys_that_exist_above() {
    let options = [("merge-engine", "first-row"), ("ignore-delete", "true")];
    let seen = compactor_run(&mut FirstRow::default(), &options, 0xd7_0005).await;
    assert_eq!(seen.vectors, 0, "first-row tables keep no vectors");
    assert!(seen.level0_units > 5);
}

/// Writers of lookup tables (not write-only) move level 0 up after each commit, so what
/// they commit is readable at once: every APPEND snapshot is followed by a COMPACT one.
async fn writer_run(model: &mut dyn Model, options: &[(&str, &str)], seed: u64) {
    let fx = fixture(options).await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let mut rng = Rng(seed);
    let mut seen = Seen::default();
    for round in 0..12 {
        let ops = model.ops(&mut rng, round);
        write(&mut writer, &ops, round + 1).await;
        for op in &ops {
            model.apply(op);
        }
        check_compacted(&fx.table, model, &format!("round {round}"), &mut seen).await;
        let sm = fx.table.snapshot_manager();
        let latest = sm.latest().await.unwrap().unwrap();
        assert_eq!(latest.commit_kind, CommitKind::Compact, "round {round}");
    }
    assert_clients_agree(&fx, &model.rows(), "after the writer's own compactions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dv_writers_compact_level0_up_at_every_commit() {
    writer_run(&mut Dedupe::default(), &dv(&[]), 0xd7_0011).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dv_partial_update_writers_compact_level0_up_at_every_commit() {
    // Without deletes, so that pypaimon reads it too.
    let options = dv(&[("merge-engine", "partial-update")]);
    writer_run(&mut Partial::default(), &options, 0xd7_0012).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_row_writers_compact_level0_up_at_every_commit() {
    let options = [("merge-engine", "first-row"), ("ignore-delete", "true")];
    writer_run(&mut FirstRow::default(), &options, 0xd7_0013).await;
}
