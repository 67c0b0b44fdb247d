//! [`StrataSession`]: a DataFusion session over a warehouse.

use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};
use datafusion::execution::context::SessionContext;
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnOption, Ident, ObjectName, Statement,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::schema::change::SchemaChange;
use strata_format::types::DataType;
use strata_format::{Error, Result};

use crate::catalog::WarehouseCatalog;
use crate::error::from_df;

/// Name of the DataFusion catalog the warehouse is registered as.
pub const CATALOG_NAME: &str = "strata";

/// The rows a statement produced.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    fn message(text: String) -> Result<QueryResult> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "result",
            ArrowType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![text]))],
        )?;
        Ok(QueryResult {
            schema,
            batches: vec![batch],
        })
    }
}

/// SQL over the tables of one warehouse: `SELECT` (with system tables, time travel and
/// incremental reads, see [`crate::catalog`]), `INSERT INTO`, and `ALTER TABLE` (add, drop,
/// rename columns, widen types). Databases are DataFusion schemas: write `db.t`.
pub struct StrataSession {
    catalog: Catalog,
    warehouse: Arc<WarehouseCatalog>,
    ctx: SessionContext,
}

impl StrataSession {
    /// A session over `catalog`. Queries need a multi-threaded Tokio runtime.
    pub async fn new(catalog: Catalog) -> Result<StrataSession> {
        let config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG_NAME, "default")
            .with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        let warehouse = Arc::new(WarehouseCatalog::new(catalog.clone()));
        warehouse.refresh().await?;
        ctx.register_catalog(CATALOG_NAME, warehouse.clone());
        Ok(StrataSession {
            catalog,
            warehouse,
            ctx,
        })
    }

    /// The DataFusion context, e.g. to register more tables or functions.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs every statement of `sql` in order and returns what the last one produced.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult> {
        let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
            .map_err(|e| Error::data_invalid(e.to_string()))?;
        if statements.is_empty() {
            return Err(Error::data_invalid("SQL: no statement given"));
        }
        let mut last = None;
        for statement in statements {
            last = Some(self.execute(statement).await?);
        }
        last.ok_or_else(|| Error::data_invalid("SQL: no statement given"))
    }

    async fn execute(&self, statement: DfStatement) -> Result<QueryResult> {
        // Databases and tables may have changed since the last statement.
        self.warehouse.refresh().await?;
        if let DfStatement::Statement(inner) = &statement {
            if let Statement::AlterTable(alter) = inner.as_ref() {
                return self.alter(&alter.name, &alter.operations).await;
            }
        }
        let state = self.ctx.state();
        let plan = state.statement_to_plan(statement).await.map_err(from_df)?;
        let frame = self.ctx.execute_logical_plan(plan).await.map_err(from_df)?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await.map_err(from_df)?;
        Ok(QueryResult { schema, batches })
    }

    async fn alter(
        &self,
        name: &ObjectName,
        operations: &[AlterTableOperation],
    ) -> Result<QueryResult> {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(ident))
            .collect();
        let id = match parts.as_slice() {
            [db, t] => Identifier::new(db, t)?,
            [_, db, t] => Identifier::new(db, t)?,
            _ => {
                return Err(Error::data_invalid(format!(
                    "ALTER TABLE {name}: name the table as DATABASE.TABLE"
                )))
            }
        };
        let mut changes = Vec::new();
        for op in operations {
            changes.push(change_of(op)?);
        }
        let table = self.catalog.alter_table(&id, &changes).await?;
        QueryResult::message(format!("altered table {id}: schema {}", table.schema().id))
    }
}

/// An identifier as DataFusion sees it: unquoted names are lower-cased.
fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn paimon_type(ty: &datafusion::sql::sqlparser::ast::DataType, not_null: bool) -> Result<DataType> {
    let text = format!("{ty}{}", if not_null { " NOT NULL" } else { "" });
    DataType::parse(&text).map_err(|e| e.context(format!("type '{ty}'")))
}

fn change_of(op: &AlterTableOperation) -> Result<SchemaChange> {
    Ok(match op {
        AlterTableOperation::AddColumn { column_def, .. } => {
            let not_null = column_def
                .options
                .iter()
                .any(|o| matches!(o.option, ColumnOption::NotNull));
            SchemaChange::AddColumn {
                name: ident(&column_def.name),
                data_type: paimon_type(&column_def.data_type, not_null)?,
                description: None,
            }
        }
        AlterTableOperation::DropColumn { column_names, .. } if column_names.len() == 1 => {
            SchemaChange::DropColumn {
                name: ident(&column_names[0]),
            }
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => SchemaChange::RenameColumn {
            from: ident(old_column_name),
            to: ident(new_column_name),
        },
        AlterTableOperation::AlterColumn {
            column_name,
            op: AlterColumnOperation::SetDataType { data_type, .. },
        } => SchemaChange::UpdateColumnType {
            name: ident(column_name),
            data_type: paimon_type(data_type, false)?,
        },
        other => {
            return Err(Error::unsupported(format!(
                "ALTER TABLE … {other}: Strata supports ADD COLUMN, DROP COLUMN, RENAME COLUMN \
                 and ALTER COLUMN … SET DATA TYPE"
            )))
        }
    })
}
