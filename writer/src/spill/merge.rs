//! Merging one bucket's spilled runs by key prefix: the commit-time merge of deduplicate
//! tables whose keys fit the 16-byte prefix (integers, dates, timestamps and small
//! composites of them), in place of the compaction merge (`MergeRead`).
//!
//! Each run holds a key at most once (a spill is merged like a flush), and runs are in
//! arrival order, so without `sequence.field` the newest run holding a key has its
//! winning version, retraction or not: no version needs comparing beyond its run. A heap
//! of each run's next (prefix, run) orders the rows, and the survivors are gathered a
//! chunk at a time from the few batches the runs have open, reading each run front to
//! back.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use strata_format::merge::MergeFunction;
use strata_format::options::MergeEngine;
use strata_format::read::key_prefix::{fixed_key_len, int64_key, int64_prefix, prefix};
use strata_format::table::Table;
use strata_format::types::arrow::to_arrow_schema;
use strata_format::{Error, Result};

use crate::gather::{gather, RowRef};

/// Rows per merged chunk: a fan-in of runs at most is open, so even small chunks read each
/// run's batch in long stretches (unlike a flush's gather from hundreds of runs), and a
/// small chunk and the batches it reads can stay in cache from gather to encoding.
const CHUNK_ROWS: usize = 8192;

/// A run's batches, in the run layout.
pub(crate) type Batches = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// Columns a run batch has before the table's (`_SEQUENCE_NUMBER`, `_VALUE_KIND`).
const SYSTEM_COLUMNS: usize = 2;

/// A table's merge of spilled runs by key prefix; see the module docs.
pub(crate) struct PrefixMerge {
    /// The key columns in the run layout.
    key_columns: Vec<usize>,
    key_rows: RowConverter,
    kv_schema: SchemaRef,
}

/// One bucket's runs merging; iterate it for the key-value chunks.
pub(crate) struct Merged<'a> {
    merge: &'a PrefixMerge,
    cursors: Vec<Cursor>,
    /// Batches the chunk being built reads: those opened since the last chunk, and each
    /// run's open one.
    sources: Vec<RecordBatch>,
    heap: BinaryHeap<Entry>,
    rows: Vec<RowRef>,
}

/// A run's place in the merge.
struct Cursor {
    batches: Batches,
    /// The open batch's index among the merge's sources.
    source: u32,
    prefixes: Vec<u128>,
    row: usize,
}

type Entry = Reverse<(u128, Reverse<usize>)>;

impl PrefixMerge {
    /// The merge for `table` when its runs can merge by key prefix alone: deduplicate
    /// without `sequence.field`, and a key whose arrow-row form fits the prefix, so
    /// equal prefixes are equal keys.
    pub fn for_table(table: &Table, layout: &SchemaRef) -> Result<Option<PrefixMerge>> {
        let merge = MergeFunction::from_table(table)?;
        if merge.engine() != MergeEngine::Deduplicate || !merge.sequence_fields().is_empty() {
            return Ok(None);
        }
        let schema = table.schema();
        let mut key_columns = Vec::new();
        for key in schema.trimmed_primary_keys() {
            match layout.index_of(&key) {
                Ok(c) if c >= SYSTEM_COLUMNS => key_columns.push(c),
                _ => return Ok(None),
            }
        }
        if key_columns.is_empty() || fixed_key_len(layout, &key_columns).is_none() {
            return Ok(None);
        }
        let key_fields = key_columns
            .iter()
            .map(|c| SortField::new(layout.field(*c).data_type().clone()))
            .collect();
        Ok(Some(PrefixMerge {
            key_columns,
            key_rows: RowConverter::new(key_fields)?,
            kv_schema: to_arrow_schema(&schema.key_value_fields()),
        }))
    }

    /// Starts merging `runs` (run-layout batches, oldest run first).
    pub fn merge(&self, runs: Vec<Batches>) -> Result<Merged<'_>> {
        let mut merged = Merged {
            merge: self,
            cursors: Vec::with_capacity(runs.len()),
            sources: Vec::new(),
            heap: BinaryHeap::with_capacity(runs.len()),
            rows: Vec::with_capacity(CHUNK_ROWS),
        };
        for (run, batches) in runs.into_iter().enumerate() {
            let mut cursor = Cursor {
                batches,
                source: 0,
                prefixes: Vec::new(),
                row: 0,
            };
            if self.open_next(&mut cursor, &mut merged.sources)? {
                let key = cursor.prefixes.first().copied().unwrap_or_default();
                merged.heap.push(Reverse((key, Reverse(run))));
            }
            merged.cursors.push(cursor);
        }
        Ok(merged)
    }

    /// Opens the run's next non-empty batch as a source; `false` at the run's end.
    fn open_next(&self, cursor: &mut Cursor, sources: &mut Vec<RecordBatch>) -> Result<bool> {
        for batch in cursor.batches.by_ref() {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            cursor.prefixes = self.prefixes(&batch)?;
            cursor.row = 0;
            cursor.source = u32::try_from(sources.len())
                .map_err(|_| Error::internal("more than 2^32 spilled batches open"))?;
            sources.push(batch);
            return Ok(true);
        }
        cursor.prefixes.clear();
        Ok(false)
    }

    /// Each row's key prefix; equal prefixes are equal keys ([`PrefixMerge::for_table`]).
    fn prefixes(&self, batch: &RecordBatch) -> Result<Vec<u128>> {
        if let Some(values) = int64_key(batch, &self.key_columns) {
            return Ok(values.iter().map(|v| int64_prefix(*v)).collect());
        }
        let arrays: Vec<ArrayRef> = (self.key_columns.iter())
            .map(|c| batch.column(*c).clone())
            .collect();
        let keys = self.key_rows.convert_columns(&arrays)?;
        Ok((0..keys.num_rows())
            .map(|r| prefix(keys.row(r).as_ref()))
            .collect())
    }

    /// `rows` of `sources` as one key-value batch: the key columns again in front.
    fn chunk(&self, sources: &[RecordBatch], rows: &[RowRef]) -> Result<RecordBatch> {
        let width = sources.first().map_or(0, |b| b.num_columns());
        let mut values: Vec<ArrayRef> = Vec::with_capacity(width);
        for c in 0..width {
            let columns: Vec<&dyn Array> = sources.iter().map(|b| b.column(c).as_ref()).collect();
            values.push(gather(&columns, rows)?);
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.key_columns.len() + width);
        for &c in &self.key_columns {
            let key = values
                .get(c)
                .ok_or_else(|| Error::internal("a spilled batch without its key column"))?;
            columns.push(key.clone());
        }
        columns.extend(values);
        Ok(RecordBatch::try_new(self.kv_schema.clone(), columns)?)
    }
}

impl Merged<'_> {
    /// The next chunk of up to [`CHUNK_ROWS`] survivors.
    fn next_chunk(&mut self) -> Result<Option<RecordBatch>> {
        if self.heap.is_empty() {
            return Ok(None);
        }
        self.rows.clear();
        while let Some(Reverse((key, Reverse(run)))) = self.heap.pop() {
            // The newest run pops first among equal keys: its version wins.
            let cursor = cursor_at(&mut self.cursors, run)?;
            self.rows.push(RowRef {
                batch: cursor.source,
                row: cursor.row as u32,
            });
            self.advance(run)?;
            while let Some(Reverse((next, Reverse(older)))) = self.heap.peek().copied() {
                if next != key {
                    break;
                }
                self.heap.pop();
                self.advance(older)?;
            }
            if self.rows.len() == CHUNK_ROWS {
                break;
            }
        }
        let chunk = self.merge.chunk(&self.sources, &self.rows)?;
        self.keep_open();
        Ok(Some(chunk))
    }

    /// Moves `run` to its next row, opening its next batch at the end of one, and puts it
    /// back in the heap unless it has ended.
    fn advance(&mut self, run: usize) -> Result<()> {
        let cursor = cursor_at(&mut self.cursors, run)?;
        cursor.row += 1;
        if cursor.row >= cursor.prefixes.len()
            && !self.merge.open_next(cursor, &mut self.sources)?
        {
            return Ok(());
        }
        let key = cursor.prefixes.get(cursor.row).copied().unwrap_or_default();
        self.heap.push(Reverse((key, Reverse(run))));
        Ok(())
    }

    /// Drops the sources no run still reads (gathered), renumbering the others.
    fn keep_open(&mut self) {
        let mut kept = Vec::with_capacity(self.heap.len());
        for Reverse((_, Reverse(run))) in self.heap.iter() {
            if let Some(cursor) = self.cursors.get_mut(*run) {
                if let Some(batch) = self.sources.get(cursor.source as usize) {
                    cursor.source = kept.len() as u32;
                    kept.push(batch.clone());
                }
            }
        }
        self.sources = kept;
    }
}

impl Iterator for Merged<'_> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.next_chunk();
        if next.is_err() {
            // Nothing after a failure: the runs' places are no longer known.
            self.heap.clear();
        }
        next.transpose()
    }
}

fn cursor_at(cursors: &mut [Cursor], run: usize) -> Result<&mut Cursor> {
    cursors
        .get_mut(run)
        .ok_or_else(|| Error::internal("a merge entry of no run"))
}

#[cfg(test)]
mod tests;
