//! Consumers: `consumer/consumer-<id>` holding `{"nextSnapshot": N}`, the next snapshot a
//! streaming reader will read. Expiry never removes snapshot N or later while the consumer
//! exists (unless `consumer.changelog-only`), so a reader that pauses can resume.
//! `consumer.expiration-time` deletes consumers not updated for that long (by the file's
//! modification time, as Paimon does), so an abandoned reader stops holding snapshots.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::paths::CONSUMER_PREFIX;
use crate::table::Table;

/// The content of a consumer file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    pub next_snapshot: i64,
}

/// Reads and writes the consumers of one table.
#[derive(Debug, Clone)]
pub struct ConsumerManager {
    table: Table,
}

impl ConsumerManager {
    pub fn new(table: Table) -> Self {
        ConsumerManager { table }
    }

    /// Every consumer: id, next snapshot and last modification (epoch millis).
    pub async fn list(&self) -> Result<Vec<(String, Consumer, i64)>> {
        let storage = self.table.storage();
        let (_, objects) = storage.list_dir(&self.table.paths().consumer_dir()).await?;
        let mut out = Vec::new();
        for meta in objects {
            let Some(id) = meta
                .location
                .filename()
                .and_then(|n| n.strip_prefix(CONSUMER_PREFIX))
            else {
                continue;
            };
            if let Some(c) = self.get(id).await? {
                out.push((id.to_string(), c, meta.last_modified.timestamp_millis()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The consumer, or `None` when it does not exist. A malformed file is an error: a
    /// consumer that cannot be read must not be ignored by expiry.
    pub async fn get(&self, id: &str) -> Result<Option<Consumer>> {
        let path = self.table.paths().consumer_file(id)?;
        let storage = self.table.storage();
        match storage.get_opt(&path).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::data_invalid(format!(
                    "consumer file {} is malformed: {e}",
                    storage.display(&path)
                ))
            }),
        }
    }

    /// Records that consumer `id` will read `next_snapshot` next.
    pub async fn set(&self, id: &str, next_snapshot: i64) -> Result<()> {
        let path = self.table.paths().consumer_file(id)?;
        let json = serde_json::to_string(&Consumer { next_snapshot }).unwrap_or_default();
        self.table.storage().put(&path, Bytes::from(json)).await
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        let path = self.table.paths().consumer_file(id)?;
        self.table.storage().delete(&path).await
    }

    /// The smallest `nextSnapshot` of all consumers: expiry keeps it and what follows.
    pub async fn min_next_snapshot(&self) -> Result<Option<i64>> {
        Ok(self
            .list()
            .await?
            .iter()
            .map(|(_, c, _)| c.next_snapshot)
            .min())
    }

    /// Deletes consumers last modified before `older_than_millis`; returns their ids.
    pub async fn expire(&self, older_than_millis: i64) -> Result<Vec<String>> {
        let mut expired = Vec::new();
        for (id, _, modified) in self.list().await? {
            if modified < older_than_millis {
                self.delete(&id).await?;
                expired.push(id);
            }
        }
        Ok(expired)
    }
}
