//! The changelog a compaction produces (`changelog-producer` = `lookup` or
//! `full-compaction`; rules in `spec/changelog.md`).
//!
//! Each producer's changelog *covers* a part of the bucket: the files above level 0 for
//! `lookup`, the files at the last level for `full-compaction` (what a reader's full phase
//! reads, see `format::changes`). A compaction changes that part; [`produce`] reads the
//! merged value of every key in the covered files before and after the compaction and
//! writes the difference, so the full phase before plus the changelog is the full phase
//! after, for every merge engine. A key whose merged row is the same version on both sides
//! (kind, sequence number and values) produces nothing; a row that re-merging changed
//! (engines that are not associative, `spec/merge-engines.md`) does. Only keys of the
//! compacted files can change, so covered files outside their key range are not read.
//! [`ChangelogRule::decide`] turns a
//! key's before-image and result into rows, and [`RowEqualiser`] implements
//! `changelog-producer.row-deduplicate`.
//!
//! Both sides are held in memory (one bucket's covered rows, twice) and read in full:
//! simple and exact, at the cost of reading the covered files at every producing
//! compaction.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, Int8Array, RecordBatch};
use arrow_row::{RowConverter, SortField};
use futures::TryStreamExt;

use crate::compact::plan::CompactUnit;
use crate::data::binary_row::BinaryRow;
use crate::data::Datum;
use crate::error::{Error, Result};
use crate::manifest::DataFileMeta;
use crate::merge::RowKind;
use crate::options::{ChangelogProducer, MergeEngine};
use crate::read::merge::MergeRead;
use crate::read::runs::compare_rows;
use crate::scan::Split;
use crate::table::Table;
use crate::types::arrow::to_arrow_type;
use crate::types::{DataField, DataType};

/// Which changelog a merge produces, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangelogRule {
    /// Keys with level-0 versions: before-image = the version above level 0 (merged in, or
    /// looked up above the output level).
    Lookup,
    /// `first-row` with `lookup`: `+I` for a key whose first row is new.
    FirstRow,
    /// A compaction into the last level: before-image = the version found there.
    FullCompaction { max_level: i32 },
}

/// What one key contributes to the changelog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    Nothing,
    /// `+I` of the result.
    Insert,
    /// `-D` of the before-image.
    Delete,
    /// `-U` of the before-image, then `+U` of the result.
    Update,
}

impl ChangelogRule {
    /// The rule of a compaction into `output_level` of `table`, if it produces changelog
    /// (`lookup`: only when level-0 files go up).
    pub fn for_compaction(table: &Table, unit: &CompactUnit, max_level: i32) -> Option<Self> {
        let options = table.options();
        let output_level = unit.output_level;
        match options.changelog_producer() {
            ChangelogProducer::Lookup
                if output_level > 0 && unit.files.iter().any(|f| f.level == 0) =>
            {
                Some(if options.merge_engine() == MergeEngine::FirstRow {
                    ChangelogRule::FirstRow
                } else {
                    ChangelogRule::Lookup
                })
            }
            ChangelogProducer::FullCompaction if output_level == max_level => {
                Some(ChangelogRule::FullCompaction { max_level })
            }
            _ => None,
        }
    }

    /// Whether a file at `level` is covered by this producer's changelog.
    pub fn covers(self, level: i32) -> bool {
        match self {
            ChangelogRule::Lookup | ChangelogRule::FirstRow => level > 0,
            ChangelogRule::FullCompaction { max_level } => level == max_level,
        }
    }

    /// The changelog of one key: `before` is whether a before-image exists and is an
    /// addition; `after` whether the result is an addition (`false` also when the key
    /// is gone). `equal` tells whether the two rows are equal for row deduplication (only
    /// asked when both are additions).
    pub fn decide(before: bool, after: bool, equal: impl FnOnce() -> bool) -> Emit {
        match (before, after) {
            (false, true) => Emit::Insert,
            (false, false) => Emit::Nothing,
            (true, false) => Emit::Delete,
            (true, true) if equal() => Emit::Nothing,
            (true, true) => Emit::Update,
        }
    }
}

/// Compares rows for `changelog-producer.row-deduplicate`: every table column except the
/// ignored ones, nulls equal to nulls.
pub struct RowEqualiser {
    /// Positions (table schema order) of the compared columns.
    columns: Vec<usize>,
    converter: RowConverter,
}

impl RowEqualiser {
    /// `None` unless the table asks for row deduplication.
    pub fn for_table(table: &Table) -> Result<Option<Self>> {
        let options = table.options();
        if !options.changelog_producer_row_deduplicate() {
            return Ok(None);
        }
        let ignored = options.changelog_producer_row_deduplicate_ignore_fields();
        let fields: Vec<(usize, &DataField)> = table
            .schema()
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !ignored.iter().any(|i| i == &f.name))
            .collect();
        let converter = RowConverter::new(
            fields
                .iter()
                .map(|(_, f)| SortField::new(to_arrow_type(&f.data_type)))
                .collect(),
        )?;
        Ok(Some(RowEqualiser {
            columns: fields.iter().map(|(i, _)| *i).collect(),
            converter,
        }))
    }

    /// Whether two one-row value lists (table schema order) are equal.
    pub fn equal(&self, a: &[ArrayRef], b: &[ArrayRef]) -> Result<bool> {
        let pick = |row: &[ArrayRef]| -> Result<Vec<ArrayRef>> {
            self.columns
                .iter()
                .map(|c| {
                    row.get(*c)
                        .cloned()
                        .ok_or_else(|| Error::internal("a row without every table column"))
                })
                .collect()
        };
        let a = self.converter.convert_columns(&pick(a)?)?;
        let b = self.converter.convert_columns(&pick(b)?)?;
        Ok(a.row(0) == b.row(0))
    }
}

/// The changelog of one compaction: the difference between the merged covered files of
/// the bucket before (`split`, its live files) and after (`before` replaced by `after`),
/// in key order, as key-value batches (`_VALUE_KIND` set to the change's kind). Only keys
/// of the compacted files can change, so covered files outside their key range are not
/// read.
pub async fn produce(
    table: &Table,
    rule: ChangelogRule,
    split: &Split,
    before: &[DataFileMeta],
    after: &[DataFileMeta],
    batch_size: usize,
) -> Result<Option<RecordBatch>> {
    let in_range = key_range_filter(table, before);
    let replaced: HashSet<(&str, i32)> = before
        .iter()
        .map(|f| (f.file_name.as_str(), f.level))
        .collect();
    let old: Vec<DataFileMeta> = split
        .files
        .iter()
        .filter(|f| rule.covers(f.level) && in_range(f))
        .cloned()
        .collect();
    let new: Vec<DataFileMeta> = split
        .files
        .iter()
        .filter(|f| !replaced.contains(&(f.file_name.as_str(), f.level)))
        .chain(after)
        .filter(|f| rule.covers(f.level) && in_range(f))
        .cloned()
        .collect();
    let old = merged(table, split, old, batch_size).await?;
    let new = merged(table, split, new, batch_size).await?;
    let equaliser = RowEqualiser::for_table(table)?;
    let keys = table.schema().trimmed_primary_key_fields();
    let key_count = keys.len();
    let converter = RowConverter::new(
        keys.iter()
            .map(|k| SortField::new(to_arrow_type(&k.data_type)))
            .collect(),
    )?;
    let key_rows = |b: &Option<RecordBatch>| -> Result<Option<arrow_row::Rows>> {
        b.as_ref()
            .map(|b| converter.convert_columns(&b.columns()[..key_count]))
            .transpose()
            .map_err(Into::into)
    };
    let (old_keys, new_keys) = (key_rows(&old)?, key_rows(&new)?);
    // Per row: (is an addition, sequence number). A key whose merged row keeps its kind,
    // sequence number and values got no new version: it is unchanged.
    let versions = |b: &Option<RecordBatch>| -> Result<Vec<(bool, i64)>> {
        let Some(b) = b else { return Ok(Vec::new()) };
        let seqs = b
            .column(key_count)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| Error::data_invalid("_SEQUENCE_NUMBER is not BIGINT"))?;
        let kinds = b
            .column(key_count + 1)
            .as_any()
            .downcast_ref::<Int8Array>()
            .ok_or_else(|| Error::data_invalid("_VALUE_KIND is not TINYINT"))?;
        Ok(kinds
            .values()
            .iter()
            .zip(seqs.values().iter())
            .map(|(k, s)| (*k == 0 || *k == 2, *s))
            .collect())
    };
    let (old_versions, new_versions) = (versions(&old)?, versions(&new)?);
    // Every column, to tell a re-merged but unchanged row (same version) from one whose
    // value a non-associative merge changed. Columns the row format cannot encode fall
    // back to the version alone.
    let row_converter = RowConverter::new(
        table
            .schema()
            .fields
            .iter()
            .map(|f| SortField::new(to_arrow_type(&f.data_type)))
            .collect(),
    )
    .ok();
    let value_rows = |b: &Option<RecordBatch>| -> Option<arrow_row::Rows> {
        let (b, converter) = (b.as_ref()?, row_converter.as_ref()?);
        converter
            .convert_columns(&b.columns()[key_count + 2..])
            .ok()
    };
    let (old_values, new_values) = (value_rows(&old), value_rows(&new));
    let same_row = |i: usize, j: usize| match (&old_values, &new_values) {
        (Some(o), Some(n)) => o.row(i) == n.row(j),
        _ => row_converter.is_none(),
    };
    let values = |b: &RecordBatch, row: usize| -> Vec<ArrayRef> {
        b.columns()[key_count + 2..]
            .iter()
            .map(|c| c.slice(row, 1))
            .collect()
    };
    // (side: 0 old, 1 new; row; kind)
    let mut picks: Vec<(usize, usize, RowKind)> = Vec::new();
    let mut emit = |emit: Emit, o: Option<usize>, n: Option<usize>| match (emit, o, n) {
        (Emit::Insert, _, Some(n)) => picks.push((1, n, RowKind::Insert)),
        (Emit::Delete, Some(o), _) => picks.push((0, o, RowKind::Delete)),
        (Emit::Update, Some(o), Some(n)) => {
            picks.push((0, o, RowKind::UpdateBefore));
            picks.push((1, n, RowKind::UpdateAfter));
        }
        _ => {}
    };
    let (mut i, mut j) = (0, 0);
    let (old_len, new_len) = (old_versions.len(), new_versions.len());
    let mut failure = None;
    while i < old_len || j < new_len {
        let order = match (&old_keys, &new_keys) {
            _ if i >= old_len => std::cmp::Ordering::Greater,
            _ if j >= new_len => std::cmp::Ordering::Less,
            (Some(ok), Some(nk)) => ok.row(i).cmp(&nk.row(j)),
            _ => return Err(Error::internal("changelog sides without keys")),
        };
        match order {
            std::cmp::Ordering::Less => {
                emit(decide_one(old_versions[i].0, false), Some(i), None);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                emit(decide_one(false, new_versions[j].0), None, Some(j));
                j += 1;
            }
            std::cmp::Ordering::Equal if old_versions[i] == new_versions[j] && same_row(i, j) => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let decision =
                    ChangelogRule::decide(old_versions[i].0, new_versions[j].0, || {
                        match (&equaliser, &old, &new) {
                            (Some(e), Some(o), Some(n)) => {
                                e.equal(&values(o, i), &values(n, j)).unwrap_or_else(|err| {
                                    failure = Some(err);
                                    false
                                })
                            }
                            _ => false,
                        }
                    });
                emit(decision, Some(i), Some(j));
                i += 1;
                j += 1;
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if picks.is_empty() {
        return Ok(None);
    }
    let sides: Vec<&RecordBatch> = [&old, &new].into_iter().flatten().collect();
    let side_of = |side: usize| if old.is_none() { 0 } else { side };
    let indices: Vec<(usize, usize)> = picks.iter().map(|(s, r, _)| (side_of(*s), *r)).collect();
    let schema = sides[0].schema();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for c in 0..schema.fields().len() {
        if c == key_count + 1 {
            columns.push(Arc::new(Int8Array::from_iter_values(
                picks.iter().map(|p| p.2.as_byte()),
            )) as ArrayRef);
            continue;
        }
        let arrays: Vec<&dyn Array> = sides.iter().map(|b| b.column(c).as_ref()).collect();
        columns.push(arrow::compute::interleave(&arrays, &indices)?);
    }
    Ok(Some(RecordBatch::try_new(
        relaxed(&schema, &columns),
        columns,
    )?))
}

type Key = Vec<Option<Datum>>;

/// Whether a file may hold keys in the key range of `files` (always, when a key does not
/// decode).
fn key_range_filter(table: &Table, files: &[DataFileMeta]) -> impl Fn(&DataFileMeta) -> bool {
    let types: Vec<DataType> = table
        .schema()
        .trimmed_primary_key_fields()
        .into_iter()
        .map(|f| f.data_type)
        .collect();
    let decode = move |key: &[u8]| BinaryRow::decode_with_arity(key, &types).ok();
    let mut range: Option<(Key, Key)> = None;
    let mut known = true;
    for f in files {
        match (decode(&f.min_key), decode(&f.max_key)) {
            (Some(min), Some(max)) => {
                range = Some(match range.take() {
                    None => (min, max),
                    Some((lo, hi)) => (
                        if compare_rows(&min, &lo).is_lt() {
                            min
                        } else {
                            lo
                        },
                        if compare_rows(&max, &hi).is_gt() {
                            max
                        } else {
                            hi
                        },
                    ),
                });
            }
            _ => known = false,
        }
    }
    let range = range.filter(|_| known);
    move |f: &DataFileMeta| {
        let Some((lo, hi)) = &range else { return true };
        match (decode(&f.min_key), decode(&f.max_key)) {
            (Some(min), Some(max)) => {
                compare_rows(&max, lo).is_ge() && compare_rows(&min, hi).is_le()
            }
            _ => true,
        }
    }
}

fn decide_one(before: bool, after: bool) -> Emit {
    ChangelogRule::decide(before, after, || false)
}

/// `schema` with columns that hold nulls marked nullable (one side's schema may be
/// stricter than the other's rows).
fn relaxed(schema: &arrow_schema::SchemaRef, columns: &[ArrayRef]) -> arrow_schema::SchemaRef {
    if columns
        .iter()
        .zip(schema.fields())
        .all(|(c, f)| f.is_nullable() || c.null_count() == 0)
    {
        return schema.clone();
    }
    Arc::new(arrow_schema::Schema::new(
        schema
            .fields()
            .iter()
            .zip(columns)
            .map(|(f, c)| {
                let nullable = f.is_nullable() || c.null_count() > 0;
                f.as_ref().clone().with_nullable(nullable)
            })
            .collect::<Vec<_>>(),
    ))
}

/// The merged key-value rows of `files` (retraction results kept, so a key whose result
/// is a retraction is known to be gone), as one batch; `None` without rows.
async fn merged(
    table: &Table,
    split: &Split,
    files: Vec<DataFileMeta>,
    batch_size: usize,
) -> Result<Option<RecordBatch>> {
    if files.is_empty() {
        return Ok(None);
    }
    let input = Split {
        files,
        ..split.clone()
    };
    let batches: Vec<RecordBatch> = MergeRead::key_values(table.clone(), input, batch_size, true)?
        .into_stream()
        .await?
        .try_collect()
        .await?;
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let columns: Vec<ArrayRef> = (0..first.num_columns())
        .map(|c| {
            let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            arrow::compute::concat(&arrays)
        })
        .collect::<std::result::Result<_, _>>()?;
    let schema = relaxed(&first.schema(), &columns);
    let batch = RecordBatch::try_new(schema, columns)?;
    Ok((batch.num_rows() > 0).then_some(batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_the_table() {
        let never = || -> bool { panic!("equality is only asked for two additions") };
        assert_eq!(ChangelogRule::decide(false, true, never), Emit::Insert);
        assert_eq!(ChangelogRule::decide(false, false, never), Emit::Nothing);
        assert_eq!(ChangelogRule::decide(true, false, never), Emit::Delete);
        assert_eq!(ChangelogRule::decide(true, true, || false), Emit::Update);
        assert_eq!(ChangelogRule::decide(true, true, || true), Emit::Nothing);
    }
}
