//! Merge engines: how the versions of one key combine into one row. One implementation
//! serves the write buffer, the reader and the compactor.
//!
//! # Contract
//!
//! - **Input.** [`MergeFunction::merge`] takes *all* versions of one key that the caller
//!   holds, sorted ascending by `(user sequence, _SEQUENCE_NUMBER)` ([`sort_versions`] does
//!   it). The user sequence is the `sequence.field` columns (Arrow row format, so bytes
//!   compare in the configured `sequence.field.sort-order`; a null sorts first in both
//!   orders, as in Paimon); `_SEQUENCE_NUMBER` breaks ties, so the order is total within a
//!   bucket. Column values come through a [`MergeInput`] (Arrow arrays plus row indices).
//! - **Output.** A [`MergeResult`]: the key disappears, version `i` survives unchanged, or a
//!   new row built field by field from versions and computed one-row arrays, with its row
//!   kind. A result whose kind is a retraction (`-U`/`-D`) is dropped by readers but must be
//!   written by the write buffer and by compactions that do not reach the top level, so it
//!   keeps shadowing older files.
//! - **One version** passes through unchanged, whatever the engine (Paimon's
//!   `ReducerMergeFunctionWrapper`): a lone `-D` is not an error, it is a retraction.
//! - **Writes** drop retractions first where Paimon does ([`MergeFunction::accepts`]:
//!   `ignore-delete` drops `-U`/`-D`, `ignore-update-before` drops `-U`).
//!
//! # Engines
//!
//! - `deduplicate`: the last version wins, a retraction included (readers then drop the
//!   key); with `ignore-delete` retractions are skipped.
//! - `first-row`: the first insert wins; a retraction is an error unless `ignore-delete`.
//! - `partial-update` ([`partial`]): non-null fields of later versions overwrite; sequence
//!   groups, per-group aggregates, `partial-update.remove-record-on-delete` and
//!   `partial-update.remove-record-on-sequence-group`.
//! - `aggregation` ([`aggregate`]): a function per field, retraction where Paimon allows it,
//!   `aggregation.remove-record-on-delete`.
//!
//! # Associativity
//!
//! Merging runs separately and then merging their results gives the same row as one merge
//! over everything for: `deduplicate`, `first-row` (with `ignore-delete`), `partial-update`
//! without retractions, and `aggregation` inserts with
//! every function except float `sum`/`product` (rounding; and `rbm64`/`hll_sketch`/
//! `theta_sketch` give the same set or sketch in bytes that, as Paimon's, depend on the
//! merge order) — with retractions only for `sum`
//! on exact types, `last_value`, and `ignore-retract` fields other than `last_value` and
//! `first_value` (a flush of ignored retractions is a row of nulls). Elsewhere the result, like
//! Paimon's, depends on where the write buffer flushed (e.g. `product` retracting a value it
//! has not seen yet keeps the accumulator; with `partial-update.remove-record-on-delete` a
//! run that merges a `-D` and then inserts yields a plain row, so merging it with an older
//! run brings back fields the delete had removed).

pub mod aggregate;
mod bitmap64;
mod cell;
mod functions;
mod nested;
pub mod partial;
mod sketches;
#[cfg(test)]
mod tests;

use arrow_array::{Array, ArrayRef, RecordBatch};

use crate::error::{Error, Result};
use crate::manifest::DataFileMeta;
use crate::options::{CoreOptions, MergeEngine};
use crate::schema::TableSchema;
use crate::table::Table;
use crate::types::DataField;

use aggregate::Aggregation;
use partial::PartialUpdate;

/// Paimon's row kinds, as stored in `_VALUE_KIND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowKind {
    Insert,
    UpdateBefore,
    UpdateAfter,
    Delete,
}

impl RowKind {
    pub fn from_byte(b: i8) -> Option<RowKind> {
        match b {
            0 => Some(RowKind::Insert),
            1 => Some(RowKind::UpdateBefore),
            2 => Some(RowKind::UpdateAfter),
            3 => Some(RowKind::Delete),
            _ => None,
        }
    }

    pub fn as_byte(self) -> i8 {
        match self {
            RowKind::Insert => 0,
            RowKind::UpdateBefore => 1,
            RowKind::UpdateAfter => 2,
            RowKind::Delete => 3,
        }
    }

    /// `+I`, `-U`, `+U`, `-D`.
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    pub fn parse_short(s: &str) -> Option<RowKind> {
        match s {
            "+I" => Some(RowKind::Insert),
            "-U" => Some(RowKind::UpdateBefore),
            "+U" => Some(RowKind::UpdateAfter),
            "-D" => Some(RowKind::Delete),
            _ => None,
        }
    }

    /// `+I` and `+U` add a row; `-U` and `-D` retract one.
    pub fn is_add(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }
}

/// One version of a key as the merge sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersion {
    pub sequence: i64,
    /// The user sequence fields in Arrow row format; `None` without `sequence.field`.
    pub user_sequence: Option<Vec<u8>>,
    pub kind: RowKind,
}

impl KeyVersion {
    fn order_key(&self) -> (Option<&[u8]>, i64) {
        (self.user_sequence.as_deref(), self.sequence)
    }
}

/// Sorts versions (and their row references, in step) into merge order.
pub fn sort_versions<T>(versions: &mut Vec<KeyVersion>, refs: &mut Vec<T>) {
    if versions
        .windows(2)
        .all(|w| w[0].order_key() <= w[1].order_key())
    {
        return;
    }
    let mut paired: Vec<(KeyVersion, T)> = versions.drain(..).zip(refs.drain(..)).collect();
    paired.sort_by(|a, b| a.0.order_key().cmp(&b.0.order_key()));
    for (v, r) in paired {
        versions.push(v);
        refs.push(r);
    }
}

/// Where one field of a merged output row comes from: a field of a stored row
/// (batch, row), a value the merge computed, or null.
pub enum FieldSource<'a> {
    Row((usize, usize)),
    Value(&'a ArrayRef),
    Null,
}

/// Column `column` of merged output rows, one per item of `fields`, gathered from
/// `batches`; computed values and nulls become one-row sources after the batches. Shared by
/// merge-on-read and the writer's buffer, whose computed rows (partial-update,
/// aggregation) mix fields of several versions.
pub fn gather_fields<'a>(
    batches: &[RecordBatch],
    column: usize,
    data_type: &arrow_schema::DataType,
    fields: impl IntoIterator<Item = FieldSource<'a>>,
) -> Result<ArrayRef> {
    let mut extra: Vec<ArrayRef> = Vec::new();
    let mut null_source = None;
    let mut indices = Vec::new();
    for field in fields {
        indices.push(match field {
            FieldSource::Row(r) => r,
            FieldSource::Value(a) => {
                extra.push(a.clone());
                (batches.len() + extra.len() - 1, 0)
            }
            FieldSource::Null => {
                let at = *null_source.get_or_insert_with(|| {
                    extra.push(arrow_array::new_null_array(data_type, 1));
                    batches.len() + extra.len() - 1
                });
                (at, 0)
            }
        });
    }
    let sources: Vec<&dyn Array> = batches
        .iter()
        .map(|b| b.column(column).as_ref())
        .chain(extra.iter().map(|a| a.as_ref()))
        .collect();
    Ok(arrow_select::interleave::interleave(&sources, &indices)?)
}

/// The versions of one key with access to their column values.
///
/// `columns[f]` is the column of table field `f` (schema order) in `batches`, or `None` when
/// the caller did not read it; version `i` is row `rows[i].1` of batch `rows[i].0`.
pub struct MergeInput<'a> {
    versions: &'a [KeyVersion],
    rows: &'a [(usize, usize)],
    batches: &'a [RecordBatch],
    columns: &'a [Option<usize>],
}

impl<'a> MergeInput<'a> {
    pub fn new(
        versions: &'a [KeyVersion],
        rows: &'a [(usize, usize)],
        batches: &'a [RecordBatch],
        columns: &'a [Option<usize>],
    ) -> Result<Self> {
        if versions.len() != rows.len() {
            return Err(Error::internal(format!(
                "merge input has {} versions but {} row references",
                versions.len(),
                rows.len()
            )));
        }
        for &(b, r) in rows {
            let batch = batches.get(b).ok_or_else(|| {
                Error::internal(format!("merge input refers to missing batch {b}"))
            })?;
            if r >= batch.num_rows() {
                return Err(Error::internal(format!(
                    "merge input refers to row {r} of a batch with {} rows",
                    batch.num_rows()
                )));
            }
            if let Some(c) = columns
                .iter()
                .flatten()
                .find(|c| **c >= batch.num_columns())
            {
                return Err(Error::internal(format!(
                    "merge input refers to column {c} of a batch with {} columns",
                    batch.num_columns()
                )));
            }
        }
        Ok(MergeInput {
            versions,
            rows,
            batches,
            columns,
        })
    }

    pub fn len(&self) -> usize {
        self.versions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    pub fn versions(&self) -> &[KeyVersion] {
        self.versions
    }

    pub fn kind(&self, version: usize) -> RowKind {
        self.versions[version].kind
    }

    /// Whether table field `field` was read.
    pub fn has_field(&self, field: usize) -> bool {
        matches!(self.columns.get(field), Some(Some(_)))
    }

    /// The array and row of field `field` in version `version`, or `None` when the value is
    /// null or the field was not read.
    pub fn cell(&self, field: usize, version: usize) -> Option<(&'a dyn Array, usize)> {
        let column = (*self.columns.get(field)?)?;
        let (batch, row) = *self.rows.get(version)?;
        let array = self.batches.get(batch)?.column(column).as_ref();
        (!array.is_null(row)).then_some((array, row))
    }

    /// The column of `field` in the batch of `version`.
    fn column_of(&self, field: usize, version: usize) -> Option<&'a ArrayRef> {
        let column = (*self.columns.get(field)?)?;
        let (batch, _) = *self.rows.get(version)?;
        Some(self.batches.get(batch)?.column(column))
    }

    /// The column of `field` in the first version's batch (for its Arrow type).
    pub fn column(&self, field: usize) -> Option<&'a ArrayRef> {
        let column = (*self.columns.get(field)?)?;
        let (batch, _) = *self.rows.first()?;
        Some(self.batches.get(batch)?.column(column))
    }
}

/// What becomes of one key.
#[derive(Debug, Clone)]
pub enum MergeResult {
    /// Nothing is left to read or write.
    Gone,
    /// Version `i` survives unchanged, with its own row kind.
    Row(usize),
    /// A new row: one value per table field, its kind, and the sequence number to write it
    /// with (the latest version's that counted).
    Computed {
        kind: RowKind,
        sequence: i64,
        fields: Vec<FieldValue>,
    },
}

/// One field of a computed row.
#[derive(Debug, Clone)]
pub enum FieldValue {
    /// The field's value in version `i`.
    Version(usize),
    /// A computed value: a one-row array of the field's Arrow type.
    Value(ArrayRef),
    Null,
}

impl MergeResult {
    /// The row kind of the result, `None` when the key is gone.
    pub fn kind(&self, input: &MergeInput<'_>) -> Option<RowKind> {
        match self {
            MergeResult::Gone => None,
            MergeResult::Row(i) => input.versions.get(*i).map(|v| v.kind),
            MergeResult::Computed { kind, .. } => Some(*kind),
        }
    }

    /// Whether a reader shows this result (a row that is not a retraction).
    pub fn is_visible(&self, input: &MergeInput<'_>) -> bool {
        self.kind(input).is_some_and(RowKind::is_add)
    }

    /// The result as one one-row array per table field (a writer's view; `None` when gone).
    /// Fields that were not read come out as nulls of their column's type, or of type Null.
    pub fn to_columns(&self, input: &MergeInput<'_>) -> Option<Vec<ArrayRef>> {
        let fields: Vec<FieldValue> = match self {
            MergeResult::Gone => return None,
            MergeResult::Row(i) => (0..input.columns.len())
                .map(|_| FieldValue::Version(*i))
                .collect(),
            MergeResult::Computed { fields, .. } => fields.clone(),
        };
        let null = |f: usize| {
            let t = input
                .column(f)
                .map_or(arrow_schema::DataType::Null, |c| c.data_type().clone());
            arrow_array::new_null_array(&t, 1)
        };
        let mut out = Vec::with_capacity(fields.len());
        for (f, value) in fields.into_iter().enumerate() {
            out.push(match value {
                FieldValue::Version(v) => match (input.column_of(f, v), input.rows.get(v)) {
                    (Some(c), Some(&(_, row))) => c.slice(row, 1),
                    _ => null(f),
                },
                FieldValue::Value(a) => a,
                FieldValue::Null => null(f),
            });
        }
        Some(out)
    }
}

/// A table's merge engine with its options resolved.
#[derive(Debug, Clone)]
pub struct MergeFunction {
    engine: MergeEngine,
    ignore_delete: bool,
    ignore_update_before: bool,
    sequence_fields: Vec<DataField>,
    sequence_descending: bool,
    fields: Vec<DataField>,
    kind: EngineImpl,
}

#[derive(Debug, Clone)]
enum EngineImpl {
    Deduplicate,
    FirstRow,
    PartialUpdate(PartialUpdate),
    Aggregation(Aggregation),
}

/// Checks a new table's merge options as Paimon does at `CREATE TABLE` (and more strictly:
/// aggregate functions are checked against their column types here, not at first use).
pub fn validate(schema: &TableSchema) -> Result<()> {
    if schema.primary_keys.is_empty() {
        return Ok(());
    }
    MergeFunction::from_schema(schema).map(|_| ())
}

impl MergeFunction {
    pub fn from_table(table: &Table) -> Result<Self> {
        MergeFunction::from_schema(table.schema())
            .map_err(|e| e.context(format!("table '{}'", table.identifier())))
    }

    /// Resolves the engine of a primary-key table from its schema and options.
    pub fn from_schema(schema: &TableSchema) -> Result<Self> {
        let options = CoreOptions::from_map(&schema.options)?;
        let engine = options.merge_engine();
        let mut sequence_fields = Vec::new();
        for name in options.sequence_fields() {
            let field = schema.field(name).ok_or_else(|| {
                Error::data_invalid(format!("sequence.field '{name}' is not a column"))
            })?;
            sequence_fields.push(field.clone());
        }
        if engine == MergeEngine::FirstRow && !sequence_fields.is_empty() {
            return Err(Error::data_invalid(
                "merge-engine 'first-row' does not support sequence.field",
            ));
        }
        let kind = match engine {
            MergeEngine::Deduplicate => EngineImpl::Deduplicate,
            MergeEngine::FirstRow => EngineImpl::FirstRow,
            MergeEngine::PartialUpdate => {
                EngineImpl::PartialUpdate(PartialUpdate::new(schema, &options)?)
            }
            MergeEngine::Aggregation => {
                EngineImpl::Aggregation(Aggregation::new(schema, &options)?)
            }
        };
        Ok(MergeFunction {
            engine,
            ignore_delete: options.ignore_delete(),
            ignore_update_before: options.ignore_update_before(),
            sequence_fields,
            sequence_descending: options.sequence_field_descending(),
            fields: schema.fields.clone(),
            kind,
        })
    }

    pub fn engine(&self) -> MergeEngine {
        self.engine
    }

    pub fn sequence_fields(&self) -> &[DataField] {
        &self.sequence_fields
    }

    pub fn sequence_descending(&self) -> bool {
        self.sequence_descending
    }

    /// The table fields the merge works on, in schema order (`MergeInput` columns).
    pub fn fields(&self) -> &[DataField] {
        &self.fields
    }

    /// Files a batch read must consider: every file, except that `first-row` tables are
    /// read without level 0, as Paimon reads them (`batchScanSkipLevel0`). Their writers
    /// move level 0 up after every commit (lookup compaction), and a row still in level 0
    /// is not the first row of its key if a higher level holds the key.
    pub fn filter_files(&self, files: Vec<DataFileMeta>) -> Vec<DataFileMeta> {
        match self.kind {
            EngineImpl::FirstRow => files.into_iter().filter(|f| f.level > 0).collect(),
            _ => files,
        }
    }

    /// Whether a writer keeps an input row of this kind (Paimon's `RowKindFilter`).
    pub fn accepts(&self, kind: RowKind) -> bool {
        match kind {
            RowKind::Delete => !self.ignore_delete,
            RowKind::UpdateBefore => !self.ignore_delete && !self.ignore_update_before,
            _ => true,
        }
    }

    /// Why `-U`/`-D` input that [`MergeFunction::accepts`] keeps can never be merged into
    /// this table, if so: writers reject such input before buffering it, rather than
    /// failing later at a flush, a compaction or a read.
    pub fn retraction_error(&self) -> Option<String> {
        if self.ignore_delete {
            return None;
        }
        match &self.kind {
            EngineImpl::Deduplicate => None,
            EngineImpl::FirstRow => Some(
                "merge-engine 'first-row' keeps the first row of a key and cannot apply -U/-D \
                 records; set 'ignore-delete' = 'true' to drop them"
                    .to_string(),
            ),
            EngineImpl::PartialUpdate(p) if !p.accepts_retractions() => Some(
                "merge-engine 'partial-update' cannot accept -U/-D records by default; set \
                 'ignore-delete' to drop them, 'partial-update.remove-record-on-delete' to \
                 remove the row on -D, or sequence groups to retract their columns"
                    .to_string(),
            ),
            EngineImpl::PartialUpdate(_) => None,
            EngineImpl::Aggregation(a) => {
                let fields = a.non_retractable_fields();
                (!fields.is_empty()).then(|| {
                    format!(
                        "merge-engine 'aggregation' cannot retract (-U/-D) with the aggregate \
                         functions of {}; set 'fields.<field>.ignore-retract' = 'true' for them \
                         or 'aggregation.remove-record-on-delete' = 'true'",
                        fields.join(", ")
                    )
                })
            }
        }
    }

    /// Fields a read of `wanted` must also load for the merge (sequence-group fields of
    /// partial-update), in schema order and without those already wanted.
    pub fn extra_fields(&self, wanted: &[DataField]) -> Vec<DataField> {
        let needed: Vec<usize> = match &self.kind {
            EngineImpl::PartialUpdate(p) => {
                let wanted_idx: Vec<usize> = wanted
                    .iter()
                    .filter_map(|w| self.fields.iter().position(|f| f.id == w.id))
                    .collect();
                p.fields_needed_for(&wanted_idx)
            }
            _ => Vec::new(),
        };
        needed
            .into_iter()
            .filter_map(|i| self.fields.get(i))
            .filter(|f| !wanted.iter().any(|w| w.id == f.id))
            .cloned()
            .collect()
    }

    /// Index of the version that survives, or `None` when the key disappears — the
    /// deduplicate and first-row rules only (a winning retraction counts as gone, and
    /// first-row skips retractions). Use [`MergeFunction::merge`] for every engine.
    pub fn pick(&self, versions: &[KeyVersion]) -> Option<usize> {
        self.pick_keeping_retractions(versions)
            .filter(|&i| versions.get(i).is_some_and(|v| v.kind.is_add()))
    }

    /// The version a write buffer (or any merge that does not see every file of the key)
    /// keeps: what [`MergeFunction::pick`] returns, except that a winning retraction is kept
    /// rather than dropped, because it must still delete older versions in other files.
    pub fn pick_keeping_retractions(&self, versions: &[KeyVersion]) -> Option<usize> {
        let candidates = versions
            .iter()
            .enumerate()
            .filter(|(_, v)| !self.ignore_delete || v.kind.is_add());
        match self.engine {
            MergeEngine::FirstRow => candidates
                .filter(|(_, v)| v.kind.is_add())
                .min_by(|a, b| a.1.order_key().cmp(&b.1.order_key()))
                .map(|(i, _)| i),
            _ => candidates
                .max_by(|a, b| a.1.order_key().cmp(&b.1.order_key()))
                .map(|(i, _)| i),
        }
    }

    /// Whether the engine's result is always one of the stored versions (deduplicate,
    /// first-row), so a read can select rows instead of building them.
    pub fn keeps_stored_rows(&self) -> bool {
        matches!(self.kind, EngineImpl::Deduplicate | EngineImpl::FirstRow)
    }

    /// For engines that keep stored rows: the version a reader shows, if any, with the
    /// same outcome (and the same error) as [`MergeFunction::merge`] followed by dropping
    /// retractions. `versions` are in merge order.
    pub fn pick_visible(&self, versions: &[KeyVersion]) -> Result<Option<usize>> {
        if matches!(self.kind, EngineImpl::FirstRow)
            && !self.ignore_delete
            && versions.len() > 1
            && versions.iter().any(|v| !v.kind.is_add())
        {
            return Err(Error::data_invalid(
                "merge-engine 'first-row' cannot accept -U/-D records; set 'ignore-delete' \
                 = 'true' to drop them",
            ));
        }
        Ok(self.pick(versions))
    }

    /// Merges the versions of one key, given in merge order (see the module docs).
    pub fn merge(&self, input: &MergeInput<'_>) -> Result<MergeResult> {
        match input.len() {
            0 => return Ok(MergeResult::Gone),
            1 => return Ok(MergeResult::Row(0)),
            _ => {}
        }
        match &self.kind {
            EngineImpl::Deduplicate => Ok(self.merge_deduplicate(input)),
            EngineImpl::FirstRow => self.merge_first_row(input),
            EngineImpl::PartialUpdate(p) => p.merge(input, self.ignore_delete),
            EngineImpl::Aggregation(a) => a.merge(input),
        }
    }

    fn merge_deduplicate(&self, input: &MergeInput<'_>) -> MergeResult {
        let last = (0..input.len())
            .rev()
            .find(|&i| !self.ignore_delete || input.kind(i).is_add());
        last.map_or(MergeResult::Gone, MergeResult::Row)
    }

    fn merge_first_row(&self, input: &MergeInput<'_>) -> Result<MergeResult> {
        let mut first = None;
        for i in 0..input.len() {
            if input.kind(i).is_add() {
                first = first.or(Some(i));
            } else if !self.ignore_delete {
                return Err(Error::data_invalid(
                    "merge-engine 'first-row' cannot accept -U/-D records; set 'ignore-delete' \
                     = 'true' to drop them",
                ));
            }
        }
        Ok(first.map_or(MergeResult::Gone, MergeResult::Row))
    }
}
