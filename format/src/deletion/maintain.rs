//! Deletion-vector maintenance during compaction, following Paimon's lookup compaction
//! (`LookupMergeTreeCompactRewriter`, `LookupChangelogMergeFunctionWrapper`); the rules are
//! written down in `spec/deletion-vectors.md`:
//!
//! 1. A compaction into output level L ≥ 1 takes every level-0 file it compacts and whole
//!    runs of levels 1..=L; every file above L that is not an input is a lookup target.
//! 2. Each key the compaction merges (written or dropped) supersedes the live copies of that
//!    key in the lookup targets: their positions join those files' deletion vectors. Data
//!    in levels ≤ L is always newer than data above L, so the superseded copies are older.
//!    Looking up only the keys whose versions all came from level 0 is enough (a key with a
//!    level ≥ 1 version had its older copies deleted when that version was written); looking
//!    up more keys changes nothing.
//! 3. Merge engines other than deduplicate (and deduplicate with `sequence.field`) must merge
//!    the newest live copy above L into the key's result before the copy is deleted
//!    ([`DvMaintainer::lookup_above`]); plain deduplicate keeps the level-0 version anyway.
//! 4. Vectors of input files disappear with the files (a file moved up a level unchanged
//!    keeps its name and its vector); outputs start without vectors.
//! 5. If anything changed, the bucket's vectors are written to one new index file that
//!    replaces the bucket's previous one in the same commit as the compaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::ArrayRef;
use futures::StreamExt;

use super::{dv_index_files, index_entries, load_bucket, DeletionVector, IndexFileWriter};
use crate::commit::CommitMessage;
use crate::data::binary_row::{encode_arrow_row, BinaryRow, BinaryRowWriter};
use crate::data::Datum;
use crate::error::{Error, Result};
use crate::lookup::{LookupCache, LookupEntry, LookupFile, LookupSpec, RowCodec};
use crate::manifest::{DataFileMeta, IndexFileMeta};
use crate::options::MergeEngine;
use crate::read::file::{read_kv_file, KvLayout};
use crate::read::runs::compare_rows;
use crate::scan::Split;
use crate::snapshot::Snapshot;
use crate::table::Table;
use crate::types::DataType;

/// Index file changes of one bucket, ready for a [`CommitMessage`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexFileChanges {
    pub new_index_files: Vec<IndexFileMeta>,
    pub deleted_index_files: Vec<IndexFileMeta>,
}

impl IndexFileChanges {
    pub fn is_empty(&self) -> bool {
        self.new_index_files.is_empty() && self.deleted_index_files.is_empty()
    }

    /// Adds these changes to a compaction's commit message.
    pub fn apply_to(self, message: &mut CommitMessage) {
        message.new_index_files.extend(self.new_index_files);
        message.deleted_index_files.extend(self.deleted_index_files);
    }
}

/// The newest live copy of a key above the output level.
#[derive(Debug, Clone, PartialEq)]
pub struct Superseded {
    pub file_name: String,
    pub level: i32,
    pub entry: LookupEntry,
}

/// A lookup target: a file above the output level with its decoded key range.
struct Target {
    meta: DataFileMeta,
    min: Vec<Option<Datum>>,
    max: Vec<Option<Datum>>,
}

/// The deletion vectors of one bucket while compactions run over it.
pub struct DvMaintainer {
    table: Table,
    split: Split,
    cache: Arc<LookupCache>,
    spec: LookupSpec,
    keys: RowCodec,
    key_types: Vec<DataType>,
    vectors: BTreeMap<String, DeletionVector>,
    base_index_files: Vec<IndexFileMeta>,
    /// Lookup targets by level, ascending; files of a level sorted by min key.
    targets: Vec<(i32, Vec<Target>)>,
    opened: HashMap<String, Arc<LookupFile>>,
    modified: bool,
}

impl DvMaintainer {
    /// The bucket of `split` at `snapshot` (the snapshot the split was planned from), with
    /// the vectors its index manifest holds. Lookup files go through `cache`.
    pub async fn open(
        table: &Table,
        snapshot: &Snapshot,
        split: &Split,
        cache: Arc<LookupCache>,
    ) -> Result<Self> {
        let entries = index_entries(table, snapshot).await?;
        let base_index_files = dv_index_files(&entries)
            .remove(&(split.partition.clone(), split.bucket))
            .unwrap_or_default();
        let vectors = load_bucket(table, &base_index_files)
            .await?
            .into_iter()
            .map(|(name, dv)| (name, Arc::unwrap_or_clone(dv)))
            .collect();
        let spec = LookupSpec::keys(table)?;
        let key_types = spec
            .key_fields()
            .iter()
            .map(|f| f.data_type.clone())
            .collect();
        Ok(DvMaintainer {
            table: table.clone(),
            split: split.clone(),
            cache,
            keys: spec.key_encoder()?,
            spec,
            key_types,
            vectors,
            base_index_files,
            targets: Vec::new(),
            opened: HashMap::new(),
            modified: false,
        })
    }

    /// Also keeps these value columns in lookup files, for [`DvMaintainer::lookup_above`].
    pub fn with_values(mut self, fields: Vec<crate::types::DataField>) -> Self {
        self.spec = self.spec.with_values(fields);
        self
    }

    /// The lookup layout in use (its value codec decodes [`Superseded`] values).
    pub fn spec(&self) -> &LookupSpec {
        &self.spec
    }

    /// The current vector of a data file.
    pub fn vector_of(&self, file_name: &str) -> Option<&DeletionVector> {
        self.vectors.get(file_name)
    }

    /// Starts a compaction of `inputs` into `output_level`: every file of the bucket above
    /// that level that is not an input becomes a lookup target (rule 1).
    pub fn begin_compaction(&mut self, inputs: &[DataFileMeta], output_level: i32) -> Result<()> {
        if output_level < 1 {
            return Err(Error::data_invalid(format!(
                "a deletion-vector compaction must write level 1 or higher, not {output_level}"
            )));
        }
        let input_names: HashSet<&str> = inputs.iter().map(|f| f.file_name.as_str()).collect();
        let mut levels: BTreeMap<i32, Vec<Target>> = BTreeMap::new();
        for f in &self.split.files {
            if f.level <= output_level || input_names.contains(f.file_name.as_str()) {
                continue;
            }
            let min = BinaryRow::decode_with_arity(&f.min_key, &self.key_types)
                .map_err(|e| e.context(format!("min key of {}", f.file_name)))?;
            let max = BinaryRow::decode_with_arity(&f.max_key, &self.key_types)
                .map_err(|e| e.context(format!("max key of {}", f.file_name)))?;
            levels.entry(f.level).or_default().push(Target {
                meta: f.clone(),
                min,
                max,
            });
        }
        for files in levels.values_mut() {
            files.sort_by(|a, b| compare_rows(&a.min, &b.min));
        }
        self.targets = levels.into_iter().collect();
        Ok(())
    }

    /// Rule 2: marks the live copies of these keys (trimmed primary key columns, one row
    /// per key) in the lookup targets deleted; returns how many rows became deleted.
    pub async fn supersede(&mut self, keys: &[ArrayRef]) -> Result<u64> {
        let rows = self.keys.encode(keys)?;
        let mut writer = BinaryRowWriter::new(self.key_types.len());
        let mut deleted = 0;
        for i in 0..rows.num_rows() {
            let probe = self.probe(keys, i, &mut writer)?;
            for (target, entries) in self.find(&probe, rows.row(i).as_ref()).await? {
                let dv = self.vectors.entry(target).or_default();
                for e in entries {
                    if dv.delete(e.position) {
                        deleted += 1;
                    }
                }
            }
        }
        if deleted > 0 {
            self.modified = true;
        }
        Ok(deleted)
    }

    /// Rule 3: the newest live copy of one key (row `row` of `keys`) above the output
    /// level: the lowest level that holds a live copy, its highest sequence number there.
    pub async fn lookup_above(
        &mut self,
        keys: &[ArrayRef],
        row: usize,
    ) -> Result<Option<Superseded>> {
        self.take_above(keys, row, false).await
    }

    /// Rules 2 and 3 for one key (row `row` of `keys`) in one step: every live copy above
    /// the output level is found; with `mark` they all become deleted. Returns the newest
    /// of them (the lowest level, its highest sequence number), whose values a merge needs.
    pub async fn take_above(
        &mut self,
        keys: &[ArrayRef],
        row: usize,
        mark: bool,
    ) -> Result<Option<Superseded>> {
        let slice: Vec<ArrayRef> = keys.iter().map(|k| k.slice(row, 1)).collect();
        let rows = self.keys.encode(&slice)?;
        let mut writer = BinaryRowWriter::new(self.key_types.len());
        let probe = self.probe(&slice, 0, &mut writer)?;
        let found = self.find(&probe, rows.row(0).as_ref()).await?;
        let mut best: Option<Superseded> = None;
        for (file_name, entries) in found {
            let level = self.level_of(&file_name);
            for entry in entries {
                if mark
                    && self
                        .vectors
                        .entry(file_name.clone())
                        .or_default()
                        .delete(entry.position)
                {
                    self.modified = true;
                }
                let better = best
                    .as_ref()
                    .is_none_or(|b| (level, -entry.sequence) < (b.level, -b.entry.sequence));
                if better {
                    best = Some(Superseded {
                        file_name: file_name.clone(),
                        level,
                        entry,
                    });
                }
            }
        }
        Ok(best)
    }

    fn level_of(&self, file_name: &str) -> i32 {
        self.targets
            .iter()
            .find(|(_, files)| files.iter().any(|t| t.meta.file_name == file_name))
            .map_or(i32::MAX, |(level, _)| *level)
    }

    fn probe(
        &self,
        keys: &[ArrayRef],
        row: usize,
        writer: &mut BinaryRowWriter,
    ) -> Result<Vec<Option<Datum>>> {
        encode_arrow_row(keys, &self.key_types, row, writer)?;
        BinaryRow::decode(writer.finish(), &self.key_types)
    }

    /// Live records of a key in every lookup target whose range holds it.
    async fn find(
        &mut self,
        probe: &[Option<Datum>],
        key: &[u8],
    ) -> Result<Vec<(String, Vec<LookupEntry>)>> {
        let mut candidates = Vec::new();
        for (_, files) in &self.targets {
            // Files of a level are disjoint: the last one starting at or below the key.
            let after = files.partition_point(|t| compare_rows(&t.min, probe).is_le());
            if let Some(t) = after.checked_sub(1).and_then(|i| files.get(i)) {
                if compare_rows(probe, &t.max).is_le() {
                    candidates.push(t.meta.clone());
                }
            }
        }
        let mut out = Vec::new();
        for meta in candidates {
            let file = self.lookup_file(&meta).await?;
            let dv = self.vectors.get(&meta.file_name);
            let live: Vec<LookupEntry> = file
                .get_all(key)?
                .into_iter()
                .filter(|e| !dv.is_some_and(|d| d.is_deleted(e.position)))
                .collect();
            if !live.is_empty() {
                out.push((meta.file_name.clone(), live));
            }
        }
        Ok(out)
    }

    async fn lookup_file(&mut self, meta: &DataFileMeta) -> Result<Arc<LookupFile>> {
        if let Some(f) = self.opened.get(&meta.file_name) {
            return Ok(f.clone());
        }
        let f = self
            .cache
            .get(
                &self.table,
                &self.split.partition_path,
                self.split.bucket,
                meta,
                &self.spec,
            )
            .await?;
        self.opened.insert(meta.file_name.clone(), f.clone());
        Ok(f)
    }

    /// Rule 4: the compaction replaced `before` with `after`. Vectors of files that are
    /// gone are dropped; the bucket's file list follows the change.
    pub fn finish_compaction(&mut self, before: &[DataFileMeta], after: &[DataFileMeta]) {
        let kept: HashSet<&str> = after.iter().map(|f| f.file_name.as_str()).collect();
        let removed: HashSet<&str> = before
            .iter()
            .map(|f| f.file_name.as_str())
            .filter(|n| !kept.contains(n))
            .collect();
        for name in &removed {
            if self.vectors.remove(*name).is_some() {
                self.modified = true;
            }
            self.opened.remove(*name);
        }
        let replaced: HashSet<&str> = before.iter().map(|f| f.file_name.as_str()).collect();
        self.split
            .files
            .retain(|f| !replaced.contains(f.file_name.as_str()));
        self.split.files.extend(after.iter().cloned());
        self.targets.clear();
    }

    /// Rule 5: writes the bucket's vectors to a new index file when they changed, and
    /// names the files it replaces. Nothing changes when nothing did.
    pub async fn write_index(&mut self, writer: &mut IndexFileWriter) -> Result<IndexFileChanges> {
        if !self.modified {
            return Ok(IndexFileChanges::default());
        }
        let new = writer
            .write(self.vectors.iter().map(|(name, dv)| (name.as_str(), dv)))
            .await?;
        let changes = IndexFileChanges {
            new_index_files: new.into_iter().collect(),
            deleted_index_files: std::mem::take(&mut self.base_index_files),
        };
        self.base_index_files = changes.new_index_files.clone();
        self.modified = false;
        Ok(changes)
    }
}

/// Whether a table's merge needs the superseded copy's values (rule 3), which
/// [`maintain_after_compaction`] cannot supply.
pub fn needs_lookup_merge(table: &Table) -> bool {
    let options = table.options();
    // With `ignore-delete` a level-0 retraction does not replace the old copy either.
    options.merge_engine() != MergeEngine::Deduplicate
        || !options.sequence_fields().is_empty()
        || options.ignore_delete()
}

/// The deletion-vector side of one compaction of a deduplicate table (without
/// `sequence.field`): reads the keys of the level-0 files among `before`, marks their
/// copies above `output_level` deleted, drops the vectors of replaced files, and writes the
/// bucket's new index file. Add the result to the compaction's commit message.
///
/// `split` and `snapshot` are what the compaction was planned from. Other merge engines
/// merge the superseded copy into the result, so their compaction drives a
/// [`DvMaintainer`] itself; they get `Unsupported` here.
pub async fn maintain_after_compaction(
    table: &Table,
    snapshot: &Snapshot,
    split: &Split,
    cache: Arc<LookupCache>,
    before: &[DataFileMeta],
    after: &[DataFileMeta],
    output_level: i32,
) -> Result<IndexFileChanges> {
    if needs_lookup_merge(table) {
        return Err(Error::unsupported(format!(
            "table '{}' merges with merge-engine '{}'{}{}: its compaction must merge the \
             copies it supersedes (DvMaintainer::take_above) before they are deleted",
            table.identifier(),
            table.options().merge_engine(),
            if table.options().sequence_fields().is_empty() {
                ""
            } else {
                " and sequence.field"
            },
            if table.options().ignore_delete() {
                " and ignore-delete"
            } else {
                ""
            }
        )));
    }
    let mut maintainer = DvMaintainer::open(table, snapshot, split, cache).await?;
    maintainer.begin_compaction(before, output_level)?;
    let layout = KvLayout::new(maintainer.spec().key_fields().to_vec());
    for file in before.iter().filter(|f| f.level == 0) {
        let file_schema = table.schema_manager().schema(file.schema_id).await?;
        let path = table
            .paths()
            .data_file(&split.partition_path, split.bucket, &file.file_name);
        let mut stream = read_kv_file(
            table.storage(),
            &path,
            file.file_size,
            &file_schema,
            &layout,
            crate::read::DEFAULT_BATCH_SIZE,
            None,
        )
        .await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let keys: Vec<ArrayRef> = batch.columns().iter().skip(2).cloned().collect();
            maintainer.supersede(&keys).await?;
        }
    }
    maintainer.finish_compaction(before, after);
    maintainer
        .write_index(&mut IndexFileWriter::new(table.clone()))
        .await
}
