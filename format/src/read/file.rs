//! Reading one key-value data file into batches laid out for merging:
//! `[_SEQUENCE_NUMBER, _VALUE_KIND, <wanted table columns…>]`.
//!
//! Columns are resolved by field id through the schema the file was written with, so a
//! renamed column is still found and a column added later reads as nulls. Keys are taken
//! from the value columns (they always hold the primary key), which also covers Paimon's
//! thin mode files that have no `_KEY_` columns.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::{new_null_array, ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::arrow_reader::{
    ArrowReaderBuilder, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;

use crate::deletion::DeletionVector;
use crate::error::{Error, ErrorKind, Result};
use crate::read::deletion::drop_deleted;
use crate::read::gather::keep_ranges;
use crate::schema::TableSchema;
use crate::storage::Storage;
use crate::types::arrow::to_arrow_field;
use crate::types::DataField;

pub const SEQUENCE_NUMBER: &str = "_SEQUENCE_NUMBER";
pub const VALUE_KIND: &str = "_VALUE_KIND";

/// The layout of merge-ready batches for a set of wanted table fields.
#[derive(Debug, Clone)]
pub struct KvLayout {
    pub fields: Vec<DataField>,
    pub schema: SchemaRef,
}

impl KvLayout {
    pub fn new(fields: Vec<DataField>) -> Self {
        let mut arrow_fields = vec![
            Field::new(SEQUENCE_NUMBER, ArrowType::Int64, false),
            Field::new(VALUE_KIND, ArrowType::Int8, false),
        ];
        arrow_fields.extend(fields.iter().map(to_arrow_field));
        KvLayout {
            fields,
            schema: Arc::new(Schema::new(arrow_fields)),
        }
    }

    /// Column index of a wanted table field in a kv batch.
    pub fn column_of(&self, field_id: i32) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.id == field_id)
            .map(|i| i + 2)
    }
}

/// Opens a data file and streams it in the layout's shape, without the rows `deleted`
/// marks (positions count every row of the file).
pub async fn read_kv_file(
    storage: &Storage,
    path: &object_store::path::Path,
    file_size: i64,
    file_schema: &TableSchema,
    layout: &KvLayout,
    batch_size: usize,
    deleted: Option<Arc<DeletionVector>>,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let reading = Reading {
        system_columns: true,
        batch_size,
        deleted,
    };
    read_file(storage, path, file_size, file_schema, layout, reading).await
}

/// Opens a data file and streams only the layout's table columns (no `_SEQUENCE_NUMBER`
/// or `_VALUE_KIND`): for reads that need no merge. Batches have `layout.fields` as
/// columns, every row of the file in order but those `deleted` marks.
pub async fn read_value_file(
    storage: &Storage,
    path: &object_store::path::Path,
    file_size: i64,
    file_schema: &TableSchema,
    layout: &KvLayout,
    batch_size: usize,
    deleted: Option<Arc<DeletionVector>>,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let reading = Reading {
        system_columns: false,
        batch_size,
        deleted,
    };
    read_file(storage, path, file_size, file_schema, layout, reading).await
}

async fn read_file(
    storage: &Storage,
    path: &object_store::path::Path,
    file_size: i64,
    file_schema: &TableSchema,
    layout: &KvLayout,
    reading: Reading,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let shown = storage.display(path);
    if let Some(local) = storage.local_path(path) {
        return read_local_file(local, shown, file_schema, layout, reading).await;
    }
    let Reading {
        system_columns,
        batch_size,
        deleted,
    } = reading;
    let reader = ParquetObjectReader::new(storage.object_store().clone(), path.clone())
        .with_file_size(file_size.max(0) as u64);
    let builder = match ParquetRecordBatchStreamBuilder::new(reader).await {
        Ok(b) => b,
        Err(e) => {
            if !storage.exists(path).await.unwrap_or(true) {
                return Err(Error::not_found(format!("data file not found: {shown}")));
            }
            return Err(Error::new(
                ErrorKind::DataInvalid,
                format!("cannot read data file {shown}: {e}"),
            ));
        }
    };
    let (builder, shape) = project(
        builder,
        &shown,
        file_schema,
        layout,
        system_columns,
        deleted,
    )?;
    let stream = builder
        .with_batch_size(batch_size)
        .build()
        .map_err(|e| Error::data_invalid(format!("cannot read data file {shown}: {e}")))?;
    let shown2 = shown.clone();
    let mut position = 0u64;
    Ok(stream
        .map_err(move |e| Error::data_invalid(format!("cannot read data file {shown2}: {e}")))
        .and_then(move |batch| {
            let start = position;
            position += batch.num_rows() as u64;
            futures::future::ready(shape.apply(batch, start, &shown))
        })
        .boxed())
}

/// A local data file is decoded by the synchronous reader, which reads pages as it goes:
/// the asynchronous one fetches whole column chunks of a row group first (hundreds of MB of
/// fresh memory per open file in a large compaction). Each batch is decoded by a blocking
/// task started when the previous one is taken, so decoding runs one batch ahead of the
/// consumer, and no thread waits on a consumer (a merge may hold thousands of these open).
async fn read_local_file(
    local: std::path::PathBuf,
    shown: String,
    file_schema: &TableSchema,
    layout: &KvLayout,
    reading: Reading,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let (reader, decode) = open_local(local, shown, file_schema, layout, reading).await?;
    let first = decode.clone().next(reader, 0);
    Ok(
        futures::stream::unfold(Some((first, decode)), |pending| async move {
            let (task, decode) = pending?;
            let (reader, position, next) = match task.await {
                Ok(done) => done,
                Err(e) => {
                    let e = Error::internal(format!("reading {}: {e}", decode.shown));
                    return Some((Err(e), None));
                }
            };
            let batch = next?;
            let pending = batch
                .is_ok()
                .then(|| (decode.clone().next(reader, position), decode));
            Some((batch, pending))
        })
        .boxed(),
    )
}

/// Opens a local data file for synchronous decoding in the layout's shape.
async fn open_local(
    local: std::path::PathBuf,
    shown: String,
    file_schema: &TableSchema,
    layout: &KvLayout,
    reading: Reading,
) -> Result<(ParquetRecordBatchReader, Arc<LocalDecode>)> {
    let Reading {
        system_columns,
        batch_size,
        deleted,
    } = reading;
    let name = shown.clone();
    let opened = tokio::task::spawn_blocking(move || match std::fs::File::open(&local) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::not_found(format!("data file not found: {name}")))
        }
        Err(e) => Err(Error::from(e).context(format!("data file {name}"))),
        Ok(file) => ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| Error::data_invalid(format!("cannot read data file {name}: {e}"))),
    })
    .await
    .map_err(|e| Error::internal(format!("opening {shown}: {e}")))??;
    let (builder, shape) = project(opened, &shown, file_schema, layout, system_columns, deleted)?;
    let reader = builder
        .with_batch_size(batch_size)
        .build()
        .map_err(|e| Error::data_invalid(format!("cannot read data file {shown}: {e}")))?;
    Ok((reader, Arc::new(LocalDecode { shape, shown })))
}

/// A data file's table columns read a batch at a time, each cut to the rows a merge kept
/// as soon as it is decoded (in the same blocking task, while its buffers are still in
/// that core's cache). The merge decides from a second read of the same file that holds
/// only the columns it compares ([`read_kv_file`]); batches of the same size cover the
/// same rows in both.
pub(crate) struct KeptReader {
    source: KeptSource,
    shown: String,
}

enum KeptSource {
    Local {
        reader: ParquetRecordBatchReader,
        decode: Arc<LocalDecode>,
        position: u64,
    },
    Stream(BoxStream<'static, Result<RecordBatch>>),
}

/// A batch being decoded and cut: the reader comes back with it.
pub(crate) type KeptJob = tokio::task::JoinHandle<(KeptReader, Result<RecordBatch>)>;

impl KeptReader {
    /// Opens a data file for [`KeptReader::next_kept`] in the layout's table columns (no
    /// `_SEQUENCE_NUMBER` or `_VALUE_KIND`).
    pub(crate) async fn open(
        storage: &Storage,
        path: &object_store::path::Path,
        file_size: i64,
        file_schema: &TableSchema,
        layout: &KvLayout,
        batch_size: usize,
    ) -> Result<KeptReader> {
        let reading = Reading {
            system_columns: false,
            batch_size,
            deleted: None,
        };
        let shown = storage.display(path);
        let source = match storage.local_path(path) {
            Some(local) => {
                let (reader, decode) =
                    open_local(local, shown.clone(), file_schema, layout, reading).await?;
                KeptSource::Local {
                    reader,
                    decode,
                    position: 0,
                }
            }
            None => KeptSource::Stream(
                read_file(storage, path, file_size, file_schema, layout, reading).await?,
            ),
        };
        Ok(KeptReader { source, shown })
    }

    /// Skips `skip` batches, then decodes the next one and keeps its rows in `ranges`
    /// (ascending, within the batch). The file ending first is an error.
    pub(crate) fn next_kept(self, skip: usize, ranges: Vec<Range<usize>>) -> KeptJob {
        let shown = self.shown;
        match self.source {
            KeptSource::Local {
                mut reader,
                decode,
                mut position,
            } => tokio::task::spawn_blocking(move || {
                let mut next = || decode.decode(&mut reader, &mut position).transpose();
                let result = (|| {
                    for _ in 0..skip {
                        next()?.ok_or_else(|| ended(&shown))?;
                    }
                    cut(next()?, &ranges, &shown)
                })();
                let source = KeptSource::Local {
                    reader,
                    decode,
                    position,
                };
                (KeptReader { source, shown }, result)
            }),
            KeptSource::Stream(mut stream) => tokio::spawn(async move {
                // Skipped batches are dropped as they come.
                let result = async {
                    for _ in 0..skip {
                        stream
                            .next()
                            .await
                            .transpose()?
                            .ok_or_else(|| ended(&shown))?;
                    }
                    cut(stream.next().await.transpose()?, &ranges, &shown)
                }
                .await;
                let source = KeptSource::Stream(stream);
                (KeptReader { source, shown }, result)
            }),
        }
    }
}

/// The error of a file that ended before the batch its second read was asked for.
fn ended(shown: &str) -> Error {
    Error::data_invalid(format!(
        "data file {shown} ended while reading its columns a second time"
    ))
}

/// The batch a second read was asked for, with only its rows in `ranges`.
fn cut(batch: Option<RecordBatch>, ranges: &[Range<usize>], shown: &str) -> Result<RecordBatch> {
    let batch = batch.ok_or_else(|| ended(shown))?;
    if ranges.iter().any(|r| r.end > batch.num_rows()) {
        return Err(Error::data_invalid(format!(
            "data file {shown}: a batch of {} rows where its keys had more",
            batch.num_rows()
        )));
    }
    keep_ranges(batch, ranges)
}

/// What decoding a local file's batches needs besides its reader.
struct LocalDecode {
    shape: Shape,
    shown: String,
}

/// The reader, the file row of its next batch, and the batch decoded.
type Decoded = (ParquetRecordBatchReader, u64, Option<Result<RecordBatch>>);

impl LocalDecode {
    /// Decodes the reader's next batch, whose first row is the file's row `position`, on
    /// a blocking thread.
    fn next(
        self: Arc<Self>,
        mut reader: ParquetRecordBatchReader,
        position: u64,
    ) -> tokio::task::JoinHandle<Decoded> {
        tokio::task::spawn_blocking(move || {
            let mut after = position;
            let next = self.decode(&mut reader, &mut after);
            (reader, after, next)
        })
    }

    /// Decodes the reader's next batch in the layout's shape; `position` is the file's row
    /// of its first row, and moves past it.
    fn decode(
        &self,
        reader: &mut ParquetRecordBatchReader,
        position: &mut u64,
    ) -> Option<Result<RecordBatch>> {
        let batch = match reader.next()? {
            Ok(b) => b,
            Err(e) => {
                let e = Error::data_invalid(format!("cannot read data file {}: {e}", self.shown));
                return Some(Err(e));
            }
        };
        let start = *position;
        *position += batch.num_rows() as u64;
        Some(self.shape.apply(batch, start, &self.shown))
    }
}

/// What a read of one file wants besides its columns.
struct Reading {
    /// `_SEQUENCE_NUMBER` and `_VALUE_KIND` first.
    system_columns: bool,
    batch_size: usize,
    /// Rows to drop (the file's deletion vector).
    deleted: Option<Arc<DeletionVector>>,
}

/// How a projected Parquet batch becomes a batch of the layout.
struct Shape {
    schema: SchemaRef,
    system: Option<[Option<usize>; 2]>,
    value_pos: Vec<Option<usize>>,
    /// Rows of the file to drop (its deletion vector).
    deleted: Option<Arc<DeletionVector>>,
}

impl Shape {
    /// Shapes a batch whose first row is the file's row `start`.
    fn apply(&self, batch: RecordBatch, start: u64, shown: &str) -> Result<RecordBatch> {
        let shaped = reshape(&batch, &self.schema, self.system, &self.value_pos)
            .map_err(|e| e.context(format!("data file {shown}")))?;
        // Only `shaped` holds the columns now, so dropping rows can move them in place.
        drop(batch);
        match &self.deleted {
            Some(dv) => drop_deleted(shaped, dv, start),
            None => Ok(shaped),
        }
    }
}

/// Projects a reader onto the layout's columns, found by field id through the file's
/// schema, and says how to shape what it reads.
fn project<T>(
    builder: ArrowReaderBuilder<T>,
    shown: &str,
    file_schema: &TableSchema,
    layout: &KvLayout,
    system_columns: bool,
    deleted: Option<Arc<DeletionVector>>,
) -> Result<(ArrowReaderBuilder<T>, Shape)> {
    let parquet_schema = builder.schema().clone();
    let column_index = |name: &str| {
        parquet_schema
            .fields()
            .iter()
            .position(|f| f.name() == name)
    };

    // Wanted columns: system columns, then each wanted field found through its id.
    let seq_idx = column_index(SEQUENCE_NUMBER).ok_or_else(|| {
        Error::data_invalid(format!("data file {shown} has no {SEQUENCE_NUMBER} column"))
    })?;
    let kind_idx = column_index(VALUE_KIND).ok_or_else(|| {
        Error::data_invalid(format!("data file {shown} has no {VALUE_KIND} column"))
    })?;
    let mut sources: Vec<Option<usize>> = Vec::with_capacity(layout.fields.len());
    for field in &layout.fields {
        let name_in_file = file_schema
            .fields
            .iter()
            .find(|f| f.id == field.id)
            .map(|f| f.name.as_str());
        sources.push(name_in_file.and_then(column_index));
    }
    let mut roots: Vec<usize> = if system_columns {
        vec![seq_idx, kind_idx]
    } else {
        Vec::new()
    };
    roots.extend(sources.iter().flatten().copied());
    roots.sort_unstable();
    roots.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    // Position of each parquet root inside the projected batch.
    let projected_pos = |root: usize| roots.iter().position(|r| *r == root);
    let schema = if system_columns {
        layout.schema.clone()
    } else {
        Arc::new(Schema::new(
            layout
                .schema
                .fields()
                .iter()
                .skip(2)
                .cloned()
                .collect::<Vec<_>>(),
        ))
    };
    let shape = Shape {
        schema,
        system: system_columns.then_some([projected_pos(seq_idx), projected_pos(kind_idx)]),
        value_pos: sources.iter().map(|s| s.and_then(projected_pos)).collect(),
        deleted: deleted.filter(|d| !d.is_empty()),
    };
    Ok((builder.with_projection(mask), shape))
}

fn reshape(
    batch: &RecordBatch,
    schema: &SchemaRef,
    system: Option<[Option<usize>; 2]>,
    value_pos: &[Option<usize>],
) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let wanted = schema.fields();
    let sources = system
        .into_iter()
        .flatten()
        .chain(value_pos.iter().copied());
    for (target, source) in wanted.iter().zip(sources) {
        let column = match source.and_then(|p| batch.columns().get(p)) {
            Some(c) if c.data_type() == target.data_type() => c.clone(),
            Some(c) => arrow::compute::cast(c, target.data_type()).map_err(|e| {
                Error::data_invalid(format!(
                    "column '{}' of type {} cannot be read as {}: {e}",
                    target.name(),
                    c.data_type(),
                    target.data_type()
                ))
            })?,
            None => new_null_array(target.data_type(), rows),
        };
        columns.push(column);
    }
    // Nullability comes from the current schema; old files may legitimately hold nulls
    // for columns added later, so validate leniently.
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(relaxed(schema), columns, &options).map_err(Error::from)
}

/// `schema` with every field nullable.
pub(crate) fn relaxed(schema: &SchemaRef) -> SchemaRef {
    if schema.fields().iter().all(|f| f.is_nullable()) {
        return schema.clone();
    }
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;
    use crate::test_table::{rows, table, write_file};

    /// Reads every batch of a data file, or the first error at opening or while streaming.
    async fn read_all(table: &crate::table::Table, name: &str, size: i64) -> Result<usize> {
        let path = table
            .paths()
            .data_file(&crate::paths::PartitionPath::unpartitioned(), 0, name);
        let layout = KvLayout::new(table.schema().fields.clone());
        let stream = read_kv_file(
            table.storage(),
            &path,
            size,
            table.schema(),
            &layout,
            1024,
            None,
        )
        .await?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        Ok(batches.iter().map(RecordBatch::num_rows).sum())
    }

    /// A file's second read passes over skipped batches and keeps the given rows of the
    /// next, decoding locally and through a stream alike; the file ending first, or rows
    /// past a batch, are errors naming the file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_read_keeps_the_rows_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let table = table(dir.path(), &[]).await;
        let meta = write_file(&table, 0, &rows(0..3000, 0, "v")).await;
        let path = table.paths().data_file(
            &crate::paths::PartitionPath::unpartitioned(),
            0,
            &meta.file_name,
        );
        let store =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let streamed = Storage::from_store(store, "custom://warehouse");
        assert!(streamed.local_path(&path).is_none());
        let layout = KvLayout::new(table.schema().fields.clone());
        for storage in [table.storage(), &streamed] {
            let open = || {
                KeptReader::open(
                    storage,
                    &path,
                    meta.file_size,
                    table.schema(),
                    &layout,
                    1024,
                )
            };
            let keys = |b: &RecordBatch| -> Vec<i64> {
                let k = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow_array::Int64Array>();
                k.unwrap().values().to_vec()
            };
            let reader = open().await.unwrap();
            let (reader, kept) = reader.next_kept(1, vec![3..10, 500..1024]).await.unwrap();
            let want: Vec<i64> = (1027..1034).chain(1524..2048).collect();
            assert_eq!(keys(&kept.unwrap()), want);
            let (reader, kept) = reader
                .next_kept(0, std::iter::once(0..952).collect())
                .await
                .unwrap();
            let kept = kept.unwrap();
            assert_eq!(keys(&kept), (2048..3000).collect::<Vec<_>>());
            assert_eq!(kept.num_columns(), 2);
            let (_, ended) = reader
                .next_kept(0, std::iter::once(0..1).collect())
                .await
                .unwrap();
            let e = ended.unwrap_err().to_string();
            assert!(e.contains(&meta.file_name) && e.contains("ended"), "{e}");

            let (_, past) = open()
                .await
                .unwrap()
                .next_kept(2, std::iter::once(0..953).collect())
                .await
                .unwrap();
            let e = past.unwrap_err().to_string();
            assert!(e.contains(&meta.file_name) && e.contains("952 rows"), "{e}");
        }
    }

    /// A missing, truncated or garbled local data file is an error naming the file, never
    /// a panic; the file's pages are damaged past the footer too (decoding, not opening,
    /// fails there).
    #[tokio::test]
    async fn damaged_data_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let table = table(dir.path(), &[("file.compression", "none")]).await;
        let meta = write_file(&table, 1, &rows(0..5000, 0, "value-")).await;
        assert_eq!(
            read_all(&table, &meta.file_name, meta.file_size)
                .await
                .unwrap(),
            5000
        );
        let local = table
            .storage()
            .local_path(&table.paths().data_file(
                &crate::paths::PartitionPath::unpartitioned(),
                0,
                &meta.file_name,
            ))
            .unwrap();
        let good = std::fs::read(&local).unwrap();
        let check = |e: Error, kind: ErrorKind| {
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.to_string().contains(&meta.file_name), "{e}");
        };

        std::fs::write(&local, &good[..good.len() / 2]).unwrap();
        let e = read_all(&table, &meta.file_name, meta.file_size).await;
        check(e.unwrap_err(), ErrorKind::DataInvalid);

        std::fs::write(&local, b"not a parquet file at all").unwrap();
        let e = read_all(&table, &meta.file_name, meta.file_size).await;
        check(e.unwrap_err(), ErrorKind::DataInvalid);

        // Pages overwritten, footer intact: the reader opens it and fails while decoding.
        let mut pages = good.clone();
        let end = pages.len() / 2;
        pages[4..end].iter_mut().for_each(|b| *b = 0xAB);
        std::fs::write(&local, &pages).unwrap();
        let e = read_all(&table, &meta.file_name, meta.file_size).await;
        assert!(e.is_err(), "garbled pages read as {e:?}");
        assert!(e.unwrap_err().to_string().contains(&meta.file_name));

        std::fs::remove_file(&local).unwrap();
        let e = read_all(&table, &meta.file_name, meta.file_size).await;
        check(e.unwrap_err(), ErrorKind::NotFound);
    }
}
