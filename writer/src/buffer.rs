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
    Row(u32),
    Value(ArrayRef),
    Null,
}

/// The rows a flush keeps, in key order, with their sequence numbers and kinds.
#[derive(Default)]
struct Survivors {
    /// Buffer row of each survivor, or `None` for a computed one (`computed` in order).
    rows: Vec<Option<u32>>,
    computed: Vec<Vec<Computed>>,
    sequences: Vec<i64>,
    kinds: Vec<i8>,
}

impl Survivors {
    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn push_row(&mut self, row: u32, version: &KeyVersion) {
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

    /// The survivors' values (table schema): one `take` when all are stored rows, else an
    /// `interleave` per column with the computed values as extra one-row sources.
    fn materialize(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        if self.computed.is_empty() {
            let indices = UInt32Array::from_iter_values(self.rows.iter().flatten().copied());
            return Ok(take_record_batch(batch, &indices)?);
        }
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (c, column) in batch.columns().iter().enumerate() {
            let mut extra: Vec<ArrayRef> = Vec::new();
            let mut null_source = None;
            let mut indices = Vec::with_capacity(self.rows.len());
            let mut computed = self.computed.iter();
            for row in &self.rows {
                indices.push(match row {
                    Some(r) => (0, *r as usize),
                    None => match computed.next().and_then(|f| f.get(c)) {
                        Some(Computed::Row(r)) => (0, *r as usize),
                        Some(Computed::Value(a)) => {
                            extra.push(a.clone());
                            (extra.len(), 0)
                        }
                        Some(Computed::Null) | None => {
                            let at = *null_source.get_or_insert_with(|| {
                                extra.push(new_null_array(column.data_type(), 1));
                                extra.len()
                            });
                            (at, 0)
                        }
                    },
                });
            }
            let sources: Vec<&dyn Array> = std::iter::once(column.as_ref())
                .chain(extra.iter().map(|a| a.as_ref()))
                .collect();
            columns.push(interleave(&sources, &indices)?);
        }
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
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
    pub fn run(&self, buffer: Buffer) -> Result<Option<RecordBatch>> {
        if buffer.is_empty() {
            return Ok(None);
        }
        let batch = concat_batches(&self.value_schema, &buffer.batches)?;
        let keys = self.rows(&batch, &self.key_columns, &self.key_fields)?;
        let user_sequence = if self.seq_columns.is_empty() {
            None
        } else {
            Some(self.rows(&batch, &self.seq_columns, &self.seq_fields)?)
        };
        let rows = u32::try_from(batch.num_rows())
            .map_err(|_| invalid!("a write buffer of {} rows is too large", batch.num_rows()))?;
        let mut order: Vec<u32> = (0..rows).collect();
        // Ties keep arrival order, which is sequence order.
        order.sort_unstable_by(|&a, &b| {
            keys.row(a as usize)
                .cmp(&keys.row(b as usize))
                .then(a.cmp(&b))
        });
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
        for run in order.chunk_by(|&a, &b| keys.row(a as usize) == keys.row(b as usize)) {
            versions.clear();
            refs.clear();
            for &i in run {
                versions.push(KeyVersion {
                    sequence: buffer.first_sequence + i64::from(i),
                    // Only needed to order several versions.
                    user_sequence: match &user_sequence {
                        Some(r) if run.len() > 1 => Some(r.row(i as usize).as_ref().to_vec()),
                        _ => None,
                    },
                    kind: kind_of(i)?,
                });
                refs.push((0, i as usize));
            }
            if run.len() == 1 || self.picks_whole_rows {
                if let Some(w) = self.merge.pick_keeping_retractions(&versions) {
                    if let (Some(&row), Some(v)) = (run.get(w), versions.get(w)) {
                        out.push_row(row, v);
                    }
                }
                continue;
            }
            sort_versions(&mut versions, &mut refs);
            let batches = std::slice::from_ref(&batch);
            let input = MergeInput::new(&versions, &refs, batches, &self.merge_columns)?;
            match self.merge.merge(&input)? {
                MergeResult::Gone => {}
                MergeResult::Row(w) => {
                    if let (Some(&(_, row)), Some(v)) = (refs.get(w), versions.get(w)) {
                        out.push_row(row as u32, v);
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
                                Computed::Row(refs.get(v).map_or(0, |r| r.1 as u32))
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
            return Ok(None);
        }
        let values = out.materialize(&batch)?;
        let mut columns: Vec<ArrayRef> =
            Vec::with_capacity(self.key_columns.len() + 2 + values.num_columns());
        for &c in &self.key_columns {
            columns.push(values.column(c).clone());
        }
        columns.push(Arc::new(Int64Array::from(std::mem::take(
            &mut out.sequences,
        ))));
        columns.push(Arc::new(Int8Array::from(std::mem::take(&mut out.kinds))));
        columns.extend(values.columns().iter().cloned());
        Ok(Some(RecordBatch::try_new(self.kv_schema.clone(), columns)?))
    }

    fn rows(&self, batch: &RecordBatch, columns: &[usize], fields: &[SortField]) -> Result<Rows> {
        let converter = RowConverter::new(fields.to_vec())?;
        let arrays: Vec<ArrayRef> = columns.iter().map(|c| batch.column(*c).clone()).collect();
        Ok(converter.convert_columns(&arrays)?)
    }
}

#[cfg(test)]
mod tests;
