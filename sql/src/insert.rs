//! `INSERT INTO db.t …`: the rows of the query go through a [`TableWriter`] (the same path
//! as `strata write`) and are committed as one snapshot when the query has produced them
//! all. A failing query commits nothing.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::common::Result as DfResult;
use datafusion::datasource::sink::DataSink;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::TryStreamExt;
use strata_format::table::Table;
use strata_writer::TableWriter;

use crate::error::to_df;

/// Writes a query's rows into a table and commits them.
pub struct StrataSink {
    table: Table,
    schema: SchemaRef,
}

impl StrataSink {
    pub fn new(table: Table, schema: SchemaRef) -> Self {
        StrataSink { table, schema }
    }
}

impl fmt::Debug for StrataSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StrataSink({})", self.table.identifier())
    }
}

impl DisplayAs for StrataSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "StrataSink: {}", self.table.identifier())
    }
}

#[async_trait]
impl DataSink for StrataSink {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        // The latest schema: a writer always writes with it (an ALTER may have happened
        // since the statement was planned; the conformer then names what does not fit).
        let table = self
            .table
            .at_schema(
                self.table
                    .schema_manager()
                    .latest()
                    .await
                    .map_err(to_df)?
                    .map(|s| s.id)
                    .unwrap_or(self.table.schema().id),
            )
            .await
            .map_err(to_df)?;
        let mut writer = TableWriter::builder(table).build().map_err(to_df)?;
        let mut rows = 0u64;
        let result: DfResult<()> = async {
            while let Some(batch) = data.try_next().await? {
                rows += batch.num_rows() as u64;
                writer.write(&batch).await.map_err(to_df)?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            writer.abort().await;
            return Err(e);
        }
        if let Err(e) = writer.commit(1).await {
            writer.abort().await;
            return Err(to_df(e));
        }
        Ok(rows)
    }
}
