//! Merge-on-read of one split: a streaming k-way merge of the bucket's sorted runs.
//!
//! Every run keeps one open file and one decoded batch; rows are compared by their key
//! in Arrow's row format. All versions of a key are gathered, sorted into merge order and
//! handed to the table's merge engine ([`crate::merge`]), which keeps one of them, builds
//! a new row, or drops the key; retractions are not shown. Output rows are gathered by
//! index (computed values as extra one-row sources) and materialized with `interleave`
//! once a batch is full, so memory grows with the number of runs, not the table.
//!
//! The same merge serves compaction ([`MergeRead::key_values`]): the output is then full
//! key-value batches (`_KEY_*`, `_SEQUENCE_NUMBER`, `_VALUE_KIND`, every column) as data
//! files store them, and retraction results are kept, unless the caller may drop them
//! (nothing older exists outside the merged files).

use std::collections::VecDeque;

use arrow_array::{Array, ArrayRef, Int64Array, Int8Array, RecordBatch};
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{Schema, SchemaRef, SortOptions};
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::compact::lookup::{Found, LevelLookup};
use crate::error::{Error, Result};
use crate::manifest::DataFileMeta;
use crate::merge::{
    gather_fields, sort_versions, FieldSource, FieldValue, KeyVersion, MergeFunction, MergeInput,
    MergeResult, RowKind,
};
use crate::read::file::{read_kv_file, KvLayout};
use crate::read::key_prefix::{fixed_key_len, Prefixes};
use crate::read::runs::sorted_runs;
use crate::scan::Split;
use crate::table::Table;
use crate::types::arrow::{to_arrow_field, to_arrow_schema};
use crate::types::DataField;

/// The merge of one split, before it starts streaming.
pub struct MergeRead {
    table: Table,
    split: Split,
    output: Vec<DataField>,
    batch_size: usize,
    mode: Mode,
    lookup: Option<LevelLookup>,
    /// Sorted runs given as streams rather than files (see [`MergeRead::with_runs`]).
    runs: Vec<BoxStream<'static, Result<RecordBatch>>>,
}

/// What the merge produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The visible rows, in the requested columns (reads).
    Rows,
    /// Key-value batches in the data-file layout (compaction).
    KeyValues { keep_retractions: bool },
}

impl MergeRead {
    pub fn new(
        table: Table,
        split: Split,
        output: Vec<DataField>,
        batch_size: usize,
    ) -> Result<Self> {
        Ok(MergeRead {
            table,
            split,
            output,
            batch_size,
            mode: Mode::Rows,
            lookup: None,
            runs: Vec::new(),
        })
    }

    /// The merge of `split`'s files as key-value batches laid out as data files are
    /// (`TableSchema::key_value_fields`), for compaction. A result that is a retraction is
    /// written when `keep_retractions` (it must still shadow older files) and dropped
    /// otherwise.
    pub fn key_values(
        table: Table,
        split: Split,
        batch_size: usize,
        keep_retractions: bool,
    ) -> Result<Self> {
        let output = table.schema().fields.clone();
        Ok(MergeRead {
            table,
            split,
            output,
            batch_size,
            mode: Mode::KeyValues { keep_retractions },
            lookup: None,
            runs: Vec::new(),
        })
    }

    /// Adds level-0 sorted runs that are not files of the table (a writer's spilled runs
    /// and buffer). Each stream yields batches of one run in key order, laid out as
    /// [`MergeRead::run_layout`] says.
    pub fn with_runs(mut self, runs: Vec<BoxStream<'static, Result<RecordBatch>>>) -> Self {
        self.runs.extend(runs);
        self
    }

    /// The layout of runs given to a key-value merge: `_SEQUENCE_NUMBER`, `_VALUE_KIND`,
    /// then every table column in schema order (a data file's columns without `_KEY_*`).
    pub fn run_layout(table: &Table) -> SchemaRef {
        KvLayout::new(table.schema().fields.clone()).schema
    }

    /// Looks every key whose versions all come from level 0 up in the levels above the
    /// compaction's output ([`crate::compact::lookup`]) before merging it.
    pub fn with_lookup(mut self, lookup: Option<LevelLookup>) -> Self {
        self.lookup = lookup;
        self
    }

    pub async fn into_stream(self) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let state = MergeState::open(self).await?;
        Ok(futures::stream::try_unfold(state, |mut state| async move {
            Ok(state.next_batch().await?.map(|b| (b, state)))
        })
        .boxed())
    }
}

struct Cursor {
    /// The run is one level-0 file.
    level0: bool,
    files: VecDeque<DataFileMeta>,
    stream: Option<BoxStream<'static, Result<RecordBatch>>>,
    /// Arena slot of the current batch, its key rows, sequence rows and position.
    current: Option<Current>,
}

struct Current {
    slot: usize,
    keys: Rows,
    /// The keys' first 16 bytes ([`Prefixes`]): most comparisons end there.
    prefixes: Vec<u128>,
    exact: Option<usize>,
    user_seq: Option<Rows>,
    seq: Int64Array,
    kind: Int8Array,
    row: usize,
    len: usize,
}

impl Current {
    /// Order of the current keys of two cursors.
    fn compare(&self, other: &Current) -> std::cmp::Ordering {
        self.prefixes[self.row]
            .cmp(&other.prefixes[other.row])
            .then_with(|| {
                if self.exact.is_some() && self.exact == other.exact {
                    std::cmp::Ordering::Equal
                } else {
                    self.keys.row(self.row).cmp(&other.keys.row(other.row))
                }
            })
    }
}

/// One output row: a stored row as is, or a computed one (a source per output column).
enum OutRow {
    Ref((usize, usize)),
    Computed(Vec<Src>),
}

/// The key-value columns of picked rows (compaction only).
#[derive(Default)]
struct KvPicks {
    sequence: Vec<i64>,
    kind: Vec<i8>,
}

enum Src {
    Ref((usize, usize)),
    Value(ArrayRef),
    Null,
}

struct MergeState {
    table: Table,
    layout: KvLayout,
    partition_path: crate::paths::PartitionPath,
    bucket: i32,
    batch_size: usize,
    key_columns: Vec<usize>,
    seq_columns: Vec<usize>,
    output_columns: Vec<usize>,
    output_schema: SchemaRef,
    key_converter: RowConverter,
    seq_converter: Option<RowConverter>,
    merge: MergeFunction,
    /// Column of each merge field (table schema order) in the layout, if read.
    merge_columns: Vec<Option<usize>>,
    /// Table field index of each output column.
    output_fields: Vec<usize>,
    cursors: Vec<Cursor>,
    arena: Vec<RecordBatch>,
    picks: Vec<OutRow>,
    mode: Mode,
    kv: KvPicks,
    /// Output column of each trimmed primary key field (key-value mode).
    key_outputs: Vec<usize>,
    group: Vec<KeyVersion>,
    group_refs: Vec<(usize, usize)>,
    /// Arena size that triggers the next compaction.
    compact_at: usize,
    /// The current key's row-format bytes (reused, see `next_batch`).
    key_buf: Vec<u8>,
    /// Every key row has this length (fixed-width key columns) and fits its prefix.
    fixed_key_len: Option<usize>,
    done: bool,
    /// Deletion vectors of the split's files, applied as each file is opened.
    deletions: Option<std::sync::Arc<crate::deletion::BucketVectors>>,
    lookup: Option<LevelLookup>,
}

impl MergeState {
    async fn open(read: MergeRead) -> Result<Self> {
        let MergeRead {
            table,
            split,
            output,
            batch_size,
            mode,
            lookup,
            runs,
        } = read;
        let schema = table.schema().clone();
        let key_fields: Vec<DataField> = schema.trimmed_primary_key_fields();
        if key_fields.is_empty() {
            return Err(Error::unsupported(format!(
                "table '{}' has no primary key; append tables are not supported yet",
                table.identifier()
            )));
        }
        let merge = MergeFunction::from_table(&table)?;
        let seq_fields: Vec<DataField> = merge.sequence_fields().to_vec();

        // Layout = output ∪ key ∪ sequence fields ∪ what the merge needs, each once.
        let extra = merge.extra_fields(&output);
        let mut fields: Vec<DataField> = output.clone();
        for f in key_fields
            .iter()
            .chain(seq_fields.iter())
            .chain(extra.iter())
        {
            if !fields.iter().any(|x| x.id == f.id) {
                fields.push(f.clone());
            }
        }
        let layout = KvLayout::new(fields);
        let col = |f: &DataField| {
            layout
                .column_of(f.id)
                .ok_or_else(|| Error::internal(format!("column '{}' missing from layout", f.name)))
        };
        let key_columns = key_fields.iter().map(col).collect::<Result<Vec<_>>>()?;
        let seq_columns = seq_fields.iter().map(col).collect::<Result<Vec<_>>>()?;
        let output_columns = output.iter().map(col).collect::<Result<Vec<_>>>()?;
        let merge_columns: Vec<Option<usize>> = merge
            .fields()
            .iter()
            .map(|f| layout.column_of(f.id))
            .collect();
        let output_fields = output
            .iter()
            .map(|o| {
                merge
                    .fields()
                    .iter()
                    .position(|f| f.id == o.id)
                    .ok_or_else(|| {
                        Error::internal(format!("output column '{}' is not a table field", o.name))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let key_converter = RowConverter::new(
            key_columns
                .iter()
                .map(|c| SortField::new(layout.schema.field(*c).data_type().clone()))
                .collect(),
        )?;
        let seq_converter = if seq_columns.is_empty() {
            None
        } else {
            // Paimon's sequence comparator puts null first in both orders.
            let options = SortOptions {
                descending: merge.sequence_descending(),
                nulls_first: true,
            };
            Some(RowConverter::new(
                seq_columns
                    .iter()
                    .map(|c| {
                        SortField::new_with_options(
                            layout.schema.field(*c).data_type().clone(),
                            options,
                        )
                    })
                    .collect(),
            )?)
        };
        let key_outputs = key_fields
            .iter()
            .map(|k| {
                output
                    .iter()
                    .position(|o| o.id == k.id)
                    .ok_or_else(|| Error::internal(format!("key '{}' is not an output", k.name)))
            })
            .collect::<Result<Vec<_>>>();
        let (output_schema, key_outputs) = match mode {
            Mode::Rows => (
                std::sync::Arc::new(Schema::new(
                    output.iter().map(to_arrow_field).collect::<Vec<_>>(),
                )),
                Vec::new(),
            ),
            Mode::KeyValues { .. } => (to_arrow_schema(&schema.key_value_fields()), key_outputs?),
        };
        let key_types: Vec<_> = key_fields.iter().map(|f| f.data_type.clone()).collect();
        let deletions = crate::read::deletion::split_vectors(&table, &split).await?;
        // Compaction must carry every file forward; only reads may skip some.
        let files = match mode {
            Mode::Rows => merge.filter_files(split.files),
            Mode::KeyValues { .. } => split.files,
        };
        if !runs.is_empty()
            && (mode == Mode::Rows
                || lookup.is_some()
                || layout.fields.len() != schema.fields.len())
        {
            return Err(Error::internal(
                "runs as streams are merged only into key values, without lookup",
            ));
        }
        let fixed_key_len = fixed_key_len(&layout.schema, &key_columns);
        let cursors = sorted_runs(files, &key_types)
            .into_iter()
            .map(|run| Cursor {
                level0: run.iter().all(|f| f.level <= 0),
                files: run.into(),
                stream: None,
                current: None,
            })
            .chain(runs.into_iter().map(|stream| Cursor {
                level0: true,
                files: VecDeque::new(),
                stream: Some(stream),
                current: None,
            }))
            .collect();
        let mut state = MergeState {
            table,
            layout,
            partition_path: split.partition_path,
            bucket: split.bucket,
            batch_size,
            key_columns,
            seq_columns,
            output_columns,
            output_schema,
            key_converter,
            seq_converter,
            merge,
            merge_columns,
            output_fields,
            cursors,
            arena: Vec::new(),
            picks: Vec::new(),
            mode,
            kv: KvPicks::default(),
            key_outputs,
            group: Vec::new(),
            group_refs: Vec::new(),
            compact_at: 16,
            key_buf: Vec::new(),
            fixed_key_len,
            done: false,
            deletions,
            lookup,
        };
        if state.lookup.is_some() && state.layout.fields.len() != state.merge.fields().len() {
            return Err(Error::internal(
                "a lookup merge must read every column of the table",
            ));
        }
        for i in 0..state.cursors.len() {
            state.fill(i).await?;
        }
        Ok(state)
    }

    /// Makes cursor `i` point at a row, loading the next batch or file as needed; leaves
    /// `current` empty when the run is exhausted.
    async fn fill(&mut self, i: usize) -> Result<()> {
        loop {
            if let Some(cur) = &self.cursors[i].current {
                if cur.row < cur.len {
                    return Ok(());
                }
                self.cursors[i].current = None;
            }
            if self.cursors[i].stream.is_none() {
                let Some(file) = self.cursors[i].files.pop_front() else {
                    return Ok(());
                };
                let stream = self.open_file(&file).await?;
                self.cursors[i].stream = Some(stream);
            }
            let next = match self.cursors[i].stream.as_mut() {
                Some(s) => s.next().await,
                None => None,
            };
            match next {
                None => self.cursors[i].stream = None,
                Some(batch) => {
                    let batch = batch?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    let current = self.decode(batch)?;
                    self.cursors[i].current = Some(current);
                }
            }
        }
    }

    async fn open_file(
        &mut self,
        file: &DataFileMeta,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let file_schema = self.table.schema_manager().schema(file.schema_id).await?;
        let path = self
            .table
            .paths()
            .data_file(&self.partition_path, self.bucket, &file.file_name);
        let dv = self
            .deletions
            .as_ref()
            .and_then(|d| d.get(&file.file_name).cloned());
        read_kv_file(
            self.table.storage(),
            &path,
            file.file_size,
            &file_schema,
            &self.layout,
            self.batch_size,
            dv,
        )
        .await
    }

    fn decode(&mut self, batch: RecordBatch) -> Result<Current> {
        let column = |c: usize| -> ArrayRef { batch.column(c).clone() };
        let keys: Vec<ArrayRef> = self.key_columns.iter().map(|c| column(*c)).collect();
        // Null key parts are legal with `primary-key.nullable`; they compare equal.
        let keys = self.key_converter.convert_columns(&keys)?;
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
        let Prefixes {
            values: prefixes,
            exact,
        } = Prefixes::of(&batch, &self.key_columns, &keys, self.fixed_key_len);
        self.arena.push(batch);
        Ok(Current {
            slot: self.arena.len() - 1,
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

    /// The cursor holding the smallest key, if any run has rows left.
    fn min_cursor(&self) -> Option<usize> {
        let mut best: Option<(usize, &Current)> = None;
        for (i, c) in self.cursors.iter().enumerate() {
            if let Some(cur) = &c.current {
                if best.is_none_or(|(_, b)| cur.compare(b).is_lt()) {
                    best = Some((i, cur));
                }
            }
        }
        best.map(|(i, _)| i)
    }

    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        while self.picks.len() < self.batch_size {
            if self.arena.len() > self.compact_at {
                self.compact_arena();
            }
            let Some(first) = self.min_cursor() else {
                self.done = true;
                break;
            };
            // The key: its prefix, and unless every key fits its prefix, its row-format
            // bytes in a buffer reused across keys (no allocation).
            let mut key = std::mem::take(&mut self.key_buf);
            key.clear();
            let (key_prefix, key_exact) = {
                let cur = self.cursors[first]
                    .current
                    .as_ref()
                    .ok_or_else(|| Error::internal("cursor"))?;
                if self.fixed_key_len.is_none() {
                    key.extend_from_slice(cur.keys.row(cur.row).as_ref());
                }
                (cur.prefixes[cur.row], cur.exact)
            };
            self.group.clear();
            self.group_refs.clear();
            let mut above_level0 = false;
            for i in 0..self.cursors.len() {
                // A run may hold the same key more than once (files from other writers).
                while let Some(cur) = &self.cursors[i].current {
                    let same = cur.prefixes[cur.row] == key_prefix
                        && (self.fixed_key_len.is_some()
                            || (key_exact.is_some() && cur.exact == key_exact)
                            || cur.keys.row(cur.row).as_ref() == key.as_slice());
                    if !same {
                        break;
                    }
                    let kind = RowKind::from_byte(cur.kind.value(cur.row)).ok_or_else(|| {
                        Error::data_invalid(format!(
                            "unknown _VALUE_KIND {} in {} bucket {}",
                            cur.kind.value(cur.row),
                            self.table.identifier(),
                            self.bucket
                        ))
                    })?;
                    self.group.push(KeyVersion {
                        sequence: cur.seq.value(cur.row),
                        user_sequence: cur
                            .user_seq
                            .as_ref()
                            .map(|r| r.row(cur.row).as_ref().to_vec()),
                        kind,
                    });
                    self.group_refs.push((cur.slot, cur.row));
                    above_level0 |= !self.cursors[i].level0;
                    if let Some(cur) = self.cursors[i].current.as_mut() {
                        cur.row += 1;
                    }
                    self.fill(i).await?;
                }
            }
            self.key_buf = key;
            if !above_level0 && !self.look_up_group().await? {
                continue;
            }
            self.merge_group()?;
        }
        self.flush()
    }

    /// Looks up a key whose versions all come from level 0; adds the older copy it finds
    /// to the group when the lookup asks for it. `false` when the key must be dropped.
    async fn look_up_group(&mut self) -> Result<bool> {
        let Some(lookup) = &self.lookup else {
            return Ok(true);
        };
        let &(slot, row) = self
            .group_refs
            .first()
            .ok_or_else(|| Error::internal("an empty key group"))?;
        let keys: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|c| self.arena[slot].column(*c).slice(row, 1))
            .collect();
        match lookup.level0_key(&keys).await? {
            Found::Nothing => Ok(true),
            Found::Drop => Ok(false),
            Found::Old {
                sequence,
                kind,
                values,
            } => {
                let mut columns: Vec<ArrayRef> = Vec::with_capacity(values.len() + 2);
                columns.push(std::sync::Arc::new(Int64Array::from(vec![sequence])));
                columns.push(std::sync::Arc::new(Int8Array::from(vec![kind.as_byte()])));
                columns.extend(values);
                let batch = crate::read::conformed(&self.layout.schema, columns, 1)?;
                let user_sequence = match &self.seq_converter {
                    Some(conv) => {
                        let cols: Vec<ArrayRef> = self
                            .seq_columns
                            .iter()
                            .map(|c| batch.column(*c).clone())
                            .collect();
                        Some(conv.convert_columns(&cols)?.row(0).as_ref().to_vec())
                    }
                    None => None,
                };
                self.arena.push(batch);
                self.group.push(KeyVersion {
                    sequence,
                    user_sequence,
                    kind,
                });
                self.group_refs.push((self.arena.len() - 1, 0));
                Ok(true)
            }
        }
    }

    /// Merges the gathered versions of one key and queues the visible result.
    fn merge_group(&mut self) -> Result<()> {
        sort_versions(&mut self.group, &mut self.group_refs);
        let input = MergeInput::new(
            &self.group,
            &self.group_refs,
            &self.arena,
            &self.merge_columns,
        )?;
        let result = self.merge.merge(&input).map_err(|e| {
            e.context(format!(
                "merging a key of table '{}' bucket {}",
                self.table.identifier(),
                self.bucket
            ))
        })?;
        let keep = match self.mode {
            Mode::Rows => result.is_visible(&input),
            Mode::KeyValues { keep_retractions } => keep_retractions || result.is_visible(&input),
        };
        if !keep {
            return Ok(());
        }
        if let Mode::KeyValues { .. } = self.mode {
            let (sequence, kind) = match &result {
                MergeResult::Gone => return Ok(()),
                MergeResult::Row(i) => (self.group[*i].sequence, self.group[*i].kind),
                MergeResult::Computed { sequence, kind, .. } => (*sequence, *kind),
            };
            self.kv.sequence.push(sequence);
            self.kv.kind.push(kind.as_byte());
        }
        match result {
            MergeResult::Gone => {}
            MergeResult::Row(i) => self.picks.push(OutRow::Ref(self.group_refs[i])),
            MergeResult::Computed { mut fields, .. } => {
                let mut row = Vec::with_capacity(self.output_fields.len());
                for &f in &self.output_fields {
                    let value = fields
                        .get_mut(f)
                        .map(|v| std::mem::replace(v, FieldValue::Null));
                    row.push(match value {
                        Some(FieldValue::Version(j)) => Src::Ref(self.group_refs[j]),
                        Some(FieldValue::Value(a)) => Src::Value(a),
                        Some(FieldValue::Null) | None => Src::Null,
                    });
                }
                self.picks.push(OutRow::Computed(row));
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.picks.is_empty() {
            return Ok(if self.done {
                None
            } else {
                Some(RecordBatch::new_empty(self.output_schema.clone()))
            });
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.output_columns.len());
        for (k, &c) in self.output_columns.iter().enumerate() {
            let fields = self.picks.iter().map(|pick| match pick {
                OutRow::Ref(r) => FieldSource::Row(*r),
                OutRow::Computed(row) => match row.get(k) {
                    Some(Src::Ref(r)) => FieldSource::Row(*r),
                    Some(Src::Value(a)) => FieldSource::Value(a),
                    Some(Src::Null) | None => FieldSource::Null,
                },
            });
            let data_type = self.layout.schema.field(c).data_type();
            columns.push(gather_fields(&self.arena, c, data_type, fields)?);
        }
        self.picks.clear();
        let rows = columns.first().map_or(0, |c| c.len());
        if let Mode::KeyValues { .. } = self.mode {
            let mut kv: Vec<ArrayRef> =
                Vec::with_capacity(columns.len() + 2 + self.key_outputs.len());
            for &k in &self.key_outputs {
                kv.push(columns[k].clone());
            }
            kv.push(std::sync::Arc::new(Int64Array::from(std::mem::take(
                &mut self.kv.sequence,
            ))));
            kv.push(std::sync::Arc::new(Int8Array::from(std::mem::take(
                &mut self.kv.kind,
            ))));
            kv.extend(columns);
            columns = kv;
        }
        let batch = crate::read::conformed(&self.output_schema, columns, rows)?;
        self.compact_arena();
        Ok(Some(batch))
    }

    /// Drops arena batches that neither a cursor nor a pending pick refers to. Called after
    /// each flush and whenever the arena grows (e.g. long runs of deleted keys produce no
    /// picks), so memory stays proportional to the number of runs.
    fn compact_arena(&mut self) {
        let mut remap: Vec<Option<usize>> = vec![None; self.arena.len()];
        let mut kept = Vec::new();
        let mut keep = |slot: usize, kept: &mut Vec<RecordBatch>, arena: &[RecordBatch]| {
            if remap[slot].is_none() {
                kept.push(arena[slot].clone());
                remap[slot] = Some(kept.len() - 1);
            }
            remap[slot].unwrap_or(0)
        };
        for pick in &mut self.picks {
            match pick {
                OutRow::Ref(r) => r.0 = keep(r.0, &mut kept, &self.arena),
                OutRow::Computed(row) => {
                    for src in row {
                        if let Src::Ref(r) = src {
                            r.0 = keep(r.0, &mut kept, &self.arena);
                        }
                    }
                }
            }
        }
        for c in &mut self.cursors {
            if let Some(cur) = c.current.as_mut() {
                cur.slot = keep(cur.slot, &mut kept, &self.arena);
            }
        }
        self.arena = kept;
        self.compact_at = self.arena.len() + 2 * self.cursors.len() + 8;
    }
}
