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

use arrow::array::{ArrayRef, Int64Array, Int8Array, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch, SortOptions};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use strata_format::merge::{KeyVersion, MergeFunction, RowKind};
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
        Ok(SortMerge {
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
        let mut winners: Vec<u32> = Vec::with_capacity(order.len());
        let mut versions: Vec<KeyVersion> = Vec::new();
        for run in order.chunk_by(|&a, &b| keys.row(a as usize) == keys.row(b as usize)) {
            versions.clear();
            for &i in run {
                let kind = buffer
                    .kinds
                    .get(i as usize)
                    .copied()
                    .and_then(RowKind::from_byte)
                    .ok_or_else(|| Error::internal("write buffer row without a valid kind"))?;
                versions.push(KeyVersion {
                    sequence: buffer.first_sequence + i64::from(i),
                    // Only needed to order several versions.
                    user_sequence: match &user_sequence {
                        Some(r) if run.len() > 1 => Some(r.row(i as usize).as_ref().to_vec()),
                        _ => None,
                    },
                    kind,
                });
            }
            if let Some(w) = self.merge.pick_keeping_retractions(&versions) {
                winners.extend(run.get(w).copied());
            }
        }
        if winners.is_empty() {
            return Ok(None);
        }
        let seq = Int64Array::from_iter_values(
            winners
                .iter()
                .map(|&i| buffer.first_sequence + i64::from(i)),
        );
        let kind = Int8Array::from_iter_values(
            winners
                .iter()
                .map(|&i| buffer.kinds.get(i as usize).copied().unwrap_or_default()),
        );
        let values = take_record_batch(&batch, &UInt32Array::from(winners))?;
        let mut columns: Vec<ArrayRef> =
            Vec::with_capacity(self.key_columns.len() + 2 + values.num_columns());
        for &c in &self.key_columns {
            columns.push(values.column(c).clone());
        }
        columns.push(Arc::new(seq));
        columns.push(Arc::new(kind));
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
