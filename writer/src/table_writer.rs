//! [`TableWriter`]: writes rows into a primary-key table with fixed buckets and commits them.
//!
//! ```text
//!  write(batch) ─► conform (schema, nulls, row kinds) ─► route (partition, bucket)
//!       ─► pool of batches + each bucket's row references and sequence numbers
//!       ─► [pool over write-buffer-size] ─► every bucket: sort + merge ─► spill: a local
//!          run (see `spill.rs`; or, not spillable, flush: level-0 Parquet files)
//!  commit(id) ─► flush every buffer (merged with its spilled runs) ─► CommitMessage per
//!          bucket ─► format::commit
//! ```
//!
//! The buffer is one pool of batches for all buckets (`buffer.rs`), so it overflows, and is
//! spilled or flushed, as a whole. A batch is conformed and routed completely before any of
//! it is buffered, so a batch that fails leaves the writer as it was; a failed spill or
//! flush loses the buffered rows (the caller aborts, as after any failed write). Sequence
//! numbers are per (partition, bucket) and continue after the largest
//! `max_sequence_number` of the bucket's live files, read once per partition when the
//! writer first writes to it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::RecordBatch;
use strata_format::commit::{Clock, CommitMessage, SystemClock, TableCommit};
use strata_format::merge::MergeFunction;
use strata_format::options::ChangelogProducer;
use strata_format::paths::PartitionPath;
use strata_format::scan::{Split, TableScan};
use strata_format::table::Table;
use strata_format::{invalid, Error, ErrorKind, Result};

use crate::buffer::{Buffer, Drain, Pool, SortMerge, Sorted};
use crate::compact::WriterCompaction;
use crate::conform::Conformer;
use crate::route::{Partition, Router};
use crate::spill::{Spill, SpilledRun};
use strata_format::manifest::FileSource;
use strata_format::write::{DataFileWriter, FileTarget, WrittenFile};

/// What one [`TableWriter::commit`] published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    /// Snapshots created, oldest first (none when there was nothing to commit).
    pub snapshot_ids: Vec<i64>,
    /// Data files committed.
    pub files: usize,
    /// Rows in those files (after merging duplicates within each flush).
    pub records: i64,
    /// Changelog files committed (`changelog-producer` = `input`).
    pub changelog_files: usize,
}

/// Builds a [`TableWriter`].
pub struct TableWriterBuilder {
    table: Table,
    commit_user: Option<String>,
    clock: Arc<dyn Clock>,
}

impl TableWriterBuilder {
    /// The identity commits are made under; default a fresh UUID. Two writers must not
    /// share one while both commit.
    pub fn commit_user(mut self, commit_user: impl Into<String>) -> Self {
        self.commit_user = Some(commit_user.into());
        self
    }

    /// The clock for file creation times and snapshot times (tests pin it).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the table can be written (primary key, fixed buckets, Parquet, a supported
    /// merge engine and changelog producer) and builds the writer.
    pub fn build(self) -> Result<TableWriter> {
        let table = self.table;
        let id = table.identifier().clone();
        let schema = table.schema();
        let options = table.options();
        if schema.primary_keys.is_empty() {
            return Err(Error::unsupported(format!(
                "table '{id}' has no primary key; Strata writes only primary-key tables"
            )));
        }
        let buckets = match u32::try_from(options.bucket()) {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(Error::unsupported(format!(
                    "table '{id}' has 'bucket' = {} (dynamic or postpone buckets); Strata \
                     writes only fixed buckets: create the table with 'bucket' = N (N >= 1)",
                    options.bucket()
                )))
            }
        };
        let changelog = match options.changelog_producer() {
            ChangelogProducer::Input => {
                Some(DataFileWriter::for_changelog(&table, self.clock.clone())?)
            }
            _ => None,
        };
        if options.write_buffer_spillable() {
            crate::spill::compression(&table)?;
        }
        let merge = MergeFunction::from_table(&table)?;
        let commit_user = self
            .commit_user
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let commit = TableCommit::new(table.clone(), commit_user)?
            .with_clock(self.clock.clone())
            .with_run_limit(crate::compact::run_limit(&table));
        let compaction = WriterCompaction::new(&table, commit.commit_user())?;
        Ok(TableWriter {
            conformer: Conformer::new(&table)?,
            router: Router::new(&table, buckets)?,
            sort: Arc::new(SortMerge::new(schema, merge)?),
            pool: Pool::default(),
            changelog,
            files: DataFileWriter::new(&table, self.clock.clone())?,
            spillable: options.write_buffer_spillable(),
            spill: None,
            buffer_limit: usize::try_from(options.write_buffer_size()).unwrap_or(usize::MAX),
            buckets,
            table,
            commit,
            compaction,
            writers: HashMap::new(),
            max_sequences: HashMap::new(),
            buffered_bytes: 0,
            last_identifier: None,
            pending: None,
        })
    }
}

/// One bucket of one partition.
#[derive(Debug, Default)]
struct BucketWriter {
    next_sequence: i64,
    buffer: Buffer,
    /// Flushed, not yet handed to a commit.
    files: Vec<WrittenFile>,
    /// Changelog files flushed with them (`input` producer).
    changelog_files: Vec<WrittenFile>,
    /// Runs spilled to local disk since the last flush, oldest first.
    spilled: Vec<SpilledRun>,
}

/// Writes batches into a table and commits them; see the module docs.
pub struct TableWriter {
    table: Table,
    commit: TableCommit,
    /// Stop-trigger admission and this writer's own compactions (see `compact.rs`).
    compaction: WriterCompaction,
    conformer: Conformer,
    router: Router,
    sort: Arc<SortMerge>,
    /// Every bucket's buffered rows (`Buffer`s reference them).
    pool: Pool,
    files: DataFileWriter,
    /// Writes every input row to changelog files (`changelog-producer` = `input`).
    changelog: Option<DataFileWriter>,
    /// `write-buffer-spillable`, and the local spill area once used.
    spillable: bool,
    spill: Option<Spill>,
    buckets: u32,
    buffer_limit: usize,
    buffered_bytes: usize,
    /// (partition index, bucket) → its writer.
    writers: HashMap<(usize, u32), BucketWriter>,
    /// Partition index → bucket → largest committed sequence number, once restored.
    max_sequences: HashMap<usize, HashMap<u32, i64>>,
    last_identifier: Option<i64>,
    /// A prepared commit that failed; retried first by the next `commit`.
    pending: Option<(i64, Vec<CommitMessage>)>,
}

impl TableWriter {
    pub fn builder(table: Table) -> TableWriterBuilder {
        TableWriterBuilder {
            table,
            commit_user: None,
            clock: Arc::new(SystemClock),
        }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn commit_user(&self) -> &str {
        self.commit.commit_user()
    }

    /// The table's Arrow schema: what input batches should look like.
    pub fn input_schema(&self) -> &arrow::datatypes::SchemaRef {
        self.conformer.target()
    }

    /// Rows buffered and not yet flushed.
    pub fn buffered_rows(&self) -> usize {
        self.writers.values().map(|w| w.buffer.rows()).sum()
    }

    /// Writes rows as upserts (`+I`), unless the batch has a `_ROW_KIND` column or the
    /// table a `rowkind.field`.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write_inner(batch, None).await
    }

    /// Writes rows with one row kind each: 0 `+I`, 1 `-U`, 2 `+U`, 3 `-D`.
    pub async fn write_with_kinds(&mut self, batch: &RecordBatch, kinds: &[i8]) -> Result<()> {
        self.write_inner(batch, Some(kinds)).await
    }

    async fn write_inner(&mut self, batch: &RecordBatch, kinds: Option<&[i8]>) -> Result<()> {
        let conformed = self.conformer.conform(batch, kinds)?;
        if conformed.batch.num_rows() == 0 {
            return Ok(());
        }
        let groups = self.router.route(&conformed.batch)?;
        let unrestored: Vec<usize> = groups
            .iter()
            .map(|g| g.partition)
            .filter(|p| !self.max_sequences.contains_key(p))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !unrestored.is_empty() {
            self.restore_sequences(&unrestored).await?;
        }
        if conformed.kinds.len() != conformed.batch.num_rows() {
            return Err(Error::internal("conformed batch without a kind per row"));
        }
        let rows: Vec<&[u32]> = groups.iter().map(|g| g.rows.as_slice()).collect();
        let (arranged, runs) = self
            .sort
            .arrange(&conformed.batch, &conformed.kinds, &rows)?;
        drop(conformed);
        let (batch, bytes) = self.pool.push(arranged)?;
        self.buffered_bytes += bytes;
        for (group, run) in groups.iter().zip(runs) {
            let max_sequences = &self.max_sequences;
            let writer = self
                .writers
                .entry((group.partition, group.bucket))
                .or_insert_with(|| BucketWriter {
                    next_sequence: max_sequences
                        .get(&group.partition)
                        .and_then(|m| m.get(&group.bucket))
                        .map_or(0, |max| max + 1),
                    ..BucketWriter::default()
                });
            let first = writer.next_sequence;
            writer.next_sequence += group.rows.len() as i64;
            self.buffered_bytes += writer.buffer.push(batch, run, first);
        }
        if self.buffered_bytes > self.buffer_limit {
            self.drain(self.spillable).await?;
        }
        Ok(())
    }

    /// Reads the largest sequence number of every bucket of `partitions` from the latest
    /// snapshot, and checks their bucket count matches the table's.
    async fn restore_sequences(&mut self, partitions: &[usize]) -> Result<()> {
        let mut by_bytes: HashMap<Vec<u8>, usize> = HashMap::new();
        for p in partitions {
            let partition = self
                .router
                .partition(*p)
                .ok_or_else(|| Error::internal("unknown partition index"))?;
            by_bytes.insert(partition.bytes.clone(), *p);
        }
        let mut restored: HashMap<usize, HashMap<u32, i64>> =
            partitions.iter().map(|p| (*p, HashMap::new())).collect();
        if let Some(snapshot) = self.table.snapshot_manager().latest().await? {
            let entries = TableScan::new(self.table.clone())
                .with_partitions(by_bytes.keys().cloned().collect())
                .live_entries(&snapshot)
                .await?;
            for e in entries {
                let Some(p) = by_bytes.get(&e.partition) else {
                    continue;
                };
                if e.total_buckets != self.buckets as i32 {
                    let path = self
                        .router
                        .partition(*p)
                        .map(|p| p.path.as_relative())
                        .unwrap_or_default();
                    return Err(Error::unsupported(format!(
                        "partition '{path}' of table '{}' was written with {} buckets but the \
                         table now has {}; changing the bucket count needs a rescale",
                        self.table.identifier(),
                        e.total_buckets,
                        self.buckets
                    )));
                }
                let bucket = u32::try_from(e.bucket)
                    .map_err(|_| invalid!("a manifest entry has bucket {}", e.bucket))?;
                let max = restored.entry(*p).or_default().entry(bucket).or_insert(-1);
                *max = (*max).max(e.file.max_sequence_number);
            }
        }
        self.max_sequences.extend(restored);
        Ok(())
    }

    /// Sorts and merges every bucket's buffer, and empties the pool. With `spill`, each
    /// becomes a local run while the spill area has room; otherwise (and past that) it is
    /// flushed, with the bucket's spilled runs, as level-0 files. Without `spill`, buckets
    /// with only spilled runs are flushed too.
    async fn drain(&mut self, spill: bool) -> Result<()> {
        let mut keys: Vec<(usize, u32)> = self
            .writers
            .iter()
            .filter(|(_, w)| !w.buffer.is_empty() || (!spill && !w.spilled.is_empty()))
            .map(|(k, _)| *k)
            .collect();
        keys.sort_unstable();
        let drain = self.sort.drain(self.pool.take());
        self.buffered_bytes = 0;
        for key in keys {
            let done = if spill {
                self.spill(key, &drain).await
            } else {
                self.flush(key, &drain).await
            };
            if let Err(e) = done {
                // Some buckets flushed and others not: committing those would commit part
                // of what was written since the last commit.
                self.discard_uncommitted().await;
                return Err(e.context(
                    "the writer dropped every row written since its last commit; write them \
                     again",
                ));
            }
        }
        Ok(())
    }

    /// Sorts and merges one bucket's buffer into a local run, or flushes it when the
    /// spill area is full.
    async fn spill(&mut self, key: (usize, u32), drain: &Drain) -> Result<()> {
        let Some(writer) = self.writers.get_mut(&key) else {
            return Ok(());
        };
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(Spill::new(&self.table)?),
        };
        // A full spill area: this bucket's runs and buffer become level-0 files.
        if spill.full() {
            return self.flush(key, drain).await;
        }
        let (kv, raw) = drain.run(writer.buffer.take(), self.changelog.is_some())?;
        let partition = self
            .router
            .partition(key.0)
            .ok_or_else(|| Error::internal("unknown partition index"))?;
        write_raw_changelog(self.changelog.as_mut(), &partition.path, key.1, raw, writer).await?;
        if let Some(kv) = kv {
            let run = spill.write(kv)?;
            writer.spilled.push(run);
            let split = bucket_split(partition, key.1, self.buckets);
            spill.round(&mut writer.spilled, split).await?;
        }
        Ok(())
    }

    /// Sorts, merges and writes one bucket's buffer, with the runs it spilled, as level-0
    /// files.
    async fn flush(&mut self, key: (usize, u32), drain: &Drain) -> Result<()> {
        let Some(writer) = self.writers.get_mut(&key) else {
            return Ok(());
        };
        let (kv, raw) = drain.run(writer.buffer.take(), self.changelog.is_some())?;
        let partition = self
            .router
            .partition(key.0)
            .ok_or_else(|| Error::internal("unknown partition index"))?;
        write_raw_changelog(self.changelog.as_mut(), &partition.path, key.1, raw, writer).await?;
        if !writer.spilled.is_empty() {
            let Some(spill) = self.spill.as_mut() else {
                return Err(Error::internal("spilled runs without a spill area"));
            };
            let split = bucket_split(partition, key.1, self.buckets);
            let runs = std::mem::take(&mut writer.spilled);
            let written = spill.merge_into(runs, kv, split, &mut self.files).await?;
            writer.files.extend(written);
        } else if let Some(kv) = kv {
            let target = FileTarget {
                partition: &partition.path,
                bucket: key.1,
                level: 0,
                source: FileSource::Append,
            };
            let written = write_sorted(&mut self.files, target, kv).await?;
            writer.files.extend(written);
        }
        Ok(())
    }

    /// Flushes every buffer and returns one message per bucket with new files. The files
    /// are no longer this writer's: commit the messages or they stay orphans.
    pub async fn prepare_commit(&mut self) -> Result<Vec<CommitMessage>> {
        self.drain(false).await?;
        let mut messages = Vec::new();
        for ((partition, bucket), writer) in &mut self.writers {
            if writer.files.is_empty() && writer.changelog_files.is_empty() {
                continue;
            }
            let partition = self
                .router
                .partition(*partition)
                .ok_or_else(|| Error::internal("unknown partition index"))?;
            messages.push(CommitMessage {
                partition: partition.bytes.clone(),
                bucket: *bucket as i32,
                total_buckets: self.buckets as i32,
                new_files: std::mem::take(&mut writer.files)
                    .into_iter()
                    .map(|f| f.meta)
                    .collect(),
                changelog_files: std::mem::take(&mut writer.changelog_files)
                    .into_iter()
                    .map(|f| f.meta)
                    .collect(),
                ..CommitMessage::default()
            });
        }
        messages.sort_by(|a, b| (&a.partition, a.bucket).cmp(&(&b.partition, b.bucket)));
        Ok(messages)
    }

    /// Flushes everything and commits it under `identifier`, which must be greater than
    /// the identifiers this writer used before. A commit that failed earlier is retried
    /// first, under its own identifier. On failure the files are kept for that retry.
    pub async fn commit(&mut self, identifier: i64) -> Result<CommitOutcome> {
        if let Some(last) = self.last_identifier {
            if identifier <= last {
                return Err(invalid!(
                    "commit identifier {identifier} is not greater than the previous one \
                     ({last}); identifiers of one writer must increase"
                ));
            }
        }
        let mut outcome = CommitOutcome::default();
        if let Some((earlier, messages)) = self.pending.take() {
            self.commit_messages(earlier, messages, &mut outcome)
                .await?;
        }
        let messages = self.prepare_commit().await?;
        self.commit_messages(identifier, messages, &mut outcome)
            .await?;
        self.last_identifier = Some(identifier);
        Ok(outcome)
    }

    async fn commit_messages(
        &mut self,
        identifier: i64,
        messages: Vec<CommitMessage>,
        outcome: &mut CommitOutcome,
    ) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let committed = self
            .compaction
            .commit(&self.commit, identifier, messages.clone())
            .await;
        match committed {
            Ok(ids) => {
                outcome.snapshot_ids.extend(ids);
                for f in messages.iter().flat_map(|m| &m.new_files) {
                    outcome.files += 1;
                    outcome.records += f.row_count;
                }
                outcome.changelog_files += messages
                    .iter()
                    .map(|m| m.changelog_files.len())
                    .sum::<usize>();
                Ok(())
            }
            Err(e) => {
                let retry = if e.kind() == ErrorKind::DataInvalid {
                    "the commit is invalid and its files are dropped"
                } else {
                    self.pending = Some((identifier, messages));
                    "its files are kept and the next commit retries it"
                };
                Err(e.context(format!(
                    "commit {identifier} to '{}' failed ({retry})",
                    self.table.identifier()
                )))
            }
        }
    }

    /// Drops everything not committed yet: buffered rows and flushed files (deleted). A
    /// failed commit kept for retry is dropped too, but its files stay: that commit may
    /// have landed after all.
    pub async fn abort(&mut self) {
        self.pending = None;
        self.discard_uncommitted().await;
    }

    /// Drops buffered and spilled rows and deletes flushed files not yet in a commit.
    async fn discard_uncommitted(&mut self) {
        let mut files = Vec::new();
        self.pool.take();
        for writer in self.writers.values_mut() {
            writer.buffer.take();
            files.append(&mut writer.files);
            files.append(&mut writer.changelog_files);
            let spilled = std::mem::take(&mut writer.spilled);
            if let Some(spill) = self.spill.as_mut() {
                spill.discard(spilled);
            }
        }
        self.buffered_bytes = 0;
        self.files.discard(&files).await;
    }
}

/// Paimon's input changelog (`changelog-producer` = `input`): the raw rows of a buffer,
/// flushed or spilled, as changelog files at level 0 beside the bucket's files.
async fn write_raw_changelog(
    changelog: Option<&mut DataFileWriter>,
    partition: &PartitionPath,
    bucket: u32,
    raw: Option<Sorted>,
    writer: &mut BucketWriter,
) -> Result<()> {
    if let (Some(raw), Some(changelog)) = (raw, changelog) {
        let target = FileTarget {
            partition,
            bucket,
            level: 0,
            source: FileSource::Append,
        };
        writer
            .changelog_files
            .extend(write_sorted(changelog, target, raw).await?);
    }
    Ok(())
}

/// Writes a bucket's sorted rows as files of `target`, deleting them if that fails.
async fn write_sorted(
    files: &mut DataFileWriter,
    target: FileTarget<'_>,
    sorted: Sorted,
) -> Result<Vec<WrittenFile>> {
    let mut rolling = files.rolling(target);
    for chunk in sorted {
        let written = match chunk {
            Ok(chunk) => rolling.write(&chunk).await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            rolling.abort().await;
            return Err(e);
        }
    }
    rolling.finish().await
}

/// A bucket as the merges of its spilled runs read it: no files, only the runs.
fn bucket_split(partition: &Partition, bucket: u32, buckets: u32) -> Split {
    Split {
        partition: partition.bytes.clone(),
        partition_values: Vec::new(),
        partition_path: partition.path.clone(),
        bucket: bucket as i32,
        total_buckets: buckets as i32,
        files: Vec::new(),
        deletion_files: Default::default(),
    }
}
