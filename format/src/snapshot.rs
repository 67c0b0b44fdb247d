//! Snapshot files (`snapshot/snapshot-<id>`, JSON, version 3) and finding them.
//!
//! `LATEST` and `EARLIEST` are hints only: `LATEST` is trusted when `snapshot-(LATEST+1)`
//! does not exist, `EARLIEST` when its snapshot exists; otherwise the directory is listed.
//! Loading the latest snapshot therefore costs one GET of the hint, two HEADs and one GET
//! in the common case, never a listing of every snapshot.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::paths::{TablePaths, SNAPSHOT_PREFIX};
use crate::storage::Storage;

/// `commitIdentifier` of batch (non-streaming) commits, as Paimon writes it.
pub const BATCH_COMMIT_IDENTIFIER: i64 = i64::MAX;

/// Current snapshot format version.
pub const SNAPSHOT_VERSION: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommitKind {
    Append,
    Compact,
    Overwrite,
    Analyze,
}

/// One snapshot, with Paimon's JSON field names. Optional fields are omitted when absent;
/// unknown fields written by newer Paimon versions are ignored on read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub version: i32,
    pub id: i64,
    pub schema_id: i64,
    pub base_manifest_list: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_manifest_list_size: Option<i64>,
    pub delta_manifest_list: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_manifest_list_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_manifest_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_manifest_list_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_manifest: Option<String>,
    pub commit_user: String,
    pub commit_identifier: i64,
    pub commit_kind: CommitKind,
    pub time_millis: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_record_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_record_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_record_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_row_id: Option<i64>,
}

impl Snapshot {
    /// Decodes a snapshot file; errors name the problem, never panic.
    pub fn from_json(bytes: &[u8]) -> Result<Snapshot> {
        let snapshot: Snapshot = serde_json::from_slice(bytes)
            .map_err(|e| Error::data_invalid(format!("malformed snapshot JSON: {e}")))?;
        if !(1..=SNAPSHOT_VERSION).contains(&snapshot.version) {
            return Err(Error::unsupported(format!(
                "snapshot version {} is not supported (this build reads 1..={SNAPSHOT_VERSION})",
                snapshot.version
            )));
        }
        if snapshot.id < 1 {
            return Err(Error::data_invalid(format!(
                "snapshot id {} is not positive",
                snapshot.id
            )));
        }
        Ok(snapshot)
    }

    pub fn to_json(&self) -> String {
        // Serializing plain data into a string cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Reads snapshots of one table and finds the earliest and latest.
#[derive(Debug, Clone)]
pub struct SnapshotManager {
    storage: Storage,
    paths: TablePaths,
}

impl SnapshotManager {
    pub fn new(storage: Storage, paths: TablePaths) -> Self {
        SnapshotManager { storage, paths }
    }

    pub fn paths(&self) -> &TablePaths {
        &self.paths
    }

    /// The snapshot with `id`; `NotFound` names the id when it is missing.
    pub async fn snapshot(&self, id: i64) -> Result<Snapshot> {
        let path = self.paths.snapshot_file(id);
        let bytes = self.storage.get(&path).await.map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                Error::not_found(format!(
                    "snapshot {id} does not exist in {}",
                    self.storage.display(self.paths.root())
                ))
            } else {
                e
            }
        })?;
        Snapshot::from_json(&bytes).map_err(|e| e.context(self.storage.display(&path)))
    }

    pub async fn snapshot_exists(&self, id: i64) -> Result<bool> {
        self.storage.exists(&self.paths.snapshot_file(id)).await
    }

    async fn read_hint(&self, hint: &object_store::path::Path) -> Result<Option<i64>> {
        Ok(self
            .storage
            .get_opt(hint)
            .await?
            .and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse::<i64>().ok()))
    }

    /// Ids of every snapshot file present, ascending.
    pub async fn list_ids(&self) -> Result<Vec<i64>> {
        let (_, objects) = self.storage.list_dir(&self.paths.snapshot_dir()).await?;
        let mut ids: Vec<i64> = objects
            .iter()
            .filter_map(|m| {
                m.location
                    .filename()?
                    .strip_prefix(SNAPSHOT_PREFIX)?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The latest snapshot id, or `None` for a table without commits.
    pub async fn latest_id(&self) -> Result<Option<i64>> {
        if let Some(hint) = self.read_hint(&self.paths.latest_hint()).await? {
            if hint >= 1
                && self.snapshot_exists(hint).await?
                && !self.snapshot_exists(hint + 1).await?
            {
                return Ok(Some(hint));
            }
        }
        Ok(self.list_ids().await?.last().copied())
    }

    /// The earliest retained snapshot id.
    pub async fn earliest_id(&self) -> Result<Option<i64>> {
        if let Some(hint) = self.read_hint(&self.paths.earliest_hint()).await? {
            if hint >= 1 && self.snapshot_exists(hint).await? {
                return Ok(Some(hint));
            }
        }
        Ok(self.list_ids().await?.first().copied())
    }

    pub async fn latest(&self) -> Result<Option<Snapshot>> {
        match self.latest_id().await? {
            Some(id) => Ok(Some(self.snapshot(id).await?)),
            None => Ok(None),
        }
    }

    /// Rewrites the LATEST hint. Best effort: the hint is advisory.
    pub async fn write_latest_hint(&self, id: i64) {
        let _ = self
            .storage
            .put(&self.paths.latest_hint(), Bytes::from(id.to_string()))
            .await;
    }

    pub async fn write_earliest_hint(&self, id: i64) {
        let _ = self
            .storage
            .put(&self.paths.earliest_hint(), Bytes::from(id.to_string()))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYPAIMON: &str = r#"{"version":3,"id":2,"schemaId":0,"baseManifestList":"manifest-list-a-0","deltaManifestList":"manifest-list-a-1","totalRecordCount":3,"deltaRecordCount":1,"commitUser":"c79","commitIdentifier":9223372036854775807,"commitKind":"APPEND","timeMillis":1795424060632,"baseManifestListSize":1347,"deltaManifestListSize":1347,"uuid":"7f89","writerVersion":"python-2.1.0"}"#;

    #[test]
    fn reads_pypaimon_snapshot() {
        let s = Snapshot::from_json(PYPAIMON.as_bytes()).unwrap();
        assert_eq!(s.id, 2);
        assert_eq!(s.commit_identifier, BATCH_COMMIT_IDENTIFIER);
        assert_eq!(s.commit_kind, CommitKind::Append);
        assert_eq!(s.base_manifest_list_size, Some(1347));
        let again = Snapshot::from_json(s.to_json().as_bytes()).unwrap();
        assert_eq!(again, s);
        assert!(!s.to_json().contains("changelogManifestList"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [&b"{"[..], b"null", b"[]", b"{\"version\":3}", b"\xff\xfe"] {
            let e = Snapshot::from_json(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DataInvalid, "{e}");
            assert!(e.to_string().contains("snapshot"));
        }
        let future = PYPAIMON.replace("\"version\":3", "\"version\":9");
        assert_eq!(
            Snapshot::from_json(future.as_bytes()).unwrap_err().kind(),
            ErrorKind::Unsupported
        );
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = Snapshot::from_json(&bytes);
        }
    }
}
