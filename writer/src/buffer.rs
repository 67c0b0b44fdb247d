//! The write buffer, and turning one bucket's rows into sorted, merged key-value batches.
//!
//! A batch is arranged as it arrives, while it is in cache ([`SortMerge::arrange`]): each
//! bucket's rows are sorted by key (ties by arrival) and laid out one bucket after another,
//! and the arranged batch is kept in one [`Pool`] shared by every bucket of the writer. A
//! bucket's [`Buffer`] lists its runs (a slice of a pool batch each) and, for each row of
//! them, its arrival position. A bucket's sequence numbers are handed out contiguously: its
//! `i`-th row to arrive has `first_sequence + i`.
//!
//! A flush drains the whole pool ([`Drain`]) bucket by bucket. A bucket's runs are merged
//! by (16-byte key prefix, position), whole keys compared only where prefixes tie (a BIGINT
//! key's prefix comes straight from its value); a position orders like arrival among rows
//! of one key. The versions of each key go through the table's merge engine, and the
//! survivors are gathered a chunk at a time ([`Sorted`]) as the file writer or the spill
//! takes them, reading every run front to back. A flushed file holds each key once, keeping
//! a winning retraction (-U/-D) because it must still delete older versions in other files.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, Int8Array, RecordBatch, UInt32Array};
use arrow::compute::{interleave, take_record_batch, SortOptions};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use strata_format::merge::{
    gather_fields, sort_versions, FieldSource, FieldValue, KeyVersion, MergeFunction, MergeInput,
    MergeResult, RowKind,
};
use strata_format::options::MergeEngine;
use strata_format::read::key_prefix::{exact_len, fixed_key_len, int64_key, int64_prefix, prefix};
use strata_format::schema::TableSchema;
use strata_format::types::arrow::to_arrow_schema;
use strata_format::{invalid, Error, Result};

use crate::gather::{gather, RowRef};

/// Rows per key-value batch a [`Sorted`] hands out. Large, as the gather reads hundreds of
/// runs a column at a time: with 8192 rows a chunk took under two cache lines of each run's
/// column, so the next line it prefetches was evicted by the chunk's other columns and
/// encoding before it was read.
pub(crate) const CHUNK_ROWS: usize = 65536;

/// Arranged batches ([`SortMerge::arrange`]) waiting for a flush, shared by every bucket's
/// [`Buffer`].
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

/// Marks a computed row in [`Sorted::rows`].
const COMPUTED: RowRef = RowRef {
    batch: u32::MAX,
    row: u32::MAX,
};

/// One group's rows of an arranged batch ([`SortMerge::arrange`]): rows `start..` in key
/// order, and their kinds in that order.
#[derive(Debug)]
pub(crate) struct Run {
    start: u32,
    /// For each row of the run, its place among the group's rows in arrival order.
    ranks: Vec<u32>,
    kinds: Vec<i8>,
}

/// A run in the pool.
#[derive(Debug, Clone, Copy)]
struct RunRef {
    batch: u32,
    start: u32,
    len: u32,
}

/// Memory a buffered row takes besides its values: its arrival position and its kind.
const ROW_BYTES: usize = std::mem::size_of::<u32>() + 1;

/// The rows of one bucket: its runs, and for each of their rows (run after run) its
/// arrival position and its kind. Kinds are kept by place in the runs, not by arrival: a
/// flush reads them in key order, which walks each run front to back, where by arrival it
/// jumped about each run's rows (in a profile, the flush's merge loop waited on that read
/// more than on anything else).
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    runs: Vec<RunRef>,
    arrivals: Vec<u32>,
    kinds: Vec<i8>,
    first_sequence: i64,
}

impl Buffer {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn rows(&self) -> usize {
        self.kinds.len()
    }

    /// Appends `run` of pool batch `batch`; its sequence numbers start at
    /// `first_sequence`, which must follow the rows already buffered. Returns the bytes
    /// added.
    pub fn push(&mut self, batch: u32, run: Run, first_sequence: i64) -> usize {
        if self.is_empty() {
            self.first_sequence = first_sequence;
        }
        debug_assert_eq!(
            self.first_sequence + self.rows() as i64,
            first_sequence,
            "sequence numbers of a buffer are contiguous"
        );
        let base = self.rows() as u32;
        self.runs.push(RunRef {
            batch,
            start: run.start,
            len: run.ranks.len() as u32,
        });
        self.arrivals.extend(run.ranks.iter().map(|r| base + r));
        self.kinds.extend_from_slice(&run.kinds);
        run.ranks.len() * ROW_BYTES
    }

    /// Each row of the runs, run after run.
    fn locations(&self) -> impl Iterator<Item = RowRef> + '_ {
        self.runs.iter().flat_map(|r| {
            (r.start..r.start + r.len).map(move |row| RowRef {
                batch: r.batch,
                row,
            })
        })
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
    /// The field of this row of the pool.
    Row(RowRef),
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
            batches: pool.batches.into(),
            user_sequences: std::sync::OnceLock::new(),
        }
    }

    /// Sorts each group's rows of `batch` (its row numbers in arrival order) by key, ties
    /// by arrival, and lays the groups out one after another: the batch the pool keeps, and
    /// each group's [`Run`] with its rows' `kinds` (by row of `batch`). Done as a batch
    /// arrives, while it is in cache, where a flush would gather each row from anywhere in
    /// the pool.
    pub fn arrange(
        &self,
        batch: &RecordBatch,
        kinds: &[i8],
        groups: &[&[u32]],
    ) -> Result<(RecordBatch, Vec<Run>)> {
        let (prefixes, key_rows) = match int64_key(batch, &self.key_columns) {
            Some(values) => (values.iter().map(|v| int64_prefix(*v)).collect(), None),
            None => {
                let arrays: Vec<ArrayRef> = (self.key_columns.iter())
                    .map(|c| batch.column(*c).clone())
                    .collect();
                self.row_keys(&arrays)?
            }
        };
        let mut indices: Vec<u32> = Vec::with_capacity(batch.num_rows());
        let mut runs = Vec::with_capacity(groups.len());
        for rows in groups {
            let prefix_of = |r: &u32| prefixes.get(*r as usize).copied().unwrap_or(0);
            let mut order = sort_by_prefix(rows.iter().map(prefix_of).collect(), false);
            if let Some(keys) = &key_rows {
                let row = |rank: u32| rows.get(rank as usize).map_or(0, |r| *r as usize);
                order_ties(&mut order, |rank| keys.row(row(rank)));
            }
            let start = u32::try_from(indices.len())
                .map_err(|_| invalid!("a batch of more than 2^32 rows"))?;
            indices.extend(
                order
                    .iter()
                    .map(|(_, rank)| rows.get(*rank as usize).copied().unwrap_or(0)),
            );
            runs.push(Run {
                start,
                ranks: order.iter().map(|(_, rank)| *rank).collect(),
                kinds: (order.iter())
                    .map(|(_, rank)| {
                        let row = rows.get(*rank as usize).map_or(usize::MAX, |r| *r as usize);
                        kinds.get(row).copied().unwrap_or(-1)
                    })
                    .collect(),
            });
        }
        let arranged = take_record_batch(batch, &UInt32Array::from(indices))?;
        Ok((arranged, runs))
    }

    /// The key prefix of each row at `locations` (batch, row) of `batches`, ordering like
    /// its key; with the key rows (by location) when prefixes do not decide equality alone.
    fn keys(
        &self,
        batches: &[RecordBatch],
        locations: &[(usize, usize)],
    ) -> Result<(Vec<u128>, Option<Rows>)> {
        if let Some(values) = self.int64_key(batches) {
            // A valid marker and the value: equal prefixes are equal keys.
            let prefix = |&(b, r): &(usize, usize)| {
                let v = values.get(b).and_then(|v| v.get(r));
                v.map_or(0, |v| int64_prefix(*v))
            };
            return Ok((locations.iter().map(prefix).collect(), None));
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.key_columns.len());
        for &c in &self.key_columns {
            let sources: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            arrays.push(interleave(&sources, locations)?);
        }
        self.row_keys(&arrays)
    }

    /// The key prefixes of key columns `arrays`, with their key rows when prefixes do not
    /// decide equality alone.
    fn row_keys(&self, arrays: &[ArrayRef]) -> Result<(Vec<u128>, Option<Rows>)> {
        let rows = RowConverter::new(self.key_fields.clone())?.convert_columns(arrays)?;
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

    /// `columns` of each pool batch as arrow rows.
    fn rows(
        &self,
        batches: &[RecordBatch],
        columns: &[usize],
        fields: &[SortField],
    ) -> Result<Vec<Rows>> {
        let converter = RowConverter::new(fields.to_vec())?;
        batches
            .iter()
            .map(|b| {
                let arrays: Vec<ArrayRef> = columns.iter().map(|c| b.column(*c).clone()).collect();
                Ok(converter.convert_columns(&arrays)?)
            })
            .collect()
    }
}

/// A drained pool: sorts the buckets' buffers of its rows one by one ([`Drain::run`]).
pub(crate) struct Drain {
    sort: Arc<SortMerge>,
    batches: Arc<[RecordBatch]>,
    /// The sequence fields of each pool batch as arrow rows, made when first needed.
    user_sequences: std::sync::OnceLock<Vec<Rows>>,
}

impl Drain {
    /// A bucket's rows in key order: its runs merged (`sort` finds and merges sorted runs),
    /// so gathering in this order reads every run front to back.
    fn sort(&self, buffer: &Buffer) -> Result<Sorting> {
        let locations: Vec<RowRef> = buffer.locations().collect();
        let pairs: Vec<(usize, usize)> = locations.iter().map(|l| l.pair()).collect();
        let (prefixes, key_rows) = self.sort.keys(&self.batches, &pairs)?;
        drop(pairs);
        // (prefix, position in the runs): among rows of one key, positions order like
        // arrival, as runs are in arrival order and each orders ties by arrival.
        let mut order = sort_by_prefix(prefixes, true);
        if let Some(keys) = &key_rows {
            order_ties(&mut order, |i| keys.row(i as usize));
        }
        Ok(Sorting {
            order,
            locations,
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
            order,
            locations,
            key_rows,
        } = self.sort(&buffer)?;
        let at = |i: u32| locations.get(i as usize).copied().unwrap_or_default();
        let arrival = |i: u32| buffer.arrivals.get(i as usize).copied().unwrap_or(0);
        let user_sequence = if sort.seq_columns.is_empty() {
            None
        } else if let Some(rows) = self.user_sequences.get() {
            Some(rows)
        } else {
            let rows = sort.rows(&self.batches, &sort.seq_columns, &sort.seq_fields)?;
            Some(self.user_sequences.get_or_init(|| rows))
        };
        let raw = if raw {
            raw_rows(self, &buffer, &order, &locations)?
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
        let mut out = Sorted::new(sort.clone(), self.batches.clone(), n);
        let mut versions: Vec<KeyVersion> = Vec::new();
        let mut refs: Vec<(usize, usize)> = Vec::new();
        for run in order.chunk_by(same) {
            let version = |i: u32| -> Result<KeyVersion> {
                Ok(KeyVersion {
                    sequence: buffer.first_sequence + i64::from(arrival(i)),
                    // Only needed to order several versions.
                    user_sequence: match user_sequence {
                        Some(rows) if run.len() > 1 => {
                            let (b, r) = at(i).pair();
                            rows.get(b).map(|rows| rows.row(r).as_ref().to_vec())
                        }
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
                refs.push(at(i).pair());
            }
            if sort.picks_whole_rows {
                if let Some(w) = sort.merge.pick_keeping_retractions(&versions) {
                    if let (Some(&r), Some(v)) = (refs.get(w), versions.get(w)) {
                        out.push_row(ref_of(r), v);
                    }
                }
                continue;
            }
            sort_versions(&mut versions, &mut refs);
            let input = MergeInput::new(&versions, &refs, &self.batches, &sort.merge_columns)?;
            match sort.merge.merge(&input)? {
                MergeResult::Gone => {}
                MergeResult::Row(w) => {
                    if let (Some(&r), Some(v)) = (refs.get(w), versions.get(w)) {
                        out.push_row(ref_of(r), v);
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
                            FieldValue::Version(v) => refs
                                .get(v)
                                .map_or(Computed::Null, |r| Computed::Row(ref_of(*r))),
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

/// A pool row from a merge input's (batch, row).
fn ref_of((batch, row): (usize, usize)) -> RowRef {
    RowRef {
        batch: batch as u32,
        row: row as u32,
    }
}

/// Every accepted buffer row in `order`, with its own sequence and kind.
fn raw_rows(
    drain: &Drain,
    buffer: &Buffer,
    order: &[(u128, u32)],
    locations: &[RowRef],
) -> Result<Option<Sorted>> {
    let mut out = Sorted::new(drain.sort.clone(), drain.batches.clone(), order.len());
    for &(_, i) in order {
        let arrival = buffer.arrivals.get(i as usize).copied().unwrap_or(0);
        let kind = buffer
            .kinds
            .get(i as usize)
            .copied()
            .ok_or_else(|| Error::internal("write buffer row without a kind"))?;
        if !RowKind::from_byte(kind).is_some_and(|k| drain.sort.merge.accepts(k)) {
            continue;
        }
        out.rows
            .push(locations.get(i as usize).copied().unwrap_or_default());
        out.sequences
            .push(buffer.first_sequence + i64::from(arrival));
        out.kinds.push(kind);
    }
    Ok((!out.rows.is_empty()).then_some(out))
}

/// A bucket's rows in key order; see [`Drain::sort`].
struct Sorting {
    /// (key prefix, position in the runs) in key order, ties by arrival (= sequence).
    order: Vec<(u128, u32)>,
    /// Position in the runs → row of the pool.
    locations: Vec<RowRef>,
    /// Key rows by position, when prefixes of different keys can tie.
    key_rows: Option<Rows>,
}

/// (prefix, index) of `prefixes` in that order. Where every prefix ends in 32 zero bits,
/// as a BIGINT or INT key's does, the index goes into them and 16-byte values are sorted,
/// half the memory of the pairs. `runs`: the prefixes are a concatenation of sorted runs,
/// for a sort that merges them rather than sorting from scratch.
fn sort_by_prefix(prefixes: Vec<u128>, runs: bool) -> Vec<(u128, u32)> {
    // Entries are distinct (their indices differ): stable or not, one total order.
    fn sort<T: Ord>(entries: &mut [T], runs: bool) {
        match runs {
            true => entries.sort(),
            false => entries.sort_unstable(),
        }
    }
    const INDEX: u128 = u32::MAX as u128;
    let fits = u32::try_from(prefixes.len()).is_ok();
    if fits && prefixes.iter().all(|p| p & INDEX == 0) {
        let mut packed: Vec<u128> = (prefixes.into_iter().enumerate())
            .map(|(i, p)| p | i as u128)
            .collect();
        if !radix_sort(&mut packed) {
            sort(&mut packed, runs);
        }
        return packed.into_iter().map(|v| (v & !INDEX, v as u32)).collect();
    }
    let mut order: Vec<(u128, u32)> = (prefixes.into_iter().enumerate())
        .map(|(i, p)| (p, i as u32))
        .collect();
    sort(&mut order, runs);
    order
}

/// Fewest values [`radix_sort`] takes.
const RADIX_MIN: usize = 256;

/// Sorts distinct values by their leading bits first: a count and a scatter into buckets
/// by the 8 to 16 bits just below those all values share (about eight values a bucket),
/// then each bucket alone: one pass to place each value where a comparison sort, or the
/// merge of a buffer's sorted runs, makes about log2(n) or log2(runs). `false`, the values
/// untouched, when they are few or crowd into some buckets (keys sharing long prefixes).
fn radix_sort(values: &mut Vec<u128>) -> bool {
    let n = values.len();
    if n < RADIX_MIN {
        return false;
    }
    let (lo, hi) = (values.iter()).fold((u128::MAX, 0), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    // Every value lies between `lo` and `hi`, so shares the bits above their first
    // difference.
    let top = u128::BITS - (lo ^ hi).leading_zeros();
    let bits = (usize::BITS - n.leading_zeros())
        .saturating_sub(3)
        .clamp(8, 16);
    let shift = top.saturating_sub(bits);
    let mask = (1usize << bits) - 1;
    let digit = |v: u128| (v >> shift) as usize & mask;
    let mut starts = vec![0usize; mask + 2];
    for v in values.iter() {
        starts[digit(*v) + 1] += 1;
    }
    if starts.iter().any(|&c| c > (n / 8).max(64)) {
        return false;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut out = vec![0u128; n];
    for v in values.iter() {
        let at = &mut next[digit(*v)];
        out[*at] = *v;
        *at += 1;
    }
    for bucket in starts.windows(2) {
        out[bucket[0]..bucket[1]].sort_unstable();
    }
    *values = out;
    true
}

/// Orders entries sorted by (prefix, position) whose prefixes tie by their whole keys
/// (`key` of a position), ties still by position.
fn order_ties<'a>(order: &mut [(u128, u32)], key: impl Fn(u32) -> arrow::row::Row<'a>) {
    for run in order.chunk_by_mut(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            run.sort_unstable_by(|a, b| key(a.1).cmp(&key(b.1)).then(a.1.cmp(&b.1)));
        }
    }
}

/// A bucket's rows in key order, gathered from the pool a chunk of [`CHUNK_ROWS`] at a time
/// as key-value batches: iterate it to get them.
pub(crate) struct Sorted {
    sort: Arc<SortMerge>,
    /// The pool.
    batches: Arc<[RecordBatch]>,
    /// Each row's place in the pool, or [`COMPUTED`] (`computed` in order).
    rows: Vec<RowRef>,
    computed: Vec<Vec<Computed>>,
    sequences: Vec<i64>,
    kinds: Vec<i8>,
    /// First row not handed out yet, and its first computed row.
    next: usize,
    next_computed: usize,
}

impl Sorted {
    fn new(sort: Arc<SortMerge>, batches: Arc<[RecordBatch]>, capacity: usize) -> Sorted {
        Sorted {
            sort,
            batches,
            rows: Vec::with_capacity(capacity),
            computed: Vec::new(),
            sequences: Vec::with_capacity(capacity),
            kinds: Vec::with_capacity(capacity),
            next: 0,
            next_computed: 0,
        }
    }

    fn push_row(&mut self, row: RowRef, version: &KeyVersion) {
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
            for c in 0..schema.fields().len() {
                let sources: Vec<&dyn Array> =
                    self.batches.iter().map(|b| b.column(c).as_ref()).collect();
                values.push(gather(&sources, rows)?);
            }
        } else {
            for (c, field) in schema.fields().iter().enumerate() {
                let mut computed = computed.iter();
                let fields = rows.iter().map(|&row| {
                    if row != COMPUTED {
                        return FieldSource::Row(row.pair());
                    }
                    match computed.next().and_then(|f| f.get(c)) {
                        Some(Computed::Row(r)) => FieldSource::Row(r.pair()),
                        Some(Computed::Value(a)) => FieldSource::Value(a),
                        Some(Computed::Null) | None => FieldSource::Null,
                    }
                });
                values.push(gather_fields(&self.batches, c, field.data_type(), fields)?);
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
