//! Merge-on-read by selection, for engines whose result is always a stored row
//! (deduplicate, first-row): the k-way merge only decides which version of each key
//! survives, marking it in a bitmap of its batch. The merge reads only the columns it
//! compares (key, sequence fields, `_SEQUENCE_NUMBER`, `_VALUE_KIND`). Once its run has
//! moved past a batch, the batch leaves with only its marked rows, and the same rows of the
//! other output columns are read from a second read of the file
//! (`KeptReader` in `read/file.rs`), cut in place right after decoding, on the decoding
//! thread, while the buffers are still in that core's cache ([`super::gather`]). Cut later
//! on the merge's thread, the buffers had left the cache: a third of the merge's own cost.
//!
//! Rows come out in key order within each sorted run, not across runs (use
//! [`super::merge`] for a key-ordered merge). Runs are merged with a loser tree of cursors;
//! a key that is the smallest in the tree and not repeated in its run or by the tree's next
//! winner (the common case) is decided without gathering versions. Keys whose 16-byte
//! prefixes are the whole keys (fixed-width key columns) are decided a window at a time
//! instead (`Select::decide_window`).

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, Int64Array, Int8Array, RecordBatch};
use arrow_buffer::BooleanBufferBuilder;
use arrow_row::{OwnedRow, RowConverter, Rows, SortField};
use arrow_schema::{DataType, FieldRef, Schema, SchemaRef, SortOptions};
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::manifest::DataFileMeta;
use crate::merge::{KeyVersion, MergeFunction, RowKind};
use crate::read::conformed;
use crate::read::file::{read_kv_file, KeptJob, KeptReader, KvLayout};
use crate::read::gather::{keep_ranges, ranges_of};
use crate::read::key_prefix::{fixed_key_len, Prefixes};
use crate::read::loser_tree::LoserTree;
use crate::read::runs::sorted_runs;
use crate::scan::Split;
use crate::table::Table;
use crate::types::arrow::to_arrow_field;
use crate::types::DataField;

/// Keys decided between two checks for finished batches.
const KEYS_PER_STEP: usize = 4096;

/// Fewest rows [`Select::decide_window`] takes; fewer are left to the tree.
const MIN_WINDOW_ROWS: usize = 64;

/// Most rows [`Select::decide_window`] takes, so that its table (20 bytes a slot, two
/// slots a row) stays within the core's cache: fewer spent more time per window, more
/// missed the cache.
const WINDOW_ROWS: usize = 4096;

/// Streams the visible rows of one split of a table whose engine keeps stored rows.
pub async fn select_split(
    table: Table,
    split: Split,
    output: Vec<DataField>,
    batch_size: usize,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    select_split_with_kinds(table, split, output, batch_size, false).await
}

/// Like [`select_split`]; with `row_kinds`, a key whose surviving version is a retraction
/// (-U/-D) is kept too, and batches start with a `_VALUE_KIND` column (the audit log).
pub async fn select_split_with_kinds(
    table: Table,
    split: Split,
    output: Vec<DataField>,
    batch_size: usize,
    row_kinds: bool,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let state = Select::open(table, split, output, batch_size, row_kinds).await?;
    Ok(futures::stream::try_unfold(state, |mut s| async move {
        Ok(s.next_batch().await?.map(|b| (b, s)))
    })
    .boxed())
}

struct Cursor {
    files: VecDeque<DataFileMeta>,
    stream: Option<BoxStream<'static, Result<RecordBatch>>>,
    /// The open file's second read, for the other output columns.
    file: Option<usize>,
    current: Option<Current>,
}

/// The batch a cursor is in, decoded for comparing.
struct Current {
    slot: usize,
    /// Key rows, `None` for fixed-width keys: their prefixes are the keys.
    keys: Option<Rows>,
    /// The first 16 bytes of each key row, big-endian: most comparisons end there.
    prefixes: Vec<u128>,
    /// `Some(n)` when every key row is `n ≤ 16` bytes long: equal prefixes of rows of
    /// the same length are equal keys.
    exact: Option<usize>,
    user_seq: Option<Rows>,
    seq: Int64Array,
    kind: Int8Array,
    row: usize,
    len: usize,
}

impl Current {
    fn key(&self, row: usize) -> Option<arrow_row::Row<'_>> {
        self.keys.as_ref().map(|k| k.row(row))
    }

    /// Whether the key at `row` is `key` (its prefix and, unless fixed-width, its row).
    fn holds(&self, row: usize, key: &(u128, Option<OwnedRow>)) -> bool {
        self.prefixes.get(row) == Some(&key.0) && self.key(row) == key.1.as_ref().map(|k| k.row())
    }
}

/// The rows of one cursor's batch in a window: `start..end`, the first at `index` in the
/// window.
struct Part {
    cursor: usize,
    start: usize,
    end: usize,
    index: usize,
}

/// Scratch space of [`Select::decide_window`], kept between windows.
#[derive(Default)]
struct Window {
    parts: Vec<Part>,
    /// An open-addressing table of the window's keys: a slot's key and the window index
    /// of its first row (`u32::MAX`: empty).
    keys: Vec<u128>,
    first: Vec<u32>,
    /// Window rows whose key is held more than once.
    repeated: Vec<bool>,
    /// (key, window index, cursor, row) of those rows.
    groups: Vec<(u128, u32, usize, usize)>,
}

/// A table slot for `key` (Fibonacci hashing of its two halves).
fn slot_of(key: u128, bits: u32) -> usize {
    let folded = (key >> 64) as u64 ^ key as u64;
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

/// A batch whose rows are being decided: `mask` marks the survivors so far.
struct Slot {
    batch: RecordBatch,
    mask: BooleanBufferBuilder,
    /// The file's second read (in `Select::files`).
    file: Option<usize>,
}

/// Where an output column comes from.
#[derive(Clone, Copy)]
enum OutColumn {
    /// A column of the kept rows of the compared columns (`Select::key_outputs`).
    Key(usize),
    /// A column of the file's second read.
    Value(usize),
}

/// A data file's second read: the output columns the merge does not compare.
struct ValueFile {
    /// `None` while a batch is being decoded (by the job of output `out_at`).
    reader: Option<KeptReader>,
    out_at: Option<u64>,
    /// Batches to pass over before the next one read: no row of theirs was kept.
    skip: usize,
    /// Slots of the file not finished yet.
    slots: usize,
    /// The compared columns are read to the end: no more slots will come.
    keys_done: bool,
}

/// A finished batch on its way out.
struct Out {
    /// The kept rows of the compared columns that are output.
    keys: RecordBatch,
    values: OutValues,
}

enum OutValues {
    /// Every output column is compared.
    None,
    /// Being decoded from the file's second read (the `usize`).
    Pending(KeptJob, usize),
    Done(Result<RecordBatch>),
}

/// Outputs waiting for their values beyond which the merge stops to take the first.
const MAX_WAITING: usize = 4;

/// Files are read a few output batches at a time, and outputs cut down to size: the
/// merge pays for every batch of every run (a slot, a load, a window ended at the batch's
/// end, a decode task), several percent of its time with batches of 8192 rows.
const READ_BATCHES: usize = 4;

/// About the most decoded bytes of one batch of a file read, so that wide rows are read
/// in fewer output batches at a time.
const READ_BYTES: usize = 8 << 20;

/// Rows per batch of the files' reads, for output batches of `batch_size` rows of
/// `fields` (a string counted as 32 bytes).
fn read_rows(batch_size: usize, fields: &[FieldRef]) -> usize {
    let width: usize = fields
        .iter()
        .map(|f| match f.data_type() {
            t if t.is_primitive() => t.primitive_width().unwrap_or(8),
            DataType::Boolean => 1,
            DataType::Utf8 | DataType::Binary => 4 + 32,
            _ => 64,
        })
        .sum();
    let batches = READ_BYTES / width.max(1) / batch_size.max(1);
    batch_size * batches.clamp(1, READ_BATCHES)
}

struct Select {
    table: Table,
    layout: KvLayout,
    partition_path: crate::paths::PartitionPath,
    bucket: i32,
    /// Most rows of an output batch.
    batch_size: usize,
    /// Rows per batch of both reads of each file.
    read_rows: usize,
    /// Rows of the output cut down to `batch_size`, to return before anything else.
    pieces: VecDeque<RecordBatch>,
    key_columns: Vec<usize>,
    seq_columns: Vec<usize>,
    /// The compared columns that are output, and where each output column comes from.
    key_outputs: Vec<usize>,
    plan: Vec<OutColumn>,
    /// The output columns read by each file's second read; `None` if all are compared.
    value_layout: Option<KvLayout>,
    files: Vec<Option<ValueFile>>,
    free_files: Vec<usize>,
    output_schema: SchemaRef,
    key_converter: RowConverter,
    seq_converter: Option<RowConverter>,
    merge: MergeFunction,
    cursors: Vec<Cursor>,
    /// Cursors by (current key, cursor index); exhausted ones last.
    tree: LoserTree,
    slots: Vec<Option<Slot>>,
    free_slots: Vec<usize>,
    /// Slots whose cursor moved past them, to emit in this order.
    finished: VecDeque<usize>,
    ready: VecDeque<Out>,
    /// The number of outputs taken from `ready` so far (`ValueFile::out_at` counts them).
    taken: u64,
    versions: Vec<KeyVersion>,
    refs: Vec<(usize, usize)>,
    /// Keep surviving retractions and output their kinds.
    row_kinds: bool,
    /// Every key row has this length, at most 16 bytes (fixed-width key columns): prefixes
    /// are the whole keys.
    fixed_key_len: Option<usize>,
    window: Window,
    /// The bound of the last window tried: the tree decides keys up to it.
    window_bound: Option<u128>,
}

impl Select {
    async fn open(
        table: Table,
        split: Split,
        output: Vec<DataField>,
        batch_size: usize,
        row_kinds: bool,
    ) -> Result<Select> {
        let schema = table.schema().clone();
        let key_fields = schema.trimmed_primary_key_fields();
        let merge = MergeFunction::from_table(&table)?;
        let seq_fields = merge.sequence_fields().to_vec();
        // The merge reads only the columns it compares; each file is read a second time for
        // the other output columns, cut to the kept rows as each batch is decoded.
        let mut fields: Vec<DataField> = Vec::new();
        for f in key_fields.iter().chain(seq_fields.iter()) {
            if !fields.iter().any(|x| x.id == f.id) {
                fields.push(f.clone());
            }
        }
        let layout = KvLayout::new(fields);
        let value_fields: Vec<DataField> = output
            .iter()
            .filter(|o| layout.column_of(o.id).is_none())
            .cloned()
            .collect();
        let col = |f: &DataField| {
            layout
                .column_of(f.id)
                .ok_or_else(|| Error::internal(format!("column '{}' missing from layout", f.name)))
        };
        let key_columns = key_fields.iter().map(col).collect::<Result<Vec<_>>>()?;
        let seq_columns = seq_fields.iter().map(col).collect::<Result<Vec<_>>>()?;
        let mut key_outputs: Vec<usize> = Vec::new();
        let mut plan: Vec<OutColumn> = Vec::new();
        if row_kinds {
            key_outputs.push(1);
            plan.push(OutColumn::Key(0));
        }
        for o in &output {
            match layout.column_of(o.id) {
                Some(c) => {
                    plan.push(OutColumn::Key(key_outputs.len()));
                    key_outputs.push(c);
                }
                None => {
                    let at = value_fields
                        .iter()
                        .position(|f| f.id == o.id)
                        .ok_or_else(|| {
                            Error::internal(format!("column '{}' missing from layout", o.name))
                        })?;
                    plan.push(OutColumn::Value(at));
                }
            }
        }
        let value_layout = (!value_fields.is_empty()).then(|| KvLayout::new(value_fields));
        let sort_field = |c: &usize, options: Option<SortOptions>| {
            let t = layout.schema.field(*c).data_type().clone();
            match options {
                Some(o) => SortField::new_with_options(t, o),
                None => SortField::new(t),
            }
        };
        // The same orders as the key-ordered merge (merge.rs) and the write buffer.
        let key_converter =
            RowConverter::new(key_columns.iter().map(|c| sort_field(c, None)).collect())?;
        let seq_converter = if seq_columns.is_empty() {
            None
        } else {
            let options = SortOptions {
                descending: merge.sequence_descending(),
                nulls_first: true,
            };
            Some(RowConverter::new(
                seq_columns
                    .iter()
                    .map(|c| sort_field(c, Some(options)))
                    .collect(),
            )?)
        };
        let mut output_fields: Vec<_> = output.iter().map(to_arrow_field).collect();
        if row_kinds {
            output_fields.insert(0, layout.schema.field(1).clone());
        }
        let output_schema = Arc::new(Schema::new(output_fields));
        let read_rows = read_rows(batch_size, output_schema.fields());
        let fixed_key_len = fixed_key_len(&layout.schema, &key_columns);
        let key_types: Vec<_> = key_fields.iter().map(|f| f.data_type.clone()).collect();
        let cursors: Vec<Cursor> = sorted_runs(split.files, &key_types)
            .into_iter()
            .map(|run| Cursor {
                files: run.into(),
                stream: None,
                file: None,
                current: None,
            })
            .collect();
        let mut state = Select {
            table,
            layout,
            partition_path: split.partition_path,
            bucket: split.bucket,
            batch_size,
            read_rows,
            pieces: VecDeque::new(),
            key_columns,
            seq_columns,
            key_outputs,
            plan,
            value_layout,
            files: Vec::new(),
            free_files: Vec::new(),
            output_schema,
            key_converter,
            seq_converter,
            merge,
            tree: LoserTree::new(std::iter::empty(), &|_, _| Ordering::Equal),
            cursors,
            slots: Vec::new(),
            free_slots: Vec::new(),
            finished: VecDeque::new(),
            ready: VecDeque::new(),
            taken: 0,
            versions: Vec::new(),
            refs: Vec::new(),
            row_kinds,
            fixed_key_len,
            window: Window::default(),
            window_bound: None,
        };
        for i in 0..state.cursors.len() {
            state.load(i).await?;
        }
        state.rebuild_tree();
        Ok(state)
    }

    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(piece) = self.pieces.pop_front() {
            return Ok(Some(piece));
        }
        loop {
            if self.tree.winner().is_none() {
                self.emit_finished().await?;
                return self.take_ready().await;
            }
            // The merge goes on while the first output's values are decoded, up to a few.
            let first_ready = self.ready.front().is_some_and(|out| match &out.values {
                OutValues::Pending(job, _) => job.is_finished(),
                _ => true,
            });
            if first_ready || self.ready.len() >= MAX_WAITING {
                return self.take_ready().await;
            }
            let mut budget = KEYS_PER_STEP;
            while budget > 0 {
                let Some(top) = self.tree.winner() else {
                    break;
                };
                // Prefixes are whole keys, and the tree is past the last window's bound.
                let window_due = self.fixed_key_len.is_some()
                    && self
                        .window_bound
                        .is_none_or(|bound| self.tree.winner_key() > bound);
                if window_due {
                    if let Some(decided) = self.decide_window()? {
                        budget = budget.saturating_sub(decided);
                        continue;
                    }
                }
                // The common case is decided synchronously: no future per key.
                if !self.decide_if_alone(top)? {
                    self.decide_group(top).await?;
                }
                budget -= 1;
            }
            self.emit_finished().await?;
        }
    }

    /// Loads cursor `i`'s next non-empty batch into a fresh slot; leaves `current` empty
    /// when the run is exhausted. The previous batch, if any, is finished.
    async fn load(&mut self, i: usize) -> Result<()> {
        if let Some(done) = self.cursors[i].current.take() {
            self.finished.push_back(done.slot);
        }
        loop {
            if self.cursors[i].stream.is_none() {
                let Some(file) = self.cursors[i].files.pop_front() else {
                    return Ok(());
                };
                let (stream, values) = self.open_file(&file).await?;
                self.cursors[i].stream = Some(stream);
                self.cursors[i].file = values;
            }
            let next = match self.cursors[i].stream.as_mut() {
                Some(s) => s.next().await,
                None => None,
            };
            let file = self.cursors[i].file;
            match next {
                None => {
                    self.cursors[i].stream = None;
                    if let Some(f) = self.cursors[i].file.take() {
                        self.value_file(f)?.keys_done = true;
                        self.close_if_done(f);
                    }
                }
                Some(batch) => {
                    let batch = batch?;
                    if batch.num_rows() > 0 {
                        let current = self.decode(batch, file)?;
                        self.cursors[i].current = Some(current);
                        return Ok(());
                    }
                    // Finished at once, in order, so that the second read passes over it.
                    let slot = self.new_slot(batch, file)?;
                    self.finished.push_back(slot);
                }
            }
        }
    }

    /// Opens a data file's read of the compared columns, and its second read if other
    /// columns are output.
    async fn open_file(
        &mut self,
        file: &DataFileMeta,
    ) -> Result<(BoxStream<'static, Result<RecordBatch>>, Option<usize>)> {
        let file_schema = self.table.schema_manager().schema(file.schema_id).await?;
        let path = self
            .table
            .paths()
            .data_file(&self.partition_path, self.bucket, &file.file_name);
        let storage = self.table.storage();
        let keys = read_kv_file(
            storage,
            &path,
            file.file_size,
            &file_schema,
            &self.layout,
            self.read_rows,
            None,
        )
        .await?;
        let Some(layout) = &self.value_layout else {
            return Ok((keys, None));
        };
        let reader = KeptReader::open(
            storage,
            &path,
            file.file_size,
            &file_schema,
            layout,
            self.read_rows,
        )
        .await?;
        let values = ValueFile {
            reader: Some(reader),
            out_at: None,
            skip: 0,
            slots: 0,
            keys_done: false,
        };
        let f = match self.free_files.pop() {
            Some(f) => {
                self.files[f] = Some(values);
                f
            }
            None => {
                self.files.push(Some(values));
                self.files.len() - 1
            }
        };
        Ok((keys, Some(f)))
    }

    fn value_file(&mut self, f: usize) -> Result<&mut ValueFile> {
        self.files
            .get_mut(f)
            .and_then(Option::as_mut)
            .ok_or_else(|| Error::internal("select: a data file's second read is gone"))
    }

    /// Drops a file's second read once nothing more will be read from it.
    fn close_if_done(&mut self, f: usize) {
        if let Some(Some(v)) = self.files.get(f) {
            if v.keys_done && v.slots == 0 && v.out_at.is_none() {
                self.files[f] = None;
                self.free_files.push(f);
            }
        }
    }

    /// A slot for a batch of the compared columns of file `f`.
    fn new_slot(&mut self, batch: RecordBatch, file: Option<usize>) -> Result<usize> {
        if let Some(f) = file {
            self.value_file(f)?.slots += 1;
        }
        let len = batch.num_rows();
        let mut mask = BooleanBufferBuilder::new(len);
        mask.append_n(len, false);
        let slot = Slot { batch, mask, file };
        Ok(match self.free_slots.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        })
    }

    fn decode(&mut self, batch: RecordBatch, file: Option<usize>) -> Result<Current> {
        let column = |c: usize| -> ArrayRef { batch.column(c).clone() };
        let int64_key = self
            .fixed_key_len
            .and_then(|_| Prefixes::of_int64_key(&batch, &self.key_columns));
        let (
            Prefixes {
                values: prefixes,
                exact,
            },
            keys,
        ) = match int64_key {
            Some(prefixes) => (prefixes, None),
            None => {
                let keys: Vec<ArrayRef> = self.key_columns.iter().map(|c| column(*c)).collect();
                let keys = self.key_converter.convert_columns(&keys)?;
                let prefixes = Prefixes::of(&batch, &self.key_columns, &keys, self.fixed_key_len);
                (prefixes, self.fixed_key_len.is_none().then_some(keys))
            }
        };
        let user_seq = match &self.seq_converter {
            Some(conv) => {
                let cols: Vec<ArrayRef> = self.seq_columns.iter().map(|c| column(*c)).collect();
                Some(conv.convert_columns(&cols)?)
            }
            None => None,
        };
        let seq = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .cloned()
            .ok_or_else(|| Error::data_invalid("_SEQUENCE_NUMBER is not BIGINT"))?;
        let kind = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int8Array>()
            .cloned()
            .ok_or_else(|| Error::data_invalid("_VALUE_KIND is not TINYINT"))?;
        let len = batch.num_rows();
        let index = self.new_slot(batch, file)?;
        Ok(Current {
            slot: index,
            keys,
            prefixes,
            exact,
            user_seq,
            seq,
            kind,
            row: 0,
            len,
        })
    }

    fn current(&self, cursor: usize) -> Option<&Current> {
        self.cursors.get(cursor)?.current.as_ref()
    }

    /// Whether cursor `a`'s key at `a_row` equals cursor `b`'s current key, their prefixes
    /// being equal.
    fn key_equals(&self, a: usize, a_row: usize, b: usize) -> bool {
        let (Some(x), Some(y)) = (self.current(a), self.current(b)) else {
            return false;
        };
        match (x.exact, y.exact) {
            (Some(m), Some(n)) => m == n,
            _ => x.key(a_row) == y.key(y.row),
        }
    }

    fn rebuild_tree(&mut self) {
        let cursors = &self.cursors;
        let keys = cursors.iter().map(|c| {
            let cur = c.current.as_ref()?;
            cur.prefixes.get(cur.row).copied()
        });
        self.tree
            .rebuild(keys, &|a, b| full_key_order(cursors, a, b));
    }

    /// Decides the smallest key, at cursor `top`, if it is alone (the common case): not
    /// later in its own run, and not the key of the tree's winner once `top` moved on. Its
    /// one version survives unless it is a retraction. `false` when all versions must be
    /// gathered; the cursor is then back at the key, and the tree stale until
    /// [`Self::decide_group`] rebuilds it.
    fn decide_if_alone(&mut self, top: usize) -> Result<bool> {
        let prefix = self.tree.winner_key();
        let Some(cur) = self.cursors.get_mut(top).and_then(|c| c.current.as_mut()) else {
            return Ok(false);
        };
        // At the end of a batch, the next batch may repeat the key.
        let (row, next) = (cur.row, cur.row + 1);
        let Some(&next_prefix) = cur.prefixes.get(next) else {
            return Ok(false);
        };
        if next_prefix == prefix && (cur.exact.is_some() || cur.key(next) == cur.key(row)) {
            return Ok(false);
        }
        let (byte, slot) = (cur.kind.value(row), cur.slot);
        cur.row = next;
        let cursors = &self.cursors;
        self.tree
            .replay(Some(next_prefix), &|a, b| full_key_order(cursors, a, b));
        if let Some(winner) = self.tree.winner() {
            if self.tree.winner_key() == prefix && self.key_equals(top, row, winner) {
                if let Some(cur) = self.cursors[top].current.as_mut() {
                    cur.row = row;
                }
                return Ok(false);
            }
        }
        match RowKind::from_byte(byte) {
            Some(kind) if kind.is_add() || self.row_kinds => {
                if let Some(Some(s)) = self.slots.get_mut(slot) {
                    s.mask.set_bit(row, true);
                }
            }
            Some(_) => {}
            None => return Err(self.bad_kind(byte)),
        }
        Ok(true)
    }

    /// Gathers every version of the smallest key across runs and marks the survivor.
    async fn decide_group(&mut self, top: usize) -> Result<()> {
        let Some(key) = self.current(top).and_then(|cur| {
            let prefix = *cur.prefixes.get(cur.row)?;
            Some((prefix, cur.key(cur.row).map(|k| k.owned())))
        }) else {
            // A stale tree; rebuilt from the cursors, it cannot pick `top` again.
            self.rebuild_tree();
            return Ok(());
        };
        self.versions.clear();
        self.refs.clear();
        // `top` holds the smallest (key, cursor): runs holding the key too come after it.
        let members: Vec<usize> = (top..self.cursors.len())
            .filter(|&c| {
                self.current(c)
                    .is_some_and(|cur| cur.row < cur.len && cur.holds(cur.row, &key))
            })
            .collect();
        for c in members {
            while let Some(cur) = self.cursors[c].current.as_mut() {
                if !cur.holds(cur.row, &key) {
                    break;
                }
                let byte = cur.kind.value(cur.row);
                let Some(kind) = RowKind::from_byte(byte) else {
                    return Err(self.bad_kind(byte));
                };
                self.versions.push(KeyVersion {
                    sequence: cur.seq.value(cur.row),
                    user_sequence: cur
                        .user_seq
                        .as_ref()
                        .map(|r| r.row(cur.row).as_ref().to_vec()),
                    kind,
                });
                self.refs.push((cur.slot, cur.row));
                cur.row += 1;
                if cur.row == cur.len {
                    self.load(c).await?;
                }
            }
        }
        self.mark_picked()?;
        self.rebuild_tree();
        Ok(())
    }

    /// Marks the version of `versions` (at `refs`) that the merge keeps, if any.
    fn mark_picked(&mut self) -> Result<()> {
        let picked = if self.row_kinds {
            Ok(self.merge.pick_keeping_retractions(&self.versions))
        } else {
            self.merge.pick_visible(&self.versions)
        };
        let winner = picked.map_err(|e| {
            e.context(format!(
                "merging a key of table '{}' bucket {}",
                self.table.identifier(),
                self.bucket
            ))
        })?;
        if let Some(&(slot, row)) = winner.and_then(|w| self.refs.get(w)) {
            if let Some(Some(s)) = self.slots.get_mut(slot) {
                s.mask.set_bit(row, true);
            }
        }
        Ok(())
    }

    /// Decides at once every key below `bound`, the smallest last key of the cursors'
    /// batches, when prefixes are whole keys: every version of such a key is in the
    /// batches now. A hash of the window's keys finds those held more than once, which are
    /// merged as [`Self::decide_group`] merges them; every other row is decided alone.
    /// Replaces a replay of the tree per key with one hash insert. The keys from `bound`
    /// on are left to the tree. `None` when the window is too small to be worth it.
    fn decide_window(&mut self) -> Result<Option<usize>> {
        // At most `step` rows of each cursor, so that the table stays in cache; the last
        // row of a batch is never reached.
        let live = self.cursors.iter().filter(|c| c.current.is_some()).count();
        let step = (WINDOW_ROWS / live.max(1)).max(1);
        let bound = self
            .cursors
            .iter()
            .filter_map(|c| c.current.as_ref())
            .filter_map(|cur| {
                let row = (cur.row + step).min(cur.len.checked_sub(1)?);
                cur.prefixes.get(row).copied()
            })
            .min();
        let Some(bound) = bound else {
            return Ok(None);
        };
        self.window_bound = Some(bound);
        let w = &mut self.window;
        w.parts.clear();
        let mut total = 0;
        for (c, cursor) in self.cursors.iter().enumerate() {
            let Some(cur) = cursor.current.as_ref() else {
                continue;
            };
            let start = cur.row.min(cur.len);
            let end = start + cur.prefixes[start..cur.len].partition_point(|p| *p < bound);
            if end > start {
                w.parts.push(Part {
                    cursor: c,
                    start,
                    end,
                    index: total,
                });
                total += end - start;
            }
        }
        if total < MIN_WINDOW_ROWS || total >= u32::MAX as usize {
            return Ok(None);
        }
        let bits = (2 * total).next_power_of_two().trailing_zeros();
        let mask = (1usize << bits) - 1;
        if w.keys.len() <= mask {
            w.keys.resize(mask + 1, 0);
        }
        w.first.clear();
        w.first.resize(mask + 1, u32::MAX);
        w.repeated.clear();
        w.repeated.resize(total, false);
        for part in &w.parts {
            let Some(cur) = self.cursors[part.cursor].current.as_ref() else {
                continue;
            };
            for (i, &key) in cur.prefixes[part.start..part.end].iter().enumerate() {
                let index = part.index + i;
                let mut slot = slot_of(key, bits);
                loop {
                    let first = w.first[slot];
                    if first == u32::MAX {
                        w.first[slot] = index as u32;
                        w.keys[slot] = key;
                        break;
                    }
                    if w.keys[slot] == key {
                        w.repeated[first as usize] = true;
                        w.repeated[index] = true;
                        break;
                    }
                    slot = (slot + 1) & mask;
                }
            }
        }
        w.groups.clear();
        for part in &w.parts {
            let Some(cur) = self.cursors[part.cursor].current.as_ref() else {
                continue;
            };
            let Some(Some(s)) = self.slots.get_mut(cur.slot) else {
                return Err(Error::internal("select: a cursor's batch has no slot"));
            };
            for row in part.start..part.end {
                let index = part.index + row - part.start;
                if w.repeated[index] {
                    w.groups
                        .push((cur.prefixes[row], index as u32, part.cursor, row));
                    continue;
                }
                let byte = cur.kind.value(row);
                match RowKind::from_byte(byte) {
                    Some(kind) if kind.is_add() || self.row_kinds => s.mask.set_bit(row, true),
                    Some(_) => {}
                    None => return Err(unknown_kind(&self.table, self.bucket, byte)),
                }
            }
        }
        // Each key's versions in cursor order, then row order: as `decide_group` takes them.
        let mut groups = std::mem::take(&mut self.window.groups);
        groups.sort_unstable();
        let mut rest = groups.as_slice();
        while let Some(&(key, ..)) = rest.first() {
            let n = rest.iter().take_while(|g| g.0 == key).count();
            self.versions.clear();
            self.refs.clear();
            for &(_, _, cursor, row) in &rest[..n] {
                let Some(cur) = self.cursors[cursor].current.as_ref() else {
                    return Err(Error::internal("select: a window part without a batch"));
                };
                let byte = cur.kind.value(row);
                let Some(kind) = RowKind::from_byte(byte) else {
                    return Err(self.bad_kind(byte));
                };
                self.versions.push(KeyVersion {
                    sequence: cur.seq.value(row),
                    user_sequence: cur.user_seq.as_ref().map(|r| r.row(row).as_ref().to_vec()),
                    kind,
                });
                self.refs.push((cur.slot, row));
            }
            self.mark_picked()?;
            rest = &rest[n..];
        }
        self.window.groups = groups;
        for part in &self.window.parts {
            if let Some(cur) = self.cursors[part.cursor].current.as_mut() {
                cur.row = part.end;
            }
        }
        self.rebuild_tree();
        Ok(Some(total))
    }

    fn bad_kind(&self, byte: i8) -> Error {
        unknown_kind(&self.table, self.bucket, byte)
    }

    /// Moves every finished slot to `ready`: its kept rows of the compared columns that are
    /// output, and a job reading the same rows of the other columns from its file.
    async fn emit_finished(&mut self) -> Result<()> {
        // A cursor that decided its last row loads its next batch lazily, here.
        if self
            .cursors
            .iter()
            .any(|c| c.current.as_ref().is_some_and(|cur| cur.row >= cur.len))
        {
            return Err(Error::internal("select: a cursor ran past its batch"));
        }
        while let Some(slot) = self.finished.pop_front() {
            let Some(Slot {
                batch,
                mut mask,
                file,
            }) = self.slots.get_mut(slot).and_then(Option::take)
            else {
                continue;
            };
            self.free_slots.push(slot);
            let mask = BooleanArray::new(mask.finish(), None);
            let kept = mask.true_count();
            if kept == 0 {
                if let Some(f) = file {
                    let v = self.value_file(f)?;
                    v.skip += 1;
                    v.slots -= 1;
                    self.close_if_done(f);
                }
                continue;
            }
            let ranges = if kept == mask.len() {
                std::iter::once(0..kept).collect()
            } else {
                ranges_of(&mask)
            };
            let keys = batch.project(&self.key_outputs)?;
            // Only `keys` holds the columns now, so they can be compacted in place.
            drop(batch);
            let keys = keep_ranges(keys, &ranges)?;
            let values = match file {
                None => OutValues::None,
                Some(f) => {
                    // The slot still counts, so that the file stays open meanwhile.
                    let reader = self.take_reader(f).await?;
                    let at = self.taken + self.ready.len() as u64;
                    let v = self.value_file(f)?;
                    let skip = std::mem::take(&mut v.skip);
                    v.out_at = Some(at);
                    v.slots -= 1;
                    OutValues::Pending(reader.next_kept(skip, ranges), f)
                }
            };
            self.ready.push_back(Out { keys, values });
        }
        Ok(())
    }

    /// File `f`'s second read, after the job that has it (an earlier output's) is done.
    async fn take_reader(&mut self, f: usize) -> Result<KeptReader> {
        if let Some(reader) = self.value_file(f)?.reader.take() {
            return Ok(reader);
        }
        let at = self
            .value_file(f)?
            .out_at
            .and_then(|at| at.checked_sub(self.taken))
            .ok_or_else(|| Error::internal("select: a second read is neither idle nor busy"))?;
        self.settle(at as usize).await?;
        self.value_file(f)?
            .reader
            .take()
            .ok_or_else(|| Error::internal("select: a second read did not come back"))
    }

    /// Waits for the values of output `at` in `ready`, if they are being read.
    async fn settle(&mut self, at: usize) -> Result<()> {
        let Some(OutValues::Pending(job, f)) = self.ready.get_mut(at).map(|o| &mut o.values) else {
            return Ok(());
        };
        let f = *f;
        let (reader, values) = job
            .await
            .map_err(|e| Error::internal(format!("select: reading values: {e}")))?;
        if let Some(out) = self.ready.get_mut(at) {
            out.values = OutValues::Done(values);
        }
        let v = self.value_file(f)?;
        v.reader = Some(reader);
        v.out_at = None;
        self.close_if_done(f);
        Ok(())
    }

    /// The first output of `ready`, its columns put together in output order.
    async fn take_ready(&mut self) -> Result<Option<RecordBatch>> {
        self.settle(0).await?;
        let Some(Out { keys, values }) = self.ready.pop_front() else {
            return Ok(None);
        };
        self.taken += 1;
        let values = match values {
            OutValues::None => None,
            OutValues::Done(values) => Some(values?),
            OutValues::Pending(..) => {
                return Err(Error::internal("select: an output taken before its values"))
            }
        };
        let rows = keys.num_rows();
        if let Some(v) = &values {
            if v.num_rows() != rows {
                return Err(Error::internal(format!(
                    "select: {} rows of values for {rows} rows of keys",
                    v.num_rows()
                )));
            }
        }
        let columns = self
            .plan
            .iter()
            .map(|c| match c {
                OutColumn::Key(i) => keys.columns().get(*i).cloned(),
                OutColumn::Value(i) => values.as_ref().and_then(|v| v.columns().get(*i).cloned()),
            })
            .collect::<Option<Vec<ArrayRef>>>()
            .ok_or_else(|| Error::internal("select: an output column is missing"))?;
        let batch = conformed(&self.output_schema, columns, rows)?;
        let mut from = self.batch_size;
        while from < rows {
            let len = self.batch_size.min(rows - from);
            self.pieces.push_back(batch.slice(from, len));
            from += len;
        }
        Ok(Some(batch.slice(0, rows.min(self.batch_size))))
    }
}

fn unknown_kind(table: &Table, bucket: i32, byte: i8) -> Error {
    Error::data_invalid(format!(
        "unknown _VALUE_KIND {byte} in {} bucket {bucket}",
        table.identifier()
    ))
}

/// Order of the current keys of two cursors whose key prefixes are equal.
fn full_key_order(cursors: &[Cursor], a: usize, b: usize) -> Ordering {
    let current = |c: usize| cursors.get(c).and_then(|c| c.current.as_ref());
    let (Some(x), Some(y)) = (current(a), current(b)) else {
        return Ordering::Equal;
    };
    match (x.exact, y.exact) {
        (Some(m), Some(n)) if m == n => Ordering::Equal,
        _ => x.key(x.row).cmp(&y.key(y.row)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;

    fn fields(strings: usize, longs: usize) -> Vec<FieldRef> {
        let f = |i: usize, t: DataType| Arc::new(Field::new(format!("c{i}"), t, true));
        (0..strings)
            .map(|i| f(i, DataType::Utf8))
            .chain((0..longs).map(|i| f(strings + i, DataType::Int64)))
            .collect()
    }

    /// Narrow rows are read four output batches at a time; wide rows in fewer, so that a
    /// batch of a file read stays near 8 MB; never fewer rows than an output batch.
    #[test]
    fn file_reads_take_a_few_output_batches_within_a_byte_bound() {
        assert_eq!(read_rows(8192, &fields(3, 7)), 4 * 8192);
        assert_eq!(read_rows(1, &fields(3, 7)), 4);
        // 20 strings and 10 BIGINTs: 800 bytes a row, one 8192-row batch is 6.5 MB.
        assert_eq!(read_rows(8192, &fields(20, 10)), 8192);
        assert_eq!(read_rows(4096, &fields(20, 10)), 2 * 4096);
        assert_eq!(read_rows(8192, &fields(500, 0)), 8192);
        assert_eq!(read_rows(8192, &[]), 4 * 8192);
    }
}
