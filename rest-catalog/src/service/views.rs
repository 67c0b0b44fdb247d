//! Views: Iceberg view metadata in the registry, committed like plain tables.

use std::sync::Arc;

use bytes::Bytes;
use iceberg::spec::{ViewFormatVersion, ViewMetadata, ViewMetadataBuilder};
use iceberg::ViewUpdate;

use crate::error::{CatalogError, Kind, Result};
use crate::paths::{self, EntryKind};
use crate::store::Entry;
use crate::types::{
    CommitViewRequest, CreateViewRequest, ListTablesResponse, LoadViewResult, Properties,
    RenameRequest, TableIdentifier, ViewRequirement,
};

use super::tables::{object_name, page};
use super::{lock, namespace_name, Cached, CatalogService};

fn no_such_view(ns: &str, name: &str) -> CatalogError {
    CatalogError::new(
        Kind::NoSuchView,
        format!("view '{ns}.{name}' does not exist"),
    )
}

impl CatalogService {
    fn view_ident(&self, levels: &[String], name: &str) -> Result<(String, String)> {
        let ns =
            namespace_name(levels).map_err(|e| CatalogError::new(Kind::NoSuchView, e.message))?;
        let name = object_name("view", name)
            .map_err(|e| CatalogError::new(Kind::NoSuchView, e.message))?;
        Ok((ns, name))
    }

    async fn view(&self, ns: &str, name: &str) -> Result<Option<Cached<ViewMetadata>>> {
        let key = (ns.to_string(), name.to_string());
        let cached = lock(&self.views).get(&key).cloned();
        if let Some(c) = cached {
            if self
                .store()
                .entry_unchanged(ns, EntryKind::View, name, &c.entry)
                .await?
            {
                return Ok(Some(c));
            }
        }
        let Some(entry) = self.store().entry(ns, EntryKind::View, name).await? else {
            lock(&self.views).remove(&key);
            return Ok(None);
        };
        let path = self.warehouse.relative(&entry.value.metadata_location)?;
        let bytes = self.store().read(&path).await?;
        let metadata: ViewMetadata = serde_json::from_slice(&bytes).map_err(|e| {
            CatalogError::internal(format!("metadata of view '{ns}.{name}' is unreadable: {e}"))
        })?;
        let c = Cached {
            entry,
            metadata: Arc::new(metadata),
        };
        lock(&self.views).insert(key, c.clone());
        Ok(Some(c))
    }

    pub async fn list_views(
        &self,
        levels: &[String],
        page_token: Option<String>,
        page_size: Option<usize>,
    ) -> Result<ListTablesResponse> {
        let ns = self.existing_namespace(levels).await?;
        let names = self.store().list_entries(&ns, EntryKind::View).await?;
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

    pub async fn load_view(&self, levels: &[String], name: &str) -> Result<LoadViewResult> {
        let (ns, name) = self.view_ident(levels, name)?;
        let c = self
            .view(&ns, &name)
            .await?
            .ok_or_else(|| no_such_view(&ns, &name))?;
        Ok(LoadViewResult {
            metadata_location: c.entry.value.metadata_location,
            metadata: c.metadata,
            config: Properties::new(),
        })
    }

    pub async fn view_exists(&self, levels: &[String], name: &str) -> Result<()> {
        let (ns, name) = self.view_ident(levels, name)?;
        match self.store().entry(&ns, EntryKind::View, &name).await? {
            Some(_) => Ok(()),
            None => Err(no_such_view(&ns, &name)),
        }
    }

    pub async fn create_view(
        &self,
        levels: &[String],
        req: CreateViewRequest,
    ) -> Result<LoadViewResult> {
        let ns = self.existing_namespace(levels).await?;
        let name = object_name("view", &req.name)?;
        self.require_free_name(&ns, &name).await?;
        let location = self
            .location_for(&ns, &name, req.location.as_deref())
            .await?;
        let metadata = ViewMetadataBuilder::new(
            location,
            req.schema,
            req.view_version,
            ViewFormatVersion::V1,
            req.properties,
        )?
        .build()?
        .metadata;
        let location = self.publish_view(&ns, &name, &metadata, None, 1).await?;
        Ok(LoadViewResult {
            metadata_location: location,
            metadata: Arc::new(metadata),
            config: Properties::new(),
        })
    }

    async fn publish_view(
        &self,
        ns: &str,
        name: &str,
        metadata: &ViewMetadata,
        previous: Option<&str>,
        version: u64,
    ) -> Result<String> {
        let dir = self.warehouse.relative(metadata.location())?;
        let number = previous.map_or(0, |p| paths::metadata_version(p) + 1);
        let path = paths::metadata_file(&dir, number, &uuid::Uuid::new_v4());
        let bytes = serde_json::to_vec(metadata)
            .map_err(|e| CatalogError::internal(format!("cannot encode view metadata: {e}")))?;
        if !self.store().write_new(&path, Bytes::from(bytes)).await? {
            return Err(CatalogError::conflict(format!(
                "metadata file {path} exists"
            )));
        }
        let location = self.warehouse.uri(&path);
        let entry = Entry {
            metadata_location: location.clone(),
        };
        let won = self
            .store()
            .put_entry(ns, EntryKind::View, name, version, &entry)
            .await;
        if !matches!(won, Ok(true)) {
            let _ = self.store().delete(&path).await;
            won?;
            return Err(if version == 1 {
                CatalogError::new(
                    Kind::AlreadyExists,
                    format!("view '{ns}.{name}' already exists"),
                )
            } else {
                CatalogError::conflict(format!(
                    "view '{ns}.{name}' was changed concurrently; refresh and retry"
                ))
            });
        }
        Ok(location)
    }

    pub async fn replace_view(
        &self,
        levels: &[String],
        name: &str,
        req: CommitViewRequest,
    ) -> Result<LoadViewResult> {
        let (ns, name) = self.view_ident(levels, name)?;
        let current = self
            .view(&ns, &name)
            .await?
            .ok_or_else(|| no_such_view(&ns, &name))?;
        for r in &req.requirements {
            let ViewRequirement::AssertViewUuid { uuid } = r;
            if *uuid != current.metadata.uuid() {
                return Err(CatalogError::conflict(format!(
                    "view '{ns}.{name}' has uuid {}, not {uuid}",
                    current.metadata.uuid()
                )));
            }
        }
        let mut builder = current.metadata.as_ref().clone().into_builder();
        for update in req.updates {
            builder = match update {
                ViewUpdate::AssignUuid { uuid } => builder.assign_uuid(uuid),
                ViewUpdate::UpgradeFormatVersion { format_version } => {
                    builder.upgrade_format_version(format_version)?
                }
                ViewUpdate::AddSchema { schema, .. } => builder.add_schema(schema),
                ViewUpdate::SetLocation { location } => {
                    self.warehouse.relative(&location)?;
                    builder.set_location(location)
                }
                ViewUpdate::SetProperties { updates } => builder.set_properties(updates)?,
                ViewUpdate::RemoveProperties { removals } => builder.remove_properties(&removals),
                ViewUpdate::AddViewVersion { view_version } => builder.add_version(view_version)?,
                ViewUpdate::SetCurrentViewVersion { view_version_id } => {
                    builder.set_current_version_id(view_version_id)?
                }
            };
        }
        let metadata = builder.build()?.metadata;
        let location = self
            .publish_view(
                &ns,
                &name,
                &metadata,
                Some(&current.entry.value.metadata_location),
                current.entry.version + 1,
            )
            .await?;
        Ok(LoadViewResult {
            metadata_location: location,
            metadata: Arc::new(metadata),
            config: Properties::new(),
        })
    }

    pub async fn drop_view(&self, levels: &[String], name: &str) -> Result<()> {
        let (ns, name) = self.view_ident(levels, name)?;
        if self
            .store()
            .entry(&ns, EntryKind::View, &name)
            .await?
            .is_none()
        {
            return Err(no_such_view(&ns, &name));
        }
        self.store()
            .delete_entry(&ns, EntryKind::View, &name)
            .await?;
        lock(&self.views).remove(&(ns, name));
        Ok(())
    }

    pub async fn rename_view(&self, req: RenameRequest) -> Result<()> {
        let (src_ns, src) = self.view_ident(&req.source.namespace, &req.source.name)?;
        let dst_ns = self.existing_namespace(&req.destination.namespace).await?;
        let dst = object_name("view", &req.destination.name)?;
        let current = self
            .store()
            .entry(&src_ns, EntryKind::View, &src)
            .await?
            .ok_or_else(|| no_such_view(&src_ns, &src))?;
        self.require_free_name(&dst_ns, &dst).await?;
        if !self
            .store()
            .put_entry(&dst_ns, EntryKind::View, &dst, 1, &current.value)
            .await?
        {
            return Err(CatalogError::new(
                Kind::AlreadyExists,
                format!("view '{dst_ns}.{dst}' already exists"),
            ));
        }
        self.store()
            .delete_entry(&src_ns, EntryKind::View, &src)
            .await?;
        lock(&self.views).remove(&(src_ns, src));
        Ok(())
    }
}
