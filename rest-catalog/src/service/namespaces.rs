//! Namespaces: Strata databases with Iceberg properties kept beside them.

use crate::error::{CatalogError, Kind, Result};
use crate::paths::EntryKind;
use crate::types::{Properties, UpdateNamespacePropertiesResponse};

use super::{namespace_name, no_such_namespace, CatalogService};

/// Attempts at a properties update before giving up with a conflict.
const PROPERTY_RETRIES: usize = 8;

impl CatalogService {
    /// Namespaces under `parent` (top level when `None`); namespaces have one level, so a
    /// parent that exists has no children.
    pub async fn list_namespaces(&self, parent: Option<Vec<String>>) -> Result<Vec<Vec<String>>> {
        if let Some(parent) = parent.filter(|p| !(p.is_empty() || p.len() == 1 && p[0].is_empty()))
        {
            let ns = namespace_name(&parent)?;
            self.require_namespace(&ns).await?;
            return Ok(Vec::new());
        }
        Ok(self
            .store()
            .list_namespaces()
            .await?
            .into_iter()
            .map(|n| vec![n])
            .collect())
    }

    pub async fn create_namespace(
        &self,
        levels: &[String],
        properties: Properties,
    ) -> Result<Properties> {
        let ns = namespace_name(levels)?;
        self.store().create_namespace(&ns).await?;
        if !properties.is_empty()
            && !self
                .store()
                .put_namespace_properties(&ns, 1, &properties)
                .await?
        {
            return Err(CatalogError::conflict(format!(
                "namespace '{ns}' properties were changed concurrently"
            )));
        }
        Ok(properties)
    }

    pub(crate) async fn require_namespace(&self, ns: &str) -> Result<()> {
        if self.store().namespace_exists(ns).await? {
            Ok(())
        } else {
            Err(no_such_namespace(ns))
        }
    }

    pub async fn load_namespace(&self, levels: &[String]) -> Result<Properties> {
        let ns = self.existing_namespace(levels).await?;
        Ok(self.store().namespace_properties(&ns).await?.value)
    }

    /// The validated name of an existing namespace; 404 for a missing or nested one.
    pub(crate) async fn existing_namespace(&self, levels: &[String]) -> Result<String> {
        let ns = match namespace_name(levels) {
            Ok(ns) => ns,
            Err(e) if levels.len() > 1 => {
                return Err(CatalogError::new(Kind::NoSuchNamespace, e.message));
            }
            Err(e) => return Err(e),
        };
        self.require_namespace(&ns).await?;
        Ok(ns)
    }

    pub async fn drop_namespace(&self, levels: &[String]) -> Result<()> {
        let ns = self.existing_namespace(levels).await?;
        let strata = self.strata.list_tables(&ns).await?;
        let tables = self.store().list_entries(&ns, EntryKind::Table).await?;
        let views = self.store().list_entries(&ns, EntryKind::View).await?;
        if !(strata.is_empty() && tables.is_empty() && views.is_empty()) {
            return Err(CatalogError::new(
                Kind::NamespaceNotEmpty,
                format!(
                    "namespace '{ns}' is not empty ({} tables, {} views); drop them first",
                    strata.len() + tables.len(),
                    views.len()
                ),
            ));
        }
        self.store().drop_namespace(&ns).await
    }

    pub async fn update_namespace_properties(
        &self,
        levels: &[String],
        removals: Vec<String>,
        updates: Properties,
    ) -> Result<UpdateNamespacePropertiesResponse> {
        let ns = self.existing_namespace(levels).await?;
        if let Some(both) = removals.iter().find(|k| updates.contains_key(*k)) {
            return Err(CatalogError::new(
                Kind::Unprocessable,
                format!("property '{both}' is both updated and removed"),
            ));
        }
        for _ in 0..PROPERTY_RETRIES {
            let current = self.store().namespace_properties(&ns).await?;
            let mut props = current.value.clone();
            let mut removed = Vec::new();
            let mut missing = Vec::new();
            for key in &removals {
                if props.remove(key).is_some() {
                    removed.push(key.clone());
                } else {
                    missing.push(key.clone());
                }
            }
            let updated: Vec<String> = updates.keys().cloned().collect();
            props.extend(updates.clone());
            if self
                .store()
                .put_namespace_properties(&ns, current.version + 1, &props)
                .await?
            {
                return Ok(UpdateNamespacePropertiesResponse {
                    updated,
                    removed,
                    missing,
                });
            }
        }
        Err(CatalogError::conflict(format!(
            "namespace '{ns}' properties keep changing concurrently; retry"
        )))
    }
}
