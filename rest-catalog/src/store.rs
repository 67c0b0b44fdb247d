//! Persistence of the catalog's registry, behind a small trait so the service does not care
//! where it lives. [`WarehouseStore`] keeps it in the warehouse itself (see [`crate::paths`]),
//! so every `strata serve` over one warehouse sees the same namespaces, tables and views.
//!
//! A registry entry is a chain of numbered pointer files. Changing an entry means creating
//! the next number with create-if-not-exists ([`Storage::put_if_absent`]): of two writers
//! starting from the same version exactly one succeeds, the other learns it lost and
//! reports a conflict. Older pointers are pruned after a successful write; the newest one
//! or two always remain, so the highest number listed is the current one.

use std::collections::BTreeMap;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use strata_format::catalog::Catalog;
use strata_format::paths::database_dir;
use strata_format::storage::Storage;

use crate::error::{CatalogError, Kind, Result};
use crate::paths::{self, EntryKind};

/// A registry entry: where the current metadata file of a table or view is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Entry {
    pub metadata_location: String,
}

/// A value read at a version; `tag` identifies the stored object (its ETag) for cache checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub version: u64,
    pub value: T,
    pub tag: Option<String>,
}

/// The registry's persistence.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    async fn namespace_exists(&self, ns: &str) -> Result<bool>;
    async fn list_namespaces(&self) -> Result<Vec<String>>;
    /// Creates a namespace; `AlreadyExists` if it does.
    async fn create_namespace(&self, ns: &str) -> Result<()>;
    /// Removes a namespace and everything under it.
    async fn drop_namespace(&self, ns: &str) -> Result<()>;
    /// Current namespace properties (version 0 and empty when never set).
    async fn namespace_properties(&self, ns: &str) -> Result<Versioned<BTreeMap<String, String>>>;
    /// Writes properties as `version`; false if another writer created that version first.
    async fn put_namespace_properties(
        &self,
        ns: &str,
        version: u64,
        properties: &BTreeMap<String, String>,
    ) -> Result<bool>;

    /// Names of the live entries of a kind in a namespace, sorted.
    async fn list_entries(&self, ns: &str, kind: EntryKind) -> Result<Vec<String>>;
    /// The current entry, if the name is registered.
    async fn entry(
        &self,
        ns: &str,
        kind: EntryKind,
        name: &str,
    ) -> Result<Option<Versioned<Entry>>>;
    /// Whether `seen` is still the current entry (cheap: no listing).
    async fn entry_unchanged(
        &self,
        ns: &str,
        kind: EntryKind,
        name: &str,
        seen: &Versioned<Entry>,
    ) -> Result<bool>;
    /// Creates entry `version`; false if it exists (someone else won).
    async fn put_entry(
        &self,
        ns: &str,
        kind: EntryKind,
        name: &str,
        version: u64,
        entry: &Entry,
    ) -> Result<bool>;
    /// Forgets an entry (its metadata and data files stay).
    async fn delete_entry(&self, ns: &str, kind: EntryKind, name: &str) -> Result<()>;

    async fn read(&self, path: &Path) -> Result<Bytes>;
    async fn exists(&self, path: &Path) -> Result<bool>;
    /// Create-if-not-exists; false if the object exists.
    async fn write_new(&self, path: &Path, bytes: Bytes) -> Result<bool>;
    async fn delete(&self, path: &Path) -> Result<()>;
    async fn delete_prefix(&self, path: &Path) -> Result<()>;
}

/// The registry kept in the warehouse.
#[derive(Clone)]
pub struct WarehouseStore {
    storage: Storage,
    catalog: Catalog,
}

impl WarehouseStore {
    pub fn new(storage: Storage) -> Self {
        WarehouseStore {
            catalog: Catalog::new(storage.clone()),
            storage,
        }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Versions present under a chain directory, ascending.
    async fn versions(&self, dir: &Path) -> Result<Vec<(u64, Path)>> {
        let (_, files) = self.storage.list_dir(dir).await?;
        let mut versions: Vec<(u64, Path)> = files
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                paths::parse_version_file(&name).map(|v| (v, m.location))
            })
            .collect();
        versions.sort_by_key(|(v, _)| *v);
        Ok(versions)
    }

    /// Deletes versions older than `keep_from`, best effort: a leftover is harmless.
    async fn prune(&self, dir: &Path, keep_from: u64) {
        if let Ok(versions) = self.versions(dir).await {
            for (v, path) in versions {
                if v < keep_from {
                    let _ = self.storage.delete(&path).await;
                }
            }
        }
    }

    async fn etag(&self, path: &Path) -> Result<Option<String>> {
        match self.storage.head(path).await {
            Ok(meta) => {
                Ok(Some(meta.e_tag.unwrap_or_else(|| {
                    meta.last_modified.timestamp_micros().to_string()
                })))
            }
            Err(e) if e.kind() == strata_format::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &Path) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| CatalogError::internal(format!("catalog file {what} is corrupt: {e}")))
}

fn not_found_is_none<T>(r: strata_format::Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == strata_format::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl CatalogStore for WarehouseStore {
    async fn namespace_exists(&self, ns: &str) -> Result<bool> {
        Ok(self.catalog.database_exists(ns).await?)
    }

    async fn list_namespaces(&self) -> Result<Vec<String>> {
        Ok(self.catalog.list_databases().await?)
    }

    async fn create_namespace(&self, ns: &str) -> Result<()> {
        if self.catalog.database_exists(ns).await? {
            return Err(CatalogError::new(
                Kind::AlreadyExists,
                format!("namespace '{ns}' already exists"),
            ));
        }
        self.catalog.create_database(ns, false).await.map_err(|e| {
            if e.kind() == strata_format::ErrorKind::AlreadyExists {
                CatalogError::new(
                    Kind::AlreadyExists,
                    format!("namespace '{ns}' already exists"),
                )
            } else {
                e.into()
            }
        })
    }

    async fn drop_namespace(&self, ns: &str) -> Result<()> {
        Ok(self.storage.delete_prefix(&database_dir(ns)).await?)
    }

    async fn namespace_properties(&self, ns: &str) -> Result<Versioned<BTreeMap<String, String>>> {
        let dir = paths::namespace_properties_dir(ns);
        // Newest first: a pruned file between list and read means a newer one exists.
        for (version, path) in self.versions(&dir).await?.into_iter().rev() {
            if let Some(bytes) = not_found_is_none(self.storage.get(&path).await)? {
                return Ok(Versioned {
                    version,
                    value: decode(&bytes, &path)?,
                    tag: None,
                });
            }
        }
        Ok(Versioned {
            version: 0,
            value: BTreeMap::new(),
            tag: None,
        })
    }

    async fn put_namespace_properties(
        &self,
        ns: &str,
        version: u64,
        properties: &BTreeMap<String, String>,
    ) -> Result<bool> {
        let path = paths::namespace_properties_file(ns, version);
        let bytes =
            serde_json::to_vec(properties).map_err(|e| CatalogError::internal(e.to_string()))?;
        let won = self
            .storage
            .put_if_absent(&path, Bytes::from(bytes))
            .await?;
        if won {
            self.prune(
                &paths::namespace_properties_dir(ns),
                version.saturating_sub(1),
            )
            .await;
        }
        Ok(won)
    }

    async fn list_entries(&self, ns: &str, kind: EntryKind) -> Result<Vec<String>> {
        let (dirs, _) = self.storage.list_dir(&paths::entries_dir(ns, kind)).await?;
        let mut names: Vec<String> = dirs
            .into_iter()
            .filter(|d| paths::check_name(kind.noun(), d).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    async fn entry(
        &self,
        ns: &str,
        kind: EntryKind,
        name: &str,
    ) -> Result<Option<Versioned<Entry>>> {
        let dir = paths::entry_dir(ns, kind, name);
        for (version, path) in self.versions(&dir).await?.into_iter().rev() {
            let tag = self.etag(&path).await?;
            if let Some(bytes) = not_found_is_none(self.storage.get(&path).await)? {
                return Ok(Some(Versioned {
                    version,
                    value: decode(&bytes, &path)?,
                    tag,
                }));
            }
        }
        Ok(None)
    }

    async fn entry_unchanged(
        &self,
        ns: &str,
        kind: EntryKind,
        name: &str,
        seen: &Versioned<Entry>,
    ) -> Result<bool> {
        let next = paths::entry_file(ns, kind, name, seen.version + 1);
        if self.storage.exists(&next).await? {
            return Ok(false);
        }
        let current = paths::entry_file(ns, kind, name, seen.version);
        Ok(seen.tag.is_some() && self.etag(&current).await? == seen.tag)
    }

    async fn put_entry(
        &self,
        ns: &str,
        kind: EntryKind,
        name: &str,
        version: u64,
        entry: &Entry,
    ) -> Result<bool> {
        let path = paths::entry_file(ns, kind, name, version);
        let bytes = serde_json::to_vec(entry).map_err(|e| CatalogError::internal(e.to_string()))?;
        let won = self
            .storage
            .put_if_absent(&path, Bytes::from(bytes))
            .await?;
        if won {
            self.prune(&paths::entry_dir(ns, kind, name), version.saturating_sub(1))
                .await;
        }
        Ok(won)
    }

    async fn delete_entry(&self, ns: &str, kind: EntryKind, name: &str) -> Result<()> {
        Ok(self
            .storage
            .delete_prefix(&paths::entry_dir(ns, kind, name))
            .await?)
    }

    async fn read(&self, path: &Path) -> Result<Bytes> {
        Ok(self.storage.get(path).await?)
    }

    async fn exists(&self, path: &Path) -> Result<bool> {
        Ok(self.storage.exists(path).await?)
    }

    async fn write_new(&self, path: &Path, bytes: Bytes) -> Result<bool> {
        Ok(self.storage.put_if_absent(path, bytes).await?)
    }

    async fn delete(&self, path: &Path) -> Result<()> {
        Ok(self.storage.delete(path).await?)
    }

    async fn delete_prefix(&self, path: &Path) -> Result<()> {
        Ok(self.storage.delete_prefix(path).await?)
    }
}
