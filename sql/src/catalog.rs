//! The warehouse as a DataFusion catalog: databases are schemas, tables are tables, and a
//! table name may carry a `$` suffix (Paimon's convention for system tables):
//!
//! | name | what |
//! |---|---|
//! | `t` | the latest snapshot |
//! | `t$snapshot=N` | snapshot N, through the schema it was committed with (time travel) |
//! | `t$tag=NAME` | the snapshot tag NAME holds |
//! | `t$incremental=A,B` | rows written by the APPEND commits of snapshots A+1 ..= B (Paimon's `incremental-between`) |
//! | `t$audit_log` | the latest snapshot with a `rowkind` column, deleted keys included as `-D` |
//! | `t$snapshots`, `t$schemas`, … | system tables ([`crate::system`]) |
//!
//! Names with `=` or `,` must be quoted: `SELECT * FROM db."t$snapshot=3"`.

use std::any::Any;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemTable, SchemaProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::maintenance::TagManager;
use strata_format::{Error, ErrorKind, Result};

use crate::error::to_df;
use crate::provider::{Source, StrataTable};
use crate::system;

/// What a table name asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum TableView {
    Latest,
    Snapshot(i64),
    Tag(String),
    Incremental(i64, i64),
    AuditLog,
    System(String),
}

/// Splits `t$suffix` into the table and what the suffix asks for.
pub fn parse_table_name(name: &str) -> Result<(String, TableView)> {
    let Some((table, suffix)) = name.split_once('$') else {
        return Ok((name.to_string(), TableView::Latest));
    };
    let bad = |what: &str| {
        Error::data_invalid(format!(
            "table name '{name}': {what} (use t$snapshot=N, t$tag=NAME, t$incremental=A,B, \
             t$audit_log or a system table: {})",
            system::SYSTEM_TABLES.join(", ")
        ))
    };
    let view = match suffix.split_once('=') {
        Some(("snapshot", id)) => TableView::Snapshot(
            id.trim()
                .parse()
                .map_err(|_| bad("snapshot must be a number"))?,
        ),
        Some(("tag", tag)) => TableView::Tag(tag.to_string()),
        Some(("incremental", range)) => {
            let (a, b) = range
                .split_once(',')
                .ok_or_else(|| bad("incremental needs START,END snapshot ids"))?;
            let parse = |s: &str| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| bad("incremental bounds must be numbers"))
            };
            TableView::Incremental(parse(a)?, parse(b)?)
        }
        Some(_) => return Err(bad("unknown option")),
        None if suffix == "audit_log" => TableView::AuditLog,
        None if system::SYSTEM_TABLES.contains(&suffix) => TableView::System(suffix.to_string()),
        None => return Err(bad(&format!("no system table '{suffix}'"))),
    };
    Ok((table.to_string(), view))
}

/// Loads what `db.name` names, or `None` when the table does not exist.
pub async fn resolve(
    catalog: &Catalog,
    database: &str,
    name: &str,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let (table_name, view) = parse_table_name(name)?;
    let id = Identifier::new(database, &table_name)?;
    let table = match catalog.load_table(&id).await {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let provider: Arc<dyn TableProvider> = match view {
        TableView::Latest => Arc::new(StrataTable::new(table, Source::Latest, false)),
        TableView::AuditLog => Arc::new(StrataTable::new(table, Source::Latest, true)),
        TableView::Snapshot(n) => {
            let snapshot = table.snapshot_manager().snapshot(n).await?;
            let at = table.at_schema(snapshot.schema_id).await?;
            Arc::new(StrataTable::new(
                at,
                Source::Snapshot(Box::new(snapshot)),
                false,
            ))
        }
        TableView::Tag(tag) => {
            let tag = TagManager::new(table.clone()).get_or_err(&tag).await?;
            let at = table.at_schema(tag.snapshot.schema_id).await?;
            Arc::new(StrataTable::new(
                at,
                Source::Snapshot(Box::new(tag.snapshot)),
                false,
            ))
        }
        TableView::Incremental(from, to) => {
            Arc::new(StrataTable::new(table, Source::Delta { from, to }, false))
        }
        TableView::System(which) => {
            let batch = system::build(&table, &which).await?;
            Arc::new(
                MemTable::try_new(batch.schema(), vec![vec![batch]])
                    .map_err(crate::error::from_df)?,
            )
        }
    };
    Ok(Some(provider))
}

/// The warehouse's databases. Names are listed when the session refreshes (DataFusion
/// asks for them synchronously); tables are always loaded fresh.
#[derive(Debug)]
pub struct WarehouseCatalog {
    catalog: Catalog,
    databases: RwLock<Vec<(String, Vec<String>)>>,
}

impl WarehouseCatalog {
    pub fn new(catalog: Catalog) -> Self {
        WarehouseCatalog {
            catalog,
            databases: RwLock::new(Vec::new()),
        }
    }

    /// Lists databases and their tables again.
    pub async fn refresh(&self) -> Result<()> {
        let mut all = Vec::new();
        for db in self.catalog.list_databases().await? {
            let tables = self.catalog.list_tables(&db).await.unwrap_or_default();
            all.push((db, tables));
        }
        if let Ok(mut d) = self.databases.write() {
            *d = all;
        }
        Ok(())
    }
}

impl CatalogProvider for WarehouseCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        self.databases
            .read()
            .map(|d| d.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let tables = self
            .databases
            .read()
            .ok()?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())?;
        Some(Arc::new(DatabaseSchema {
            catalog: self.catalog.clone(),
            database: name.to_string(),
            tables,
        }))
    }
}

/// One database.
#[derive(Debug)]
pub struct DatabaseSchema {
    catalog: Catalog,
    database: String,
    tables: Vec<String>,
}

#[async_trait]
impl SchemaProvider for DatabaseSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.tables.clone()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        resolve(&self.catalog, &self.database, name)
            .await
            .map_err(to_df)
    }

    fn table_exist(&self, name: &str) -> bool {
        let base = name.split_once('$').map_or(name, |(t, _)| t);
        self.tables.iter().any(|t| t == base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert_eq!(
            parse_table_name("t").unwrap(),
            ("t".into(), TableView::Latest)
        );
        assert_eq!(
            parse_table_name("t$snapshot=3").unwrap().1,
            TableView::Snapshot(3)
        );
        assert_eq!(
            parse_table_name("t$tag=a-b").unwrap().1,
            TableView::Tag("a-b".into())
        );
        assert_eq!(
            parse_table_name("t$incremental=1, 4").unwrap().1,
            TableView::Incremental(1, 4)
        );
        assert_eq!(
            parse_table_name("t$files").unwrap().1,
            TableView::System("files".into())
        );
        assert_eq!(
            parse_table_name("t$audit_log").unwrap().1,
            TableView::AuditLog
        );
        for bad in ["t$nope", "t$snapshot=x", "t$incremental=3", "t$foo=1"] {
            assert!(parse_table_name(bad).is_err(), "{bad}");
        }
    }
}
