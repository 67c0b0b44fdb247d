//! The index manifest of the next snapshot: the previous one ⊕ a commit's index changes,
//! and invariant I10 on deletion-vector index files (see `spec/invariants.md`).
//!
//! Index files are identified by (partition, bucket, type, name). A bucket holds at most one
//! deletion-vector index file, as Paimon's bucketed combiner assumes: a change replaces it by
//! deleting the file it read and adding the new one. Requiring that the deleted file is
//! still live makes two compactions that both rewrote a bucket's vectors conflict instead
//! of one silently dropping the other's deletions.

use std::collections::{BTreeMap, HashSet};

use crate::commit::CommitMessage;
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::{FileKind, IndexFileMeta, IndexManifestEntry, DELETION_VECTORS_INDEX};

/// One commit's index changes, as manifest entries.
#[derive(Debug, Clone, Default)]
pub struct IndexChanges {
    pub added: Vec<IndexManifestEntry>,
    pub deleted: Vec<IndexManifestEntry>,
}

impl IndexChanges {
    pub fn from_messages(messages: &[CommitMessage]) -> Self {
        let mut out = IndexChanges::default();
        for m in messages {
            let entry = |kind, file: &IndexFileMeta| IndexManifestEntry {
                kind,
                partition: m.partition.clone(),
                bucket: m.bucket,
                index_file: file.clone(),
            };
            out.added
                .extend(m.new_index_files.iter().map(|f| entry(FileKind::Add, f)));
            out.deleted.extend(
                m.deleted_index_files
                    .iter()
                    .map(|f| entry(FileKind::Delete, f)),
            );
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.deleted.is_empty()
    }

    /// Partitions the changes touch.
    pub fn partitions(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.added.iter().chain(&self.deleted).map(|e| &e.partition)
    }
}

type Identity<'a> = (&'a [u8], i32, &'a str, &'a str);

fn identity(e: &IndexManifestEntry) -> Identity<'_> {
    (
        e.partition.as_slice(),
        e.bucket,
        e.index_file.index_type.as_str(),
        e.index_file.file_name.as_str(),
    )
}

fn conflict(what: String) -> Error {
    Error::new(
        ErrorKind::CommitConflict,
        format!("commit conflict (invariant I10): {what}"),
    )
}

/// The complete index state after `changes`, as ADD entries in a stable order. Fails with
/// a conflict when a deleted file is gone or a bucket would hold two deletion-vector files.
pub fn combine(
    previous: &[IndexManifestEntry],
    changes: &IndexChanges,
) -> Result<Vec<IndexManifestEntry>> {
    let live: HashSet<Identity> = previous.iter().map(identity).collect();
    for d in &changes.deleted {
        if !live.contains(&identity(d)) {
            return Err(conflict(format!(
                "index file {} of bucket {} is no longer live (a concurrent commit replaced it); \
                 recompute the change from the latest snapshot",
                d.index_file.file_name, d.bucket
            )));
        }
    }
    let deleted: HashSet<Identity> = changes.deleted.iter().map(identity).collect();
    let mut out: Vec<IndexManifestEntry> = previous
        .iter()
        .filter(|e| !deleted.contains(&identity(e)))
        .cloned()
        .collect();
    let mut seen: HashSet<Identity> = previous
        .iter()
        .filter(|e| !deleted.contains(&identity(e)))
        .map(identity)
        .collect();
    for a in &changes.added {
        if !seen.insert(identity(a)) {
            return Err(Error::new(
                ErrorKind::DataInvalid,
                format!(
                    "commit invariant I10 violated: index file {} is added twice",
                    a.index_file.file_name
                ),
            ));
        }
        out.push(IndexManifestEntry {
            kind: FileKind::Add,
            ..a.clone()
        });
    }
    let mut dv_files: BTreeMap<(&[u8], i32), &str> = BTreeMap::new();
    for e in &out {
        if e.index_file.index_type != DELETION_VECTORS_INDEX {
            continue;
        }
        if let Some(other) =
            dv_files.insert((e.partition.as_slice(), e.bucket), &e.index_file.file_name)
        {
            return Err(conflict(format!(
                "bucket {} would hold two deletion-vector index files ({other} and {}); a \
                 concurrent commit added one",
                e.bucket, e.index_file.file_name
            )));
        }
    }
    Ok(out)
}

/// I10 (c): every vector in an added deletion-vector file belongs to a data file that is
/// live in its bucket after the commit. `live` holds (partition, bucket, file name).
pub fn check_vectors_reference_live_files(
    changes: &IndexChanges,
    live: &HashSet<(Vec<u8>, i32, String)>,
) -> Result<()> {
    for a in &changes.added {
        for r in a.index_file.dv_ranges.as_deref().unwrap_or_default() {
            let key = (a.partition.clone(), a.bucket, r.data_file_name.clone());
            if !live.contains(&key) {
                return Err(conflict(format!(
                    "the deletion vector of {} in bucket {} refers to a file that is not live \
                     (a concurrent compaction removed it)",
                    r.data_file_name, a.bucket
                )));
            }
        }
    }
    Ok(())
}
