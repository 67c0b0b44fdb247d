//! The write buffer of one bucket, and turning it into a sorted, merged key-value batch.
//!
//! Rows are buffered as they came (table schema), each with its row kind; the bucket's
//! sequence numbers are handed out contiguously, so row `i` of the buffer has sequence
//! `first_sequence + i`. At flush the buffer is sorted by key without moving rows: an index
//! array is sorted by the keys in Arrow's row format (ties by arrival, i.e. sequence), the
//! versions of each key go through the table's merge engine, and one `take` gathers the
//! survivors. A flushed file therefore holds each key once, keeping a winning retraction
//! (-U/-D) because it must still delete older versions in other files.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, Int64Array, Int8Array, RecordBatch, UInt32Array,
};
use arrow::compute::{concat_batches, interleave, take_record_batch, SortOptions};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use strata_format::merge::{
    sort_versions, FieldValue, KeyVersion, MergeFunction, MergeInput, MergeResult, RowKind,
};
use strata_format::options::MergeEngine;
use strata_format::schema::TableSchema;
use strata_format::types::arrow::to_arrow_schema;
use strata_format::{invalid, Error, Result};

/// Rows of one bucket waiting for a flush.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    batches: Vec<RecordBatch>,
    kinds: Vec<i8>,
    first_sequence: i64,
    bytes: usize,
}

impl Buffer {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn rows(&self) -> usize {
        self.kinds.len()
    }

    /// Arrow memory held, the measure `write-buffer-size` bounds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends rows whose sequence numbers start at `first_sequence`, which must follow the
    /// rows already buffered. Returns the bytes added.
    pub fn push(&mut self, batch: RecordBatch, kinds: &[i8], first_sequence: i64) -> usize {
        if self.is_empty() {
            self.first_sequence = first_sequence;
        }
        debug_assert_eq!(
            self.first_sequence + self.kinds.len() as i64,
            first_sequence,
            "sequence numbers of a buffer are contiguous"
        );
        let bytes = batch.get_array_memory_size();
        self.batches.push(batch);
        self.kinds.extend_from_slice(kinds);
        self.bytes += bytes;
        bytes
    }

    /// Empties the buffer, returning what it held.
    pub fn take(&mut self) -> Buffer {
        std::mem::take(self)
    }
}

/// Sorts and merges buffers into key-value batches (`key_value_fields()` layout).
pub(crate) struct SortMerge {
    value_schema: SchemaRef,
    kv_schema: SchemaRef,
    key_columns: Vec<usize>,
    key_fields: Vec<SortField>,
    seq_columns: Vec<usize>,
    seq_fields: Vec<SortField>,
    merge: MergeFunction,
    /// Deduplicate and first-row keep one stored version per key, found without the
    /// field-wise merge.
    picks_whole_rows: bool,
    /// `MergeInput` columns: table field `f` is column `f` of a buffered batch.
    merge_columns: Vec<Option<usize>>,
}

/// One field of a computed survivor.
enum Computed {
    Row((usize, usize)),
    Value(ArrayRef),
    Null,
}

/// The rows a flush keeps, in key order, with their sequence numbers and kinds.
#[derive(Default)]
struct Survivors {
    /// (batch, row) of each survivor, or `None` for a computed one (`computed` in order).
    rows: Vec<Option<(usize, usize)>>,
    computed: Vec<Vec<Computed>>,
    sequences: Vec<i64>,
    kinds: Vec<i8>,
}

impl Survivors {
    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn push_row(&mut self, row: (usize, usize), version: &KeyVersion) {
        self.rows.push(Some(row));
        self.sequences.push(version.sequence);
        self.kinds.push(version.kind.as_byte());
    }

    fn push_computed(&mut self, kind: RowKind, sequence: i64, fields: Vec<Computed>) {
        self.rows.push(None);
        self.computed.push(fields);
        self.sequences.push(sequence);
        self.kinds.push(kind.as_byte());
    }

    /// The survivors' values (table schema). Stored rows only: the buffered batches
    /// concatenated, then one `take` (measured faster than an `interleave` across the many
    /// small routed batches). With computed rows: one `interleave` per column, computed values
    /// as extra one-row sources.
    fn materialize(&self, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
        if self.computed.is_empty() {
            let locate = Locator::new(batches);
            let indices = UInt32Array::from_iter_values(
                self.rows
                    .iter()
                    .flatten()
                    .map(|&(b, r)| locate.start(b) + r as u32),
            );
            let all = concat_batches(schema, batches)?;
            return Ok(take_record_batch(&all, &indices)?);
        }
        let mut columns = Vec::with_capacity(schema.fields().len());
        for (c, field) in schema.fields().iter().enumerate() {
            let mut extra: Vec<ArrayRef> = Vec::new();
            let mut null_source = None;
            let mut indices = Vec::with_capacity(self.rows.len());
            let mut computed = self.computed.iter();
            for row in &self.rows {
                indices.push(match row {
                    Some(r) => *r,
                    None => match computed.next().and_then(|f| f.get(c)) {
                        Some(Computed::Row(r)) => *r,
                        Some(Computed::Value(a)) => {
                            extra.push(a.clone());
                            (batches.len() + extra.len() - 1, 0)
                        }
                        Some(Computed::Null) | None => {
                            let at = *null_source.get_or_insert_with(|| {
                                extra.push(new_null_array(field.data_type(), 1));
                                batches.len() + extra.len() - 1
                            });
                            (at, 0)
                        }
                    },
                });
            }
            let sources: Vec<&dyn Array> = batches
                .iter()
                .map(|b| b.column(c).as_ref())
                .chain(extra.iter().map(|a| a.as_ref()))
                .collect();
            columns.push(interleave(&sources, &indices)?);
        }
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

impl SortMerge {
    pub fn new(schema: &TableSchema, merge: MergeFunction) -> Result<Self> {
        let value_schema = to_arrow_schema(&schema.fields);
        let position = |name: &str| {
            schema
                .fields
                .iter()
                .position(|f| f.name == name)
                .ok_or_else(|| invalid!("column '{name}' is not in the table schema"))
        };
        let key_columns = schema
            .trimmed_primary_keys()
            .iter()
            .map(|k| position(k))
            .collect::<Result<Vec<_>>>()?;
        let seq_columns = merge
            .sequence_fields()
            .iter()
            .map(|f| position(&f.name))
            .collect::<Result<Vec<_>>>()?;
        let data_type = |c: &usize| value_schema.field(*c).data_type().clone();
        // Same orders as the reader (read/merge.rs), so files agree with merge-on-read.
        let key_fields = key_columns
            .iter()
            .map(|c| SortField::new(data_type(c)))
            .collect();
        let seq_options = SortOptions {
            descending: merge.sequence_descending(),
            nulls_first: !merge.sequence_descending(),
        };
        let seq_fields = seq_columns
            .iter()
            .map(|c| SortField::new_with_options(data_type(c), seq_options))
            .collect();
        let picks_whole_rows = matches!(
            merge.engine(),
            MergeEngine::Deduplicate | MergeEngine::FirstRow
        );
        let merge_columns = (0..schema.fields.len()).map(Some).collect();
        Ok(SortMerge {
            picks_whole_rows,
            merge_columns,
            kv_schema: to_arrow_schema(&schema.key_value_fields()),
            value_schema,
            key_columns,
            key_fields,
            seq_columns,
            seq_fields,
            merge,
        })
    }

    /// The buffer's rows sorted by key, one version per key; `None` when nothing survives.
    #[cfg(test)]
    pub fn run(&self, buffer: Buffer) -> Result<Option<RecordBatch>> {
        Ok(self.run_with_raw(buffer, false)?.0)
    }

    /// [`SortMerge::run`], and with `raw` also every input row the table accepts, unmerged,
    /// in the same key-value layout sorted by key (ties by arrival): the `input` changelog.
    pub fn run_with_raw(
        &self,
        buffer: Buffer,
        raw: bool,
    ) -> Result<(Option<RecordBatch>, Option<RecordBatch>)> {
        if buffer.is_empty() {
            return Ok((None, None));
        }
        let rows = buffer.rows();
        if u32::try_from(rows).is_err() {
            return Err(invalid!("a write buffer of {rows} rows is too large"));
        }
        let keys = self.rows(&buffer.batches, &self.key_columns, &self.key_fields)?;
        let user_sequence = if self.seq_columns.is_empty() {
            None
        } else {
            Some(self.rows(&buffer.batches, &self.seq_columns, &self.seq_fields)?)
        };
        let order = sorted_by_key(&keys);
        let raw = if raw {
            self.raw_rows(&buffer, &order)?
        } else {
            None
        };
        let locate = Locator::new(&buffer.batches);
        let kind_of = |i: u32| {
            buffer
                .kinds
                .get(i as usize)
                .copied()
                .and_then(RowKind::from_byte)
                .ok_or_else(|| Error::internal("write buffer row without a valid kind"))
        };
        let mut out = Survivors::default();
        let mut versions: Vec<KeyVersion> = Vec::new();
        let mut refs: Vec<(usize, usize)> = Vec::new();
        let same = |a: &(u128, u32), b: &(u128, u32)| {
            a.0 == b.0 && keys.row(a.1 as usize) == keys.row(b.1 as usize)
        };
        for run in order.chunk_by(same) {
            let version = |i: u32| -> Result<KeyVersion> {
                Ok(KeyVersion {
                    sequence: buffer.first_sequence + i64::from(i),
                    // Only needed to order several versions.
                    user_sequence: match &user_sequence {
                        Some(r) if run.len() > 1 => Some(r.row(i as usize).as_ref().to_vec()),
                        _ => None,
                    },
                    kind: kind_of(i)?,
                })
            };
            if let [(_, only)] = run {
                let v = version(*only)?;
                if self.merge.accepts(v.kind) {
                    out.push_row(locate.at(*only), &v);
                }
                continue;
            }
            versions.clear();
            refs.clear();
            for &(_, i) in run {
                versions.push(version(i)?);
                refs.push(locate.at(i));
            }
            if self.picks_whole_rows {
                if let Some(w) = self.merge.pick_keeping_retractions(&versions) {
                    if let (Some(&r), Some(v)) = (refs.get(w), versions.get(w)) {
                        out.push_row(r, v);
                    }
                }
                continue;
            }
            sort_versions(&mut versions, &mut refs);
            let input = MergeInput::new(&versions, &refs, &buffer.batches, &self.merge_columns)?;
            match self.merge.merge(&input)? {
                MergeResult::Gone => {}
                MergeResult::Row(w) => {
                    if let (Some(&r), Some(v)) = (refs.get(w), versions.get(w)) {
                        out.push_row(r, v);
                    }
                }
                MergeResult::Computed {
                    kind,
                    sequence,
                    fields,
                } => {
                    let fields = fields
                        .into_iter()
                        .map(|f| match f {
                            FieldValue::Version(v) => {
                                refs.get(v).map_or(Computed::Null, |r| Computed::Row(*r))
                            }
                            FieldValue::Value(a) => Computed::Value(a),
                            FieldValue::Null => Computed::Null,
                        })
                        .collect();
                    out.push_computed(kind, sequence, fields);
                }
            }
        }
        if out.is_empty() {
            return Ok((None, raw));
        }
        let values = out.materialize(&self.value_schema, &buffer.batches)?;
        let sequences = std::mem::take(&mut out.sequences);
        let kinds = std::mem::take(&mut out.kinds);
        Ok((Some(self.key_values(&values, sequences, kinds)?), raw))
    }

    /// Every accepted buffer row in `order`, as key-value rows with its own sequence and kind.
    fn raw_rows(&self, buffer: &Buffer, order: &[(u128, u32)]) -> Result<Option<RecordBatch>> {
        let mut indices = Vec::with_capacity(order.len());
        let mut sequences = Vec::with_capacity(order.len());
        let mut kinds = Vec::with_capacity(order.len());
        for &(_, i) in order {
            let kind = buffer
                .kinds
                .get(i as usize)
                .copied()
                .ok_or_else(|| Error::internal("write buffer row without a kind"))?;
            if !RowKind::from_byte(kind).is_some_and(|k| self.merge.accepts(k)) {
                continue;
            }
            indices.push(i);
            sequences.push(buffer.first_sequence + i64::from(i));
            kinds.push(kind);
        }
        if indices.is_empty() {
            return Ok(None);
        }
        let all = concat_batches(&self.value_schema, &buffer.batches)?;
        let values = take_record_batch(&all, &UInt32Array::from(indices))?;
        Ok(Some(self.key_values(&values, sequences, kinds)?))
    }

    /// `values` (table columns) with the key-value columns around them.
    fn key_values(
        &self,
        values: &RecordBatch,
        sequences: Vec<i64>,
        kinds: Vec<i8>,
    ) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> =
            Vec::with_capacity(self.key_columns.len() + 2 + values.num_columns());
        for &c in &self.key_columns {
            columns.push(values.column(c).clone());
        }
        columns.push(Arc::new(Int64Array::from(sequences)));
        columns.push(Arc::new(Int8Array::from(kinds)));
        columns.extend(values.columns().iter().cloned());
        Ok(RecordBatch::try_new(self.kv_schema.clone(), columns)?)
    }

    /// `columns` of every buffered batch, in one `Rows` (row `i` = buffer row `i`).
    fn rows(
        &self,
        batches: &[RecordBatch],
        columns: &[usize],
        fields: &[SortField],
    ) -> Result<Rows> {
        let converter = RowConverter::new(fields.to_vec())?;
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
        for &c in columns {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            arrays.push(if parts.len() == 1 {
                batches[0].column(c).clone()
            } else {
                arrow::compute::concat(&parts)?
            });
        }
        Ok(converter.convert_columns(&arrays)?)
    }
}

/// Buffer row indices sorted by key, ties by arrival (= sequence), each with the first 16
/// bytes of its key in Arrow's row format: most comparisons are of those integers, and only
/// keys longer than the prefix fall back to comparing whole rows.
fn sorted_by_key(keys: &Rows) -> Vec<(u128, u32)> {
    let mut order: Vec<(u128, u32)> = (0..keys.num_rows())
        .map(|i| (prefix(keys.row(i).as_ref()), i as u32))
        .collect();
    order.sort_unstable();
    // Rows of one length that fit the prefix order exactly by it (shorter rows are padded
    // with zeros, which could tie with a longer row's real bytes).
    let first_len = keys.row(0).as_ref().len();
    let exact =
        first_len <= 16 && (0..keys.num_rows()).all(|i| keys.row(i).as_ref().len() == first_len);
    if !exact {
        // Equal prefixes need the whole key; ties still by arrival.
        for run in order.chunk_by_mut(|a, b| a.0 == b.0) {
            if run.len() > 1 {
                run.sort_unstable_by(|a, b| {
                    keys.row(a.1 as usize)
                        .cmp(&keys.row(b.1 as usize))
                        .then(a.1.cmp(&b.1))
                });
            }
        }
    }
    order
}

/// The first 16 bytes, big-endian, zero-padded: orders like the bytes themselves when keys
/// differ within them.
fn prefix(bytes: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    let n = bytes.len().min(16);
    buf[..n].copy_from_slice(&bytes[..n]);
    u128::from_be_bytes(buf)
}

/// Maps a buffer row index to (batch, row within it).
struct Locator {
    /// Index of the first row of each batch.
    starts: Vec<u32>,
}

impl Locator {
    fn new(batches: &[RecordBatch]) -> Self {
        let mut starts = Vec::with_capacity(batches.len());
        let mut at = 0u32;
        for b in batches {
            starts.push(at);
            at += b.num_rows() as u32;
        }
        Locator { starts }
    }

    /// Buffer row index of the first row of batch `b`.
    fn start(&self, b: usize) -> u32 {
        self.starts.get(b).copied().unwrap_or(0)
    }

    fn at(&self, row: u32) -> (usize, usize) {
        let b = self.starts.partition_point(|&s| s <= row).saturating_sub(1);
        let start = self.starts.get(b).copied().unwrap_or(0);
        (b, (row - start) as usize)
    }
}

#[cfg(test)]
mod tests;
