//! The numbered commit invariants of `spec/invariants.md`, checked before every snapshot is
//! published. Each check names its invariant in the error so a failure points at the rule.

use std::collections::{BTreeMap, HashMap};

use crate::commit::CommitMessage;
use crate::data::binary_row::BinaryRow;
use crate::data::Datum;
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::{self, FileKind, ManifestEntry};
use crate::read::runs::compare_rows;
use crate::snapshot::{CommitKind, Snapshot};
use crate::table::Table;
use crate::types::DataType;

/// (min key, max key, file name) of one file.
type KeyRange<'a> = (Vec<Option<Datum>>, Vec<Option<Datum>>, &'a str);

fn violated(n: u32, what: String) -> Error {
    Error::new(
        ErrorKind::DataInvalid,
        format!("commit invariant I{n} violated: {what}"),
    )
}

fn conflict(n: u32, what: String) -> Error {
    Error::new(
        ErrorKind::CommitConflict,
        format!("commit conflict (invariant I{n}): {what}"),
    )
}

/// I6: a message's buckets are within its bucket count and its files are well formed.
pub fn check_message(m: &CommitMessage) -> Result<()> {
    if m.total_buckets < 1 || m.bucket < 0 || m.bucket >= m.total_buckets {
        return Err(violated(
            6,
            format!("bucket {} outside 0..{}", m.bucket, m.total_buckets),
        ));
    }
    for f in m
        .new_files
        .iter()
        .chain(&m.compact_after)
        .chain(&m.changelog_files)
        .chain(&m.compact_changelog_files)
    {
        if f.file_name.is_empty() || f.file_name.contains('/') || f.file_name.contains("..") {
            return Err(violated(6, format!("bad data file name {:?}", f.file_name)));
        }
        if f.row_count < 0 || f.file_size < 0 || f.min_sequence_number > f.max_sequence_number {
            return Err(violated(
                6,
                format!(
                    "file {} has inconsistent counts or sequence range",
                    f.file_name
                ),
            ));
        }
    }
    for f in m.new_index_files.iter().chain(&m.deleted_index_files) {
        let name = &f.file_name;
        if name.is_empty() || name.contains('/') || name.contains("..") {
            return Err(violated(6, format!("bad index file name {name:?}")));
        }
    }
    if m.new_files.iter().any(|f| f.level != 0) {
        return Err(violated(
            6,
            "new files from writes must be at level 0".into(),
        ));
    }
    Ok(())
}

/// I2–I5 and I8 against the base state of the touched partitions.
pub fn check_commit(
    table: &Table,
    kind: CommitKind,
    schema_id: i64,
    base: &[ManifestEntry],
    delta: &[ManifestEntry],
) -> Result<()> {
    // I8: files are written with a schema that exists and is not newer than the snapshot's.
    if let Some(e) = delta.iter().find(|e| e.file.schema_id > schema_id) {
        return Err(violated(
            8,
            format!(
                "file {} was written with schema {} but the latest schema is {schema_id}",
                e.file.file_name, e.file.schema_id
            ),
        ));
    }
    // I4: the bucket count of a partition never changes.
    let mut buckets: HashMap<&[u8], i32> = HashMap::new();
    for e in base.iter().chain(delta) {
        let known = *buckets
            .entry(e.partition.as_slice())
            .or_insert(e.total_buckets);
        if known != e.total_buckets && kind != CommitKind::Overwrite {
            return Err(conflict(
                4,
                format!(
                    "table '{}' has a partition written with {known} buckets; this commit uses {} \
                     (changing the bucket count needs a rescale)",
                    table.identifier(),
                    e.total_buckets
                ),
            ));
        }
    }
    // I2 + I3: every DELETE removes a live file and no file is added twice.
    let merged = manifest::merge_entries(base.iter().chain(delta).cloned())
        .map_err(|e| conflict(3, format!("{} (a file would be added twice)", e.message())))?;
    if let Some(d) = merged.iter().find(|e| e.kind == FileKind::Delete) {
        return Err(conflict(
            2,
            format!(
                "file {} to be replaced is no longer live in '{}' (a concurrent compaction or \
                 overwrite removed it)",
                d.file.file_name,
                table.identifier()
            ),
        ));
    }
    // I5: files at level ≥ 1 of one bucket do not overlap in key range.
    let key_types: Vec<DataType> = table
        .schema()
        .trimmed_primary_key_fields()
        .iter()
        .map(|f| f.data_type.clone())
        .collect();
    let touched: std::collections::HashSet<(&[u8], i32)> = delta
        .iter()
        .filter(|e| e.file.level > 0)
        .map(|e| (e.partition.as_slice(), e.bucket))
        .collect();
    if touched.is_empty() || key_types.is_empty() {
        return Ok(());
    }
    let mut levels: BTreeMap<(&[u8], i32, i32), Vec<KeyRange>> = BTreeMap::new();
    for e in &merged {
        if e.file.level == 0 || !touched.contains(&(e.partition.as_slice(), e.bucket)) {
            continue;
        }
        let min = BinaryRow::decode_with_arity(&e.file.min_key, &key_types)?;
        let max = BinaryRow::decode_with_arity(&e.file.max_key, &key_types)?;
        levels
            .entry((e.partition.as_slice(), e.bucket, e.file.level))
            .or_default()
            .push((min, max, e.file.file_name.as_str()));
    }
    for ((_, bucket, level), mut files) in levels {
        files.sort_by(|a, b| compare_rows(&a.0, &b.0));
        for pair in files.windows(2) {
            if compare_rows(&pair[0].1, &pair[1].0) != std::cmp::Ordering::Less {
                return Err(conflict(
                    5,
                    format!(
                        "files {} and {} overlap at level {level} of bucket {bucket}",
                        pair[0].2, pair[1].2
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// I1 and I7 on the snapshot about to be published.
pub fn check_snapshot(previous: Option<&Snapshot>, next: &Snapshot) -> Result<()> {
    let expected = previous.map_or(1, |p| p.id + 1);
    if next.id != expected {
        return Err(violated(
            1,
            format!("snapshot id {} after {}", next.id, expected - 1),
        ));
    }
    if next.total_record_count.unwrap_or(0) < 0 {
        return Err(violated(
            7,
            format!(
                "snapshot {} would hold {} records",
                next.id,
                next.total_record_count.unwrap_or(0)
            ),
        ));
    }
    if let Some(p) = previous {
        if next.schema_id < p.schema_id {
            return Err(violated(
                8,
                format!(
                    "schema id went back from {} to {}",
                    p.schema_id, next.schema_id
                ),
            ));
        }
    }
    Ok(())
}
