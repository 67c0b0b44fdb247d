//! Reading tables: a plan's splits become streams of Arrow record batches holding the
//! merged rows (merge-on-read over each bucket's sorted runs): by selection for engines
//! that keep stored rows ([`select`]), else by a key-ordered merge ([`merge`]).

pub mod deletion;
pub mod file;
mod gather;
pub mod key_prefix;
mod loser_tree;
pub mod merge;
pub mod runs;
pub mod select;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::scan::{Plan, Split, TableScan};
use crate::table::Table;
use crate::types::arrow::to_arrow_field;
use crate::types::DataField;

/// Rows per output batch.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// A batch of `columns` under the output `schema`. Old files may hold nulls in columns now
/// declared NOT NULL: those rows are kept, under fields made nullable.
pub(crate) fn conformed(
    schema: &SchemaRef,
    columns: Vec<arrow_array::ArrayRef>,
    rows: usize,
) -> Result<RecordBatch> {
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    let has_unexpected_nulls = columns
        .iter()
        .zip(schema.fields())
        .any(|(c, f)| !f.is_nullable() && c.null_count() > 0);
    let schema = if has_unexpected_nulls {
        file::relaxed(schema)
    } else {
        schema.clone()
    };
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// Reads a table's merged rows, optionally projected and at a chosen snapshot.
#[derive(Clone)]
pub struct TableRead {
    table: Table,
    projection: Option<Vec<String>>,
    batch_size: usize,
    key_order: bool,
    row_kinds: bool,
}

impl TableRead {
    pub fn new(table: Table) -> Self {
        TableRead {
            table,
            projection: None,
            batch_size: DEFAULT_BATCH_SIZE,
            key_order: false,
            row_kinds: false,
        }
    }

    /// Reads only these columns, in this order.
    pub fn with_projection(mut self, columns: Option<Vec<String>>) -> Self {
        self.projection = columns;
        self
    }

    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Rows of each split in key order. Without it, tables whose engine keeps stored rows
    /// (deduplicate, first-row) are read by selection ([`select`]): in key order within each
    /// sorted run only, and faster.
    pub fn with_key_order(mut self, key_order: bool) -> Self {
        self.key_order = key_order;
        self
    }

    /// The audit-log read: each key's surviving version including retractions (a key whose
    /// latest version is a -D shows as that -D), with a leading `_VALUE_KIND` TINYINT column
    /// (0 `+I`, 1 `-U`, 2 `+U`, 3 `-D`). Only for engines that keep stored rows
    /// (deduplicate, first-row); others fail with Unsupported.
    pub fn with_row_kinds(mut self, row_kinds: bool) -> Self {
        self.row_kinds = row_kinds;
        self
    }

    /// The fields produced, in output order.
    pub fn output_fields(&self) -> Result<Vec<DataField>> {
        let schema = self.table.schema();
        match &self.projection {
            None => Ok(schema.fields.clone()),
            Some(cols) => cols
                .iter()
                .map(|c| {
                    schema.field(c).cloned().ok_or_else(|| {
                        Error::data_invalid(format!(
                            "column '{c}' does not exist in table '{}' (columns: {})",
                            self.table.identifier(),
                            schema
                                .fields
                                .iter()
                                .map(|f| f.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })
                })
                .collect(),
        }
    }

    /// The Arrow schema of the batches (with `_VALUE_KIND` first for row-kind reads).
    pub fn output_schema(&self) -> Result<SchemaRef> {
        let mut fields: Vec<arrow_schema::Field> =
            self.output_fields()?.iter().map(to_arrow_field).collect();
        if self.row_kinds {
            fields.insert(
                0,
                arrow_schema::Field::new(file::VALUE_KIND, arrow_schema::DataType::Int8, false),
            );
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    /// Plans the latest (or given) snapshot and streams its merged rows.
    pub async fn read_snapshot(
        &self,
        snapshot_id: Option<i64>,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let plan = TableScan::new(self.table.clone())
            .with_snapshot(snapshot_id)
            .plan()
            .await?;
        self.read_plan(plan)
    }

    /// Streams the merged rows of every split of a plan, split after split.
    pub fn read_plan(&self, plan: Plan) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let output = self.output_fields()?;
        let this = self.clone();
        Ok(futures::stream::iter(plan.splits)
            .then(move |split| {
                let this = this.clone();
                let output = output.clone();
                async move { this.read_split(split, output).await }
            })
            .try_flatten()
            .boxed())
    }

    /// Streams one split's merged rows with the given output fields.
    pub async fn read_split(
        &self,
        split: Split,
        output: Vec<DataField>,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let merge = crate::merge::MergeFunction::from_table(&self.table)?;
        let dv = deletion::uses_deletion_vectors(&self.table);
        if self.row_kinds && (!merge.keeps_stored_rows() || dv) {
            return Err(Error::unsupported(format!(
                "row kinds (audit log) of table '{}': only deduplicate and first-row tables \
                 without deletion vectors are supported",
                self.table.identifier()
            )));
        }
        if dv {
            return deletion::read_split(&self.table, split, output, self.batch_size).await;
        }
        let split = Split {
            files: merge.filter_files(split.files),
            ..split
        };
        if self.row_kinds {
            return select::select_split_with_kinds(
                self.table.clone(),
                split,
                output,
                self.batch_size,
                true,
            )
            .await;
        }
        // Selection does not apply deletion vectors; the key-ordered merge does.
        let selects =
            !self.key_order && split.deletion_files.is_empty() && merge.keeps_stored_rows();
        if selects {
            return select::select_split(self.table.clone(), split, output, self.batch_size).await;
        }
        merge::MergeRead::new(self.table.clone(), split, output, self.batch_size)?
            .into_stream()
            .await
    }

    /// Collects everything (tests and small tables).
    pub async fn read_all(&self, snapshot_id: Option<i64>) -> Result<Vec<RecordBatch>> {
        self.read_snapshot(snapshot_id).await?.try_collect().await
    }
}
