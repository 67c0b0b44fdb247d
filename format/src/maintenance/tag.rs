//! Tags: `tag/tag-<name>`, a snapshot kept under a name. The file is the snapshot's JSON
//! (every field, unknown ones included) plus, when the tag has a retention,
//! `tagCreateTime` (a Java `LocalDateTime` as `[year, month, day, hour, minute(, second(,
//! nano))]`) and `tagTimeRetained` (a Java `Duration` as decimal seconds), as Paimon and
//! pypaimon write them. A tag keeps everything its snapshot references alive: expiry and
//! orphan cleanup read tags as anchors.
//!
//! Deleting a tag whose snapshot still exists only removes the tag file. When the snapshot
//! has expired, the files only the tag kept are removed too: the tag's files minus those
//! of its neighbours (the previous tag, and the earlier of the next tag and the earliest
//! snapshot) and of long-lived changelogs. A file the tag shares with a later snapshot is
//! live in every snapshot between them (files never come back once removed), so the
//! nearest right neighbour holds it; the same holds on the left.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use chrono::{Datelike, NaiveDateTime, Timelike};
use serde_json::{Map, Value};

use super::changelog::ChangelogManager;
use super::delete::{delete_files, delete_meta, RemovedFiles};
use super::refs::{FileRef, MetaRefs, Parts, RefReader};
use crate::error::{Error, ErrorKind, Result};
use crate::failpoint;
use crate::paths::TAG_PREFIX;
use crate::snapshot::Snapshot;
use crate::table::Table;

const TAG_CREATE_TIME: &str = "tagCreateTime";
const TAG_TIME_RETAINED: &str = "tagTimeRetained";

/// One tag: its name, its snapshot, and its retention when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub name: String,
    pub snapshot: Snapshot,
    /// Local wall-clock time the tag was created (only written with a retention).
    pub create_time: Option<NaiveDateTime>,
    pub time_retained: Option<Duration>,
    /// The file's JSON object, so a snapshot recreated from it keeps every field.
    raw: Map<String, Value>,
}

impl Tag {
    /// Decodes a tag file; errors name the tag.
    pub fn from_json(name: &str, bytes: &[u8]) -> Result<Tag> {
        let ctx = |e: Error| e.context(format!("tag '{name}'"));
        let snapshot = Snapshot::from_json(bytes).map_err(ctx)?;
        let raw: Map<String, Value> = serde_json::from_slice(bytes)
            .map_err(|e| ctx(Error::data_invalid(format!("malformed tag JSON: {e}"))))?;
        let create_time = match raw.get(TAG_CREATE_TIME) {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_local_date_time(v).map_err(ctx)?),
        };
        let time_retained = match raw.get(TAG_TIME_RETAINED) {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_duration_seconds(v).map_err(ctx)?),
        };
        Ok(Tag {
            name: name.to_string(),
            snapshot,
            create_time,
            time_retained,
            raw,
        })
    }

    /// The snapshot JSON without the tag fields (what rollback writes as `snapshot-<id>`).
    pub fn snapshot_json(&self) -> String {
        let mut raw = self.raw.clone();
        raw.remove(TAG_CREATE_TIME);
        raw.remove(TAG_TIME_RETAINED);
        serde_json::to_string_pretty(&Value::Object(raw)).unwrap_or_default()
    }

    /// Whether the retention has passed at local time `now`.
    pub fn is_expired(&self, now: NaiveDateTime) -> bool {
        match (self.create_time, self.time_retained) {
            (Some(created), Some(retained)) => chrono::Duration::from_std(retained)
                .ok()
                .and_then(|r| created.checked_add_signed(r))
                .is_some_and(|until| now > until),
            _ => false,
        }
    }
}

/// A Java `LocalDateTime` as Jackson writes it: an array, trailing zero fields omitted.
fn parse_local_date_time(v: &Value) -> Result<NaiveDateTime> {
    let bad = || Error::data_invalid(format!("{TAG_CREATE_TIME} {v} is not a local date-time"));
    if let Some(text) = v.as_str() {
        return NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
            .map_err(|_| bad());
    }
    let parts: Vec<i64> = v
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|p| p.as_i64().ok_or_else(bad))
        .collect::<Result<_>>()?;
    if parts.len() < 5 || parts.len() > 7 {
        return Err(bad());
    }
    let get = |i: usize| parts.get(i).copied().unwrap_or(0);
    let narrow = |x: i64| u32::try_from(x).map_err(|_| bad());
    chrono::NaiveDate::from_ymd_opt(
        i32::try_from(get(0)).map_err(|_| bad())?,
        narrow(get(1))?,
        narrow(get(2))?,
    )
    .and_then(|d| {
        d.and_hms_nano_opt(
            narrow(get(3)).ok()?,
            narrow(get(4)).ok()?,
            narrow(get(5)).ok()?,
            narrow(get(6)).ok()?,
        )
    })
    .ok_or_else(bad)
}

/// Jackson's form of a `LocalDateTime`.
fn local_date_time_json(t: NaiveDateTime) -> Value {
    let mut parts = vec![
        i64::from(t.year()),
        i64::from(t.month()),
        i64::from(t.day()),
        i64::from(t.hour()),
        i64::from(t.minute()),
    ];
    if t.second() != 0 || t.nanosecond() != 0 {
        parts.push(i64::from(t.second()));
        if t.nanosecond() != 0 {
            parts.push(i64::from(t.nanosecond()));
        }
    }
    Value::from(parts)
}

/// A Java `Duration` as decimal seconds (Jackson); an ISO `PT…` string is not expected.
fn parse_duration_seconds(v: &Value) -> Result<Duration> {
    let secs = v
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| {
            Error::data_invalid(format!(
                "{TAG_TIME_RETAINED} {v} is not a number of seconds"
            ))
        })?;
    Ok(Duration::from_secs_f64(secs))
}

/// The local wall-clock time of epoch millis (tags record local time, as Java does).
pub fn local_time(epoch_millis: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(epoch_millis)
        .map(|t| t.with_timezone(&chrono::Local).naive_local())
        .unwrap_or_default()
}

/// What deleting a tag did.
#[derive(Debug, Clone, PartialEq)]
pub struct TagDeletion {
    pub tag: Tag,
    /// Files only this tag kept (its snapshot had expired), now removed.
    pub removed: RemovedFiles,
}

/// Creates, reads, lists and deletes the tags of one table.
#[derive(Debug, Clone)]
pub struct TagManager {
    table: Table,
}

impl TagManager {
    pub fn new(table: Table) -> Self {
        TagManager { table }
    }

    /// Tag names present, sorted. Temporary files (hidden names) are skipped.
    pub async fn names(&self) -> Result<Vec<String>> {
        let (_, objects) = self
            .table
            .storage()
            .list_dir(&self.table.paths().tag_dir())
            .await?;
        let mut names: Vec<String> = objects
            .iter()
            .filter_map(|m| {
                m.location
                    .filename()?
                    .strip_prefix(TAG_PREFIX)
                    .map(str::to_string)
            })
            .filter(|n| !n.is_empty())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The tag, or `None` when it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Tag>> {
        let path = self.table.paths().tag_file(name)?;
        match self.table.storage().get_opt(&path).await? {
            Some(bytes) => Ok(Some(Tag::from_json(name, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The tag, or `NotFound` naming it.
    pub async fn get_or_err(&self, name: &str) -> Result<Tag> {
        self.get(name).await?.ok_or_else(|| {
            Error::not_found(format!(
                "tag '{name}' does not exist in table '{}'",
                self.table.identifier()
            ))
        })
    }

    /// Every tag, ordered by snapshot id then name. Tags deleted meanwhile are skipped.
    pub async fn list(&self) -> Result<Vec<Tag>> {
        let mut tags = Vec::new();
        for name in self.names().await? {
            if let Some(tag) = self.get(&name).await? {
                tags.push(tag);
            }
        }
        tags.sort_by(|a, b| (a.snapshot.id, &a.name).cmp(&(b.snapshot.id, &b.name)));
        Ok(tags)
    }

    /// Tags `name` on snapshot `snapshot_id` (default: the latest). `time_retained` makes it
    /// expire that long after `now_millis`. Fails if the tag exists.
    pub async fn create(
        &self,
        name: &str,
        snapshot_id: Option<i64>,
        time_retained: Option<Duration>,
        now_millis: i64,
    ) -> Result<Tag> {
        let path = self.table.paths().tag_file(name)?;
        let sm = self.table.snapshot_manager();
        let id = match snapshot_id {
            Some(id) => id,
            None => sm.latest_id().await?.ok_or_else(|| {
                Error::not_found(format!(
                    "table '{}' has no snapshot to tag",
                    self.table.identifier()
                ))
            })?,
        };
        // The raw file keeps fields this build does not model (uuid, writerVersion, …).
        let raw_bytes = self
            .table
            .storage()
            .get(&self.table.paths().snapshot_file(id))
            .await
            .map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    Error::not_found(format!(
                        "snapshot {id} does not exist in table '{}' (expired or never committed)",
                        self.table.identifier()
                    ))
                } else {
                    e
                }
            })?;
        Snapshot::from_json(&raw_bytes)?;
        let mut raw: Map<String, Value> = serde_json::from_slice(&raw_bytes)
            .map_err(|e| Error::data_invalid(format!("malformed snapshot {id}: {e}")))?;
        raw.remove(TAG_CREATE_TIME);
        raw.remove(TAG_TIME_RETAINED);
        if let Some(retained) = time_retained {
            // Without a retention Java writes the plain snapshot, for old readers.
            raw.insert(
                TAG_CREATE_TIME.into(),
                local_date_time_json(local_time(now_millis)),
            );
            raw.insert(
                TAG_TIME_RETAINED.into(),
                Value::from(retained.as_secs_f64()),
            );
        }
        let json = serde_json::to_string_pretty(&Value::Object(raw)).unwrap_or_default();
        if !self
            .table
            .storage()
            .put_if_absent(&path, Bytes::from(json.clone()))
            .await?
        {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "tag '{name}' already exists in table '{}'",
                    self.table.identifier()
                ),
            ));
        }
        failpoint::hit("tag.after-create");
        // Narrow the race with an expiry that removed the snapshot meanwhile.
        if !sm.snapshot_exists(id).await? {
            let _ = self.table.storage().delete(&path).await;
            return Err(Error::not_found(format!(
                "snapshot {id} of table '{}' expired while tag '{name}' was created; the tag was \
                 not created",
                self.table.identifier()
            )));
        }
        Tag::from_json(name, json.as_bytes())
    }

    /// Deletes a tag; when its snapshot has expired, also the files only the tag kept.
    pub async fn delete(&self, name: &str) -> Result<TagDeletion> {
        let tag = self.get_or_err(name).await?;
        let path = self.table.paths().tag_file(name)?;
        let sm = self.table.snapshot_manager();
        let storage = self.table.storage();
        let mut removed = RemovedFiles::default();
        if let Ok(meta) = storage.head(&path).await {
            removed.metadata = super::delete::Removed {
                files: 1,
                bytes: meta.size,
            };
        }
        if sm.snapshot_exists(tag.snapshot.id).await? {
            storage.delete(&path).await?;
            return Ok(TagDeletion { tag, removed });
        }
        // Read the neighbours before the tag file goes: listing finds tags by their file.
        let tags = self.list().await?;
        storage.delete(&path).await?;
        failpoint::hit("tag.delete.after-tag-file");
        if tags
            .iter()
            .any(|t| t.name != tag.name && t.snapshot.id == tag.snapshot.id)
        {
            return Ok(TagDeletion { tag, removed });
        }
        let cleaned = self.clean_expired_tag(&tag, &tags).await?;
        removed.add(&cleaned);
        Ok(TagDeletion { tag, removed })
    }

    /// Removes the files of a deleted tag whose snapshot expired, keeping whatever a
    /// neighbour or a long-lived changelog still references.
    async fn clean_expired_tag(&self, tag: &Tag, tags: &[Tag]) -> Result<RemovedFiles> {
        let reader = RefReader::new(self.table.clone());
        let id = tag.snapshot.id;
        let mut anchors: Vec<Snapshot> = Vec::new();
        if let Some(left) = tags.iter().rev().find(|t| t.snapshot.id < id) {
            anchors.push(left.snapshot.clone());
        }
        let right_tag = tags
            .iter()
            .find(|t| t.snapshot.id > id)
            .map(|t| &t.snapshot);
        let earliest = self.table.snapshot_manager().earliest_id().await?;
        let right = match (earliest, right_tag) {
            (Some(e), Some(t)) if t.id < e => Some(t.clone()),
            (Some(e), _) => Some(self.table.snapshot_manager().snapshot(e).await?),
            (None, Some(t)) => Some(t.clone()),
            (None, None) => None,
        };
        anchors.extend(right);

        let mut protected_meta = MetaRefs::default();
        let mut protected_files: HashSet<object_store::path::Path> = HashSet::new();
        for a in &anchors {
            protected_meta.extend(reader.meta_refs(a, Parts::ALL, false).await?);
            protected_files.extend(reader.live_files(a).await?);
            protected_files.extend(
                reader
                    .changelog_files(a, true)
                    .await?
                    .into_iter()
                    .map(|f| f.path),
            );
        }
        let changelogs = ChangelogManager::new(self.table.clone());
        for c in changelogs.list().await? {
            let (meta, files) = changelogs.protected_by(&reader, &c).await?;
            protected_meta.extend(meta);
            protected_files.extend(files);
        }

        let snapshot = &tag.snapshot;
        let data: Vec<FileRef> = reader
            .live_file_refs(snapshot)
            .await?
            .into_iter()
            .filter(|f| !protected_files.contains(&f.path))
            .collect();
        let changelog: Vec<FileRef> = reader
            .changelog_files(snapshot, true)
            .await?
            .into_iter()
            .filter(|f| !protected_files.contains(&f.path))
            .collect();
        let mut meta = reader.meta_refs(snapshot, Parts::ALL, true).await?;
        meta.subtract(&protected_meta);

        let storage = self.table.storage();
        let mut removed = RemovedFiles {
            data: delete_files(storage, data, None).await?,
            changelog: delete_files(storage, changelog, None).await?,
            ..RemovedFiles::default()
        };
        delete_meta(storage, self.table.paths(), &meta, &mut removed).await?;
        Ok(removed)
    }

    /// Deletes every tag whose retention has passed at `now_millis`; returns their names.
    pub async fn expire_by_time(&self, now_millis: i64) -> Result<Vec<TagDeletion>> {
        let now = local_time(now_millis);
        let mut out = Vec::new();
        for tag in self.list().await? {
            if tag.is_expired(now) {
                out.push(self.delete(&tag.name).await?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAVA_TAG: &str = r#"{"version":3,"id":5,"schemaId":0,"baseManifestList":"manifest-list-a-0","deltaManifestList":"manifest-list-a-1","commitUser":"u","commitIdentifier":1,"commitKind":"APPEND","timeMillis":1700000000000,"totalRecordCount":3,"deltaRecordCount":3,"uuid":"x-y","tagCreateTime":[2024,3,9,10,15,7,123000000],"tagTimeRetained":86400.000000000}"#;

    #[test]
    fn reads_java_tag_fields() {
        let tag = Tag::from_json("t1", JAVA_TAG.as_bytes()).unwrap();
        assert_eq!(tag.snapshot.id, 5);
        let created = tag.create_time.unwrap();
        assert_eq!(created.to_string(), "2024-03-09 10:15:07.123");
        assert_eq!(tag.time_retained, Some(Duration::from_secs(86_400)));
        assert!(!tag.is_expired(created));
        assert!(tag.is_expired(created + chrono::Duration::seconds(86_401)));
        // A snapshot written back from the tag keeps unknown fields and drops the tag ones.
        let json = tag.snapshot_json();
        assert!(json.contains("\"uuid\": \"x-y\""), "{json}");
        assert!(!json.contains(TAG_CREATE_TIME));
        assert_eq!(Snapshot::from_json(json.as_bytes()).unwrap(), tag.snapshot);
    }

    #[test]
    fn local_date_time_round_trips_in_jackson_form() {
        for text in [
            "2024-01-01 00:00:00",
            "2024-01-01 12:30:05",
            "2024-12-31 23:59:59.5",
        ] {
            let t = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap();
            let v = local_date_time_json(t);
            assert_eq!(parse_local_date_time(&v).unwrap(), t, "{v}");
        }
        assert_eq!(
            local_date_time_json(
                NaiveDateTime::parse_from_str("2024-01-01 00:00:00", "%Y-%m-%d %H:%M:%S").unwrap()
            ),
            serde_json::json!([2024, 1, 1, 0, 0])
        );
    }

    #[test]
    fn bad_tag_fields_are_named_errors() {
        for bad in [
            JAVA_TAG.replace("[2024,3,9,10,15,7,123000000]", "[2024]"),
            JAVA_TAG.replace("[2024,3,9,10,15,7,123000000]", "[2024,13,1,0,0]"),
            JAVA_TAG.replace("86400.000000000", "\"soon\""),
            JAVA_TAG.replace("86400.000000000", "-1"),
        ] {
            let e = Tag::from_json("t1", bad.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DataInvalid, "{e}");
            assert!(e.to_string().contains("tag 't1'"), "{e}");
        }
    }
}
