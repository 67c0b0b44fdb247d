//! The changelog a compaction produces (`changelog-producer` = `lookup` or
//! `full-compaction`; rules in `spec/changelog.md`).
//!
//! The merge ([`crate::read::merge::MergeRead`]) knows, for each key, the version the key
//! had before (the *before-image*: the key's version above level 0 for `lookup`, at the
//! last level for `full-compaction`) and the merged result. [`ChangelogRule::decide`]
//! turns the two into changelog rows, and [`RowEqualiser`] implements
//! `changelog-producer.row-deduplicate`. Files a full compaction moves to the last level
//! without rewriting are new there as a whole: [`inserts_of_file`] gives their `+I` rows.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int8Array, RecordBatch};
use arrow_row::{RowConverter, SortField};
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::manifest::DataFileMeta;
use crate::merge::RowKind;
use crate::options::{ChangelogProducer, MergeEngine};
use crate::read::file::{read_kv_file, KvLayout};
use crate::scan::Split;
use crate::table::Table;
use crate::types::arrow::to_arrow_type;
use crate::types::DataField;

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
    /// The rule of a compaction into `output_level` of `table`, if it produces changelog.
    pub fn for_compaction(table: &Table, output_level: i32, max_level: i32) -> Option<Self> {
        let options = table.options();
        match options.changelog_producer() {
            ChangelogProducer::Lookup if output_level > 0 => {
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

/// The additions of one data file as `+I` changelog rows (key-value layout), for a file a
/// full compaction moves to the last level unchanged.
pub async fn inserts_of_file(
    table: &Table,
    split: &Split,
    file: &DataFileMeta,
    batch_size: usize,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let schema = table.schema().clone();
    let keys = schema.trimmed_primary_key_fields();
    // Key fields are table fields: the layout of every column holds them.
    let layout = KvLayout::new(schema.fields.clone());
    let key_columns: Vec<usize> = keys
        .iter()
        .map(|k| {
            layout
                .column_of(k.id)
                .ok_or_else(|| Error::internal("a key column missing from the layout"))
        })
        .collect::<Result<_>>()?;
    let value_columns = schema.fields.len();
    let kv_schema = crate::types::arrow::to_arrow_schema(&schema.key_value_fields());
    let file_schema = table.schema_manager().schema(file.schema_id).await?;
    let path = table
        .paths()
        .data_file(&split.partition_path, split.bucket, &file.file_name);
    let stream = read_kv_file(
        table.storage(),
        &path,
        file.file_size,
        &file_schema,
        &layout,
        batch_size,
    )
    .await?;
    Ok(stream
        .map(move |batch| {
            let batch = batch?;
            let kinds = batch
                .column(1)
                .as_any()
                .downcast_ref::<Int8Array>()
                .ok_or_else(|| Error::data_invalid("_VALUE_KIND is not TINYINT"))?;
            let adds = arrow::compute::kernels::cmp::eq(kinds, &Int8Array::new_scalar(0))?;
            let updates = arrow::compute::kernels::cmp::eq(kinds, &Int8Array::new_scalar(2))?;
            let keep = arrow::compute::or(&adds, &updates)?;
            let batch = arrow::compute::filter_record_batch(&batch, &keep)?;
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(value_columns + 2 + 4);
            for c in &key_columns {
                columns.push(batch.column(*c).clone());
            }
            columns.push(batch.column(0).clone());
            columns.push(Arc::new(Int8Array::from(vec![
                RowKind::Insert.as_byte();
                batch.num_rows()
            ])));
            columns.extend(batch.columns()[2..2 + value_columns].iter().cloned());
            let nullable = columns
                .iter()
                .zip(kv_schema.fields())
                .any(|(c, f)| !f.is_nullable() && c.null_count() > 0);
            let schema = if nullable {
                Arc::new(arrow_schema::Schema::new(
                    kv_schema
                        .fields()
                        .iter()
                        .map(|f| f.as_ref().clone().with_nullable(true))
                        .collect::<Vec<_>>(),
                ))
            } else {
                kv_schema.clone()
            };
            Ok(RecordBatch::try_new(schema, columns)?)
        })
        .boxed())
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
