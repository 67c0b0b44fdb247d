//! Rollback: make an earlier snapshot (or a tag) the latest again, as Paimon does.
//!
//! Rolling back to snapshot N deletes `snapshot-L` … `snapshot-(N+1)` newest first, then
//! long-lived changelogs and tags newer than N, then points `LATEST` at N. Newest first
//! means a crash leaves the table at some snapshot between N and L, each complete, and a
//! rerun finishes. No data file is deleted: files only the removed snapshots used become
//! orphans, which orphan cleanup removes once they are older than its threshold.
//!
//! Rolling back to a tag whose snapshot still exists is a rollback to that snapshot. When
//! expiry removed it (the tag is older than the earliest snapshot), `snapshot-<id>` is
//! first recreated from the tag (every file it names is kept by the tag), then every
//! newer snapshot is deleted, newest first: at every moment the latest snapshot is one
//! that was committed. Rollback must not run while writers commit to the table.

use bytes::Bytes;

use super::changelog::ChangelogManager;
use super::tag::TagManager;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::table::Table;

/// What a rollback did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackReport {
    /// The snapshot that is now the latest.
    pub snapshot: i64,
    /// Snapshot ids deleted, `[first, last]`, newest deleted first.
    pub removed_snapshots: Option<(i64, i64)>,
    /// Tags deleted because they pointed past the rollback target.
    pub removed_tags: Vec<String>,
    pub removed_changelogs: u64,
    /// Whether the target snapshot was recreated from a tag.
    pub recreated_from_tag: bool,
}

/// Rolls `table` back to snapshot `id`.
pub async fn rollback_to_snapshot(table: &Table, id: i64) -> Result<RollbackReport> {
    let sm = table.snapshot_manager();
    if !sm.snapshot_exists(id).await? {
        return Err(Error::not_found(format!(
            "snapshot {id} does not exist in table '{}' (expired or never committed); roll \
             back to a tag to restore an expired snapshot",
            table.identifier()
        )));
    }
    // Decode it: rolling back to an unreadable snapshot would break the table.
    sm.snapshot(id).await?;
    finish(table, id, false).await
}

/// Rolls `table` back to tag `name`, recreating its snapshot when it has expired.
pub async fn rollback_to_tag(table: &Table, name: &str) -> Result<RollbackReport> {
    let tag = TagManager::new(table.clone()).get_or_err(name).await?;
    let id = tag.snapshot.id;
    let sm = table.snapshot_manager();
    let latest = sm.latest_id().await?;
    let path = table.paths().snapshot_file(id);
    let mut recreated = false;
    match sm.snapshot(id).await {
        Ok(existing) => {
            if existing.base_manifest_list != tag.snapshot.base_manifest_list {
                return Err(Error::data_invalid(format!(
                    "tag '{name}' names snapshot {id}, but snapshot {id} of table '{}' is a \
                     different commit (a rollback reused the id); roll back to the snapshot or \
                     delete the tag",
                    table.identifier()
                )));
            }
        }
        Err(e) if e.kind() == crate::ErrorKind::NotFound => {
            if latest.is_some_and(|l| id > l) {
                return Err(Error::data_invalid(format!(
                    "tag '{name}' names snapshot {id}, newer than the latest snapshot {} of \
                     table '{}'; a rollback to it would leave a gap",
                    latest.unwrap_or_default(),
                    table.identifier()
                )));
            }
            // Create it before removing anything: the table never lacks a latest snapshot.
            table
                .storage()
                .put_if_absent(&path, Bytes::from(tag.snapshot_json()))
                .await?;
            recreated = true;
            failpoint::hit("rollback.after-recreate");
        }
        Err(e) => return Err(e),
    }
    let mut report = finish(table, id, recreated).await?;
    if recreated {
        sm.write_earliest_hint(id).await;
    }
    report.recreated_from_tag = recreated;
    Ok(report)
}

async fn finish(table: &Table, id: i64, recreated: bool) -> Result<RollbackReport> {
    let sm = table.snapshot_manager();
    let ids = sm.list_ids().await?;
    let newer: Vec<i64> = ids.iter().copied().filter(|s| *s > id).collect();
    for (i, s) in newer.iter().rev().enumerate() {
        table
            .storage()
            .delete(&table.paths().snapshot_file(*s))
            .await?;
        if i == 0 {
            failpoint::hit("rollback.mid-snapshots");
        }
    }
    let removed_changelogs = ChangelogManager::new(table.clone())
        .delete_after(id)
        .await?;
    let tags = TagManager::new(table.clone());
    let mut removed_tags = Vec::new();
    for tag in tags.list().await? {
        if tag.snapshot.id > id {
            table
                .storage()
                .delete(&table.paths().tag_file(&tag.name)?)
                .await?;
            removed_tags.push(tag.name);
        }
    }
    sm.write_latest_hint(id).await;
    Ok(RollbackReport {
        snapshot: id,
        removed_snapshots: match (newer.first(), newer.last()) {
            (Some(a), Some(b)) => Some((*a, *b)),
            _ => None,
        },
        removed_tags,
        removed_changelogs,
        recreated_from_tag: recreated,
    })
}
