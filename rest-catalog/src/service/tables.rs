//! Tables: plain Iceberg tables in the registry, Strata tables through the export.
//!
//! A commit to a plain table checks the client's requirements against the current metadata,
//! applies the updates, writes a new metadata file and then creates the next registry
//! pointer with create-if-not-exists. Of two commits from the same base exactly one creates
//! the pointer; the other gets 409 and its metadata file is removed again.

use std::sync::Arc;

use bytes::Bytes;
use iceberg::spec::{
    FormatVersion, PartitionSpec, Schema, SortOrder, TableMetadata, TableMetadataBuilder,
    UnboundPartitionSpec,
};
use iceberg::{TableRequirement, TableUpdate};
use object_store::path::Path;

use crate::error::{CatalogError, Kind, Result};
use crate::export::{self, Exported};
use crate::paths::{self, check_name, EntryKind};
use crate::store::{Entry, Versioned};
use crate::types::{
    CommitTableRequest, CommitTableResponse, CreateTableRequest, ListTablesResponse,
    LoadTableResult, Properties, RegisterTableRequest, RenameRequest, TableIdentifier,
};

use super::{lock, namespace_name, strata_id, Cached, CatalogService};

/// Largest page a client may ask for.
const MAX_PAGE_SIZE: usize = 10_000;

/// What a table name resolves to.
pub(crate) enum Resolved {
    Plain(Cached<TableMetadata>),
    Strata(Exported),
}

fn no_such_table(ns: &str, name: &str) -> CatalogError {
    CatalogError::new(
        Kind::NoSuchTable,
        format!("table '{ns}.{name}' does not exist"),
    )
}

fn strata_read_only(ns: &str, name: &str) -> CatalogError {
    CatalogError::unsupported(format!(
        "'{ns}.{name}' is a Strata table: Iceberg clients can read it but not change it; \
         write to it with `strata write` and compact it with `strata compact`"
    ))
}

fn json_bytes<T: serde::Serialize>(value: &T) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| CatalogError::internal(format!("cannot encode metadata: {e}")))
}

/// A table or view name from a request, validated.
pub(crate) fn object_name(what: &str, name: &str) -> Result<String> {
    check_name(what, name)?;
    Ok(name.to_string())
}

impl CatalogService {
    /// The plain table `ns.name`, from the cache when its registry entry has not moved.
    pub(crate) async fn plain_table(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<Cached<TableMetadata>>> {
        let key = (ns.to_string(), name.to_string());
        let cached = lock(&self.tables).get(&key).cloned();
        if let Some(c) = cached {
            if self
                .store()
                .entry_unchanged(ns, EntryKind::Table, name, &c.entry)
                .await?
            {
                return Ok(Some(c));
            }
        }
        let Some(entry) = self.store().entry(ns, EntryKind::Table, name).await? else {
            lock(&self.tables).remove(&key);
            return Ok(None);
        };
        let path = self.warehouse.relative(&entry.value.metadata_location)?;
        let bytes = self.store().read(&path).await?;
        let metadata: TableMetadata = serde_json::from_slice(&bytes).map_err(|e| {
            CatalogError::internal(format!(
                "metadata of table '{ns}.{name}' at {} is unreadable: {e}",
                entry.value.metadata_location
            ))
        })?;
        let c = Cached {
            entry,
            metadata: Arc::new(metadata),
        };
        lock(&self.tables).insert(key, c.clone());
        Ok(Some(c))
    }

    /// The Iceberg view of the Strata table `ns.name`, if there is one.
    pub(crate) async fn strata_table(&self, ns: &str, name: &str) -> Result<Option<Exported>> {
        let id = strata_id(ns, name)?;
        if !self.strata.table_exists(&id).await? {
            return Ok(None);
        }
        let table = self.strata.load_table(&id).await?;
        let snapshot = table.snapshot_manager().latest().await?;
        let key = (ns.to_string(), name.to_string());
        let snapshot_id = snapshot.as_ref().map_or(0, |s| s.id);
        let schema_id = table.schema().id;
        if let Some((s, sc, e)) = lock(&self.exports).get(&key) {
            if *s == snapshot_id && *sc == schema_id {
                return Ok(Some(e.clone()));
            }
        }
        let exported = export::export(
            &table,
            snapshot.as_ref(),
            &self.warehouse,
            self.store(),
            self.dvs.as_ref(),
        )
        .await?;
        lock(&self.exports).insert(key, (snapshot_id, schema_id, exported.clone()));
        Ok(Some(exported))
    }

    pub(crate) async fn resolve_table(&self, ns: &str, name: &str) -> Result<Option<Resolved>> {
        if let Some(c) = self.plain_table(ns, name).await? {
            return Ok(Some(Resolved::Plain(c)));
        }
        Ok(self.strata_table(ns, name).await?.map(Resolved::Strata))
    }

    /// Fails with 409 if any table or view is called `ns.name`.
    pub(crate) async fn require_free_name(&self, ns: &str, name: &str) -> Result<()> {
        let taken = self
            .store()
            .entry(ns, EntryKind::Table, name)
            .await?
            .is_some()
            || self
                .store()
                .entry(ns, EntryKind::View, name)
                .await?
                .is_some()
            || self.strata.table_exists(&strata_id(ns, name)?).await?;
        if taken {
            return Err(CatalogError::new(
                Kind::AlreadyExists,
                format!("a table or view '{ns}.{name}' already exists"),
            ));
        }
        Ok(())
    }

    pub async fn load_table(&self, levels: &[String], name: &str) -> Result<LoadTableResult> {
        let (ns, name) = self.table_ident(levels, name)?;
        match self.resolve_table(&ns, &name).await? {
            Some(Resolved::Plain(c)) => Ok(LoadTableResult {
                metadata_location: Some(c.entry.value.metadata_location),
                metadata: c.metadata,
                config: Properties::new(),
            }),
            Some(Resolved::Strata(e)) => Ok(LoadTableResult {
                metadata_location: Some(e.metadata_location),
                metadata: e.metadata,
                config: Properties::new(),
            }),
            None => Err(no_such_table(&ns, &name)),
        }
    }

    pub async fn table_exists(&self, levels: &[String], name: &str) -> Result<()> {
        let (ns, name) = self.table_ident(levels, name)?;
        let exists = self
            .store()
            .entry(&ns, EntryKind::Table, &name)
            .await?
            .is_some()
            || self.strata.table_exists(&strata_id(&ns, &name)?).await?;
        if exists {
            Ok(())
        } else {
            Err(no_such_table(&ns, &name))
        }
    }

    /// Validated (namespace, table) of a lookup; a malformed one is simply not there.
    fn table_ident(&self, levels: &[String], name: &str) -> Result<(String, String)> {
        let ns =
            namespace_name(levels).map_err(|e| CatalogError::new(Kind::NoSuchTable, e.message))?;
        let name = object_name("table", name)
            .map_err(|e| CatalogError::new(Kind::NoSuchTable, e.message))?;
        Ok((ns, name))
    }

    pub async fn list_tables(
        &self,
        levels: &[String],
        page_token: Option<String>,
        page_size: Option<usize>,
    ) -> Result<ListTablesResponse> {
        let ns = self.existing_namespace(levels).await?;
        let mut names = self.strata.list_tables(&ns).await?;
        names.extend(self.store().list_entries(&ns, EntryKind::Table).await?);
        names.sort();
        names.dedup();
        let (names, next) = page(names, page_token, page_size);
        Ok(ListTablesResponse {
            identifiers: names
                .into_iter()
                .map(|name| TableIdentifier {
                    namespace: vec![ns.clone()],
                    name,
                })
                .collect(),
            next_page_token: next,
        })
    }

    pub async fn create_table(
        &self,
        levels: &[String],
        req: CreateTableRequest,
    ) -> Result<LoadTableResult> {
        let ns = self.existing_namespace(levels).await?;
        let name = object_name("table", &req.name)?;
        self.require_free_name(&ns, &name).await?;
        let location = self
            .location_for(&ns, &name, req.location.as_deref())
            .await?;
        let format_version = match req.properties.get("format-version").map(String::as_str) {
            None | Some("2") => FormatVersion::V2,
            Some("1") => FormatVersion::V1,
            Some("3") => FormatVersion::V3,
            Some(other) => {
                return Err(CatalogError::bad_request(format!(
                    "unknown format-version '{other}' (1, 2 or 3)"
                )))
            }
        };
        let mut properties = req.properties.clone();
        properties.remove("format-version");
        let metadata = TableMetadataBuilder::new(
            req.schema,
            req.partition_spec
                .unwrap_or_else(|| PartitionSpec::unpartition_spec().into_unbound()),
            req.write_order.unwrap_or_else(SortOrder::unsorted_order),
            location,
            format_version,
            properties,
        )?
        .build()?
        .metadata;
        if req.stage_create {
            return Ok(LoadTableResult {
                metadata_location: None,
                metadata: Arc::new(metadata),
                config: Properties::new(),
            });
        }
        let (location, metadata) = self.create_entry(&ns, &name, metadata).await?;
        Ok(LoadTableResult {
            metadata_location: Some(location),
            metadata,
            config: Properties::new(),
        })
    }

    /// Writes the first metadata file of a new table and registers it.
    async fn create_entry(
        &self,
        ns: &str,
        name: &str,
        metadata: TableMetadata,
    ) -> Result<(String, Arc<TableMetadata>)> {
        let (path, location) = self.write_table_metadata(&metadata, None).await?;
        let entry = Entry {
            metadata_location: location.clone(),
        };
        if !self
            .store()
            .put_entry(ns, EntryKind::Table, name, 1, &entry)
            .await?
        {
            let _ = self.store().delete(&path).await;
            return Err(CatalogError::new(
                Kind::AlreadyExists,
                format!("table '{ns}.{name}' already exists"),
            ));
        }
        Ok((location, Arc::new(metadata)))
    }

    /// The warehouse location for a new table or view: the client's if it lies inside the
    /// warehouse and outside any Strata table, else a fresh directory in the namespace.
    pub(crate) async fn location_for(
        &self,
        ns: &str,
        name: &str,
        requested: Option<&str>,
    ) -> Result<String> {
        let Some(requested) = requested.filter(|l| !l.is_empty()) else {
            let dir = paths::new_object_dir(ns, name, &uuid::Uuid::new_v4());
            return Ok(self.warehouse.uri(&dir));
        };
        let rel = self.warehouse.relative(requested)?;
        let parts: Vec<String> = rel.parts().map(|p| p.as_ref().to_string()).collect();
        if let [db_dir, table, ..] = parts.as_slice() {
            if let Some(db) = strata_format::paths::database_from_dir(db_dir) {
                if check_name("table", table).is_ok()
                    && self.strata.table_exists(&strata_id(db, table)?).await?
                {
                    return Err(CatalogError::bad_request(format!(
                        "location '{requested}' is inside the Strata table '{db}.{table}'"
                    )));
                }
            }
        }
        Ok(self.warehouse.uri(&rel))
    }

    /// Writes a new metadata file next to `previous` (numbered one higher).
    async fn write_table_metadata(
        &self,
        metadata: &TableMetadata,
        previous: Option<&str>,
    ) -> Result<(Path, String)> {
        let dir = self.warehouse.relative(metadata.location())?;
        let version = previous.map_or(0, |p| paths::metadata_version(p) + 1);
        let path = paths::metadata_file(&dir, version, &uuid::Uuid::new_v4());
        if !self.store().write_new(&path, json_bytes(metadata)?).await? {
            return Err(CatalogError::conflict(format!(
                "metadata file {path} exists already"
            )));
        }
        let uri = self.warehouse.uri(&path);
        Ok((path, uri))
    }

    pub async fn register_table(
        &self,
        levels: &[String],
        req: RegisterTableRequest,
    ) -> Result<LoadTableResult> {
        let ns = self.existing_namespace(levels).await?;
        let name = object_name("table", &req.name)?;
        let path = self.warehouse.relative(&req.metadata_location)?;
        let bytes = self.store().read(&path).await.map_err(|e| {
            CatalogError::bad_request(format!(
                "cannot read metadata '{}': {}",
                req.metadata_location, e.message
            ))
        })?;
        let metadata: TableMetadata = serde_json::from_slice(&bytes).map_err(|e| {
            CatalogError::bad_request(format!(
                "'{}' is not Iceberg table metadata: {e}",
                req.metadata_location
            ))
        })?;
        self.warehouse.relative(metadata.location())?;
        let entry = Entry {
            metadata_location: self.warehouse.uri(&path),
        };
        let version = match self.store().entry(&ns, EntryKind::Table, &name).await? {
            Some(current) if req.overwrite => current.version + 1,
            _ => {
                self.require_free_name(&ns, &name).await?;
                1
            }
        };
        if !self
            .store()
            .put_entry(&ns, EntryKind::Table, &name, version, &entry)
            .await?
        {
            return Err(CatalogError::new(
                Kind::AlreadyExists,
                format!("table '{ns}.{name}' already exists"),
            ));
        }
        Ok(LoadTableResult {
            metadata_location: Some(entry.metadata_location),
            metadata: Arc::new(metadata),
            config: Properties::new(),
        })
    }

    pub async fn drop_table(&self, levels: &[String], name: &str, purge: bool) -> Result<()> {
        let (ns, name) = self.table_ident(levels, name)?;
        if let Some(c) = self.plain_table(&ns, &name).await? {
            self.store()
                .delete_entry(&ns, EntryKind::Table, &name)
                .await?;
            lock(&self.tables).remove(&(ns.clone(), name.clone()));
            if purge {
                if let Ok(dir) = self.warehouse.relative(c.metadata.location()) {
                    self.store().delete_prefix(&dir).await?;
                }
            }
            return Ok(());
        }
        let id = strata_id(&ns, &name)?;
        if self.strata.table_exists(&id).await? {
            self.strata.drop_table(&id).await?;
            lock(&self.exports).remove(&(ns, name));
            return Ok(());
        }
        Err(no_such_table(&ns, &name))
    }

    pub async fn rename_table(&self, req: RenameRequest) -> Result<()> {
        let (src_ns, src) = self.table_ident(&req.source.namespace, &req.source.name)?;
        let dst_ns = self.existing_namespace(&req.destination.namespace).await?;
        let dst = object_name("table", &req.destination.name)?;
        let Some(current) = self.plain_table(&src_ns, &src).await? else {
            if self.strata.table_exists(&strata_id(&src_ns, &src)?).await? {
                return Err(CatalogError::unsupported(format!(
                    "'{src_ns}.{src}' is a Strata table, which cannot be renamed"
                )));
            }
            return Err(no_such_table(&src_ns, &src));
        };
        self.require_free_name(&dst_ns, &dst).await?;
        if !self
            .store()
            .put_entry(&dst_ns, EntryKind::Table, &dst, 1, &current.entry.value)
            .await?
        {
            return Err(CatalogError::new(
                Kind::AlreadyExists,
                format!("table '{dst_ns}.{dst}' already exists"),
            ));
        }
        self.store()
            .delete_entry(&src_ns, EntryKind::Table, &src)
            .await?;
        lock(&self.tables).remove(&(src_ns, src));
        Ok(())
    }

    pub async fn commit_table(
        &self,
        levels: &[String],
        name: &str,
        req: CommitTableRequest,
    ) -> Result<CommitTableResponse> {
        let (ns, name) = self.table_ident(levels, name)?;
        let prepared = self.prepare_commit(&ns, &name, req).await?;
        self.publish(&ns, &name, prepared).await
    }

    /// Checks requirements and builds the new metadata, writing nothing.
    async fn prepare_commit(
        &self,
        ns: &str,
        name: &str,
        req: CommitTableRequest,
    ) -> Result<Prepared> {
        let creating = req
            .requirements
            .iter()
            .any(|r| matches!(r, TableRequirement::NotExist));
        let current = self.plain_table(ns, name).await?;
        let Some(current) = current else {
            if self.strata.table_exists(&strata_id(ns, name)?).await? {
                return Err(strata_read_only(ns, name));
            }
            if !creating {
                return Err(no_such_table(ns, name));
            }
            self.require_namespace(ns).await?;
            self.require_free_name(ns, name).await?;
            for r in &req.requirements {
                r.check(None)?;
            }
            let metadata = self.metadata_from_updates(ns, name, req.updates).await?;
            return Ok(Prepared {
                base: None,
                metadata,
            });
        };
        for r in &req.requirements {
            r.check(Some(&current.metadata))?;
        }
        let location = current.entry.value.metadata_location.clone();
        let mut builder = current
            .metadata
            .as_ref()
            .clone()
            .into_builder(Some(location));
        for update in req.updates {
            if let TableUpdate::SetLocation { location } = &update {
                self.warehouse.relative(location)?;
            }
            builder = update.apply(builder)?;
        }
        Ok(Prepared {
            base: Some(current.entry),
            metadata: builder.build()?.metadata,
        })
    }

    /// Metadata of a table created by a staged create: built from the schema, spec, order and
    /// location among the updates, then every update applied in order.
    async fn metadata_from_updates(
        &self,
        ns: &str,
        name: &str,
        updates: Vec<TableUpdate>,
    ) -> Result<TableMetadata> {
        let mut schema: Option<Schema> = None;
        let mut spec: Option<UnboundPartitionSpec> = None;
        let mut order: Option<SortOrder> = None;
        let mut location: Option<String> = None;
        let mut version = FormatVersion::V2;
        for u in &updates {
            match u {
                TableUpdate::AddSchema { schema: s } if schema.is_none() => {
                    schema = Some(s.clone())
                }
                TableUpdate::AddSpec { spec: s } if spec.is_none() => spec = Some(s.clone()),
                TableUpdate::AddSortOrder { sort_order } if order.is_none() => {
                    order = Some(sort_order.clone())
                }
                TableUpdate::SetLocation { location: l } => location = Some(l.clone()),
                TableUpdate::UpgradeFormatVersion { format_version } => version = *format_version,
                _ => {}
            }
        }
        let schema = schema.ok_or_else(|| {
            CatalogError::bad_request("creating a table needs an add-schema update")
        })?;
        let location = self.location_for(ns, name, location.as_deref()).await?;
        let mut builder = TableMetadataBuilder::new(
            schema,
            spec.unwrap_or_else(|| PartitionSpec::unpartition_spec().into_unbound()),
            order.unwrap_or_else(SortOrder::unsorted_order),
            location,
            version,
            Default::default(),
        )?;
        for update in updates {
            if let TableUpdate::SetLocation { location } = &update {
                self.warehouse.relative(location)?;
            }
            builder = update.apply(builder)?;
        }
        Ok(builder.build()?.metadata)
    }

    /// Writes the new metadata and moves the registry pointer; 409 if someone else moved it.
    async fn publish(
        &self,
        ns: &str,
        name: &str,
        prepared: Prepared,
    ) -> Result<CommitTableResponse> {
        let Prepared { base, metadata } = prepared;
        let previous = base.as_ref().map(|b| b.value.metadata_location.as_str());
        let (path, location) = self.write_table_metadata(&metadata, previous).await?;
        let version = base.as_ref().map_or(1, |b| b.version + 1);
        let entry = Entry {
            metadata_location: location.clone(),
        };
        let won = self
            .store()
            .put_entry(ns, EntryKind::Table, name, version, &entry)
            .await;
        if !matches!(won, Ok(true)) {
            let _ = self.store().delete(&path).await;
            won?;
            return Err(CatalogError::conflict(format!(
                "table '{ns}.{name}' was changed by another commit; refresh and retry"
            )));
        }
        Ok(CommitTableResponse {
            metadata_location: location,
            metadata: Arc::new(metadata),
        })
    }

    /// Commits several tables: every requirement is checked and every new metadata built
    /// before anything is published; a conflict while publishing reverts the tables already
    /// published (by committing their previous metadata again) and answers 409.
    pub async fn commit_transaction(&self, changes: Vec<CommitTableRequest>) -> Result<()> {
        let mut prepared = Vec::with_capacity(changes.len());
        for change in changes {
            let id = change.identifier.clone().ok_or_else(|| {
                CatalogError::bad_request("every table change of a transaction needs an identifier")
            })?;
            let (ns, name) = self.table_ident(&id.namespace, &id.name)?;
            if prepared.iter().any(|(n, t, _)| *n == ns && *t == name) {
                return Err(CatalogError::bad_request(format!(
                    "table '{ns}.{name}' appears twice in one transaction"
                )));
            }
            let p = self.prepare_commit(&ns, &name, change).await?;
            prepared.push((ns, name, p));
        }
        let mut done: Vec<(String, String, Versioned<Entry>)> = Vec::new();
        for (ns, name, p) in prepared {
            let base = p.base.clone();
            match self.publish(&ns, &name, p).await {
                Ok(_) => {
                    if let Some(base) = base {
                        done.push((ns, name, base));
                    }
                }
                Err(e) => {
                    for (ns, name, base) in done {
                        let revert = Entry {
                            metadata_location: base.value.metadata_location.clone(),
                        };
                        // Published as base + 1; the revert is base + 2.
                        let next = base.version + 2;
                        let _ = self
                            .store()
                            .put_entry(&ns, EntryKind::Table, &name, next, &revert)
                            .await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// A commit checked and built, not yet published.
struct Prepared {
    base: Option<Versioned<Entry>>,
    metadata: TableMetadata,
}

/// One page of sorted names after `token` (all of them when no token was sent).
pub(crate) fn page(
    names: Vec<String>,
    token: Option<String>,
    size: Option<usize>,
) -> (Vec<String>, Option<Option<String>>) {
    let Some(token) = token else {
        return (names, None);
    };
    let start = if token.is_empty() {
        0
    } else {
        names.partition_point(|n| n.as_str() <= token.as_str())
    };
    let size = size.unwrap_or(MAX_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
    let end = (start + size).min(names.len());
    let next = (end < names.len()).then(|| names[end - 1].clone());
    (names[start..end].to_vec(), Some(next))
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn pages() {
        let names: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(page(names.clone(), None, Some(2)).0.len(), 5);
        let (p1, next) = page(names.clone(), Some(String::new()), Some(2));
        assert_eq!(p1, ["a", "b"]);
        let (p2, next) = page(names.clone(), next.unwrap(), Some(2));
        assert_eq!(p2, ["c", "d"]);
        let (p3, next) = page(names.clone(), next.unwrap(), Some(2));
        assert_eq!(p3, ["e"]);
        assert_eq!(next, Some(None));
    }
}
