//! A table handle: where it lives, its schemas and its snapshots.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::catalog::Identifier;
use crate::error::{Error, ErrorKind, Result};
use crate::options::CoreOptions;
use crate::paths::{TablePaths, SCHEMA_PREFIX};
use crate::schema::TableSchema;
use crate::snapshot::SnapshotManager;
use crate::storage::Storage;

/// Reads the `schema/` directory of a table, caching decoded schemas by id.
#[derive(Debug, Clone)]
pub struct SchemaManager {
    storage: Storage,
    paths: TablePaths,
    cache: Arc<Mutex<HashMap<i64, Arc<TableSchema>>>>,
}

impl SchemaManager {
    pub fn new(storage: Storage, paths: TablePaths) -> Self {
        SchemaManager {
            storage,
            paths,
            cache: Arc::default(),
        }
    }

    /// Schema ids present, ascending.
    pub async fn list_ids(&self) -> Result<Vec<i64>> {
        let (_, objects) = self.storage.list_dir(&self.paths.schema_dir()).await?;
        let mut ids: Vec<i64> = objects
            .iter()
            .filter_map(|m| {
                m.location
                    .filename()?
                    .strip_prefix(SCHEMA_PREFIX)?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    pub async fn latest(&self) -> Result<Option<Arc<TableSchema>>> {
        match self.list_ids().await?.last() {
            Some(id) => Ok(Some(self.schema(*id).await?)),
            None => Ok(None),
        }
    }

    /// Publishes the schema that follows the latest one after `changes`, with
    /// create-if-not-exists: a concurrent change that won the same id makes this one fail
    /// with a conflict (retrying re-validates against the winner).
    pub async fn commit_changes(
        &self,
        changes: &[crate::schema::change::SchemaChange],
        time_millis: i64,
    ) -> Result<Arc<TableSchema>> {
        let latest = self
            .latest()
            .await?
            .ok_or_else(|| Error::not_found("the table has no schema"))?;
        let next = latest.apply_changes(changes, time_millis)?;
        let path = self.paths.schema_file(next.id);
        let created = self
            .storage
            .put_if_absent(&path, bytes::Bytes::from(next.to_json()))
            .await?;
        if !created {
            return Err(Error::new(
                ErrorKind::CommitConflict,
                format!(
                    "schema {} was created concurrently ({}); retry the change",
                    next.id,
                    self.storage.display(&path)
                ),
            ));
        }
        let next = Arc::new(next);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(next.id, next.clone());
        }
        Ok(next)
    }

    /// The schema with `id`; files name the schema they were written with.
    pub async fn schema(&self, id: i64) -> Result<Arc<TableSchema>> {
        if let Some(s) = self.cache.lock().ok().and_then(|c| c.get(&id).cloned()) {
            return Ok(s);
        }
        let path = self.paths.schema_file(id);
        let bytes = self.storage.get(&path).await.map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                Error::not_found(format!(
                    "schema {id} does not exist: {}",
                    self.storage.display(&path)
                ))
            } else {
                e
            }
        })?;
        let schema = Arc::new(
            TableSchema::from_json(&bytes).map_err(|e| e.context(self.storage.display(&path)))?,
        );
        if let Ok(mut c) = self.cache.lock() {
            c.insert(id, schema.clone());
        }
        Ok(schema)
    }
}

/// An opened table at its latest schema.
#[derive(Debug, Clone)]
pub struct Table {
    storage: Storage,
    identifier: Identifier,
    paths: TablePaths,
    schema: Arc<TableSchema>,
    options: Arc<CoreOptions>,
    schemas: SchemaManager,
}

impl Table {
    pub async fn load(
        storage: Storage,
        identifier: Identifier,
        paths: TablePaths,
    ) -> Result<Table> {
        let schemas = SchemaManager::new(storage.clone(), paths.clone());
        let schema = schemas
            .latest()
            .await?
            .ok_or_else(|| Error::not_found(format!("table '{identifier}' does not exist")))?;
        let options = CoreOptions::from_map(&schema.options)
            .map_err(|e| e.context(format!("table '{identifier}'")))?;
        Ok(Table {
            storage,
            identifier,
            paths,
            schema,
            options: Arc::new(options),
            schemas,
        })
    }

    /// The same table seen through an older (or any) schema of it: reads then produce that
    /// schema's columns, e.g. for time travel to a snapshot written before a schema change.
    pub fn with_schema(&self, schema: Arc<TableSchema>) -> Result<Table> {
        let options = CoreOptions::from_map(&schema.options)
            .map_err(|e| e.context(format!("table '{}' schema {}", self.identifier, schema.id)))?;
        Ok(Table {
            schema,
            options: Arc::new(options),
            ..self.clone()
        })
    }

    /// The table at the schema a snapshot was committed with.
    pub async fn at_schema(&self, schema_id: i64) -> Result<Table> {
        if schema_id == self.schema.id {
            return Ok(self.clone());
        }
        self.with_schema(self.schemas.schema(schema_id).await?)
    }

    pub fn identifier(&self) -> &Identifier {
        &self.identifier
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn paths(&self) -> &TablePaths {
        &self.paths
    }

    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }

    pub fn options(&self) -> &CoreOptions {
        &self.options
    }

    pub fn schema_manager(&self) -> &SchemaManager {
        &self.schemas
    }

    /// Types of the partition columns, in partition-key order.
    pub fn partition_types(&self) -> Vec<crate::types::DataType> {
        self.schema
            .partition_fields()
            .into_iter()
            .map(|f| f.data_type)
            .collect()
    }

    pub fn snapshot_manager(&self) -> SnapshotManager {
        SnapshotManager::new(self.storage.clone(), self.paths.clone())
    }
}
