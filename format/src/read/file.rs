//! Reading one key-value data file into batches laid out for merging:
//! `[_SEQUENCE_NUMBER, _VALUE_KIND, <wanted table columns…>]`.
//!
//! Columns are resolved by field id through the schema the file was written with, so a
//! renamed column is still found and a column added later reads as nulls. Keys are taken
//! from the value columns (they always hold the primary key), which also covers Paimon's
//! thin mode files that have no `_KEY_` columns.

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
    let decode = Arc::new(LocalDecode { shape, shown });
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
            let next = reader.next().map(|batch| {
                batch
                    .map_err(|e| {
                        Error::data_invalid(format!("cannot read data file {}: {e}", self.shown))
                    })
                    .and_then(|b| {
                        after += b.num_rows() as u64;
                        self.shape.apply(b, position, &self.shown)
                    })
            });
            (reader, after, next)
        })
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

fn relaxed(schema: &SchemaRef) -> SchemaRef {
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
