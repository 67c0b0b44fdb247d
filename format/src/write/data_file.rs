//! Writing sorted key-value batches as Parquet data files, rolled at `target-file-size`,
//! each described by a [`DataFileMeta`]. The writer's flushes (level 0) and the
//! compactor's outputs (any level) both go through here, so every file Strata writes has
//! the same layout, field ids and statistics.
//!
//! Columns are `key_value_fields()` with their Paimon field ids (the parquet crate writes the
//! `PARQUET:field_id` metadata as Parquet field ids, as Java does), encoded by
//! [`FileEncoder`]: columns written plain skip arrow-rs's column writer. A file appears whole
//! under its name before its metadata exists: on a local warehouse it is encoded into a
//! staging file `<name>#1` renamed into place when complete; on an object store it is
//! encoded in memory and uploaded with one PUT, or in parts once it outgrows
//! [`UPLOAD_PART`]. Either way its exact size is known when it closes. Sizes are checked
//! after every chunk of rows against the encoder's estimate, so a file ends near the
//! target (compression may make it smaller).

use std::collections::HashMap;
use std::sync::Arc;

use crate::commit::Clock;
use crate::data::binary_row::{encode_arrow_row, serialize_with_arity, BinaryRowWriter};
use crate::manifest::{DataFileMeta, FileSource};
use crate::options::CoreOptions;
use crate::paths::{FileNames, PartitionPath, TablePaths};
use crate::schema::{
    TableSchema, KEY_FIELD_PREFIX, SEQUENCE_NUMBER_FIELD_NAME, VALUE_KIND_FIELD_NAME,
};
use crate::storage::{StagedFile, Storage, Upload};
use crate::table::Table;
use crate::types::DataType;
use crate::{invalid, Error, Result};
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use bytes::Bytes;
use object_store::path::Path;
use parquet::basic::{
    BrotliLevel, Compression, Encoding, GzipLevel, PageType, Type as PhysicalType, ZstdLevel,
};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::encoder::FileEncoder;
use super::stats::{StatsAccumulator, StatsCollector};

/// Rows written between two size checks: large chunks keep the encoder fast, and a quarter
/// of a target file's rows at most keeps small targets (tests, tiny tables) accurate.
const MAX_CHUNK_ROWS: usize = 8192;
const MIN_CHUNK_ROWS: usize = 64;
/// Size of the pieces a file is encoded into: big enough that the encoder's small writes
/// are cheap, small enough that the allocator reuses them across files (allocations above
/// glibc's mmap threshold are fresh pages, zeroed and faulted in each time), and a file
/// never moves as it grows.
const SINK_CHUNK: usize = 1 << 20;
/// Size from which an open file's encoded bytes are uploaded as a part (S3's parts are at
/// least 5 MiB); smaller files are uploaded whole when they close.
const UPLOAD_PART: usize = 16 << 20;

/// Rolls sorted key-value batches into uploaded Parquet files; see the module docs.
pub struct DataFileWriter {
    storage: Storage,
    paths: TablePaths,
    properties: WriterProperties,
    target_size: u64,
    prefix: String,
    uuid: String,
    next_file: u64,
    schema_id: i64,
    key_types: Vec<DataType>,
    stats: StatsCollector,
    clock: Arc<dyn Clock>,
    dictionaries: Dictionaries,
}

/// Files between two tries of a column's dictionary encoding after it gave up.
const DICTIONARY_RETRY_FILES: u32 = 16;

/// Columns whose dictionary encoding gave up in a recent file of this writer. arrow-rs
/// starts every column chunk dictionary-encoded and falls back to plain once the dictionary
/// outgrows its page limit, after hashing every value so far: on a column of mostly
/// distinct values (random ids, free text) that is a tenth of the encoding's CPU, spent for
/// nothing in every row group. Later row groups and files skip the attempt for such a
/// column, and try again every [`DICTIONARY_RETRY_FILES`] files, as data changes. The
/// bytes written are the same plain pages the fallback would have written.
///
/// Until the writer knows, a file starts with a small row group of [`PROBE_ROWS`] rows: the
/// dictionaries are tried there, and the file's next row groups skip those that gave up
/// ([`FileEncoder`] learns that itself).
#[derive(Debug, Default)]
struct Dictionaries {
    /// Column → files left before it is tried again.
    skipped: HashMap<ColumnPath, u32>,
    /// Whether a file was opened since this writer started.
    opened: bool,
}

/// Rows of the row group a file starts with while its dictionaries are being tried.
const PROBE_ROWS: usize = 65_536;

impl Dictionaries {
    /// Properties for the next file (`base` without the skipped dictionaries), and whether
    /// it should start with a probe row group: its first file, or one that tries again a
    /// dictionary skipped so far.
    fn next_file(&mut self, base: &WriterProperties) -> (WriterProperties, bool) {
        let before = self.skipped.len();
        self.skipped.retain(|_, left| {
            *left = left.saturating_sub(1);
            *left > 0
        });
        let probe = !self.opened || self.skipped.len() < before;
        self.opened = true;
        if self.skipped.is_empty() {
            return (base.clone(), probe);
        }
        let mut builder = base.clone().into_builder();
        for column in self.skipped.keys() {
            builder = builder.set_column_dictionary_enabled(column.clone(), false);
        }
        (builder.build(), probe)
    }

    /// Notes the columns of flushed row groups whose dictionary gave up.
    fn observe(&mut self, row_groups: &[parquet::file::metadata::RowGroupMetaData]) {
        for column in row_groups.iter().flat_map(|g| g.columns()) {
            if dictionary_gave_up(column) {
                self.skipped
                    .insert(column.column_path().clone(), DICTIONARY_RETRY_FILES);
            }
        }
    }
}

/// Whether a column chunk tried a dictionary that fell back to plain pages or did not pay.
pub(super) fn dictionary_gave_up(column: &ColumnChunkMetaData) -> bool {
    let Some(pages) = column.page_encoding_stats() else {
        return false;
    };
    let plain_data = pages.iter().any(|p| {
        matches!(p.page_type, PageType::DATA_PAGE | PageType::DATA_PAGE_V2)
            && !matches!(
                p.encoding,
                Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY
            )
    });
    column.dictionary_page_offset().is_some() && (plain_data || !dictionary_paid(column))
}

/// Whether a dictionary-encoded column chunk is no larger, before compression, than its
/// values written plain, within an eighth (and a few KiB of page headers, which decide tiny
/// chunks). A dictionary of mostly distinct values that stays under the page limit (131,072
/// BIGINTs fill 1 MiB) never falls back, yet stores each value once plus an index per row,
/// hashing every one: skipping it is the same trade as a fallback. Sizes that are not known
/// (byte arrays without size statistics) count as paid.
fn dictionary_paid(column: &ColumnChunkMetaData) -> bool {
    let nulls = column
        .statistics()
        .and_then(|s| s.null_count_opt())
        .unwrap_or(0);
    let values = (column.num_values() as u64).saturating_sub(nulls) as i64;
    let width = match column.column_type() {
        PhysicalType::BOOLEAN => return true,
        PhysicalType::INT32 | PhysicalType::FLOAT => Some(4),
        PhysicalType::INT64 | PhysicalType::DOUBLE => Some(8),
        PhysicalType::INT96 => Some(12),
        PhysicalType::FIXED_LEN_BYTE_ARRAY => Some(i64::from(column.column_descr().type_length())),
        PhysicalType::BYTE_ARRAY => None,
    };
    let plain = match width {
        Some(w) => values.saturating_mul(w),
        // Plain byte arrays: a 4-byte length before each value.
        None => match column.unencoded_byte_array_data_bytes() {
            Some(bytes) => bytes.saturating_add(values.saturating_mul(4)),
            None => return true,
        },
    };
    column.uncompressed_size() <= plain.saturating_add(plain / 8 + DICTIONARY_SLACK)
}

/// Bytes of page headers a dictionary-encoded chunk may carry beyond plain pages.
const DICTIONARY_SLACK: i64 = 4096;

/// Where a batch of files goes and what produced them.
#[derive(Debug, Clone, Copy)]
pub struct FileTarget<'a> {
    pub partition: &'a PartitionPath,
    pub bucket: u32,
    pub level: i32,
    pub source: FileSource,
}

/// A data file that has been uploaded.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub path: Path,
    pub meta: DataFileMeta,
}

impl DataFileWriter {
    pub fn new(table: &Table, clock: Arc<dyn Clock>) -> Result<Self> {
        let options = table.options();
        options.file_format_for_write()?;
        let schema = table.schema();
        let keys = schema.trimmed_primary_key_fields();
        Ok(DataFileWriter {
            storage: table.storage().clone(),
            paths: table.paths().clone(),
            properties: writer_properties(options, schema)?,
            target_size: options.target_file_size(true),
            prefix: options.data_file_prefix().to_string(),
            uuid: uuid::Uuid::new_v4().to_string(),
            next_file: 0,
            schema_id: schema.id,
            key_types: keys.iter().map(|f| f.data_type.clone()).collect(),
            stats: StatsCollector::new(&keys, &schema.fields, options)?,
            clock,
            dictionaries: Dictionaries::default(),
        })
    }

    /// A writer of changelog files: the data-file layout and statistics, named with
    /// `changelog-file.prefix` (Paimon's changelog files differ from data files only there).
    pub fn for_changelog(table: &Table, clock: Arc<dyn Clock>) -> Result<Self> {
        let options = table.options();
        if let Some(format) = options.changelog_file_format() {
            if !format.trim().eq_ignore_ascii_case("parquet") {
                return Err(Error::unsupported(format!(
                    "table '{}' has 'changelog-file.format' = '{format}'; Strata writes \
                     changelog files as Parquet only",
                    table.identifier()
                )));
            }
        }
        let mut writer = Self::new(table, clock)?;
        writer.prefix = options.changelog_file_prefix().to_string();
        Ok(writer)
    }

    /// Never rolls: every `write` is one file (a compaction's changelog, whose `-U`/`+U`
    /// pairs must not be split across files read in sequence-number order).
    pub fn single_file(mut self) -> Self {
        self.target_size = u64::MAX;
        self
    }

    /// Writes a sorted, merged key-value batch as one or more files of the target bucket.
    pub async fn write(
        &mut self,
        target: FileTarget<'_>,
        kv: &RecordBatch,
    ) -> Result<Vec<WrittenFile>> {
        let mut rolling = self.rolling(target);
        rolling.write(kv).await?;
        rolling.finish().await
    }

    /// A writer that takes sorted key-value batches one after another (e.g. the output of a
    /// merge) and rolls files at `target-file-size` across batch boundaries. Batches must
    /// continue the key order of the ones before.
    pub fn rolling<'a>(&'a mut self, target: FileTarget<'a>) -> RollingWriter<'a> {
        RollingWriter {
            files: self,
            target,
            open: None,
            written: Vec::new(),
        }
    }

    fn open_file(
        &mut self,
        schema: arrow::datatypes::SchemaRef,
        target: FileTarget<'_>,
    ) -> Result<OpenFile> {
        // A local file is written from the encoding task itself: page-cache writes are
        // CPU work like the encoding that produces them.
        let sink = if self.storage.is_local() {
            let (name, path) = self.name_file(target)?;
            let staged = self.storage.create_staged(&path)?;
            Sink::Local(LocalSink { staged, name, path })
        } else {
            Sink::Memory(ChunkedSink::default())
        };
        let (properties, probe) = self.dictionaries.next_file(&self.properties);
        let mut writer = FileEncoder::try_new(sink, schema, properties)?;
        if probe {
            writer.first_row_group(PROBE_ROWS);
        }
        Ok(OpenFile {
            writer,
            row_groups_seen: 0,
            upload: None,
            stats: self.stats.accumulator(),
            min_key: None,
            max_key: Vec::new(),
            rows: 0,
            sequences: None,
            deletes: 0,
        })
    }

    /// Adds rows to an open file and keeps what its metadata needs.
    fn append(&mut self, file: &mut OpenFile, rows: &RecordBatch) -> Result<()> {
        let n = rows.num_rows();
        if n == 0 {
            return Ok(());
        }
        file.writer.write(rows)?;
        self.observe_row_groups(file);
        let key_arity = self.key_types.len();
        let keys = rows.columns().get(..key_arity).unwrap_or_default();
        let mut key_writer = BinaryRowWriter::new(key_arity);
        let mut key_at = |row: usize| -> Result<Vec<u8>> {
            encode_arrow_row(keys, &self.key_types, row, &mut key_writer)?;
            Ok(serialize_with_arity(key_writer.finish(), key_arity))
        };
        if file.min_key.is_none() {
            file.min_key = Some(key_at(0)?);
        }
        file.max_key = key_at(n - 1)?;
        let column = |i: usize, what: &str| {
            rows.columns()
                .get(i)
                .ok_or_else(|| Error::internal(format!("key-value batch has no {what} column")))
        };
        let seq = column(key_arity, "_SEQUENCE_NUMBER")?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| Error::internal("_SEQUENCE_NUMBER is not BIGINT"))?;
        let kinds = column(key_arity + 1, "_VALUE_KIND")?
            .as_primitive_opt::<arrow::datatypes::Int8Type>()
            .ok_or_else(|| Error::internal("_VALUE_KIND is not TINYINT"))?;
        if let (Some(lo), Some(hi)) = (arrow::compute::min(seq), arrow::compute::max(seq)) {
            file.sequences = Some(match file.sequences {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
        }
        file.deletes += kinds
            .values()
            .iter()
            .filter(|k| matches!(**k, 1 | 3))
            .count();
        file.rows += n;
        Ok(())
    }

    /// Finishes an open file, uploads it and describes it.
    async fn close(&mut self, mut file: OpenFile, target: FileTarget<'_>) -> Result<WrittenFile> {
        file.writer.flush()?;
        self.observe_row_groups(&mut file);
        let (key_stats, value_stats) = file.stats.finish(file.writer.flushed_row_groups())?;
        let (Some(min_key), Some((min_sequence_number, max_sequence_number))) =
            (file.min_key, file.sequences)
        else {
            return Err(Error::internal("a data file without rows"));
        };
        let upload = file.upload.take();
        let (name, path, size, chunks) = match file.writer.into_inner()? {
            Sink::Local(local) => {
                let size = local.staged.publish()?;
                (local.name, local.path, size, None)
            }
            Sink::Memory(sink) => {
                let (name, path) = match &upload {
                    Some(u) => (u.name.clone(), u.path.clone()),
                    None => self.name_file(target)?,
                };
                (name, path, sink.total, Some(sink.finish()))
            }
        };
        let meta = DataFileMeta {
            file_name: name,
            file_size: i64::try_from(size).unwrap_or(i64::MAX),
            row_count: file.rows as i64,
            min_key,
            max_key: file.max_key,
            key_stats,
            value_stats,
            min_sequence_number,
            max_sequence_number,
            schema_id: self.schema_id,
            level: target.level,
            extra_files: Vec::new(),
            creation_time: Some(local_millis(self.clock.now_millis())),
            delete_row_count: Some(file.deletes as i64),
            embedded_index: None,
            file_source: Some(target.source),
            value_stats_cols: self.stats.value_stats_cols(),
            external_path: None,
            first_row_id: None,
            write_cols: None,
            write_cols_sequences: None,
        };
        match (upload, chunks) {
            (_, None) => {}
            (None, Some(chunks)) => self.storage.put_chunks(&path, chunks).await?,
            (Some(mut u), Some(chunks)) => {
                u.upload.part(chunks).await?;
                u.upload.complete().await?;
            }
        }
        Ok(WrittenFile { path, meta })
    }

    /// Learns from row groups the open file flushed since the last look.
    fn observe_row_groups(&mut self, file: &mut OpenFile) {
        let flushed = file.writer.flushed_row_groups();
        if let Some(new) = flushed.get(file.row_groups_seen..) {
            self.dictionaries.observe(new);
        }
        file.row_groups_seen = flushed.len();
    }

    /// The next file's name and path in `target`.
    fn name_file(&mut self, target: FileTarget<'_>) -> Result<(String, Path)> {
        let name = FileNames::data_file(&self.prefix, &self.uuid, self.next_file, "parquet");
        self.next_file += 1;
        let bucket = i32::try_from(target.bucket)
            .map_err(|_| invalid!("bucket {} is too large", target.bucket))?;
        let path = self.paths.data_file(target.partition, bucket, &name);
        Ok((name, path))
    }

    /// Uploads what the encoder has written of an open file once it reaches a part, so a
    /// large file is never whole in memory.
    async fn upload_parts(&mut self, file: &mut OpenFile, target: FileTarget<'_>) -> Result<()> {
        match file.writer.inner() {
            Sink::Memory(sink) if sink.finished_bytes() >= UPLOAD_PART => {}
            _ => return Ok(()),
        }
        if file.upload.is_none() {
            let (name, path) = self.name_file(target)?;
            let upload = self.storage.upload(&path).await?;
            file.upload = Some(OpenUpload { name, path, upload });
        }
        let Sink::Memory(sink) = file.writer.inner_mut() else {
            return Ok(());
        };
        let chunks = sink.take_finished();
        if let Some(u) = file.upload.as_mut() {
            u.upload.part(chunks).await?;
        }
        Ok(())
    }

    /// Deletes uploaded files that will never be committed; failures are only logged, since
    /// an unreferenced file is harmless (orphan cleanup removes it).
    pub async fn discard(&self, files: &[WrittenFile]) {
        for f in files {
            if let Err(e) = self.storage.delete(&f.path).await {
                tracing::warn!(path = %f.path, error = %e, "could not delete an uncommitted data file");
            }
        }
    }
}

/// Where an open file's encoded bytes go.
enum Sink {
    /// Memory, uploaded in parts or whole (object stores).
    Memory(ChunkedSink),
    /// A local file, written as the encoder produces it.
    Local(LocalSink),
}

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Memory(sink) => sink.write(buf),
            Sink::Local(sink) => sink.staged.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Memory(_) => Ok(()),
            Sink::Local(sink) => sink.staged.flush(),
        }
    }
}

/// A data file of a local warehouse, encoded straight into its staging file
/// ([`StagedFile`]): the encoder's small writes reach the page cache as they are produced,
/// as any local Parquet writer's do. On this kind of VM, staging a file in memory and
/// copying it out in bulk costs several times the CPU in the kernel.
struct LocalSink {
    staged: StagedFile,
    name: String,
    path: Path,
}

/// An encoded file in memory, as pieces of [`SINK_CHUNK`] bytes.
#[derive(Default)]
struct ChunkedSink {
    done: Vec<Bytes>,
    current: Vec<u8>,
    /// Bytes written, including those taken out.
    total: usize,
}

impl ChunkedSink {
    /// Bytes in full pieces.
    fn finished_bytes(&self) -> usize {
        self.done.len() * SINK_CHUNK
    }

    fn take_finished(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.done)
    }

    fn finish(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            self.done.push(Bytes::from(self.current));
        }
        self.done
    }
}

impl std::io::Write for ChunkedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.current.len() == self.current.capacity() {
            let full = std::mem::replace(&mut self.current, Vec::with_capacity(SINK_CHUNK));
            if !full.is_empty() {
                self.done.push(Bytes::from(full));
            }
        }
        let n = buf.len().min(self.current.capacity() - self.current.len());
        self.current.extend_from_slice(&buf[..n]);
        self.total += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The upload of a file being encoded, and the name it was given.
struct OpenUpload {
    name: String,
    path: Path,
    upload: Upload,
}

/// A file being encoded, with what its metadata needs.
struct OpenFile {
    writer: FileEncoder<Sink>,
    /// Flushed row groups already seen by [`Dictionaries::observe`].
    row_groups_seen: usize,
    /// Started once the file outgrows one part ([`DataFileWriter::upload_parts`]).
    upload: Option<OpenUpload>,
    stats: StatsAccumulator,
    min_key: Option<Vec<u8>>,
    max_key: Vec<u8>,
    rows: usize,
    /// (min, max) `_SEQUENCE_NUMBER`.
    sequences: Option<(i64, i64)>,
    deletes: usize,
}

impl OpenFile {
    /// Encoded bytes so far, including what the encoder still buffers.
    fn size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }
}

/// Rolls sorted key-value batches into files of one bucket; see [`DataFileWriter::rolling`].
/// Files are uploaded as they fill up; those not yet committed can be deleted with
/// [`DataFileWriter::discard`] through [`RollingWriter::written`].
pub struct RollingWriter<'a> {
    files: &'a mut DataFileWriter,
    target: FileTarget<'a>,
    open: Option<OpenFile>,
    written: Vec<WrittenFile>,
}

impl RollingWriter<'_> {
    /// Appends rows, closing and uploading files as they reach the target size.
    pub async fn write(&mut self, kv: &RecordBatch) -> Result<()> {
        let rows = kv.num_rows();
        let mut start = 0;
        // Rows of this batch in the open file not yet in its statistics: statistics are
        // taken once per (batch, file) piece, not per chunk.
        let mut piece = 0;
        while start < rows {
            let mut file = match self.open.take() {
                Some(f) => f,
                None => self.files.open_file(kv.schema(), self.target)?,
            };
            // Far from the target the rest goes in at once; near it, chunk by chunk so the
            // file ends close to the target (Arrow's size bounds the encoded size).
            let room = self.files.target_size.saturating_sub(file.size());
            let rest = kv.slice(start, rows - start);
            let len = if (rest.get_array_memory_size() as u64) < room {
                rows - start
            } else {
                // A slice reports its whole buffers: size rows by the full batch.
                let row_bytes = (kv.get_array_memory_size() / rows.max(1)).max(1);
                let chunk =
                    (usize::try_from(self.files.target_size).unwrap_or(usize::MAX) / row_bytes / 4)
                        .clamp(MIN_CHUNK_ROWS, MAX_CHUNK_ROWS);
                chunk.min(rows - start)
            };
            self.files.append(&mut file, &kv.slice(start, len))?;
            start += len;
            if file.size() >= self.files.target_size {
                file.stats.update(&kv.slice(piece, start - piece))?;
                piece = start;
                let written = self.files.close(file, self.target).await?;
                self.written.push(written);
            } else {
                if let Err(e) = self.files.upload_parts(&mut file, self.target).await {
                    if let Some(u) = file.upload.take() {
                        u.upload.abort().await;
                    }
                    return Err(e);
                }
                self.open = Some(file);
            }
        }
        if let Some(file) = self.open.as_mut() {
            if start > piece {
                file.stats.update(&kv.slice(piece, start - piece))?;
            }
        }
        Ok(())
    }

    /// Files uploaded so far.
    pub fn written(&self) -> &[WrittenFile] {
        &self.written
    }

    /// Closes the last file and returns every file written.
    pub async fn finish(mut self) -> Result<Vec<WrittenFile>> {
        if let Some(file) = self.open.take() {
            if file.rows > 0 {
                let written = self.files.close(file, self.target).await?;
                self.written.push(written);
            }
        }
        Ok(self.written)
    }

    /// Drops the open file and deletes every file uploaded (none was committed).
    pub async fn abort(mut self) {
        if let Some(file) = self.open.take() {
            if let Some(u) = file.upload {
                u.upload.abort().await;
            }
            // Not finished: that would encode what is left only to delete it.
            if let Sink::Local(local) = file.writer.inner() {
                local.staged.discard();
            }
        }
        self.files.discard(&self.written).await;
    }
}

/// `_CREATION_TIME` is the writer's local wall clock read as UTC millis, as Java writes it.
pub fn local_millis(utc_millis: i64) -> i64 {
    let offset = chrono::Local::now().offset().local_minus_utc();
    utc_millis.saturating_add(i64::from(offset) * 1000)
}

/// Parquet settings from `file.compression` and `file.compression.zstd-level`. Columns that
/// hold a distinct value in every row of a file (the sequence number, and a single-column
/// key in both its `_KEY_` copy and its value column) skip dictionary encoding, which
/// could never pay off and costs a hash insert per value until the writer gives up.
/// `_VALUE_KIND` skips it too: its four values compress to next to nothing plain, where
/// the dictionary costs a hash lookup per row.
fn writer_properties(options: &CoreOptions, schema: &TableSchema) -> Result<WriterProperties> {
    let codec = options.file_compression().trim().to_ascii_lowercase();
    let compression = match codec.as_str() {
        "zstd" => Compression::ZSTD(
            ZstdLevel::try_new(options.file_compression_zstd_level()).map_err(|e| {
                invalid!("option 'file.compression.zstd-level' is not a zstd level: {e}")
            })?,
        ),
        "snappy" => Compression::SNAPPY,
        "lz4" => Compression::LZ4_RAW,
        "gzip" => Compression::GZIP(GzipLevel::default()),
        "brotli" => Compression::BROTLI(BrotliLevel::default()),
        "none" | "uncompressed" => Compression::UNCOMPRESSED,
        other => {
            return Err(Error::unsupported(format!(
                "file.compression '{other}' cannot be written; use zstd, snappy, lz4, gzip, \
                 brotli or none"
            )))
        }
    };
    // Exact chunk statistics, as Paimon's Parquet writer keeps them: a file's manifest
    // statistics are read from them (`stats.rs`).
    let mut builder = WriterProperties::builder()
        .set_compression(compression)
        .set_statistics_truncate_length(None);
    let mut plain = vec![
        SEQUENCE_NUMBER_FIELD_NAME.to_string(),
        VALUE_KIND_FIELD_NAME.to_string(),
    ];
    if let [key] = schema.trimmed_primary_keys().as_slice() {
        plain.push(format!("{KEY_FIELD_PREFIX}{key}"));
        plain.push(key.clone());
    }
    for name in plain {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(name), false);
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    use futures::TryStreamExt;

    use super::*;
    use crate::commit::SystemClock;
    use crate::paths::PartitionPath;
    use crate::read::file::{read_kv_file, KvLayout};
    use crate::test_table::{kv, rows, table, Row, INSERT};

    /// A file's manifest statistics, partly read from its Parquet chunk statistics, equal a
    /// scan of every value: over two row groups, for every type the footer serves (and
    /// beside scanned ones), with nulls, an all-null column, negative and extreme values,
    /// strings past Parquet's 64-byte default truncation (multi-byte at the cut), and the
    /// `truncate(16)`, `full` and `counts` modes.
    #[tokio::test]
    async fn manifest_statistics_from_the_footer_equal_a_scan() {
        use crate::types::arrow::to_arrow_schema;
        use crate::write::stats::StatsCollector;
        use arrow::array::{ArrayRef, BinaryArray, Int64Array, Int8Array, StringArray};
        use arrow::compute::cast;

        let dir = tempfile::tempdir().unwrap();
        let columns = [
            ("k", "BIGINT NOT NULL"),
            ("t", "TINYINT"),
            ("s", "SMALLINT"),
            ("i", "INT"),
            ("d", "DATE"),
            ("ts3", "TIMESTAMP(3)"),
            ("ts6", "TIMESTAMP(6)"),
            ("ts9", "TIMESTAMP(9)"),
            ("ltz", "TIMESTAMP(6) WITH LOCAL TIME ZONE"),
            ("str", "STRING"),
            ("full", "STRING"),
            ("counted", "STRING"),
            ("nulls", "STRING"),
            ("skipped", "STRING"),
            ("bin", "BYTES"),
            ("f", "DOUBLE"),
            ("dec", "DECIMAL(10, 2)"),
            ("flag", "BOOLEAN"),
        ];
        let options = [
            ("fields.full.stats-mode", "full"),
            ("fields.counted.stats-mode", "counts"),
            ("fields.skipped.stats-mode", "none"),
        ];
        let table = crate::test_table::table_of(dir.path(), &columns, &["k"], &options).await;
        let n = 100_000i64;
        // Values spread over each type's range, every seventh null; row 0 holds extremes.
        let ints = Int64Array::from_iter((0..n).map(|r| {
            let v = (r * 7919 % 20_001) - 10_000;
            (r % 7 != 3).then_some(if r == 0 { i64::MIN } else { v })
        }));
        let long = |r: i64| {
            let head = "é".repeat(31) + "ab";
            format!("{head}{}", (r * 104_729) % 1_000_003)
        };
        let texts = StringArray::from_iter((0..n).map(|r| (r % 5 != 1).then(|| long(r))));
        let schema = to_arrow_schema(&table.schema().key_value_fields());
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for field in schema.fields() {
            let name = field.name().as_str();
            let narrow = |bound: i64| -> ArrayRef {
                let v =
                    Int64Array::from_iter(ints.iter().map(|v| v.map(|v| v.clamp(-bound, bound))));
                cast(&v, field.data_type()).unwrap()
            };
            arrays.push(match name {
                "_KEY_k" | "k" => Arc::new(Int64Array::from_iter_values(0..n)),
                "_SEQUENCE_NUMBER" => Arc::new(Int64Array::from_iter_values(0..n)),
                "_VALUE_KIND" => Arc::new(Int8Array::from(vec![0i8; n as usize])),
                "t" => narrow(127),
                "s" | "d" | "dec" => narrow(9_999),
                "i" | "ts3" | "ts6" | "ts9" | "ltz" | "f" | "flag" => {
                    cast(&ints, field.data_type()).unwrap()
                }
                "str" | "full" | "counted" | "skipped" => Arc::new(texts.clone()),
                "nulls" => Arc::new(StringArray::new_null(n as usize)),
                "bin" => Arc::new(BinaryArray::from_iter(
                    texts.iter().map(|t| t.map(|t| t.as_bytes().to_vec())),
                )),
                other => panic!("no values for {other}"),
            });
        }
        let batch = RecordBatch::try_new(schema, arrays).unwrap();
        let mut writer = DataFileWriter::new(&table, Arc::new(SystemClock)).unwrap();
        let partition = PartitionPath::unpartitioned();
        let files = writer.write(appended(&partition), &batch).await.unwrap();
        assert_eq!(files.len(), 1);
        // Two row groups: the first file's first is a short one (`PROBE_ROWS`).
        let second = group_column(dir.path(), &files[0], 1, "k");
        assert!(second.num_values() > 0);

        let schema = table.schema();
        let scan = StatsCollector::new(
            &schema.trimmed_primary_key_fields(),
            &schema.fields,
            table.options(),
        )
        .unwrap();
        let meta = &files[0].meta;
        assert_eq!(meta.key_stats, scan.key_stats(&batch).unwrap());
        assert_eq!(meta.value_stats, scan.value_stats(&batch).unwrap());
        let with_stats = columns.iter().filter(|c| c.0 != "skipped");
        let names: Vec<String> = with_stats.map(|c| c.0.to_string()).collect();
        assert_eq!(meta.value_stats_cols, Some(names));
    }

    /// A large local file (several row groups' worth of encoder flushes) is written through
    /// its staging file: it reads back whole, its size is the file's, and no staging file
    /// is left. (Object stores: `a_data_file_larger_than_a_part_goes_up_in_parts`.)
    #[tokio::test]
    async fn a_large_local_file_is_written_through_a_staging_file() {
        let dir = tempfile::tempdir().unwrap();
        let table = table(
            dir.path(),
            &[("file.compression", "none"), ("target-file-size", "1 gb")],
        )
        .await;
        let mut writer = DataFileWriter::new(&table, Arc::new(SystemClock)).unwrap();
        let partition = PartitionPath::unpartitioned();
        let target = FileTarget {
            partition: &partition,
            bucket: 0,
            level: 1,
            source: FileSource::Compact,
        };
        let total: i64 = 1_100_000;
        let mut rolling = writer.rolling(target);
        for start in (0..total).step_by(100_000) {
            let batch = kv(
                &table,
                &rows(start..(start + 100_000).min(total), 0, "value-"),
            );
            rolling.write(&batch).await.unwrap();
        }
        let files = rolling.finish().await.unwrap();
        assert_eq!(files.len(), 1);
        let file = &files[0];
        assert!(file.meta.file_size > (UPLOAD_PART as i64) * 2);
        let head = table.storage().head(&file.path).await.unwrap();
        assert_eq!(head.size, file.meta.file_size as u64);

        let layout = KvLayout::new(table.schema().fields.clone());
        let batches: Vec<RecordBatch> = read_kv_file(
            table.storage(),
            &file.path,
            file.meta.file_size,
            table.schema(),
            &layout,
            65_536,
            None,
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
        let keys: Vec<i64> = batches
            .iter()
            .flat_map(|b| b.column(2).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(keys, (0..total).collect::<Vec<_>>());
        let bucket_dir = dir.path().join("db.db/t/bucket-0");
        let names: Vec<String> = std::fs::read_dir(bucket_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![file.meta.file_name.clone()]);
    }

    /// Level-0 files of bucket 0 of `partition`.
    fn appended(partition: &PartitionPath) -> FileTarget<'_> {
        FileTarget {
            partition,
            bucket: 0,
            level: 0,
            source: FileSource::Append,
        }
    }

    /// Column `name` of the first row group of a local data file.
    fn column_chunk(dir: &std::path::Path, file: &WrittenFile, name: &str) -> ColumnChunkMetaData {
        group_column(dir, file, 0, name)
    }

    /// Column `name` of row group `group` of a local data file.
    fn group_column(
        dir: &std::path::Path,
        file: &WrittenFile,
        group: usize,
        name: &str,
    ) -> ColumnChunkMetaData {
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let local = dir.join(file.path.as_ref());
        let reader = SerializedFileReader::new(std::fs::File::open(local).unwrap()).unwrap();
        let group = reader.metadata().row_group(group);
        (0..group.num_columns())
            .map(|c| group.column(c))
            .find(|c| c.column_path().string() == name)
            .unwrap()
            .clone()
    }

    /// A column whose dictionary gave up in the first file's probe row group is written
    /// plain in its next row groups and in the next files, without the attempt, and tried
    /// again after `DICTIONARY_RETRY_FILES` files. `_VALUE_KIND` never has one (see
    /// `writer_properties`).
    #[tokio::test]
    async fn a_dictionary_that_gave_up_is_skipped_then_retried() {
        let dir = tempfile::tempdir().unwrap();
        let table = table(dir.path(), &[]).await;
        let mut writer = DataFileWriter::new(&table, Arc::new(SystemClock)).unwrap();
        let partition = PartitionPath::unpartitioned();
        let target = appended(&partition);
        // Whether each column of a file has a dictionary page: (_VALUE_KIND, v).
        let dictionaries = |file: &WrittenFile| {
            let has = |name: &str| {
                column_chunk(dir.path(), file, name)
                    .dictionary_page_offset()
                    .is_some()
            };
            (has("_VALUE_KIND"), has("v"))
        };
        // 200,000 distinct values: the dictionary outgrows its page and falls back.
        let big = writer
            .write(target, &kv(&table, &rows(0..200_000, 0, "value-")))
            .await
            .unwrap();
        assert_eq!(dictionaries(&big[0]), (false, true));
        let in_group = |group: usize, name: &str| {
            let column = group_column(dir.path(), &big[0], group, name);
            (
                column.num_values(),
                column.dictionary_page_offset().is_some(),
            )
        };
        assert_eq!(in_group(0, "v"), (PROBE_ROWS as i64, true));
        assert_eq!(in_group(1, "v"), ((200_000 - PROBE_ROWS) as i64, false));
        assert_eq!(
            in_group(1, "_VALUE_KIND"),
            ((200_000 - PROBE_ROWS) as i64, false)
        );
        for n in 1..DICTIONARY_RETRY_FILES {
            let small = writer
                .write(target, &kv(&table, &rows([i64::from(n)], 0, "small-")))
                .await
                .unwrap();
            assert_eq!(
                dictionaries(&small[0]),
                (false, false),
                "file {n} after the fallback"
            );
        }
        let retried = writer
            .write(target, &kv(&table, &rows([0], 0, "small-")))
            .await
            .unwrap();
        assert_eq!(dictionaries(&retried[0]), (false, true));
    }

    /// A dictionary under its page limit that holds nearly every value once never falls
    /// back, yet is larger than the plain values: later files skip it. One whose values
    /// repeat keeps it.
    #[tokio::test]
    async fn a_dictionary_larger_than_plain_values_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let table = table(dir.path(), &[]).await;
        let partition = PartitionPath::unpartitioned();
        let target = appended(&partition);
        // (dictionary page of v, its data pages all dictionary-encoded)
        let v_encoding = |file: &WrittenFile| {
            let v = column_chunk(dir.path(), file, "v");
            let all_dictionary = v
                .page_encoding_stats_mask()
                .is_some_and(|m| m.is_only(Encoding::RLE_DICTIONARY));
            (v.dictionary_page_offset().is_some(), all_dictionary)
        };
        // 50,000 short distinct strings: about 450 KB plain, under the 1 MiB page limit.
        let distinct = |from: i64| rows(from..from + 50_000, 0, "");
        let mut writer = DataFileWriter::new(&table, Arc::new(SystemClock)).unwrap();
        let first = writer
            .write(target, &kv(&table, &distinct(0)))
            .await
            .unwrap();
        assert_eq!(v_encoding(&first[0]), (true, true), "no fallback");
        let second = writer
            .write(target, &kv(&table, &distinct(50_000)))
            .await
            .unwrap();
        assert_eq!(v_encoding(&second[0]), (false, false));

        // The same number of rows over 100 values.
        let repeating: Vec<Row> = (0..50_000)
            .map(|k| (k, k, INSERT, format!("{}", k % 100)))
            .collect();
        let mut writer = DataFileWriter::new(&table, Arc::new(SystemClock)).unwrap();
        for n in 0..2 {
            let file = writer.write(target, &kv(&table, &repeating)).await.unwrap();
            assert_eq!(v_encoding(&file[0]), (true, true), "file {n}");
        }
    }
}
