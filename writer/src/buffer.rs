//! The write buffer, and turning one bucket's rows into sorted, merged key-value batches.
//!
//! Conformed batches are kept whole, as they came, in one [`Pool`] shared by every bucket
//! of the writer; a bucket's [`Buffer`] lists its rows in arrival order as (batch, row)
//! references with their row kinds, so routing copies no values. A bucket's sequence
//! numbers are handed out contiguously: its `i`-th buffered row has `first_sequence + i`.
//!
//! A flush drains the whole pool ([`Drain`]) bucket by bucket. A bucket's rows are sorted
//! by (16-byte key prefix, arrival), whole keys compared only where prefixes tie (a BIGINT
//! key's prefix comes straight from its value), in two cache-friendly steps
//! ([`Drain::sort`]): the rows of each pool batch are sorted and copied out while that
//! batch is in cache, then these runs are merged. The versions of each key go through the
//! table's merge engine, and the survivors are gathered a chunk at a time ([`Sorted`]) as
//! the file writer or the spill takes them, reading the runs front to back. A flushed file
//! holds each key once, keeping a winning retraction (-U/-D) because it must still delete
//! older versions in other files.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, Int64Array, Int8Array, RecordBatch, UInt32Array,
};
use arrow::compute::{interleave, take, SortOptions};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use strata_format::merge::{
    sort_versions, FieldValue, KeyVersion, MergeFunction, MergeInput, MergeResult, RowKind,
};
use strata_format::options::MergeEngine;
use strata_format::read::key_prefix::{exact_len, fixed_key_len, int64_key, int64_prefix, prefix};
use strata_format::schema::TableSchema;
use strata_format::types::arrow::to_arrow_schema;
use strata_format::{invalid, Error, Result};

/// Rows per key-value batch a [`Sorted`] hands out.
pub(crate) const CHUNK_ROWS: usize = 8192;

/// Conformed batches waiting for a flush, shared by every bucket's [`Buffer`].
#[derive(Debug, Default)]
pub(crate) struct Pool {
    batches: Vec<RecordBatch>,
}

impl Pool {
    /// Adds a batch; returns its index and the Arrow memory it holds (with the buffers'
    /// references, what `write-buffer-size` bounds).
    pub fn push(&mut self, batch: RecordBatch) -> Result<(u32, usize)> {
        let index = u32::try_from(self.batches.len())
            .map_err(|_| invalid!("more than 2^32 batches buffered"))?;
        let bytes = batch.get_array_memory_size();
        self.batches.push(batch);
        Ok((index, bytes))
    }

    /// Empties the pool, returning what it held.
    pub fn take(&mut self) -> Pool {
        std::mem::take(self)
    }
}

/// A buffered row: batch of the pool, row within it.
#[derive(Debug, Clone, Copy)]
struct RowRef {
    batch: u32,
    row: u32,
}

impl RowRef {
    fn pair(self) -> (usize, usize) {
        (self.batch as usize, self.row as usize)
    }
}

/// Memory a buffered row takes besides its values: its reference and its kind.
const ROW_BYTES: usize = std::mem::size_of::<RowRef>() + 1;

/// The rows of one bucket, in arrival order.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    rows: Vec<RowRef>,
    kinds: Vec<i8>,
    first_sequence: i64,
}

impl Buffer {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Appends rows `rows` of pool batch `batch`, whose row kinds are `kinds[row]`; their
    /// sequence numbers start at `first_sequence`, which must follow the rows already
    /// buffered. Returns the bytes added. The caller checks `kinds` covers the batch.
    pub fn push(&mut self, batch: u32, rows: &[u32], kinds: &[i8], first_sequence: i64) -> usize {
        if self.is_empty() {
            self.first_sequence = first_sequence;
        }
        debug_assert_eq!(
            self.first_sequence + self.rows.len() as i64,
            first_sequence,
            "sequence numbers of a buffer are contiguous"
        );
        self.rows
            .extend(rows.iter().map(|&row| RowRef { batch, row }));
        self.kinds.extend(
            rows.iter()
                .map(|&r| kinds.get(r as usize).copied().unwrap_or(-1)),
        );
        rows.len() * ROW_BYTES
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
    /// The field of the bucket's row at this position.
    Row(usize),
    Value(ArrayRef),
    Null,
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

    /// Starts sorting the buckets' buffers of the rows in `pool`.
    pub fn drain(self: &Arc<Self>, pool: Pool) -> Drain {
        Drain {
            sort: self.clone(),
            batches: pool.batches,
        }
    }

    /// Each buffered row's key prefix (arrival order), ordering like its key; with the key
    /// rows when prefixes do not decide equality alone.
    fn keys(&self, batches: &[RecordBatch], buffer: &Buffer) -> Result<(Vec<u128>, Option<Rows>)> {
        if let Some(values) = self.int64_key(batches) {
            // A valid marker and the value: equal prefixes are equal keys.
            let prefix = |r: &RowRef| {
                let v = values
                    .get(r.batch as usize)
                    .and_then(|v| v.get(r.row as usize));
                v.map_or(0, |v| int64_prefix(*v))
            };
            return Ok((buffer.rows.iter().map(prefix).collect(), None));
        }
        let indices: Vec<(usize, usize)> = buffer.rows.iter().map(|r| r.pair()).collect();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.key_columns.len());
        for &c in &self.key_columns {
            let sources: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            arrays.push(interleave(&sources, &indices)?);
        }
        let rows = RowConverter::new(self.key_fields.clone())?.convert_columns(&arrays)?;
        let prefixes = (0..rows.num_rows())
            .map(|i| prefix(rows.row(i).as_ref()))
            .collect();
        let exact = fixed_key_len(&self.value_schema, &self.key_columns).is_some()
            || exact_len(&rows).is_some();
        Ok((prefixes, (!exact).then_some(rows)))
    }

    /// The values of a key that is one BIGINT column without nulls, batch by batch.
    fn int64_key<'a>(&self, batches: &'a [RecordBatch]) -> Option<Vec<&'a [i64]>> {
        batches
            .iter()
            .map(|b| int64_key(b, &self.key_columns))
            .collect()
    }

    /// `columns` of `values` as arrow rows.
    fn rows(&self, values: &RecordBatch, columns: &[usize], fields: &[SortField]) -> Result<Rows> {
        let converter = RowConverter::new(fields.to_vec())?;
        let arrays: Vec<ArrayRef> = columns.iter().map(|c| values.column(*c).clone()).collect();
        Ok(converter.convert_columns(&arrays)?)
    }
}

/// A drained pool: sorts the buckets' buffers of its rows one by one ([`Drain::run`]).
pub(crate) struct Drain {
    sort: Arc<SortMerge>,
    batches: Vec<RecordBatch>,
}

impl Drain {
    /// Sorts a bucket's rows in two steps that each read memory in cache-sized or sequential
    /// pieces. Rows of one pool batch are a run: each is sorted alone and copied out of its
    /// batch while that batch is in cache, into one batch of the bucket's runs (`values`).
    /// Then the runs are merged (`sort` finds and merges sorted runs), so gathering in key
    /// order reads every run front to back, where one sort of the whole buffer would gather
    /// each row from anywhere in it: a cache miss per value.
    fn sort(&self, buffer: &Buffer) -> Result<Sorting> {
        let (prefixes, key_rows) = self.sort.keys(&self.batches, buffer)?;
        let mut order: Vec<(u128, u32)> = prefixes
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, i as u32))
            .collect();
        drop(prefixes);
        let mut start = 0;
        for run in buffer.rows.chunk_by(|a, b| a.batch == b.batch) {
            if let Some(run) = order.get_mut(start..start + run.len()) {
                run.sort_unstable();
                order_ties(run, key_rows.as_ref());
            }
            start += run.len();
        }
        let mut placed = vec![0u32; order.len()];
        for (at, (_, i)) in order.iter().enumerate() {
            if let Some(p) = placed.get_mut(*i as usize) {
                *p = at as u32;
            }
        }
        let indices: Vec<(usize, usize)> = order
            .iter()
            .map(|(_, i)| buffer.rows.get(*i as usize).map_or((0, 0), |r| r.pair()))
            .collect();
        let schema = &self.sort.value_schema;
        let mut columns = Vec::with_capacity(schema.fields().len());
        for c in 0..schema.fields().len() {
            let sources: Vec<&dyn Array> =
                self.batches.iter().map(|b| b.column(c).as_ref()).collect();
            columns.push(interleave(&sources, &indices)?);
        }
        drop(indices);
        let values = RecordBatch::try_new(schema.clone(), columns)?;
        // Stable and adaptive: merges the sorted runs (entries are distinct, so this is the
        // one total order).
        order.sort();
        order_ties(&mut order, key_rows.as_ref());
        Ok(Sorting {
            values,
            order,
            placed,
            key_rows,
        })
    }

    /// One bucket's buffer sorted by key, one version per key (`None` when nothing
    /// survives); with `raw` also every input row the table accepts, unmerged, in the same
    /// layout sorted by key (ties by arrival): the `input` changelog.
    pub fn run(&self, buffer: Buffer, raw: bool) -> Result<(Option<Sorted>, Option<Sorted>)> {
        if buffer.is_empty() {
            return Ok((None, None));
        }
        let n = buffer.rows();
        if u32::try_from(n).is_err() {
            return Err(invalid!("a write buffer of {n} rows is too large"));
        }
        let sort = &self.sort;
        let Sorting {
            values,
            order,
            placed,
            key_rows,
        } = self.sort(&buffer)?;
        let at = |i: u32| placed.get(i as usize).copied().unwrap_or(0);
        let user_sequence = if sort.seq_columns.is_empty() {
            None
        } else {
            Some(sort.rows(&values, &sort.seq_columns, &sort.seq_fields)?)
        };
        let raw = if raw {
            raw_rows(sort, &values, &buffer, &order, &placed)?
        } else {
            None
        };
        let kind_of = |i: u32| {
            buffer
                .kinds
                .get(i as usize)
                .copied()
                .and_then(RowKind::from_byte)
                .ok_or_else(|| Error::internal("write buffer row without a valid kind"))
        };
        let same = |a: &(u128, u32), b: &(u128, u32)| {
            a.0 == b.0
                && key_rows
                    .as_ref()
                    .is_none_or(|k| k.row(a.1 as usize) == k.row(b.1 as usize))
        };
        let batches = std::slice::from_ref(&values);
        let mut out = Sorted::new(sort.clone(), values.clone(), n);
        let mut versions: Vec<KeyVersion> = Vec::new();
        let mut refs: Vec<(usize, usize)> = Vec::new();
        for run in order.chunk_by(same) {
            let version = |i: u32| -> Result<KeyVersion> {
                Ok(KeyVersion {
                    sequence: buffer.first_sequence + i64::from(i),
                    // Only needed to order several versions.
                    user_sequence: match &user_sequence {
                        Some(r) if run.len() > 1 => Some(r.row(at(i) as usize).as_ref().to_vec()),
                        _ => None,
                    },
                    kind: kind_of(i)?,
                })
            };
            if let [(_, only)] = run {
                let v = version(*only)?;
                if sort.merge.accepts(v.kind) {
                    out.push_row(at(*only), &v);
                }
                continue;
            }
            versions.clear();
            refs.clear();
            for &(_, i) in run {
                versions.push(version(i)?);
                refs.push((0, at(i) as usize));
            }
            if sort.picks_whole_rows {
                if let Some(w) = sort.merge.pick_keeping_retractions(&versions) {
                    if let (Some(&(_, r)), Some(v)) = (refs.get(w), versions.get(w)) {
                        out.push_row(r as u32, v);
                    }
                }
                continue;
            }
            sort_versions(&mut versions, &mut refs);
            let input = MergeInput::new(&versions, &refs, batches, &sort.merge_columns)?;
            match sort.merge.merge(&input)? {
                MergeResult::Gone => {}
                MergeResult::Row(w) => {
                    if let (Some(&(_, r)), Some(v)) = (refs.get(w), versions.get(w)) {
                        out.push_row(r as u32, v);
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
                                refs.get(v).map_or(Computed::Null, |r| Computed::Row(r.1))
                            }
                            FieldValue::Value(a) => Computed::Value(a),
                            FieldValue::Null => Computed::Null,
                        })
                        .collect();
                    out.push_computed(kind, sequence, fields);
                }
            }
        }
        Ok(((!out.rows.is_empty()).then_some(out), raw))
    }
}

/// Every accepted buffer row in `order`, with its own sequence and kind.
fn raw_rows(
    sort: &Arc<SortMerge>,
    values: &RecordBatch,
    buffer: &Buffer,
    order: &[(u128, u32)],
    placed: &[u32],
) -> Result<Option<Sorted>> {
    let mut out = Sorted::new(sort.clone(), values.clone(), order.len());
    for &(_, i) in order {
        let kind = buffer
            .kinds
            .get(i as usize)
            .copied()
            .ok_or_else(|| Error::internal("write buffer row without a kind"))?;
        if !RowKind::from_byte(kind).is_some_and(|k| sort.merge.accepts(k)) {
            continue;
        }
        out.rows.push(placed.get(i as usize).copied().unwrap_or(0));
        out.sequences.push(buffer.first_sequence + i64::from(i));
        out.kinds.push(kind);
    }
    Ok((!out.rows.is_empty()).then_some(out))
}

/// A bucket's rows laid out for gathering, and their order; see [`Drain::sort`].
struct Sorting {
    /// The bucket's rows, each pool batch's sorted by key.
    values: RecordBatch,
    /// (key prefix, arrival position) in key order, ties by arrival (= sequence).
    order: Vec<(u128, u32)>,
    /// Arrival position → row of `values`.
    placed: Vec<u32>,
    /// Key rows by arrival position, when prefixes of different keys can tie.
    key_rows: Option<Rows>,
}

/// Orders entries sorted by (prefix, arrival) whose prefixes tie by their whole keys, ties
/// still by arrival; `key_rows` (by arrival position) are given only when prefixes of
/// different keys can tie.
fn order_ties(order: &mut [(u128, u32)], key_rows: Option<&Rows>) {
    let Some(keys) = key_rows else {
        return;
    };
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

/// Marks a computed row in [`Sorted::rows`].
const COMPUTED: u32 = u32::MAX;

/// A bucket's rows in key order, gathered a chunk of [`CHUNK_ROWS`] at a time as key-value
/// batches: iterate it to get them.
pub(crate) struct Sorted {
    sort: Arc<SortMerge>,
    /// The bucket's rows in arrival order.
    values: RecordBatch,
    /// Each row's position in `values`, or [`COMPUTED`] (`computed` in order).
    rows: Vec<u32>,
    computed: Vec<Vec<Computed>>,
    sequences: Vec<i64>,
    kinds: Vec<i8>,
    /// First row not handed out yet, and its first computed row.
    next: usize,
    next_computed: usize,
}

impl Sorted {
    fn new(sort: Arc<SortMerge>, values: RecordBatch, capacity: usize) -> Sorted {
        Sorted {
            sort,
            values,
            rows: Vec::with_capacity(capacity),
            computed: Vec::new(),
            sequences: Vec::with_capacity(capacity),
            kinds: Vec::with_capacity(capacity),
            next: 0,
            next_computed: 0,
        }
    }

    fn push_row(&mut self, row: u32, version: &KeyVersion) {
        self.rows.push(row);
        self.sequences.push(version.sequence);
        self.kinds.push(version.kind.as_byte());
    }

    fn push_computed(&mut self, kind: RowKind, sequence: i64, fields: Vec<Computed>) {
        self.rows.push(COMPUTED);
        self.computed.push(fields);
        self.sequences.push(sequence);
        self.kinds.push(kind.as_byte());
    }

    /// Rows `lo..hi` as one key-value batch.
    fn chunk(&mut self, lo: usize, hi: usize) -> Result<RecordBatch> {
        let rows = self.rows.get(lo..hi).unwrap_or_default();
        let computed_here = rows.iter().filter(|r| **r == COMPUTED).count();
        let computed = self
            .computed
            .get(self.next_computed..self.next_computed + computed_here)
            .unwrap_or_default();
        self.next_computed += computed_here;
        let schema = &self.sort.value_schema;
        let mut values = Vec::with_capacity(schema.fields().len());
        if computed.is_empty() {
            let indices = UInt32Array::from(rows.to_vec());
            for column in self.values.columns() {
                values.push(take(column, &indices, None)?);
            }
        } else {
            // Computed values are extra one-row sources after the bucket's rows.
            for (c, field) in schema.fields().iter().enumerate() {
                let mut extra: Vec<ArrayRef> = Vec::new();
                let mut null_source = None;
                let mut indices = Vec::with_capacity(rows.len());
                let mut computed = computed.iter();
                for &row in rows {
                    if row != COMPUTED {
                        indices.push((0, row as usize));
                        continue;
                    }
                    indices.push(match computed.next().and_then(|f| f.get(c)) {
                        Some(Computed::Row(r)) => (0, *r),
                        Some(Computed::Value(a)) => {
                            extra.push(a.clone());
                            (extra.len(), 0)
                        }
                        Some(Computed::Null) | None => {
                            let at = *null_source.get_or_insert_with(|| {
                                extra.push(new_null_array(field.data_type(), 1));
                                extra.len()
                            });
                            (at, 0)
                        }
                    });
                }
                let sources: Vec<&dyn Array> = std::iter::once(self.values.column(c).as_ref())
                    .chain(extra.iter().map(|a| a.as_ref()))
                    .collect();
                values.push(interleave(&sources, &indices)?);
            }
        }
        let sort = &self.sort;
        let mut columns: Vec<ArrayRef> =
            Vec::with_capacity(sort.key_columns.len() + 2 + values.len());
        for &c in &sort.key_columns {
            columns.push(values[c].clone());
        }
        columns.push(Arc::new(Int64Array::from(
            self.sequences.get(lo..hi).unwrap_or_default().to_vec(),
        )));
        columns.push(Arc::new(Int8Array::from(
            self.kinds.get(lo..hi).unwrap_or_default().to_vec(),
        )));
        columns.extend(values);
        Ok(RecordBatch::try_new(sort.kv_schema.clone(), columns)?)
    }
}

impl Iterator for Sorted {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let lo = self.next;
        if lo >= self.rows.len() {
            return None;
        }
        let hi = (lo + CHUNK_ROWS).min(self.rows.len());
        self.next = hi;
        Some(self.chunk(lo, hi))
    }
}

#[cfg(test)]
mod tests;
