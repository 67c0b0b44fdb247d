//! [`StrataTable`]: a Strata table as a DataFusion table, read through
//! [`strata_format::read::TableRead`] (merge-on-read) with projection and filter pushdown
//! ([`crate::pushdown`]), at the latest snapshot, a given snapshot or tag (time travel), as
//! the delta of a snapshot range (incremental), or as the audit log (row kinds).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int8Type;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_optimizer::pruning::PruningPredicate;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};
use strata_format::merge::MergeFunction;
use strata_format::read::TableRead;
use strata_format::scan::{Split, TableScan};
use strata_format::schema::TableSchema;
use strata_format::snapshot::Snapshot;
use strata_format::table::Table;
use strata_format::types::arrow::to_arrow_type;

use crate::error::to_df;
use crate::insert::StrataSink;
use crate::pushdown::Pruner;

/// Which rows of the table a [`StrataTable`] shows.
#[derive(Debug, Clone)]
pub enum Source {
    /// The latest snapshot at scan time.
    Latest,
    /// A fixed snapshot (time travel by id or tag).
    Snapshot(Box<Snapshot>),
    /// Rows written by the APPEND commits of snapshots `from + 1 ..= to`, merged among
    /// themselves (see [`TableScan::plan_delta`]).
    Delta { from: i64, to: i64 },
}

/// A Strata table for DataFusion.
#[derive(Debug, Clone)]
pub struct StrataTable {
    table: Table,
    source: Source,
    /// With a leading `rowkind` column and retractions kept (the `$audit_log` table).
    row_kinds: bool,
    schema: SchemaRef,
}

/// Name of the row-kind column of the audit log (Paimon's `rowkind`).
pub const ROW_KIND_COLUMN: &str = "rowkind";

impl StrataTable {
    /// `table` must already be at the schema to show (see [`Table::at_schema`]).
    pub fn new(table: Table, source: Source, row_kinds: bool) -> Self {
        let mut fields: Vec<Field> = table
            .schema()
            .fields
            .iter()
            .map(|f| Field::new(&f.name, to_arrow_type(&f.data_type), true))
            .collect();
        if row_kinds {
            fields.insert(0, Field::new(ROW_KIND_COLUMN, ArrowType::Utf8, false));
        }
        StrataTable {
            table,
            source,
            row_kinds,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    async fn plan(&self, scan: TableScan) -> strata_format::Result<Vec<Split>> {
        Ok(match &self.source {
            Source::Latest => scan.plan().await?.splits,
            Source::Snapshot(s) => scan.plan_snapshot(s.as_ref().clone()).await?.splits,
            Source::Delta { from, to } => scan.plan_delta(*from, *to).await?.splits,
        })
    }

    fn pruner(&self, state: &dyn Session, filters: &[Expr]) -> DfResult<Option<Pruner>> {
        let Some(predicate) = conjunction(filters.iter().cloned()) else {
            return Ok(None);
        };
        let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
        let physical = state.create_physical_expr(predicate, &df_schema)?;
        let Ok(pruning) = PruningPredicate::try_new(physical, self.schema.clone()) else {
            return Ok(None);
        };
        if pruning.always_true() {
            return Ok(None);
        }
        let values_prune = MergeFunction::from_table(&self.table)
            .map(|m| m.keeps_stored_rows())
            .unwrap_or(false);
        Ok(Some(Pruner::new(
            Arc::new(pruning),
            self.table.schema().clone(),
            self.schema.clone(),
            values_prune,
        )))
    }
}

#[async_trait]
impl TableProvider for StrataTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Used for pruning only; DataFusion still filters the rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let pruner = self.pruner(state, filters)?;
        let mut scan = TableScan::new(self.table.clone());
        if let Some(filter) = pruner.as_ref().and_then(Pruner::partition_filter) {
            scan = scan.with_partition_filter(filter);
        }
        let mut splits = self.plan(scan).await.map_err(to_df)?;
        if let Some(pruner) = &pruner {
            let mut ids: Vec<i64> = Vec::new();
            for split in &splits {
                ids.extend(split.files.iter().map(|f| f.schema_id));
            }
            ids.sort_unstable();
            ids.dedup();
            let mut schemas: HashMap<i64, Arc<TableSchema>> = HashMap::new();
            for id in ids {
                let schema = self
                    .table
                    .schema_manager()
                    .schema(id)
                    .await
                    .map_err(to_df)?;
                schemas.insert(id, schema);
            }
            splits = splits
                .into_iter()
                .filter_map(|s| pruner.prune_split(s, &schemas))
                .collect();
        }
        let projected: SchemaRef = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        // Columns to read: the projected table columns (the row kind comes with the read).
        let columns: Vec<String> = projected
            .fields()
            .iter()
            .filter(|f| !(self.row_kinds && f.name() == ROW_KIND_COLUMN))
            .map(|f| f.name().clone())
            .collect();
        let read_columns = if columns.is_empty() && !self.row_kinds {
            // COUNT(*): read the narrowest thing that still yields the rows.
            vec![self
                .table
                .schema()
                .fields
                .first()
                .map(|f| f.name.clone())
                .unwrap_or_default()]
        } else {
            columns
        };
        let read = TableRead::new(self.table.clone())
            .with_projection(Some(read_columns))
            .with_row_kinds(self.row_kinds);
        let partitions = state
            .config()
            .target_partitions()
            .max(1)
            .min(splits.len().max(1));
        let mut groups: Vec<Vec<Split>> = vec![Vec::new(); partitions];
        for (i, split) in splits.into_iter().enumerate() {
            groups[i % partitions].push(split);
        }
        Ok(Arc::new(StrataScanExec::new(
            read,
            groups,
            projected,
            self.row_kinds,
        )))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(datafusion::error::DataFusionError::NotImplemented(format!(
                "{insert_op} into a Strata table; only INSERT INTO (upserts by primary key) is supported"
            )));
        }
        if !matches!(self.source, Source::Latest) || self.row_kinds {
            return Err(datafusion::error::DataFusionError::Plan(
                "INSERT INTO needs the table itself, not a snapshot, delta or system table"
                    .to_string(),
            ));
        }
        let sink = StrataSink::new(self.table.clone(), self.schema.clone());
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

/// Reads groups of splits, one group per DataFusion partition.
#[derive(Debug)]
pub struct StrataScanExec {
    read: ReadHandle,
    groups: Vec<Vec<Split>>,
    schema: SchemaRef,
    row_kinds: bool,
    properties: Arc<PlanProperties>,
}

/// `TableRead` has no `Debug`; this keeps the plan printable.
#[derive(Clone)]
struct ReadHandle(TableRead, String);

impl fmt::Debug for ReadHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.1)
    }
}

impl StrataScanExec {
    fn new(read: TableRead, groups: Vec<Vec<Split>>, schema: SchemaRef, row_kinds: bool) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(groups.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        let name = format!(
            "StrataScanExec: {} splits, {} files",
            groups.iter().map(Vec::len).sum::<usize>(),
            groups
                .iter()
                .flat_map(|g| g.iter().map(|s| s.files.len()))
                .sum::<usize>()
        );
        StrataScanExec {
            read: ReadHandle(read, name),
            groups,
            schema,
            row_kinds,
            properties: Arc::new(properties),
        }
    }

    /// Number of data files the scan will open.
    pub fn file_count(&self) -> usize {
        self.groups
            .iter()
            .flat_map(|g| g.iter().map(|s| s.files.len()))
            .sum()
    }
}

impl DisplayAs for StrataScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.read.1)
    }
}

impl ExecutionPlan for StrataScanExec {
    fn name(&self) -> &'static str {
        "StrataScanExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let splits = self.groups.get(partition).cloned().unwrap_or_default();
        let read = self.read.0.clone();
        let schema = self.schema.clone();
        let row_kinds = self.row_kinds;
        let output = read.output_fields().map_err(to_df)?;
        let batches = futures::stream::iter(splits)
            .then(move |split| {
                let read = read.clone();
                let output = output.clone();
                async move { read.read_split(split, output).await }
            })
            .try_flatten()
            .map_err(to_df);
        let out_schema = schema.clone();
        let stream = batches.map(move |b| b.and_then(|b| conform(&b, &out_schema, row_kinds)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Gives a read batch the scan's schema: row kinds as `+I`/`-U`/`+U`/`-D` text, columns
/// matched by position, and no columns at all for `COUNT(*)`.
fn conform(batch: &RecordBatch, schema: &SchemaRef, row_kinds: bool) -> DfResult<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut source = batch.columns().iter();
    let kinds = if row_kinds {
        source.next().cloned()
    } else {
        None
    };
    for field in schema.fields() {
        if row_kinds && field.name() == ROW_KIND_COLUMN {
            let kinds = kinds
                .as_ref()
                .and_then(|k| k.as_primitive_opt::<Int8Type>());
            let Some(kinds) = kinds else {
                return Err(datafusion::error::DataFusionError::Internal(
                    "audit log read without row kinds".to_string(),
                ));
            };
            let text: StringArray = kinds
                .iter()
                .map(|k| {
                    k.map(|k| match k {
                        0 => "+I",
                        1 => "-U",
                        2 => "+U",
                        3 => "-D",
                        _ => "?",
                    })
                })
                .collect();
            columns.push(Arc::new(text));
            continue;
        }
        let Some(column) = source.next() else {
            return Err(datafusion::error::DataFusionError::Internal(format!(
                "read batch has no column for '{}'",
                field.name()
            )));
        };
        columns.push(column.clone());
    }
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}
