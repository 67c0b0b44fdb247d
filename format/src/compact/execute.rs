//! Running a planned unit: every [`Step`] in key order. An upgrade only changes a file's
//! level (a DELETE at the old level and an ADD of the same file at the new one); a rewrite
//! is a streaming k-way merge of its files with the table's merge engine
//! ([`MergeRead::key_values`]), rolled into new files at `target-file-size`.
//!
//! Memory is one open file and one decoded batch per sorted run of a step, plus the output
//! file being encoded (at most `target-file-size`), whatever the size of the table.
//! Nothing is visible until the caller commits the result; files of a failed execution
//! are deleted before the error is returned (they were never referenced).

use std::sync::Arc;

use futures::TryStreamExt;

use crate::commit::Clock;
use crate::compact::changelog::{self, ChangelogRule};
use crate::compact::lookup::UnitLookup;
use crate::compact::plan::{steps, CompactUnit, PlanOptions, Step};
use crate::deletion::maintain::IndexFileChanges;
use crate::error::Result;
use crate::failpoint;
use crate::manifest::{DataFileMeta, FileSource};
use crate::read::merge::MergeRead;
use crate::scan::Split;
use crate::table::Table;
use crate::types::DataType;
use crate::write::{DataFileWriter, FileTarget, WrittenFile};

/// Counters of one execution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactStats {
    /// Rows and bytes of the files merged (upgraded files are not read).
    pub rows_read: u64,
    pub bytes_read: u64,
    pub rows_written: u64,
    pub bytes_written: u64,
    pub files_rewritten: usize,
    pub files_upgraded: usize,
}

impl CompactStats {
    pub fn add(&mut self, other: &CompactStats) {
        self.rows_read += other.rows_read;
        self.bytes_read += other.bytes_read;
        self.rows_written += other.rows_written;
        self.bytes_written += other.bytes_written;
        self.files_rewritten += other.files_rewritten;
        self.files_upgraded += other.files_upgraded;
    }
}

/// What an execution produced, ready to become a `CommitMessage`.
#[derive(Debug, Clone, Default)]
pub struct CompactOutput {
    /// Files replaced (each at its old level).
    pub before: Vec<DataFileMeta>,
    /// Their replacements: new files and upgraded ones, at the output level.
    pub after: Vec<DataFileMeta>,
    /// Changelog files (`lookup`, `full-compaction`), for the COMPACT snapshot's
    /// changelog manifest list.
    pub changelog: Vec<DataFileMeta>,
    /// New files uploaded, data and changelog (delete them if the commit is rejected).
    pub written: Vec<WrittenFile>,
    /// Deletion-vector index changes of the bucket (tables with deletion vectors).
    pub index_changes: IndexFileChanges,
    pub stats: CompactStats,
}

/// Executes `unit` on the bucket of `split` (whose files must include the unit's). With
/// `lookup` (deletion-vector and `first-row` tables) every rewrite looks its level-0 keys
/// up above the output level, retractions are never written, and the bucket's vectors are
/// rewritten at the end.
pub async fn execute(
    table: &Table,
    split: &Split,
    unit: &CompactUnit,
    options: &PlanOptions,
    clock: Arc<dyn Clock>,
    batch_size: usize,
    lookup: Option<UnitLookup>,
) -> Result<CompactOutput> {
    let key_types: Vec<DataType> = table
        .schema()
        .trimmed_primary_key_fields()
        .into_iter()
        .map(|f| f.data_type)
        .collect();
    let mut writer = DataFileWriter::new(table, clock.clone())?;
    let mut out = CompactOutput::default();
    for step in steps(unit, &key_types, options) {
        let result = match step {
            Step::Upgrade(file) => {
                let mut moved = (*file).clone();
                moved.level = unit.output_level;
                out.before.push(*file);
                out.after.push(moved);
                out.stats.files_upgraded += 1;
                Ok(())
            }
            Step::Rewrite(files) => {
                let rewrite = Rewrite {
                    table,
                    split,
                    unit,
                    batch_size,
                    lookup: lookup.as_ref(),
                };
                rewrite.run(files, &mut writer, &mut out).await
            }
        };
        if let Err(e) = result {
            writer.discard(&out.written).await;
            return Err(e);
        }
    }
    if let Some(lookup) = lookup {
        match lookup.finish(table, &out.before, &out.after).await {
            Ok(changes) => out.index_changes = changes,
            Err(e) => {
                writer.discard(&out.written).await;
                return Err(e);
            }
        }
    }
    if let Some(rule) = ChangelogRule::for_compaction(table, unit, options.max_level()) {
        if let Err(e) = write_changelog(table, rule, split, unit, batch_size, clock, &mut out).await
        {
            writer.discard(&out.written).await;
            return Err(e);
        }
    }
    Ok(out)
}

/// Produces and uploads the compaction's changelog (see [`crate::compact::changelog`]).
async fn write_changelog(
    table: &Table,
    rule: ChangelogRule,
    split: &Split,
    unit: &CompactUnit,
    batch_size: usize,
    clock: Arc<dyn Clock>,
    out: &mut CompactOutput,
) -> Result<()> {
    let Some(rows) =
        changelog::produce(table, rule, split, &out.before, &out.after, batch_size).await?
    else {
        return Ok(());
    };
    let bucket = u32::try_from(split.bucket)
        .map_err(|_| crate::invalid!("bucket {} cannot be compacted", split.bucket))?;
    let target = FileTarget {
        partition: &split.partition_path,
        bucket,
        level: unit.output_level,
        source: FileSource::Append,
    };
    let written = DataFileWriter::for_changelog(table, clock)?
        .single_file()
        .write(target, &rows)
        .await?;
    out.changelog.extend(written.iter().map(|w| w.meta.clone()));
    out.written.extend(written);
    Ok(())
}

/// One rewrite step of a unit.
struct Rewrite<'a> {
    table: &'a Table,
    split: &'a Split,
    unit: &'a CompactUnit,
    batch_size: usize,
    lookup: Option<&'a UnitLookup>,
}

impl Rewrite<'_> {
    async fn run(
        &self,
        files: Vec<DataFileMeta>,
        writer: &mut DataFileWriter,
        out: &mut CompactOutput,
    ) -> Result<()> {
        let Rewrite {
            table,
            split,
            unit,
            batch_size,
            lookup,
        } = *self;
        for f in &files {
            out.stats.rows_read += f.row_count.max(0) as u64;
            out.stats.bytes_read += f.file_size.max(0) as u64;
        }
        out.stats.files_rewritten += files.len();
        out.before.extend(files.iter().cloned());
        let bucket = u32::try_from(split.bucket)
            .map_err(|_| crate::invalid!("bucket {} cannot be compacted", split.bucket))?;
        let input = Split {
            files,
            ..split.clone()
        };
        // Tables read without merging (lookup compaction) never keep retractions above level 0.
        let keep_retractions = !unit.drop_deletes && lookup.is_none();
        let mut merged = MergeRead::key_values(table.clone(), input, batch_size, keep_retractions)?
            .with_lookup(lookup.map(|l| l.hook()))
            .into_stream()
            .await?;
        let target = FileTarget {
            partition: &split.partition_path,
            bucket,
            level: unit.output_level,
            source: FileSource::Compact,
        };
        let mut rolling = writer.rolling(target);
        let mut announced = false;
        let result: Result<()> = async {
            while let Some(batch) = merged.try_next().await? {
                if batch.num_rows() > 0 {
                    rolling.write(&batch).await?;
                }
                if !announced && !rolling.written().is_empty() {
                    announced = true;
                    failpoint::hit("compact.after-first-output");
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            rolling.abort().await;
            return Err(e);
        }
        let written = rolling.finish().await?;
        for w in &written {
            out.stats.rows_written += w.meta.row_count.max(0) as u64;
            out.stats.bytes_written += w.meta.file_size.max(0) as u64;
            out.after.push(w.meta.clone());
        }
        out.written.extend(written);
        Ok(())
    }
}
