//! Lookup compaction: what a compaction of a deletion-vector or `first-row` table does with
//! the keys it merges, by looking them up in the levels above its output level (Paimon's
//! `LookupMergeTreeCompactRewriter`; rules in `spec/deletion-vectors.md` and
//! `spec/compaction.md`).
//!
//! Both kinds of table are read without level 0 and without merging across levels, so a
//! compaction that moves level-0 data up must leave at most one live copy of each key above
//! level 0:
//!
//! - **Deletion vectors.** A key whose versions all come from level 0 may have an older live
//!   copy above the output level. That copy is marked deleted in its file's vector. When the
//!   merge engine needs the old values (everything but plain deduplicate, see
//!   [`needs_lookup_merge`]), the copy is first added to the key's versions, so the output
//!   holds the merge of old and new. Retractions are never written: the vector does their
//!   job.
//! - **first-row.** A key whose versions all come from level 0 and that exists above the
//!   output level already has its first row there: the level-0 versions are dropped.
//!
//! Keys with a version from a level ≥ 1 input need no lookup: that version is the one live
//! copy above level 0, and it takes part in the merge.
//!
//! The merge ([`crate::read::merge::MergeRead`]) calls [`LevelLookup::level0_key`] for every
//! such key; one [`UnitLookup`] spans all rewrites of a unit and, at the end, writes the
//! bucket's new index file ([`UnitLookup::finish`]).

use std::sync::Arc;

use arrow_array::ArrayRef;
use tokio::sync::Mutex;

use crate::deletion::maintain::{needs_lookup_merge, DvMaintainer, IndexFileChanges};
use crate::deletion::IndexFileWriter;
use crate::error::{Error, Result};
use crate::lookup::{LookupCache, RowCodec};
use crate::manifest::DataFileMeta;
use crate::merge::RowKind;
use crate::options::MergeEngine;
use crate::scan::Split;
use crate::snapshot::Snapshot;
use crate::table::Table;

/// What a lookup does with a level-0-only key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Mark the old copies deleted; the merge of the level-0 versions is the result.
    Supersede,
    /// Mark the old copies deleted and merge the newest of them into the key's versions.
    MergeOld,
    /// `first-row`: the key is dropped when a copy exists above.
    DropIfPresent,
}

/// The outcome of looking one key up.
pub enum Found {
    /// Merge the key's versions as they are.
    Nothing,
    /// Write nothing for the key.
    Drop,
    /// Add this older version (one row per field of the table schema, in schema order) to
    /// the key's versions before merging.
    Old {
        sequence: i64,
        kind: RowKind,
        values: Vec<ArrayRef>,
    },
}

/// Whether a table's compactions look keys up in higher levels.
pub fn uses_lookup(table: &Table) -> bool {
    let options = table.options();
    options.deletion_vectors_enabled() || options.merge_engine() == MergeEngine::FirstRow
}

/// The lookup side of one compaction unit; see the module docs.
pub struct UnitLookup {
    maintainer: Arc<Mutex<DvMaintainer>>,
    action: Action,
    values: Option<Arc<RowCodec>>,
    vectors: bool,
}

impl UnitLookup {
    /// Prepares the lookups of a unit of `split` (planned at `snapshot`) into
    /// `output_level`; `None` when the table needs none.
    pub async fn open(
        table: &Table,
        snapshot: &Snapshot,
        split: &Split,
        inputs: &[DataFileMeta],
        output_level: i32,
        cache: Arc<LookupCache>,
    ) -> Result<Option<UnitLookup>> {
        if !uses_lookup(table) {
            return Ok(None);
        }
        let vectors = table.options().deletion_vectors_enabled();
        let action = if !vectors {
            Action::DropIfPresent
        } else if needs_lookup_merge(table) {
            Action::MergeOld
        } else {
            Action::Supersede
        };
        let mut maintainer = DvMaintainer::open(table, snapshot, split, cache).await?;
        let mut values = None;
        if action == Action::MergeOld {
            maintainer = maintainer.with_values(table.schema().fields.clone());
            values = maintainer.spec().value_codec()?.map(Arc::new);
        }
        maintainer.begin_compaction(inputs, output_level)?;
        Ok(Some(UnitLookup {
            maintainer: Arc::new(Mutex::new(maintainer)),
            action,
            values,
            vectors,
        }))
    }

    /// The hook one rewrite's merge calls.
    pub fn hook(&self) -> LevelLookup {
        LevelLookup {
            maintainer: self.maintainer.clone(),
            action: self.action,
            values: self.values.clone(),
        }
    }

    /// After every rewrite of the unit: the vectors of replaced files go, and if any vector
    /// changed the bucket's new index file is written. Add the result to the commit.
    pub async fn finish(
        self,
        table: &Table,
        before: &[DataFileMeta],
        after: &[DataFileMeta],
    ) -> Result<IndexFileChanges> {
        if !self.vectors {
            return Ok(IndexFileChanges::default());
        }
        let mut maintainer = self.maintainer.lock().await;
        maintainer.finish_compaction(before, after);
        maintainer
            .write_index(&mut IndexFileWriter::new(table.clone()))
            .await
    }
}

/// The lookups of one merge (cheap to clone; shares the unit's state).
#[derive(Clone)]
pub struct LevelLookup {
    maintainer: Arc<Mutex<DvMaintainer>>,
    action: Action,
    values: Option<Arc<RowCodec>>,
}

impl LevelLookup {
    /// Looks up one key whose versions all come from level 0 (`keys`: one single-row
    /// array per trimmed primary key field).
    pub async fn level0_key(&self, keys: &[ArrayRef]) -> Result<Found> {
        let mut maintainer = self.maintainer.lock().await;
        let mark = self.action != Action::DropIfPresent;
        let Some(old) = maintainer.take_above(keys, 0, mark).await? else {
            return Ok(Found::Nothing);
        };
        match self.action {
            Action::Supersede => Ok(Found::Nothing),
            Action::DropIfPresent => Ok(Found::Drop),
            Action::MergeOld => {
                let codec = self
                    .values
                    .as_ref()
                    .ok_or_else(|| Error::internal("a lookup merge without value columns"))?;
                let bytes = old.entry.value.as_deref().ok_or_else(|| {
                    Error::internal(format!(
                        "the lookup file of {} holds no values",
                        old.file_name
                    ))
                })?;
                let kind = RowKind::from_byte(old.entry.kind).ok_or_else(|| {
                    Error::data_invalid(format!(
                        "unknown _VALUE_KIND {} in {}",
                        old.entry.kind, old.file_name
                    ))
                })?;
                Ok(Found::Old {
                    sequence: old.entry.sequence,
                    kind,
                    values: codec.decode(&[bytes])?,
                })
            }
        }
    }
}
