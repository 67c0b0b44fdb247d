//! Merging manifest entries by file identity, as Java's `FileEntry.mergeEntries` does.
//!
//! Entries are applied in order (base manifests, then delta manifests, each in file order):
//! - ADD of an identifier already in the map is an error (the file was added twice);
//! - DELETE of an identifier in the map removes it (the ADD and the DELETE cancel);
//! - DELETE of an identifier not in the map is kept: its ADD lives in manifests not read.
//!
//! A kept DELETE does not cancel a *later* ADD: Java's map then already holds the identifier,
//! so the ADD fails as "already added". A second DELETE of the same identifier removes the
//! kept DELETE (Java's quirk, reproduced). The result keeps Java's `LinkedHashMap` order:
//! first-insertion order of the surviving identifiers, where a removed identifier that comes
//! back is ordered by its new insertion.

use std::collections::HashMap;
use std::fmt;

use super::entry::{FileKind, ManifestEntry};
use crate::error::Result;
use crate::invalid;

/// What makes two entries refer to the same file (Java `FileEntry.Identifier`). The level is
/// part of it, so moving a file to another level is a DELETE plus an ADD.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileIdentifier {
    pub partition: Vec<u8>,
    pub bucket: i32,
    pub level: i32,
    pub file_name: String,
    pub extra_files: Vec<String>,
    pub embedded_index: Option<Vec<u8>>,
    pub external_path: Option<String>,
}

impl ManifestEntry {
    pub fn identifier(&self) -> FileIdentifier {
        FileIdentifier {
            partition: self.partition.clone(),
            bucket: self.bucket,
            level: self.file.level,
            file_name: self.file.file_name.clone(),
            extra_files: self.file.extra_files.clone(),
            embedded_index: self.file.embedded_index.clone(),
            external_path: self.file.external_path.clone(),
        }
    }
}

impl fmt::Display for FileIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{file={}, partition=0x{}, bucket={}, level={}, extraFiles={:?}",
            self.file_name,
            hex(&self.partition),
            self.bucket,
            self.level,
            self.extra_files
        )?;
        if let Some(index) = &self.embedded_index {
            write!(f, ", embeddedIndex=0x{}", hex(index))?;
        }
        if let Some(path) = &self.external_path {
            write!(f, ", externalPath={path}")?;
        }
        f.write_str("}")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Merges entries by file identity; see the module docs for the exact rules. The result holds
/// the surviving ADDs and the unmatched DELETEs.
pub fn merge_entries(
    entries: impl IntoIterator<Item = ManifestEntry>,
) -> Result<Vec<ManifestEntry>> {
    // Insertion-ordered map: slots in insertion order, index by identifier.
    let mut slots: Vec<Option<ManifestEntry>> = Vec::new();
    let mut index: HashMap<FileIdentifier, usize> = HashMap::new();
    for entry in entries {
        let id = entry.identifier();
        match entry.kind {
            FileKind::Add => {
                if let Some(&slot) = index.get(&id) {
                    let old = slots[slot].as_ref().map_or(FileKind::Add, |e| e.kind);
                    return Err(invalid!(
                        "manifest merge: trying to add file {id} which is already in the merged \
                         entries (as {old})"
                    ));
                }
                index.insert(id, slots.len());
                slots.push(Some(entry));
            }
            FileKind::Delete => match index.remove(&id) {
                Some(slot) => slots[slot] = None,
                None => {
                    index.insert(id, slots.len());
                    slots.push(Some(entry));
                }
            },
        }
    }
    Ok(slots.into_iter().flatten().collect())
}

/// What [`live_entries`] does with a DELETE whose ADD was not among the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchedDeletes {
    /// Drop it silently: right when only part of the history was read.
    Ignore,
    /// Fail: right when base + delta manifests are the full history of the table.
    Reject,
}

/// Merges entries and returns only the live files (the surviving ADDs), in merge order.
pub fn live_entries(
    entries: impl IntoIterator<Item = ManifestEntry>,
    unmatched: UnmatchedDeletes,
) -> Result<Vec<ManifestEntry>> {
    let merged = merge_entries(entries)?;
    if unmatched == UnmatchedDeletes::Reject {
        if let Some(delete) = merged.iter().find(|e| e.kind == FileKind::Delete) {
            let total = merged.iter().filter(|e| e.kind == FileKind::Delete).count();
            return Err(invalid!(
                "manifest merge: DELETE of file {} has no matching ADD ({total} unmatched \
                 DELETE entries in total); the file was never added or was already deleted",
                delete.identifier()
            ));
        }
    }
    Ok(merged
        .into_iter()
        .filter(|e| e.kind == FileKind::Add)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::manifest::test_util::{bare_data_file, entry};

    fn add(name: &str, level: i32) -> ManifestEntry {
        entry(FileKind::Add, 0, bare_data_file(name, level))
    }

    fn del(name: &str, level: i32) -> ManifestEntry {
        entry(FileKind::Delete, 0, bare_data_file(name, level))
    }

    fn names(entries: &[ManifestEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| format!("{}:{}@{}", e.kind, e.file.file_name, e.file.level))
            .collect()
    }

    #[test]
    fn add_then_delete_cancels_and_order_is_insertion_order() {
        let merged = merge_entries([add("a", 0), add("b", 0), del("a", 0), add("a", 0)]).unwrap();
        assert_eq!(names(&merged), ["ADD:b@0", "ADD:a@0"]);
    }

    #[test]
    fn level_is_part_of_the_identity() {
        // An upgrade-only compaction: same file, new level.
        let merged = merge_entries([add("a", 0), del("a", 0), add("a", 5)]).unwrap();
        assert_eq!(names(&merged), ["ADD:a@5"]);
        let merged = merge_entries([add("a", 0), del("a", 1)]).unwrap();
        assert_eq!(names(&merged), ["ADD:a@0", "DELETE:a@1"]);
    }

    #[test]
    fn every_identifier_field_matters() {
        let mut other = del("a", 0);
        other.file.extra_files = vec!["a.index".into()];
        assert_eq!(merge_entries([add("a", 0), other]).unwrap().len(), 2);
        let mut other = del("a", 0);
        other.file.external_path = Some("s3://x/a".into());
        assert_eq!(merge_entries([add("a", 0), other]).unwrap().len(), 2);
        let mut other = del("a", 0);
        other.file.embedded_index = Some(vec![1]);
        assert_eq!(merge_entries([add("a", 0), other]).unwrap().len(), 2);
        let mut other = del("a", 0);
        other.bucket = 1;
        assert_eq!(merge_entries([add("a", 0), other]).unwrap().len(), 2);
        let mut other = del("a", 0);
        other.partition = vec![0; 12];
        assert_eq!(merge_entries([add("a", 0), other]).unwrap().len(), 2);
        // Fields outside the identifier do not matter.
        let mut same = del("a", 0);
        same.file.row_count = 99;
        same.total_buckets = 7;
        assert!(merge_entries([add("a", 0), same]).unwrap().is_empty());
    }

    #[test]
    fn duplicate_add_fails() {
        let err = merge_entries([add("a", 0), add("a", 0)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataInvalid);
        assert!(err.message().contains("file=a,"), "{err}");
        assert!(err.message().contains("already"), "{err}");
    }

    #[test]
    fn unmatched_delete_is_kept_and_does_not_cancel_a_later_add() {
        let merged = merge_entries([del("a", 0), add("b", 0)]).unwrap();
        assert_eq!(names(&merged), ["DELETE:a@0", "ADD:b@0"]);
        // As in Java, the kept DELETE occupies the identifier: a later ADD is a duplicate.
        let err = merge_entries([del("a", 0), add("a", 0)]).unwrap_err();
        assert!(err.message().contains("(as DELETE)"), "{err}");
        // Java quirk: a second DELETE removes the kept DELETE.
        assert!(merge_entries([del("a", 0), del("a", 0)])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn live_entries_handles_unmatched_deletes() {
        let input = || [add("b", 0), del("a", 0), add("c", 1)];
        let live = live_entries(input(), UnmatchedDeletes::Ignore).unwrap();
        assert_eq!(names(&live), ["ADD:b@0", "ADD:c@1"]);
        let err = live_entries(input(), UnmatchedDeletes::Reject).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataInvalid);
        assert!(err.message().contains("DELETE of file {file=a,"), "{err}");
        assert!(err.message().contains("no matching ADD"), "{err}");
        let live = live_entries([add("a", 0), del("a", 0)], UnmatchedDeletes::Reject).unwrap();
        assert!(live.is_empty());
    }
}
