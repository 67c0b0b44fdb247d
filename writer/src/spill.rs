//! Spilling write buffers to local disk (`write-buffer-spillable`, on by default as in
//! Paimon).
//!
//! When the buffers outgrow `write-buffer-size`, every bucket's buffer is sorted and merged
//! as a flush would, but written to a local temporary directory instead of the table. At
//! the next commit a bucket's spilled runs and its buffer are merged into level-0 files of
//! the table in one streaming k-way merge: by key prefix where the table allows
//! (`spill/merge.rs`), else the compaction merge (`MergeRead::with_runs`). A commit
//! therefore adds one sorted run per bucket however much it buffered, where flushing would
//! add one per overflow (and make the compactor's work). Past
//! `write-buffer-spill.max-disk-size` the writer flushes instead.
//!
//! A merge holds about one batch of each run it reads, so it reads at most a fan-in of
//! runs ([`Spill::fan_in`]): `local-sort.max-num-file-handles`, and no more than
//! `write-buffer-size` holds of their batches. A bucket that spills more is merged in
//! rounds as it spills ([`Spill::round`]), so what a commit holds does not grow with what
//! it writes.
//!
//! A spilled run is an Arrow IPC stream file (as Paimon's spill is its own row format, not
//! a data file): writing one is a copy, not an encoding, so a spill costs little more than
//! the disk write. It is LZ4-compressed where its first batch shows that saves at least an
//! eighth; otherwise the copy and scan each way would buy next to no disk. Batches are
//! small ([`RUN_BATCH_ROWS`]), and each is read back into a buffer of its own that the
//! decoded arrays point into ([`RunReader`]). Nothing spilled is ever part of the table:
//! the directory is deleted with the writer, and a crash leaves only local temporary files.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_ipc::CompressionType;
use arrow_schema::{ArrowError, SchemaRef};
use futures::{StreamExt, TryStreamExt};
use strata_format::manifest::FileSource;
use strata_format::read::merge::MergeRead;
use strata_format::scan::Split;
use strata_format::table::Table;
use strata_format::write::{DataFileWriter, FileTarget, RollingWriter, WrittenFile};
use strata_format::{invalid, Error, ErrorKind, Result};

use crate::buffer::Sorted;

mod flat;
mod merge;

use merge::{Batches, PrefixMerge};

/// Rows per spilled batch, and per batch of the compaction merge: what the commit's merge
/// holds of each run at a time.
const RUN_BATCH_ROWS: usize = 4096;

/// The least fan-in `write-buffer-size` may impose: below it, rounds would merge the same
/// rows again at nearly every spill (an explicit `local-sort.max-num-file-handles` may
/// still go lower).
const MIN_MEMORY_FAN_IN: usize = 8;

/// One run spilled to a local file.
#[derive(Debug)]
pub(crate) struct SpilledRun {
    path: PathBuf,
    bytes: u64,
    batches: u64,
    /// Rounds its rows went through ([`Spill::round`]). A bucket's runs are oldest first,
    /// their tiers never rising.
    tier: u32,
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
    /// Whether `options` compress (tried per run: see [`compresses`]).
    compressed: bool,
    next: u64,
    /// Bytes of spilled files not merged yet.
    bytes: u64,
    max_bytes: Option<u64>,
    /// `local-sort.max-num-file-handles`.
    max_fan_in: usize,
    /// `write-buffer-size`.
    buffer_bytes: u64,
    /// The largest mean batch of any run spilled: what a merge holds of a run.
    batch_bytes: u64,
    // Last, so the files are dropped after everything that could still write them.
    dir: tempfile::TempDir,
}

/// A run being spilled. Its file is deleted if it is dropped unfinished.
struct RunWriter {
    path: PathBuf,
    layout: SchemaRef,
    key_arity: usize,
    options: IpcWriteOptions,
    compressed: bool,
    tier: u32,
    writer: Option<RunSink>,
    batches: u64,
    finished: bool,
}

/// A run's open file: arrow's IPC stream writer, or, for an uncompressed run of flat
/// columns, the file itself ([`flat`]).
enum RunSink {
    Stream(StreamWriter<BufWriter<File>>),
    Flat(File),
}

/// Where a merge of runs goes: the table's level-0 files, or a new run.
enum Out<'a, 'b> {
    Files(&'a mut RollingWriter<'b>),
    Run(&'a mut RunWriter),
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
            max_fan_in: options.local_sort_max_num_file_handles(),
            buffer_bytes: options.write_buffer_size(),
            batch_bytes: 0,
            dir,
        })
    }

    /// Whether the spilled runs reached `write-buffer-spill.max-disk-size`.
    pub fn full(&self) -> bool {
        self.max_bytes.is_some_and(|max| self.bytes >= max)
    }

    /// Runs one merge reads at once: `local-sort.max-num-file-handles`, and no more than
    /// `write-buffer-size` holds of a batch each (but at least [`MIN_MEMORY_FAN_IN`]).
    pub fn fan_in(&self) -> usize {
        let fit = self.buffer_bytes / self.batch_bytes.max(1);
        usize::try_from(fit)
            .unwrap_or(usize::MAX)
            .max(MIN_MEMORY_FAN_IN)
            .min(self.max_fan_in)
    }

    /// Writes one bucket's sorted, merged rows (key-value batches) as a spilled run.
    pub fn write(&mut self, kv: impl Iterator<Item = Result<RecordBatch>>) -> Result<SpilledRun> {
        let mut run = self.start_run(0);
        for chunk in kv {
            run.push(&chunk?)?;
        }
        self.finish_run(run)
    }

    /// Once a bucket has a fan-in of runs, merges its newest ones into one, so the commit's
    /// merge (its runs and its last buffer) reads no more than a fan-in. Merged are the runs
    /// of the lowest tiers, at least two: rows are merged again only once as many runs of
    /// their tier have piled up, so each row goes through a few rounds however many runs
    /// the bucket spills.
    pub async fn round(&mut self, runs: &mut Vec<SpilledRun>, split: Split) -> Result<()> {
        if runs.len() < self.fan_in() {
            return Ok(());
        }
        let from = round_start(runs);
        let merged: Vec<SpilledRun> = runs.drain(from..).collect();
        let tier = merged.iter().map(|r| r.tier).max().unwrap_or(0) + 1;
        let mut out = self.start_run(tier);
        let done = self.merge(&merged, None, split, Out::Run(&mut out)).await;
        self.discard(merged);
        done?;
        runs.push(self.finish_run(out)?);
        Ok(())
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
        let target = FileTarget {
            partition: &partition,
            bucket,
            level: 0,
            source: FileSource::Append,
        };
        let mut rolling = out.rolling(target);
        let written = self
            .merge(&runs, last, split, Out::Files(&mut rolling))
            .await;
        self.discard(runs);
        match written {
            Ok(()) => rolling.finish().await,
            Err(e) => {
                rolling.abort().await;
                Err(e)
            }
        }
    }

    /// Merges `runs` (oldest first) and `last` (newest) into `out`. Retractions are kept:
    /// they must still shadow the bucket's older rows.
    async fn merge(
        &self,
        runs: &[SpilledRun],
        last: Option<Sorted>,
        split: Split,
        mut out: Out<'_, '_>,
    ) -> Result<()> {
        let mut batches: Vec<Batches> = Vec::with_capacity(runs.len() + 1);
        for run in runs {
            batches.push(Box::new(RunReader::open(run)?));
        }
        if let Some(kv) = last {
            let (layout, key_arity) = (self.layout.clone(), self.key_arity);
            let last = kv.map(move |b| b.and_then(|b| run_batch(&layout, key_arity, &b)));
            batches.push(Box::new(last));
        }
        if let Some(merge) = &self.prefix_merge {
            for chunk in merge.merge(batches)? {
                out.write(&chunk?).await?;
            }
            return Ok(());
        }
        let streams = batches
            .into_iter()
            .map(|b| futures::stream::iter(b).boxed())
            .collect();
        let mut stream = MergeRead::key_values(self.table.clone(), split, RUN_BATCH_ROWS, true)?
            .with_runs(streams)
            .into_stream()
            .await?;
        while let Some(batch) = stream.try_next().await? {
            if batch.num_rows() > 0 {
                out.write(&batch).await?;
            }
        }
        Ok(())
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

    fn start_run(&mut self, tier: u32) -> RunWriter {
        let path = self.dir.path().join(format!("run-{}.arrow", self.next));
        self.next += 1;
        RunWriter {
            path,
            layout: self.layout.clone(),
            key_arity: self.key_arity,
            options: self.options.clone(),
            compressed: self.compressed,
            tier,
            writer: None,
            batches: 0,
            finished: false,
        }
    }

    fn finish_run(&mut self, run: RunWriter) -> Result<SpilledRun> {
        let run = run.finish()?;
        self.bytes += run.bytes;
        if let Some(mean) = run.bytes.checked_div(run.batches) {
            self.batch_bytes = self.batch_bytes.max(mean);
        }
        Ok(run)
    }

    #[cfg(test)]
    fn run_batch(&self, kv: &RecordBatch) -> Result<RecordBatch> {
        run_batch(&self.layout, self.key_arity, kv)
    }
}

/// Where a round starts among a bucket's runs (tiers never rising): at the trailing runs
/// of the lowest tier, or of the lowest tiers it takes to make at least two.
fn round_start(runs: &[SpilledRun]) -> usize {
    let mut tier = 0;
    loop {
        let from = runs
            .iter()
            .rposition(|r| r.tier > tier)
            .map_or(0, |i| i + 1);
        if runs.len() - from >= 2 || from == 0 {
            return from;
        }
        tier += 1;
    }
}

impl RunWriter {
    /// Adds a key-value chunk, without its `_KEY_*` columns, in batches of at most
    /// [`RUN_BATCH_ROWS`] rows.
    fn push(&mut self, kv: &RecordBatch) -> Result<()> {
        let batch = run_batch(&self.layout, self.key_arity, kv)?;
        for slice in slices(batch, RUN_BATCH_ROWS) {
            self.write(&slice).map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    fn write(
        &mut self,
        batch: &RecordBatch,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let compress = compresses(&self.layout, &self.options, self.compressed, batch)?;
                self.writer.insert(self.create(compress)?)
            }
        };
        match writer {
            RunSink::Stream(w) => w.write(batch)?,
            RunSink::Flat(file) => flat::write_batch(file, batch)?,
        }
        self.batches += 1;
        Ok(())
    }

    fn create(&self, compress: bool) -> std::result::Result<RunSink, Box<dyn std::error::Error>> {
        let mut file = File::create(&self.path)?;
        if !compress && flat::supports(&self.layout) {
            flat::write_schema(&mut file, &self.layout)?;
            return Ok(RunSink::Flat(file));
        }
        let options = match compress {
            true => self.options.clone(),
            false => IpcWriteOptions::default(),
        };
        // Small writes: see `Storage::put` on large writes into fresh page cache.
        let file = BufWriter::with_capacity(64 << 10, file);
        let w = StreamWriter::try_new_with_options(file, &self.layout, options)?;
        Ok(RunSink::Stream(w))
    }

    fn finish(mut self) -> Result<SpilledRun> {
        let bytes = self.close().map_err(|e| self.error(e))?;
        self.finished = true;
        Ok(SpilledRun {
            path: self.path.clone(),
            bytes,
            batches: self.batches,
            tier: self.tier,
        })
    }

    fn close(&mut self) -> std::result::Result<u64, Box<dyn std::error::Error>> {
        let writer = match self.writer.take() {
            Some(writer) => writer,
            // No rows: a stream of the schema alone.
            None => self.create(false)?,
        };
        let file = match writer {
            RunSink::Stream(mut w) => {
                w.finish()?;
                w.into_inner()?.into_inner().map_err(|e| e.into_error())?
            }
            RunSink::Flat(mut file) => {
                flat::write_end(&mut file)?;
                file
            }
        };
        Ok(file.metadata()?.len())
    }

    fn error(&self, e: Box<dyn std::error::Error>) -> Error {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "cannot spill the write buffer to {}: {e}",
                self.path.display()
            ),
        )
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Out<'_, '_> {
    async fn write(&mut self, kv: &RecordBatch) -> Result<()> {
        match self {
            Out::Files(files) => files.write(kv).await,
            Out::Run(run) => run.push(kv),
        }
    }
}

/// Whether a run starting with `first` is compressed: only where that pays. Compression
/// that saves less than an eighth of the first batch (random text, measures, hashes) is
/// dropped for the run, as it would cost a copy and a scan each way for next to no disk.
fn compresses(
    layout: &SchemaRef,
    options: &IpcWriteOptions,
    compressed: bool,
    first: &RecordBatch,
) -> std::result::Result<bool, ArrowError> {
    if !compressed {
        return Ok(false);
    }
    let size = |options: IpcWriteOptions| -> std::result::Result<usize, ArrowError> {
        let mut w = StreamWriter::try_new_with_options(Vec::new(), layout, options)?;
        w.write(first)?;
        w.finish()?;
        Ok(w.into_inner()?.len())
    };
    let (packed, unpacked) = (size(options.clone())?, size(IpcWriteOptions::default())?);
    Ok(packed.saturating_mul(8) <= unpacked.saturating_mul(7))
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

/// Reads a spilled run back, a message at a time. Each message is read whole into a
/// buffer of its own, not zeroed first, which the decoded arrays then point into: the
/// bytes are copied once, by the read. The file is local and just written, so it is read
/// synchronously.
struct RunReader {
    file: File,
    /// Bytes of the file not read yet: no message may claim more.
    left: u64,
    decoder: StreamDecoder,
    /// Read and not yet decoded.
    pending: Buffer,
    /// The end-of-stream marker was read.
    ended: bool,
    /// After the end or an error: nothing more.
    done: bool,
    shown: String,
}

/// Bytes before each IPC message's metadata: the continuation marker and its length.
const MESSAGE_PREFIX: usize = 8;

impl RunReader {
    fn open(run: &SpilledRun) -> Result<RunReader> {
        let file = File::open(&run.path).map_err(|e| local_error("open a spilled run", e))?;
        Ok(RunReader {
            file,
            left: run.bytes,
            decoder: StreamDecoder::new(),
            pending: Buffer::from_vec(Vec::<u8>::new()),
            ended: false,
            done: false,
            shown: run.path.display().to_string(),
        })
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.pending.is_empty() {
                if self.ended {
                    self.decoder.finish().map_err(|e| self.invalid(e))?;
                    return Ok(None);
                }
                self.pending = self.read_message()?;
            }
            let decoded = self.decoder.decode(&mut self.pending);
            if let Some(batch) = decoded.map_err(|e| self.invalid(e))? {
                return Ok(Some(batch));
            }
        }
    }

    /// The next message whole: prefix, metadata and body.
    fn read_message(&mut self) -> Result<Buffer> {
        let mut prefix = [0u8; MESSAGE_PREFIX];
        self.read_exact(&mut prefix)?;
        let [c0, c1, c2, c3, l0, l1, l2, l3] = prefix;
        if [c0, c1, c2, c3] != flat::CONTINUATION {
            return Err(self.invalid("a message without its continuation marker"));
        }
        let meta_len = self.claim(u64::from(u32::from_le_bytes([l0, l1, l2, l3])))?;
        if meta_len == 0 {
            self.ended = true;
            return Ok(Buffer::from_vec(prefix.to_vec()));
        }
        let mut meta = vec![0; meta_len];
        self.read_claimed(&mut meta)?;
        let body_len = arrow_ipc::root_as_message(&meta)
            .map_err(|e| self.invalid(e))?
            .bodyLength();
        let body_len = u64::try_from(body_len)
            .map_err(|_| self.invalid(format!("a body of {body_len} bytes")))?;
        let body_len = self.claim(body_len)?;
        let mut message = Vec::with_capacity(MESSAGE_PREFIX + meta_len + body_len);
        message.extend_from_slice(&prefix);
        message.extend_from_slice(&meta);
        // Into the spare capacity: nothing is zeroed first.
        let read = (&mut self.file)
            .take(body_len as u64)
            .read_to_end(&mut message)
            .map_err(|e| local_error("read a spilled run", e))?;
        if read != body_len {
            return Err(self.invalid(format!("a body of {body_len} bytes ends after {read}")));
        }
        Ok(Buffer::from_vec(message))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.claim(buf.len() as u64)?;
        self.read_claimed(buf)
    }

    fn read_claimed(&mut self, buf: &mut [u8]) -> Result<()> {
        self.file
            .read_exact(buf)
            .map_err(|e| local_error("read a spilled run", e))
    }

    /// Takes `n` more bytes of the file, which must hold them.
    fn claim(&mut self, n: u64) -> Result<usize> {
        if n > self.left {
            return Err(self.invalid(format!(
                "a message of {n} bytes where {} are left",
                self.left
            )));
        }
        self.left -= n;
        usize::try_from(n).map_err(|_| self.invalid(format!("a message of {n} bytes")))
    }

    fn invalid(&self, e: impl std::fmt::Display) -> Error {
        Error::data_invalid(format!("spilled run {}: {e}", self.shown))
    }
}

impl Iterator for RunReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_batch();
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next.transpose()
    }
}

/// The IPC codec of `spill-compression`: Arrow IPC offers LZ4 and zstd (at a fixed level 3),
/// so zstd, Paimon's default, is served by the faster LZ4 (a spill only lives until the
/// commit), and only for runs it shrinks (see [`compresses`]). Checked when the
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
    use std::collections::BTreeMap;
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
        let read: Vec<RecordBatch> = RunReader::open(&run).unwrap().map(|b| b.unwrap()).collect();
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
    /// The one bucket of an unpartitioned table, as the spill's merges read it.
    pub(super) fn split() -> Split {
        Split {
            partition: Vec::new(),
            partition_values: Vec::new(),
            partition_path: strata_format::paths::PartitionPath::unpartitioned(),
            bucket: 0,
            total_buckets: 1,
            files: Vec::new(),
            deletion_files: Default::default(),
        }
    }

    /// A version of a key: (sequence number, kind, value).
    type Version = (i64, i8, String);

    /// One run's key-value batch of (k, v): `versions` in key order, `k` as `key_type`.
    fn run_kv(key_type: &str, versions: &BTreeMap<i32, Version>) -> RecordBatch {
        let key: ArrayRef = if key_type.starts_with("INT") {
            Arc::new(Int32Array::from_iter_values(versions.keys().copied()))
        } else {
            Arc::new(StringArray::from_iter_values(
                versions.keys().map(|k| format!("k{k:05}")),
            ))
        };
        let columns: Vec<ArrayRef> = vec![
            key.clone(),
            Arc::new(Int64Array::from_iter_values(versions.values().map(|v| v.0))),
            Arc::new(Int8Array::from_iter_values(versions.values().map(|v| v.1))),
            key,
            Arc::new(StringArray::from_iter_values(
                versions.values().map(|v| v.2.clone()),
            )),
        ];
        RecordBatch::try_from_iter(
            ["_KEY_k", "_SEQUENCE_NUMBER", "_VALUE_KIND", "k", "v"]
                .into_iter()
                .zip(columns),
        )
        .unwrap()
    }

    /// A bucket that spills more runs than its fan-in is merged in rounds as it spills: it
    /// never holds a fan-in of runs, its tiers never rise, and merging what is left gives
    /// every key's newest version, deletes included, as one merge of every run would. By
    /// key prefix (INT) and by the compaction merge (STRING).
    #[tokio::test]
    async fn runs_past_the_fan_in_are_merged_in_rounds() {
        for key_type in ["INT NOT NULL", "STRING NOT NULL"] {
            let dir = tempfile::tempdir().unwrap();
            let columns = [("k", key_type), ("v", "STRING")];
            let options = [("local-sort.max-num-file-handles", "3")];
            let table = crate::test_table::table(dir.path(), &columns, &["k"], &options).await;
            let mut spill = Spill::new(&table).unwrap();
            assert_eq!(spill.prefix_merge.is_some(), key_type.starts_with("INT"));
            assert_eq!(spill.fan_in(), 3);
            let mut rng = rand::rngs::StdRng::seed_from_u64(3);
            let (mut newest, mut runs, mut sequence) = (BTreeMap::new(), Vec::new(), 0);
            for r in 0..20 {
                let mut run = BTreeMap::new();
                for _ in 0..rng.random_range(1..200) {
                    let kind = if rng.random_bool(0.2) { 3 } else { 0 };
                    run.insert(rng.random_range(0..500), (0, kind, format!("{r}")));
                }
                for (k, version) in run.iter_mut() {
                    version.0 = sequence;
                    sequence += 1;
                    newest.insert(*k, version.clone());
                }
                runs.push(
                    spill
                        .write(std::iter::once(Ok(run_kv(key_type, &run))))
                        .unwrap(),
                );
                spill.round(&mut runs, split()).await.unwrap();
                assert!(runs.len() < 3, "{} runs after spill {r}", runs.len());
                assert!(runs.windows(2).all(|w| w[0].tier >= w[1].tier), "{runs:?}");
            }
            assert!(runs[0].tier >= 2, "{runs:?}");

            let mut out = spill.start_run(0);
            let left = std::mem::take(&mut runs);
            spill
                .merge(&left, None, split(), Out::Run(&mut out))
                .await
                .unwrap();
            spill.discard(left);
            let merged = spill.finish_run(out).unwrap();
            let read: Vec<RecordBatch> = RunReader::open(&merged)
                .unwrap()
                .map(|b| b.unwrap())
                .collect();
            let read = arrow::compute::concat_batches(&spill.layout, &read).unwrap();
            assert_eq!(
                read,
                spill.run_batch(&run_kv(key_type, &newest)).unwrap(),
                "{key_type}"
            );
            // Only the last run is left on disk.
            assert_eq!(std::fs::read_dir(spill.dir.path()).unwrap().count(), 1);
            assert_eq!(spill.bytes, merged.bytes);
        }
    }

    /// Where rounds start: the trailing runs of the lowest tiers, at least two of them.
    #[test]
    fn a_round_takes_the_trailing_runs_of_the_lowest_tiers() {
        let runs = |tiers: &[u32]| -> Vec<SpilledRun> {
            (tiers.iter())
                .map(|&tier| SpilledRun {
                    path: PathBuf::new(),
                    bytes: 0,
                    batches: 0,
                    tier,
                })
                .collect()
        };
        assert_eq!(round_start(&runs(&[0, 0, 0])), 0);
        assert_eq!(round_start(&runs(&[2, 1, 0, 0])), 2);
        assert_eq!(round_start(&runs(&[2, 1, 1, 0])), 1);
        assert_eq!(round_start(&runs(&[3, 1, 0])), 1);
        assert_eq!(round_start(&runs(&[2, 2, 0])), 0);
    }

    /// The fan-in is the option's, lowered to what `write-buffer-size` holds of the runs'
    /// batches, but not below `MIN_MEMORY_FAN_IN` by memory alone.
    #[tokio::test]
    async fn the_fan_in_keeps_the_runs_batches_within_the_write_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let table = table(dir.path(), "none").await;
        let mut spill = Spill::new(&table).unwrap();
        assert_eq!(spill.fan_in(), 128);
        let values: Vec<String> = (0..4000).map(|i| format!("{i:0100}")).collect();
        spill.write(kv(&values).into_iter().map(Ok)).unwrap();
        // About 110 kB a 1000-row batch: 256 MB holds about 2400 of them.
        assert!(spill.batch_bytes > 100_000, "{}", spill.batch_bytes);
        assert_eq!(spill.fan_in(), 128);
        spill.buffer_bytes = 40 * spill.batch_bytes;
        assert_eq!(spill.fan_in(), 40);
        spill.buffer_bytes = 2 * spill.batch_bytes;
        assert_eq!(spill.fan_in(), MIN_MEMORY_FAN_IN);
        spill.max_fan_in = 2;
        assert_eq!(spill.fan_in(), 2);
    }

    /// A damaged run fails its read with an error naming it, never a panic or a huge
    /// allocation: cut short anywhere, or with a length past its end.
    #[tokio::test]
    async fn a_damaged_run_fails_to_read_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let table = table(dir.path(), "none").await;
        let mut spill = Spill::new(&table).unwrap();
        let values: Vec<String> = (0..2500).map(|i| format!("value-{i}")).collect();
        let run = spill.write(kv(&values).into_iter().map(Ok)).unwrap();
        let whole = std::fs::read(&run.path).unwrap();
        let read = |bytes: &[u8]| -> Result<Vec<RecordBatch>> {
            std::fs::write(&run.path, bytes).unwrap();
            let damaged = SpilledRun {
                path: run.path.clone(),
                bytes: bytes.len() as u64,
                batches: 0,
                tier: 0,
            };
            RunReader::open(&damaged)?.collect()
        };
        assert_eq!(read(&whole).unwrap().len(), 3);
        for cut in [
            0,
            3,
            8,
            100,
            whole.len() / 2,
            whole.len() - 8,
            whole.len() - 1,
        ] {
            let e = read(&whole[..cut]).unwrap_err();
            assert!(
                e.to_string().contains(&run.path.display().to_string()),
                "{e}"
            );
        }
        // The first message's metadata length, made to claim 2 GB.
        let mut long = whole.clone();
        long[4..8].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let e = read(&long).unwrap_err();
        assert!(e.to_string().contains("where"), "{e}");
        // An empty run reads as no batches.
        let empty = spill.write(std::iter::empty()).unwrap();
        assert_eq!(RunReader::open(&empty).unwrap().count(), 0);
    }

    /// A run with a nested column is written by arrow's writer and reads back whole.
    #[tokio::test]
    async fn a_run_with_nested_columns_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let columns = [("k", "INT NOT NULL"), ("a", "ARRAY<INT>")];
        let table = crate::test_table::table(dir.path(), &columns, &["k"], &[]).await;
        let mut spill = Spill::new(&table).unwrap();
        let n = 3000;
        let keys: ArrayRef = Arc::new(Int32Array::from_iter_values(0..n));
        let lists = arrow::array::ListArray::from_iter_primitive::<arrow::datatypes::Int32Type, _, _>(
            (0..n).map(|i| (i % 4 != 0).then(|| vec![Some(i), None])),
        );
        let schema =
            strata_format::types::arrow::to_arrow_schema(&table.schema().key_value_fields());
        let arrow::datatypes::DataType::List(element) = schema.field(4).data_type() else {
            panic!("ARRAY<INT> is not a list");
        };
        let (_, offsets, values, nulls) = lists.into_parts();
        let lists = arrow::array::ListArray::new(element.clone(), offsets, values, nulls);
        let kv = RecordBatch::try_new(
            schema,
            vec![
                keys.clone(),
                Arc::new(Int64Array::from_iter_values(0..n as i64)),
                Arc::new(Int8Array::from(vec![0; n as usize])),
                keys,
                Arc::new(lists),
            ],
        )
        .unwrap();
        let run = spill.write(std::iter::once(Ok(kv.clone()))).unwrap();
        let read: Vec<RecordBatch> = RunReader::open(&run).unwrap().map(|b| b.unwrap()).collect();
        let read = arrow::compute::concat_batches(&spill.layout, &read).unwrap();
        assert_eq!(read, spill.run_batch(&kv).unwrap());
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
        let read: Vec<RecordBatch> = RunReader::open(&run).unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(read.len(), 4);
        assert!(read.iter().all(|b| b.num_rows() <= RUN_BATCH_ROWS));
        let whole = arrow::compute::concat_batches(&spill.layout, &read).unwrap();
        assert_eq!(whole, spill.run_batch(&kv).unwrap());
        // The value bytes once (about 14 bytes a row, with offsets and the other columns
        // about 31), not a slice's whole parent buffers each time.
        assert!(run.bytes < 40 * values.len() as u64, "{} bytes", run.bytes);
    }
}
