//! Reading a table's changes: the rows a snapshot added, removed or updated, each with its
//! row kind (`+I`, `-U`, `+U`, `-D`), for consumers that keep something derived up to date
//! (a downstream table, an aggregate, a search index).
//!
//! ```text
//!  changelog-producer   a snapshot's changes are read from            full phase reads
//!  ──────────────────   ────────────────────────────────────────────  ────────────────
//!  none                 the new files of APPEND snapshots (delta)      every level
//!  input                its changelog files (raw input rows)           every level
//!  lookup               its changelog files (COMPACT snapshots)        levels ≥ 1
//!  full-compaction      its changelog files (full compactions)         the last level
//! ```
//!
//! Changes are read without merging: every stored row of a change file, as its
//! `_VALUE_KIND` says, in file order; the files of one bucket and snapshot in sequence
//! order. A *full phase* (the rows of one snapshot as `+I`, before the changes after it)
//! reads only what the changelog has already covered: level-0 files of a `lookup` table
//! and everything below the last level of a `full-compaction` table get their changelog
//! later, so reading them now would deliver those rows twice. `spec/changelog.md` has the
//! rules and what the `none` delta cannot give (it is not a complete changelog).
//!
//! [`ChangeReader`] reads one snapshot's changes, a full phase, or the changes between two
//! snapshots (`incremental-between`); [`ChangeFollower`] follows new snapshots as they
//! are committed (`scan.mode`), keeping its progress in a consumer file when asked.

mod follow;

use arrow_array::{Int8Array, RecordBatch};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, ErrorKind, Result};
use crate::maintenance::ChangelogManager;
use crate::manifest::FileKind;
use crate::merge::RowKind;
use crate::options::ChangelogProducer;
use crate::read::file::{read_kv_file, KvLayout};
use crate::read::{TableRead, DEFAULT_BATCH_SIZE};
use crate::scan::{Split, TableScan};
use crate::snapshot::{CommitKind, Snapshot};
use crate::table::Table;

pub use follow::{ChangeFollower, SnapshotChanges, StartMode};

/// Rows of one snapshot's changes (or of a full phase), with one kind per row.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    /// The snapshot the rows belong to: whose changes they are, or the full phase's.
    pub snapshot_id: i64,
    pub kinds: Vec<RowKind>,
    /// The table's columns, one row per kind.
    pub rows: RecordBatch,
}

/// Where a snapshot's changes are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSource {
    /// The files of the snapshot's changelog manifest list (`input`, `lookup`,
    /// `full-compaction`).
    Changelog,
    /// The files APPEND snapshots added (`none`): the rows as each flush stored them,
    /// merged within the flush, without before-images.
    Delta,
}

impl ChangeSource {
    /// The source Paimon's streaming reads use for `table`: the delta for `none`, else the
    /// changelog.
    pub fn for_table(table: &Table) -> Self {
        match table.options().changelog_producer() {
            ChangelogProducer::None => ChangeSource::Delta,
            _ => ChangeSource::Changelog,
        }
    }

    /// `incremental-between-scan-mode`: `auto` (by the table), `delta` or `changelog`.
    pub fn parse(mode: &str, table: &Table) -> Result<Self> {
        match mode.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::for_table(table)),
            "delta" => Ok(ChangeSource::Delta),
            "changelog" => Ok(ChangeSource::Changelog),
            other => Err(Error::unsupported(format!(
                "incremental-between-scan-mode '{other}' is not supported; use auto, delta or \
                 changelog"
            ))),
        }
    }
}

/// Reads the changes of a table's snapshots; see the module docs.
#[derive(Clone)]
pub struct ChangeReader {
    table: Table,
    source: ChangeSource,
    batch_size: usize,
}

impl ChangeReader {
    /// A reader with the table's own source ([`ChangeSource::for_table`]).
    pub fn new(table: Table) -> Self {
        let source = ChangeSource::for_table(&table);
        ChangeReader {
            table,
            source,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }

    pub fn with_source(mut self, source: ChangeSource) -> Self {
        self.source = source;
        self
    }

    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn source(&self) -> ChangeSource {
        self.source
    }

    /// Whether `snapshot` has changes for this reader's source.
    pub fn has_changes(&self, snapshot: &Snapshot) -> bool {
        match self.source {
            ChangeSource::Changelog => snapshot.changelog_manifest_list.is_some(),
            ChangeSource::Delta => snapshot.commit_kind == CommitKind::Append,
        }
    }

    /// The snapshot with `id`, from its snapshot file or, once that expired, from the
    /// long-lived changelog that kept its changes; `None` when neither exists.
    pub async fn snapshot(&self, id: i64) -> Result<Option<Snapshot>> {
        match self.table.snapshot_manager().snapshot(id).await {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                ChangelogManager::new(self.table.clone()).get(id).await
            }
            Err(e) => Err(e),
        }
    }

    /// The oldest snapshot whose changes can still be read: the earliest snapshot, or an
    /// older long-lived changelog.
    pub async fn earliest_id(&self) -> Result<Option<i64>> {
        let snapshot = self.table.snapshot_manager().earliest_id().await?;
        let changelog = if self.table.options().changelog_lifecycle_decoupled() {
            ChangelogManager::new(self.table.clone())
                .list_ids()
                .await?
                .first()
                .copied()
        } else {
            None
        };
        Ok(match (snapshot, changelog) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// The files holding `snapshot`'s changes, one split per bucket, each split's files in
    /// sequence order. Empty when the snapshot has no changes for this source.
    pub async fn change_splits(&self, snapshot: &Snapshot) -> Result<Vec<Split>> {
        let list = match self.source {
            ChangeSource::Changelog => match &snapshot.changelog_manifest_list {
                Some(l) => l,
                None => return Ok(Vec::new()),
            },
            ChangeSource::Delta if snapshot.commit_kind == CommitKind::Append => {
                &snapshot.delta_manifest_list
            }
            ChangeSource::Delta => return Ok(Vec::new()),
        };
        let scan = TableScan::new(self.table.clone());
        let entries = scan
            .list_entries(list)
            .await
            .map_err(|e| e.context(format!("the changes of snapshot {}", snapshot.id)))?
            .into_iter()
            .filter(|e| e.kind == FileKind::Add)
            .collect();
        let mut splits = scan.group_entries(entries)?;
        for split in &mut splits {
            split.files.sort_by(|a, b| {
                (a.min_sequence_number, a.max_sequence_number, &a.file_name).cmp(&(
                    b.min_sequence_number,
                    b.max_sequence_number,
                    &b.file_name,
                ))
            });
        }
        Ok(splits)
    }

    /// Streams the changes of one snapshot: every row of its change files with its kind.
    pub async fn snapshot_changes(
        &self,
        snapshot: &Snapshot,
    ) -> Result<BoxStream<'static, Result<ChangeBatch>>> {
        let splits = self.change_splits(snapshot).await?;
        let table = self.table.clone();
        let batch_size = self.batch_size;
        let snapshot_id = snapshot.id;
        let layout = KvLayout::new(table.schema().fields.clone());
        let files: Vec<(Split, crate::manifest::DataFileMeta)> = splits
            .into_iter()
            .flat_map(|s| {
                let files = s.files.clone();
                files.into_iter().map(move |f| (s.clone(), f))
            })
            .collect();
        Ok(futures::stream::iter(files)
            .then(move |(split, file)| {
                let table = table.clone();
                let layout = layout.clone();
                async move {
                    let file_schema = table.schema_manager().schema(file.schema_id).await?;
                    let path = table.paths().data_file(
                        &split.partition_path,
                        split.bucket,
                        &file.file_name,
                    );
                    let stream = read_kv_file(
                        table.storage(),
                        &path,
                        file.file_size,
                        &file_schema,
                        &layout,
                        batch_size,
                        None,
                    )
                    .await?;
                    Ok::<_, Error>(stream.map(move |b| to_change_batch(snapshot_id, b?)))
                }
            })
            .try_flatten()
            .boxed())
    }

    /// The rows of `snapshot` as `+I`: the full phase before the changes after it. Reads
    /// only what the table's changelog has covered (see the module docs).
    pub async fn full_rows(
        &self,
        snapshot_id: i64,
    ) -> Result<BoxStream<'static, Result<ChangeBatch>>> {
        let mut plan = TableScan::new(self.table.clone())
            .with_snapshot(Some(snapshot_id))
            .plan()
            .await?;
        if self.source == ChangeSource::Changelog {
            let options = self.table.options();
            let keep: Box<dyn Fn(i32) -> bool + Send> = match options.changelog_producer() {
                ChangelogProducer::Lookup => Box::new(|level| level > 0),
                ChangelogProducer::FullCompaction => {
                    let last = options.num_levels() - 1;
                    Box::new(move |level| level == last)
                }
                _ => Box::new(|_| true),
            };
            for split in &mut plan.splits {
                split.files.retain(|f| keep(f.level));
            }
            plan.splits.retain(|s| !s.files.is_empty());
        }
        let batches = TableRead::new(self.table.clone())
            .with_batch_size(self.batch_size)
            .read_plan(plan)?;
        Ok(batches
            .map(move |b| {
                let rows = b?;
                Ok(ChangeBatch {
                    snapshot_id,
                    kinds: vec![RowKind::Insert; rows.num_rows()],
                    rows,
                })
            })
            .boxed())
    }

    /// The changes of snapshots `from + 1 ..= to`, snapshot after snapshot
    /// (`incremental-between` = `from,to`). Both ends must be within the snapshots whose
    /// changes are retained: `from` at least the earliest minus one, `to` at most the latest.
    pub async fn between(
        &self,
        from: i64,
        to: i64,
    ) -> Result<BoxStream<'static, Result<ChangeBatch>>> {
        let earliest = self.earliest_id().await?;
        let latest = self.table.snapshot_manager().latest_id().await?;
        let (Some(earliest), Some(latest)) = (earliest, latest) else {
            return Err(Error::not_found(format!(
                "table '{}' has no snapshots to read changes from",
                self.table.identifier()
            )));
        };
        if from > to || from < earliest - 1 || to > latest {
            return Err(Error::data_invalid(format!(
                "the changes between snapshots {from} and {to} cannot be read from table '{}': \
                 changes are retained for snapshots {earliest}..={latest}, so the range must \
                 satisfy {} <= from <= to <= {latest}",
                self.table.identifier(),
                earliest - 1
            )));
        }
        let this = self.clone();
        Ok(futures::stream::iter(from + 1..=to)
            .then(move |id| {
                let this = this.clone();
                async move {
                    let snapshot = this.snapshot(id).await?.ok_or_else(|| {
                        Error::not_found(format!(
                            "snapshot {id} of table '{}' expired while its changes were read",
                            this.table.identifier()
                        ))
                    })?;
                    this.snapshot_changes(&snapshot).await
                }
            })
            .try_flatten()
            .boxed())
    }

    /// [`ChangeReader::between`] from `incremental-between` = `start,end` (snapshot ids).
    pub async fn incremental_between(
        &self,
        spec: &str,
    ) -> Result<BoxStream<'static, Result<ChangeBatch>>> {
        let (from, to) = parse_between(spec)?;
        self.between(from, to).await
    }
}

/// Parses `start,end` snapshot ids.
pub fn parse_between(spec: &str) -> Result<(i64, i64)> {
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [a, b] => match (a.parse::<i64>(), b.parse::<i64>()) {
            (Ok(a), Ok(b)) => Ok((a, b)),
            _ => Err(bad_between(spec)),
        },
        _ => Err(bad_between(spec)),
    }
}

fn bad_between(spec: &str) -> Error {
    Error::data_invalid(format!(
        "incremental-between '{spec}' is not two snapshot ids 'start,end' (tags and \
         timestamps are not supported)"
    ))
}

/// A key-value batch (`_SEQUENCE_NUMBER`, `_VALUE_KIND`, columns) as a [`ChangeBatch`].
fn to_change_batch(snapshot_id: i64, batch: RecordBatch) -> Result<ChangeBatch> {
    let kinds = batch
        .column(1)
        .as_any()
        .downcast_ref::<Int8Array>()
        .ok_or_else(|| Error::data_invalid("_VALUE_KIND is not TINYINT"))?
        .values()
        .iter()
        .map(|k| {
            RowKind::from_byte(*k).ok_or_else(|| {
                Error::data_invalid(format!(
                    "a change file of snapshot {snapshot_id} holds the unknown row kind {k}"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let columns: Vec<usize> = (2..batch.num_columns()).collect();
    let rows = batch.project(&columns)?;
    Ok(ChangeBatch {
        snapshot_id,
        kinds,
        rows,
    })
}
