//! Spilling write buffers to local disk (`write-buffer-spillable`, on by default as in
//! Paimon).
//!
//! When the buffers outgrow `write-buffer-size`, the largest one is sorted and merged as a
//! flush would, but written to a local temporary directory instead of the table. At the
//! next commit a bucket's spilled runs and its buffer are merged into level-0 files of the
//! table in one streaming k-way merge. A commit therefore adds one sorted run per bucket
//! however much it buffered, where flushing would add one per overflow (and make the
//! compactor's work). Past `write-buffer-spill.max-disk-size` the writer flushes instead.
//!
//! The spilled runs are data files of a view of the table whose storage is the local
//! directory (`Table::with_data_storage`), so the one file writer and the one merge
//! (`MergeRead::key_values`, the compaction merge) serve them; they use
//! `spill-compression` and keep no statistics. Nothing spilled is ever part of the table:
//! the directory is deleted with the writer, and a crash leaves only local temporary files.

use std::sync::Arc;

use arrow::array::RecordBatch;
use futures::TryStreamExt;
use strata_format::commit::Clock;
use strata_format::manifest::{DataFileMeta, FileSource};
use strata_format::paths::PartitionPath;
use strata_format::read::merge::MergeRead;
use strata_format::scan::Split;
use strata_format::storage::Storage;
use strata_format::table::Table;
use strata_format::write::{DataFileWriter, FileTarget, WrittenFile};
use strata_format::{Error, ErrorKind, Result};

/// Rows per batch of the merge of spilled runs.
const MERGE_BATCH_ROWS: usize = 8192;

/// Rows per row group of a spilled run. The merge reads all of a bucket's runs at once and
/// holds one row group of each, so this, not a run's size, sets its memory per run.
const SPILL_ROW_GROUP_ROWS: usize = 8 * MERGE_BATCH_ROWS;

/// The local spill area of one writer, created at its first spill.
pub(crate) struct Spill {
    table: Table,
    files: DataFileWriter,
    /// Bytes of spilled files not merged yet.
    bytes: u64,
    max_bytes: Option<u64>,
    // Last, so the files are dropped after everything that could still write them.
    _dir: tempfile::TempDir,
}

impl Spill {
    pub fn new(table: &Table, clock: Arc<dyn Clock>) -> Result<Spill> {
        let dir = tempfile::Builder::new()
            .prefix("strata-spill-")
            .tempdir()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("cannot create a local directory to spill the write buffer: {e}"),
                )
            })?;
        let uri = dir
            .path()
            .to_str()
            .ok_or_else(|| Error::unsupported("the local spill directory is not valid UTF-8"))?;
        let options = table.options();
        let overrides = [
            ("file.compression", options.spill_compression().to_string()),
            (
                "file.compression.zstd-level",
                options.spill_compression_zstd_level().to_string(),
            ),
            ("metadata.stats-mode", "none".to_string()),
            // One file per spilled run.
            ("target-file-size", "1024 tb".to_string()),
        ];
        let view = table.with_data_storage(Storage::open(uri)?, &overrides)?;
        Ok(Spill {
            files: DataFileWriter::new(&view, clock)?.with_max_row_group_rows(SPILL_ROW_GROUP_ROWS),
            table: view,
            bytes: 0,
            max_bytes: options.write_buffer_spill_max_disk_size(),
            _dir: dir,
        })
    }

    /// Whether the spilled runs reached `write-buffer-spill.max-disk-size`.
    pub fn full(&self) -> bool {
        self.max_bytes.is_some_and(|max| self.bytes >= max)
    }

    /// Writes a sorted, merged key-value batch of one bucket as a spilled run.
    pub async fn write(
        &mut self,
        partition: &PartitionPath,
        bucket: u32,
        kv: &RecordBatch,
    ) -> Result<Vec<DataFileMeta>> {
        let target = FileTarget {
            partition,
            bucket,
            level: 0,
            source: FileSource::Append,
        };
        let written = self.files.write(target, kv).await?;
        self.bytes += written
            .iter()
            .map(|w| w.meta.file_size.max(0) as u64)
            .sum::<u64>();
        Ok(written.into_iter().map(|w| w.meta).collect())
    }

    /// Merges spilled runs of one bucket (oldest first, as their sequence numbers are)
    /// into level-0 files of the table, then deletes them.
    pub async fn merge_into(
        &mut self,
        runs: Vec<DataFileMeta>,
        split: Split,
        out: &mut DataFileWriter,
    ) -> Result<Vec<WrittenFile>> {
        let bucket = u32::try_from(split.bucket)
            .map_err(|_| Error::internal("a spilled bucket is negative"))?;
        let partition = split.partition_path.clone();
        let input = Split {
            files: runs.clone(),
            ..split
        };
        // Retractions are kept: they must still shadow the bucket's older files.
        let merged = async {
            let mut stream =
                MergeRead::key_values(self.table.clone(), input, MERGE_BATCH_ROWS, true)?
                    .into_stream()
                    .await?;
            let target = FileTarget {
                partition: &partition,
                bucket,
                level: 0,
                source: FileSource::Append,
            };
            let mut rolling = out.rolling(target);
            let written: Result<()> = async {
                while let Some(batch) = stream.try_next().await? {
                    if batch.num_rows() > 0 {
                        rolling.write(&batch).await?;
                    }
                }
                Ok(())
            }
            .await;
            match written {
                Ok(()) => rolling.finish().await,
                Err(e) => {
                    rolling.abort().await;
                    Err(e)
                }
            }
        }
        .await;
        self.discard(&partition, bucket, &runs).await;
        merged
    }

    /// Deletes spilled runs (merged, or dropped by an abort).
    pub async fn discard(&mut self, partition: &PartitionPath, bucket: u32, runs: &[DataFileMeta]) {
        let paths = self.table.paths();
        let files: Vec<WrittenFile> = runs
            .iter()
            .map(|m| WrittenFile {
                path: paths.data_file(partition, bucket as i32, &m.file_name),
                meta: m.clone(),
            })
            .collect();
        self.files.discard(&files).await;
        let freed: u64 = runs.iter().map(|m| m.file_size.max(0) as u64).sum();
        self.bytes = self.bytes.saturating_sub(freed);
    }
}
