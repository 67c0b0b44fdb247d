//! Spilling write buffers to local disk (`write-buffer-spillable`, on by default as in
//! Paimon).
//!
//! When the buffers outgrow `write-buffer-size`, the largest one is sorted and merged as a
//! flush would, but written to a local temporary directory instead of the table. At the
//! next commit a bucket's spilled runs and its buffer are merged into level-0 files of the
//! table in one streaming k-way merge: by key prefix where the table allows
//! (`spill/merge.rs`), else the compaction merge (`MergeRead::with_runs`). A
//! commit therefore adds one sorted run per bucket however much it buffered, where
//! flushing would add one per overflow (and make the compactor's work). Past
//! `write-buffer-spill.max-disk-size` the writer flushes instead.
//!
//! A spilled run is an Arrow IPC stream file (as Paimon's spill is its own row format, not
//! a data file): writing one is a copy, not an encoding, so a spill costs little more than
//! the disk write. It is LZ4-compressed where its first batch shows that saves at least an
//! eighth; otherwise the copy and scan each way would buy next to no disk. Batches are
//! small ([`RUN_BATCH_ROWS`]), so the merge holds a few small batches per run whatever the
//! runs' sizes. Nothing spilled is ever part of the table: the directory is deleted with
//! the writer, and a crash leaves only local temporary files.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_ipc::CompressionType;
use arrow_schema::{ArrowError, SchemaRef};
use futures::{StreamExt, TryStreamExt};
use strata_format::manifest::FileSource;
use strata_format::read::merge::MergeRead;
use strata_format::scan::Split;
use strata_format::table::Table;
use strata_format::write::{DataFileWriter, FileTarget, WrittenFile};
use strata_format::{invalid, Error, ErrorKind, Result};

use crate::buffer::Sorted;

mod merge;

use merge::{Batches, PrefixMerge};

/// Rows per spilled batch, and per batch of the compaction merge: what the commit's merge
/// holds of each run at a time.
const RUN_BATCH_ROWS: usize = 8192;

/// One run spilled to a local file.
#[derive(Debug)]
pub(crate) struct SpilledRun {
    path: PathBuf,
    bytes: u64,
}

/// The local spill area of one writer, created at its first spill.
pub(crate) struct Spill {
    table: Table,
    /// `_SEQUENCE_NUMBER`, `_VALUE_KIND`, the table's columns.
    layout: SchemaRef,
    /// Leading `_KEY_*` columns of a key-value batch, not spilled (the values hold them).
    key_arity: usize,
    /// The merge by key prefix, where the table allows it.
    prefix_merge: Option<PrefixMerge>,
    options: IpcWriteOptions,
    /// Whether `options` compress (tried per run: see [`Spill::options_for`]).
    compressed: bool,
    next: u64,
    /// Bytes of spilled files not merged yet.
    bytes: u64,
    max_bytes: Option<u64>,
    // Last, so the files are dropped after everything that could still write them.
    dir: tempfile::TempDir,
}

impl Spill {
    pub fn new(table: &Table) -> Result<Spill> {
        let dir = tempfile::Builder::new()
            .prefix("strata-spill-")
            .tempdir()
            .map_err(|e| local_error("create a local directory to spill the write buffer", e))?;
        let options = table.options();
        let compression = compression(table)?;
        let ipc = IpcWriteOptions::default()
            .try_with_compression(compression)
            .map_err(|e| Error::internal(format!("spill compression: {e}")))?;
        let layout = MergeRead::run_layout(table);
        Ok(Spill {
            table: table.clone(),
            prefix_merge: PrefixMerge::for_table(table, &layout)?,
            layout,
            key_arity: table.schema().trimmed_primary_keys().len(),
            options: ipc,
            compressed: compression.is_some(),
            next: 0,
            bytes: 0,
            max_bytes: options.write_buffer_spill_max_disk_size(),
            dir,
        })
    }

    /// Whether the spilled runs reached `write-buffer-spill.max-disk-size`.
    pub fn full(&self) -> bool {
        self.max_bytes.is_some_and(|max| self.bytes >= max)
    }

    /// Writes one bucket's sorted, merged rows (key-value batches) as a spilled run.
    pub fn write(&mut self, kv: impl Iterator<Item = Result<RecordBatch>>) -> Result<SpilledRun> {
        let path = self.dir.path().join(format!("run-{}.arrow", self.next));
        self.next += 1;
        let written = (|| -> std::result::Result<u64, Box<dyn std::error::Error>> {
            let mut kv = kv.flat_map(|chunk| match chunk.and_then(|c| self.run_batch(&c)) {
                Ok(batch) => slices(batch, RUN_BATCH_ROWS).into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            });
            let first = kv.next().transpose()?;
            let options = match &first {
                Some(batch) => self.options_for(batch)?,
                None => self.options.clone(),
            };
            // Small writes: see `Storage::put` on large writes into fresh page cache.
            let file = BufWriter::with_capacity(64 << 10, File::create(&path)?);
            let mut w = StreamWriter::try_new_with_options(file, &self.layout, options)?;
            for batch in first.into_iter().map(Ok).chain(kv) {
                w.write(&batch?)?;
            }
            w.finish()?;
            let file = w.into_inner()?.into_inner().map_err(|e| e.into_error())?;
            Ok(file.metadata()?.len())
        })();
        match written {
            Ok(bytes) => {
                self.bytes += bytes;
                Ok(SpilledRun { path, bytes })
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("cannot spill the write buffer to {}: {e}", path.display()),
                ))
            }
        }
    }

    /// Merges spilled runs of one bucket (oldest first, as their sequence numbers are) and
    /// the bucket's last buffer (`last`, newest) into level-0 files of the table, then
    /// deletes the runs.
    pub async fn merge_into(
        &mut self,
        runs: Vec<SpilledRun>,
        last: Option<Sorted>,
        split: Split,
        out: &mut DataFileWriter,
    ) -> Result<Vec<WrittenFile>> {
        let bucket = u32::try_from(split.bucket)
            .map_err(|_| Error::internal("a spilled bucket is negative"))?;
        let partition = split.partition_path.clone();
        let merged = async {
            let mut batches: Vec<Batches> = Vec::with_capacity(runs.len() + 1);
            for run in &runs {
                batches.push(Box::new(open_run(run)?));
            }
            if let Some(kv) = last {
                let (layout, key_arity) = (self.layout.clone(), self.key_arity);
                let last = kv.map(move |b| b.and_then(|b| run_batch(&layout, key_arity, &b)));
                batches.push(Box::new(last));
            }
            let target = FileTarget {
                partition: &partition,
                bucket,
                level: 0,
                source: FileSource::Append,
            };
            let mut rolling = out.rolling(target);
            let written: Result<()> = async {
                if let Some(merge) = &self.prefix_merge {
                    for chunk in merge.merge(batches)? {
                        rolling.write(&chunk?).await?;
                    }
                    return Ok(());
                }
                let streams = batches
                    .into_iter()
                    .map(|b| futures::stream::iter(b).boxed())
                    .collect();
                // Retractions are kept: they must still shadow the bucket's older files.
                let mut stream =
                    MergeRead::key_values(self.table.clone(), split, RUN_BATCH_ROWS, true)?
                        .with_runs(streams)
                        .into_stream()
                        .await?;
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
        self.discard(runs);
        merged
    }

    /// Deletes spilled runs (merged, or dropped by an abort).
    pub fn discard(&mut self, runs: Vec<SpilledRun>) {
        for run in runs {
            if let Err(e) = std::fs::remove_file(&run.path) {
                tracing::warn!(path = %run.path.display(), error = %e, "could not delete a spilled run");
            }
            self.bytes = self.bytes.saturating_sub(run.bytes);
        }
    }

    fn run_batch(&self, kv: &RecordBatch) -> Result<RecordBatch> {
        run_batch(&self.layout, self.key_arity, kv)
    }

    /// The spill's options for a run starting with `first`: compressed only where that
    /// pays. Compression that saves less than an eighth of the first batch (random text,
    /// measures, hashes) is dropped for the run, as it would cost a copy and a scan each way
    /// for next to no disk.
    fn options_for(&self, first: &RecordBatch) -> Result<IpcWriteOptions> {
        if !self.compressed {
            return Ok(self.options.clone());
        }
        let plain = IpcWriteOptions::default();
        let size = |options: &IpcWriteOptions| -> std::result::Result<usize, ArrowError> {
            let mut w =
                StreamWriter::try_new_with_options(Vec::new(), &self.layout, options.clone())?;
            w.write(first)?;
            w.finish()?;
            Ok(w.into_inner()?.len())
        };
        let trial = size(&self.options).and_then(|packed| Ok((packed, size(&plain)?)));
        let (packed, unpacked) =
            trial.map_err(|e| Error::internal(format!("spill compression trial: {e}")))?;
        Ok(if packed.saturating_mul(8) > unpacked.saturating_mul(7) {
            plain
        } else {
            self.options.clone()
        })
    }
}

/// A key-value batch without its `_KEY_*` columns, in the run layout.
fn run_batch(layout: &SchemaRef, key_arity: usize, kv: &RecordBatch) -> Result<RecordBatch> {
    let columns = kv.columns().get(key_arity..).unwrap_or_default().to_vec();
    RecordBatch::try_new(layout.clone(), columns)
        .map_err(|e| Error::internal(format!("a spilled batch does not fit its layout: {e}")))
}

/// `batch` in slices of at most `rows` rows (no copies).
fn slices(batch: RecordBatch, rows: usize) -> Vec<RecordBatch> {
    let n = batch.num_rows();
    if n <= rows {
        return vec![batch];
    }
    (0..n)
        .step_by(rows)
        .map(|start| batch.slice(start, rows.min(n - start)))
        .collect()
}

/// Reads a spilled run back. The file is local and just written, so it is read
/// synchronously, one small batch at a time.
fn open_run(run: &SpilledRun) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send> {
    let file = File::open(&run.path).map_err(|e| local_error("open a spilled run", e))?;
    let reader = StreamReader::try_new(BufReader::with_capacity(1 << 20, file), None)
        .map_err(|e| Error::data_invalid(format!("spilled run {}: {e}", run.path.display())))?;
    let shown = run.path.display().to_string();
    Ok(
        reader
            .map(move |b| b.map_err(|e| Error::data_invalid(format!("spilled run {shown}: {e}")))),
    )
}

/// The IPC codec of `spill-compression`: Arrow IPC offers LZ4 and zstd (at a fixed level 3),
/// so zstd, Paimon's default, is served by the faster LZ4 (a spill only lives until the
/// commit), and only for runs it shrinks (see [`Spill::options_for`]). Checked when the
/// writer is built, so a bad value fails before any write.
pub(crate) fn compression(table: &Table) -> Result<Option<CompressionType>> {
    let codec = table
        .options()
        .spill_compression()
        .trim()
        .to_ascii_lowercase();
    match codec.as_str() {
        "none" | "uncompressed" => Ok(None),
        "lz4" | "zstd" => Ok(Some(CompressionType::LZ4_FRAME)),
        other => Err(invalid!(
            "table '{}' has 'spill-compression' = '{other}'; spilled buffers can use \
             zstd, lz4 or none",
            table.identifier()
        )),
    }
}

fn local_error(what: &str, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Unavailable, format!("cannot {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int32Array, Int64Array, Int8Array, StringArray};
    use rand::{Rng, SeedableRng};

    use super::*;

    async fn table(dir: &std::path::Path, compression: &str) -> Table {
        let columns = [("k", "INT NOT NULL"), ("v", "STRING")];
        let options = [("spill-compression", compression)];
        crate::test_table::table(dir, &columns, &["k"], &options).await
    }

    /// Key-value batches (`_KEY_k`, `_SEQUENCE_NUMBER`, `_VALUE_KIND`, k, v) of `values`.
    fn kv(values: &[String]) -> Vec<RecordBatch> {
        values
            .chunks(1000)
            .enumerate()
            .map(|(c, chunk)| {
                let keys: Vec<i32> = (0..chunk.len()).map(|i| (c * 1000 + i) as i32).collect();
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(Int32Array::from(keys.clone())),
                    Arc::new(Int64Array::from_iter_values(keys.iter().map(|k| *k as i64))),
                    Arc::new(Int8Array::from(vec![0; chunk.len()])),
                    Arc::new(Int32Array::from(keys)),
                    Arc::new(StringArray::from_iter_values(chunk)),
                ];
                RecordBatch::try_from_iter(
                    ["_KEY_k", "_SEQUENCE_NUMBER", "_VALUE_KIND", "k", "v"]
                        .into_iter()
                        .zip(columns),
                )
                .unwrap()
            })
            .collect()
    }

    /// Spills `values` with `compression`, checks the rows read back, and returns the
    /// file's size.
    async fn spill(compression: &str, values: &[String]) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let table = table(dir.path(), compression).await;
        let mut spill = Spill::new(&table).unwrap();
        let batches = kv(values);
        let run = spill.write(batches.clone().into_iter().map(Ok)).unwrap();
        let read: Vec<RecordBatch> = open_run(&run).unwrap().map(|b| b.unwrap()).collect();
        for (read, written) in read.iter().zip(&batches) {
            assert_eq!(read, &spill.run_batch(written).unwrap());
        }
        assert_eq!(read.len(), batches.len());
        run.bytes
    }

    /// Repetitive rows are spilled compressed; random text, which LZ4 cannot shrink by an
    /// eighth, is spilled as it is, byte for byte the size of an uncompressed spill. Both
    /// read back whole.
    #[tokio::test]
    async fn a_run_is_compressed_only_where_that_pays() {
        let repetitive: Vec<String> = (0..5000).map(|i| format!("status-{}", i % 3)).collect();
        let packed = spill("zstd", &repetitive).await;
        let unpacked = spill("none", &repetitive).await;
        assert!(packed * 2 < unpacked, "{packed} vs {unpacked}");

        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let random: Vec<String> = (0..5000)
            .map(|_| {
                (0..rng.random_range(10..40))
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
                    .collect()
            })
            .collect();
        let tried = spill("lz4", &random).await;
        let unpacked = spill("none", &random).await;
        assert_eq!(tried, unpacked);
    }
    /// A chunk larger than a run batch is spilled as slices of at most `RUN_BATCH_ROWS`
    /// rows, each holding only its own rows' bytes, and reads back whole.
    #[tokio::test]
    async fn a_large_chunk_is_spilled_in_small_batches_of_its_own_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let table = table(dir.path(), "none").await;
        let mut spill = Spill::new(&table).unwrap();
        let values: Vec<String> = (0..3 * RUN_BATCH_ROWS + 5)
            .map(|i| format!("value-{i:08}"))
            .collect();
        let chunks = kv(&values);
        let kv = arrow::compute::concat_batches(&chunks[0].schema(), &chunks).unwrap();
        let run = spill.write(std::iter::once(Ok(kv.clone()))).unwrap();
        let read: Vec<RecordBatch> = open_run(&run).unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(read.len(), 4);
        assert!(read.iter().all(|b| b.num_rows() <= RUN_BATCH_ROWS));
        let whole = arrow::compute::concat_batches(&spill.layout, &read).unwrap();
        assert_eq!(whole, spill.run_batch(&kv).unwrap());
        // The value bytes once (about 14 bytes a row, with offsets and the other columns
        // about 31), not a slice's whole parent buffers each time.
        assert!(run.bytes < 40 * values.len() as u64, "{} bytes", run.bytes);
    }
}
