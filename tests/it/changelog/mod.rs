//! Changelog producers and reads of changes end to end: random CDC workloads written by
//! the real writer, compactions between commits, and the changes read back through
//! `format::changes`, replayed onto an empty model and compared with the table itself.

mod follow;
mod producers;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, RecordBatch};
use futures::TryStreamExt;
use strata_format::changes::{ChangeBatch, ChangeReader};
use strata_format::merge::RowKind;
use strata_format::read::TableRead;
use strata_format::table::Table;
use strata_writer::TableWriter;

pub use crate::compact::Rng;
pub use crate::writer::Fixture;

/// A row of the test tables `(id BIGINT NOT NULL, g INT, v BIGINT)`: group and value.
pub type Row = (Option<i32>, Option<i64>);

/// One change: kind, key, row.
pub type Change = (RowKind, i64, Row);

pub const COLUMNS: &[(&str, &str)] = &[("id", "BIGINT NOT NULL"), ("g", "INT"), ("v", "BIGINT")];

/// The test table with `options` on top of two buckets.
pub async fn fixture(options: &[(&str, &str)]) -> Fixture {
    let mut all = vec![("bucket", "2")];
    all.extend_from_slice(options);
    Fixture::new(COLUMNS, &["id"], &[], &all).await
}

/// A batch of changes as input rows with their kinds.
pub fn input(changes: &[Change]) -> (RecordBatch, Vec<i8>) {
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from_iter_values(changes.iter().map(|c| c.1))) as ArrayRef,
        ),
        (
            "g",
            Arc::new(Int32Array::from_iter(changes.iter().map(|c| c.2 .0))) as ArrayRef,
        ),
        (
            "v",
            Arc::new(Int64Array::from_iter(changes.iter().map(|c| c.2 .1))) as ArrayRef,
        ),
    ])
    .unwrap();
    let kinds = changes.iter().map(|c| c.0.as_byte()).collect();
    (batch, kinds)
}

/// The rows of change batches as changes, in order.
pub fn changes_of(batches: &[ChangeBatch]) -> Vec<Change> {
    let mut out = Vec::new();
    for b in batches {
        let (ids, gs, vs) = columns(&b.rows);
        for (i, kind) in b.kinds.iter().enumerate() {
            out.push((*kind, ids.value(i), (opt_i32(gs, i), opt_i64(vs, i))));
        }
    }
    out
}

/// The `id`, `g`, `v` columns (schema order).
fn columns(rows: &RecordBatch) -> (&Int64Array, &Int32Array, &Int64Array) {
    (
        rows.column(0).as_any().downcast_ref().unwrap(),
        rows.column(1).as_any().downcast_ref().unwrap(),
        rows.column(2).as_any().downcast_ref().unwrap(),
    )
}

fn opt_i32(a: &Int32Array, i: usize) -> Option<i32> {
    (!a.is_null(i)).then(|| a.value(i))
}

fn opt_i64(a: &Int64Array, i: usize) -> Option<i64> {
    (!a.is_null(i)).then(|| a.value(i))
}

/// The table's rows at a snapshot as a model.
pub async fn table_at(table: &Table, snapshot: i64) -> BTreeMap<i64, Row> {
    let batches = TableRead::new(table.clone())
        .read_all(Some(snapshot))
        .await
        .unwrap();
    rows_of(&batches)
}

pub fn rows_of(batches: &[RecordBatch]) -> BTreeMap<i64, Row> {
    let mut out = BTreeMap::new();
    for b in batches {
        let (ids, gs, vs) = columns(b);
        for i in 0..b.num_rows() {
            out.insert(ids.value(i), (opt_i32(gs, i), opt_i64(vs, i)));
        }
    }
    out
}

/// A model kept up to date from changes only, and the downstream aggregate `sum(v) group
/// by g` maintained the way a streaming job would: `+I`/`+U` add, `-U`/`-D` subtract.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replay {
    pub rows: BTreeMap<i64, Row>,
    pub sums: BTreeMap<Option<i32>, i64>,
    /// Check that every retraction matches the row it retracts and every `+I` is new.
    pub strict: bool,
}

impl Replay {
    pub fn strict() -> Self {
        Replay {
            strict: true,
            ..Replay::default()
        }
    }

    pub fn apply(&mut self, changes: &[Change]) {
        for (kind, id, row) in changes {
            let v = row.1.unwrap_or(0);
            match kind {
                RowKind::Insert | RowKind::UpdateAfter => {
                    if self.strict {
                        assert!(
                            *kind == RowKind::UpdateAfter || !self.rows.contains_key(id),
                            "+I of key {id} that exists as {:?}",
                            self.rows.get(id)
                        );
                    }
                    if let Some(old) = self.rows.insert(*id, *row) {
                        // An upsert without before-image (only `none` and raw input do so).
                        assert!(!self.strict || *kind == RowKind::UpdateAfter || old == *row);
                        if !self.strict {
                            *self.sums.entry(old.0).or_default() -= old.1.unwrap_or(0);
                        }
                    }
                    *self.sums.entry(row.0).or_default() += v;
                }
                RowKind::UpdateBefore | RowKind::Delete => {
                    let old = self.rows.remove(id);
                    if self.strict {
                        assert_eq!(
                            old,
                            Some(*row),
                            "{} of key {id} does not retract its current row",
                            kind.short_string()
                        );
                    }
                    *self.sums.entry(row.0).or_default() -= v;
                }
            }
        }
        self.sums.retain(|_, s| *s != 0);
    }
}

/// `sum(v) group by g` of a table state.
pub fn sums(rows: &BTreeMap<i64, Row>) -> BTreeMap<Option<i32>, i64> {
    let mut out = BTreeMap::new();
    for (g, v) in rows.values() {
        *out.entry(*g).or_default() += v.unwrap_or(0);
    }
    out.retain(|_, s| *s != 0);
    out
}

/// Random CDC against a model of the source table.
pub struct Workload {
    pub rng: Rng,
    pub source: BTreeMap<i64, Row>,
    next_key: i64,
    /// Updates as `-U`/`+U` pairs (a complete changelog) rather than bare upserts.
    pub cdc_updates: bool,
}

impl Workload {
    pub fn new(seed: u64, cdc_updates: bool) -> Self {
        Workload {
            rng: Rng(seed),
            source: BTreeMap::new(),
            next_key: 0,
            cdc_updates,
        }
    }

    fn new_row(&mut self) -> Row {
        let g = self.rng.below(4) as i32;
        let v = self.rng.below(100) as i64 - 20;
        (
            Some(g),
            if self.rng.below(10) == 0 {
                None
            } else {
                Some(v)
            },
        )
    }

    /// `n` operations: inserts, updates that change the group or value, deletes (with the
    /// full old row), re-inserts of deleted keys, and updates to unchanged values.
    pub fn ops(&mut self, n: usize) -> Vec<Change> {
        let mut out = Vec::new();
        for _ in 0..n {
            let existing: Vec<i64> = self.source.keys().copied().collect();
            let roll = self.rng.below(10);
            if existing.is_empty() || roll < 4 {
                let id = if self.next_key > 3 && self.rng.below(4) == 0 {
                    self.rng.below(self.next_key as u64) as i64
                } else {
                    self.next_key += 1;
                    self.next_key - 1
                };
                let row = self.new_row();
                match self.source.insert(id, row) {
                    Some(old) if self.cdc_updates => {
                        out.push((RowKind::UpdateBefore, id, old));
                        out.push((RowKind::UpdateAfter, id, row));
                    }
                    _ => out.push((RowKind::Insert, id, row)),
                }
                continue;
            }
            let id = existing[self.rng.below(existing.len() as u64) as usize];
            let old = self.source[&id];
            if roll < 8 {
                let row = if self.rng.below(6) == 0 {
                    old
                } else {
                    self.new_row()
                };
                self.source.insert(id, row);
                if self.cdc_updates {
                    out.push((RowKind::UpdateBefore, id, old));
                    out.push((RowKind::UpdateAfter, id, row));
                } else {
                    out.push((RowKind::Insert, id, row));
                }
            } else {
                self.source.remove(&id);
                out.push((RowKind::Delete, id, old));
            }
        }
        out
    }
}

/// Writes `ops` in one or two batches and commits them.
pub async fn write_commit(writer: &mut TableWriter, ops: &[Change], identifier: i64) -> Vec<i64> {
    let cut = if ops.len() > 4 {
        ops.len() / 2
    } else {
        ops.len()
    };
    // Keep a -U/+U pair in one batch so a buffer flush never separates them.
    let cut = if cut > 0 && cut < ops.len() && ops[cut - 1].0 == RowKind::UpdateBefore {
        cut + 1
    } else {
        cut
    };
    for part in [&ops[..cut], &ops[cut..]] {
        if part.is_empty() {
            continue;
        }
        let (batch, kinds) = input(part);
        writer.write_with_kinds(&batch, &kinds).await.unwrap();
    }
    writer.commit(identifier).await.unwrap().snapshot_ids
}

/// Every change of snapshots `from + 1 ..= to`, one list per snapshot that had any.
pub async fn changes_between(table: &Table, from: i64, to: i64) -> BTreeMap<i64, Vec<Change>> {
    let batches: Vec<ChangeBatch> = ChangeReader::new(table.clone())
        .between(from, to)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut out: BTreeMap<i64, Vec<Change>> = BTreeMap::new();
    for b in batches {
        out.entry(b.snapshot_id)
            .or_default()
            .extend(changes_of(std::slice::from_ref(&b)));
    }
    out
}

/// The full-phase rows of a snapshot (what the changelog covers there).
pub async fn full_rows(table: &Table, snapshot: i64) -> BTreeMap<i64, Row> {
    let batches: Vec<ChangeBatch> = ChangeReader::new(table.clone())
        .full_rows(snapshot)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(batches
        .iter()
        .all(|b| b.kinds.iter().all(|k| *k == RowKind::Insert)));
    let rows: Vec<RecordBatch> = batches.into_iter().map(|b| b.rows).collect();
    rows_of(&rows)
}

pub async fn latest(table: &Table) -> i64 {
    table
        .snapshot_manager()
        .latest_id()
        .await
        .unwrap()
        .unwrap_or(0)
}
