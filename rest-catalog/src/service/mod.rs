//! The catalog's logic, independent of HTTP: handlers extract a request and call one method
//! here. Namespaces are Strata databases; a name in a namespace is either a Strata table
//! (served through [`crate::export`], read-only for Iceberg clients), a plain Iceberg table
//! or a view (both kept in the registry of [`crate::store`]).

mod namespaces;
mod tables;
mod views;

pub(crate) use tables::page as page_names;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use strata_format::catalog::{Catalog, Identifier};
use strata_format::storage::Storage;

use crate::error::{CatalogError, Kind, Result};
use crate::export::deletes::{SharedDeletionVectors, StrataDeletionVectors};
use crate::export::Exported;
use crate::paths::{check_name, Warehouse};
use crate::store::{CatalogStore, Entry, Versioned, WarehouseStore};

/// A plain table's or view's metadata as last read, with the registry entry it came from.
#[derive(Clone)]
pub(crate) struct Cached<M> {
    entry: Versioned<Entry>,
    metadata: Arc<M>,
}

/// Cache keys: (namespace, name).
type Key = (String, String);

/// Generated metadata of a Strata table with the (snapshot id, schema id) it was made for.
type ExportCache = HashMap<Key, (i64, i64, Exported)>;

/// The catalog service over one warehouse.
pub struct CatalogService {
    store: Arc<dyn CatalogStore>,
    strata: Catalog,
    warehouse: Warehouse,
    dvs: SharedDeletionVectors,
    tables: Mutex<HashMap<Key, Cached<iceberg::spec::TableMetadata>>>,
    views: Mutex<HashMap<Key, Cached<iceberg::spec::ViewMetadata>>>,
    exports: Mutex<ExportCache>,
}

impl CatalogService {
    /// A service over the warehouse at `uri` (a path, `file://`, `s3://`, `hdfs://`).
    pub fn open(uri: &str) -> Result<Self> {
        let storage = Storage::open(uri)?;
        Self::new(storage, uri)
    }

    /// A service over an opened storage whose URI is `uri`.
    pub fn new(storage: Storage, uri: &str) -> Result<Self> {
        Ok(CatalogService {
            store: Arc::new(WarehouseStore::new(storage.clone())),
            strata: Catalog::new(storage),
            warehouse: Warehouse::new(uri)?,
            dvs: Arc::new(StrataDeletionVectors),
            tables: Mutex::default(),
            views: Mutex::default(),
            exports: Mutex::default(),
        })
    }

    /// Uses `dvs` to find rows deleted by deletion vectors of Strata tables.
    pub fn with_deletion_vectors(mut self, dvs: SharedDeletionVectors) -> Self {
        self.dvs = dvs;
        self
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// Creates `path` of the warehouse with `bytes` unless it exists, for a committer that
    /// cannot create if absent on the store itself. `warehouse` is the committer's URI of
    /// the warehouse and must name this one; `path` must name a snapshot, schema, tag or
    /// database marker, and `bytes` must be one. Returns whether this call created it.
    pub async fn publish_object(
        &self,
        warehouse: &str,
        path: &str,
        bytes: bytes::Bytes,
    ) -> Result<bool> {
        let theirs = Warehouse::new(warehouse)?;
        if theirs.root() != self.warehouse.root() {
            return Err(CatalogError::bad_request(format!(
                "this catalog serves warehouse {}, not {}",
                self.warehouse.root(),
                theirs.root()
            )));
        }
        let parsed = object_store::path::Path::parse(path)
            .ok()
            .filter(|p| p.as_ref() == path)
            .ok_or_else(|| {
                CatalogError::bad_request(format!(
                    "path '{}' is not a plain relative object path",
                    path.escape_debug()
                ))
            })?;
        strata_format::storage::publish::check_published_object(&parsed, &bytes)?;
        Ok(self.strata.storage().put_if_absent(&parsed, bytes).await?)
    }

    fn store(&self) -> &dyn CatalogStore {
        self.store.as_ref()
    }
}

/// A validated single-level namespace name. Strata databases are flat, so a namespace has
/// exactly one level.
pub(crate) fn namespace_name(levels: &[String]) -> Result<String> {
    match levels {
        [one] => {
            check_name("namespace", one)?;
            Ok(one.clone())
        }
        [] => Err(CatalogError::bad_request("the namespace is empty")),
        _ => Err(CatalogError::bad_request(format!(
            "nested namespaces are not supported (got {} levels): a namespace is a Strata database",
            levels.len()
        ))),
    }
}

/// Splits a namespace path parameter at Iceberg's unit separator (`%1F`).
pub fn split_namespace(param: &str) -> Vec<String> {
    param.split('\u{1f}').map(str::to_string).collect()
}

fn no_such_namespace(ns: &str) -> CatalogError {
    CatalogError::new(
        Kind::NoSuchNamespace,
        format!("namespace '{ns}' does not exist"),
    )
}

fn strata_id(ns: &str, name: &str) -> Result<Identifier> {
    Ok(Identifier::new(ns, name)?)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock left a cache, not data: keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
