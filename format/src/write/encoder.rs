//! The Parquet encoder of data files: arrow-rs's file writer, with each column chunk
//! written either by arrow-rs's column writer or, where the column is written plain with
//! zstd or no compression, by [`super::plain`], which does the same work with less CPU
//! (docs/benchmarks.md). Row groups, page limits, statistics, page indexes and the embedded Arrow schema
//! follow the writer properties as `ArrowWriter` does, so files read the same either way.

use std::io::Write;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnDescPtr, ColumnPath};
use std::collections::HashSet;
use std::sync::Arc;

use super::data_file::dictionary_gave_up;
use super::plain::{plain_chunk, PlainChunk};

/// Encodes record batches of one schema into a Parquet file; see the module docs.
pub(crate) struct FileEncoder<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Each top-level field's leaf columns.
    leaves: Vec<Vec<ColumnDescPtr>>,
    props: Arc<WriterProperties>,
    group: Option<RowGroup>,
    max_rows: usize,
    /// Columns whose dictionary gave up in an earlier row group: written plain from now on.
    no_dictionary: HashSet<ColumnPath>,
    /// Rows of the first row group, when smaller than the others.
    first_rows: Option<usize>,
}

/// The row group being encoded.
struct RowGroup {
    /// One per top-level field.
    fields: Vec<FieldWriter>,
    rows: usize,
}

enum FieldWriter {
    /// arrow-rs's writers of the field's leaves.
    Arrow(Vec<ArrowColumnWriter>),
    Plain(Box<dyn PlainChunk>),
}

impl FieldWriter {
    fn estimated_size(&self) -> usize {
        match self {
            FieldWriter::Arrow(writers) => {
                writers.iter().map(|w| w.get_estimated_total_bytes()).sum()
            }
            FieldWriter::Plain(chunk) => chunk.estimated_size(),
        }
    }
}

impl<W: Write + Send> FileEncoder<W> {
    pub(crate) fn try_new(sink: W, schema: SchemaRef, props: WriterProperties) -> Result<Self> {
        let mut props = props;
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)?;
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        let props = Arc::new(props);
        let file =
            SerializedFileWriter::new(sink, parquet_schema.root_schema_ptr(), props.clone())?;
        let mut leaves = vec![Vec::new(); schema.fields().len()];
        for (i, column) in parquet_schema.columns().iter().enumerate() {
            let root = parquet_schema.get_column_root_idx(i);
            leaves
                .get_mut(root)
                .ok_or_else(|| ParquetError::General(format!("no field for column {i}")))?
                .push(column.clone());
        }
        let factory = ArrowRowGroupWriterFactory::new(&file, schema.clone());
        Ok(FileEncoder {
            file,
            factory,
            schema,
            leaves,
            props,
            group: None,
            max_rows,
            no_dictionary: HashSet::new(),
            first_rows: None,
        })
    }

    fn new_group(&self) -> Result<RowGroup> {
        let mut arrow = self
            .factory
            .create_column_writers(self.file.flushed_row_groups().len())?
            .into_iter();
        let mut fields = Vec::with_capacity(self.leaves.len());
        for (field, leaves) in self.schema.fields().iter().zip(&self.leaves) {
            let writers: Vec<ArrowColumnWriter> = arrow.by_ref().take(leaves.len()).collect();
            let plain = match leaves.as_slice() {
                [leaf] => {
                    let dictionary = self.props.dictionary_enabled(leaf.path())
                        && !self.no_dictionary.contains(leaf.path());
                    plain_chunk(field.data_type(), leaf, &self.props, dictionary)
                }
                _ => None,
            };
            fields.push(match plain {
                Some(chunk) => FieldWriter::Plain(chunk),
                None => FieldWriter::Arrow(writers),
            });
        }
        Ok(RowGroup { fields, rows: 0 })
    }

    /// Encodes `batch`, starting a new row group whenever one is full.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let fields = self.schema.fields();
        let same = batch.num_columns() == fields.len()
            && (fields.iter().zip(batch.columns())).all(|(f, c)| f.data_type() == c.data_type());
        if !same {
            return Err(ParquetError::General(format!(
                "rows of schema {} written to a file of schema {}",
                batch.schema(),
                self.schema
            )));
        }
        let mut start = 0;
        while start < batch.num_rows() {
            let group = match self.group.take() {
                Some(g) => g,
                None => self.new_group()?,
            };
            let limit = self.group_rows();
            let group = self.group.insert(group);
            let len = (batch.num_rows() - start).min(limit - group.rows);
            let rows = batch.slice(start, len);
            for ((writer, field), column) in group
                .fields
                .iter_mut()
                .zip(self.schema.fields())
                .zip(rows.columns())
            {
                write_field(writer, field, column)?;
            }
            group.rows += len;
            start += len;
            if group.rows >= limit {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Writes the open row group to the file.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let mut row_group = self.file.next_row_group()?;
        for writer in group.fields {
            match writer {
                FieldWriter::Arrow(writers) => {
                    for w in writers {
                        w.close()?.append_to_row_group(&mut row_group)?;
                    }
                }
                FieldWriter::Plain(chunk) => {
                    let (pages, close) = chunk.close()?;
                    row_group.append_column(&pages, close)?;
                }
            }
        }
        let written = row_group.close()?;
        // Columns whose dictionary gave up here are written plain in the next row groups.
        for column in written.columns() {
            if dictionary_gave_up(column) {
                self.no_dictionary.insert(column.column_path().clone());
            }
        }
        Ok(())
    }

    /// Ends the first row group after `rows` rows: a probe of which dictionaries pay.
    pub(crate) fn first_row_group(&mut self, rows: usize) {
        self.first_rows = Some(rows.max(1));
    }

    /// Rows the open (or next) row group holds at most.
    fn group_rows(&self) -> usize {
        match self.first_rows {
            Some(rows) if self.file.flushed_row_groups().is_empty() => rows.min(self.max_rows),
            _ => self.max_rows,
        }
    }

    pub(crate) fn flushed_row_groups(&self) -> &[RowGroupMetaData] {
        self.file.flushed_row_groups()
    }

    pub(crate) fn bytes_written(&self) -> usize {
        self.file.bytes_written()
    }

    /// Encoded size of the open row group, estimated.
    pub(crate) fn in_progress_size(&self) -> usize {
        self.group.as_ref().map_or(0, |g| {
            g.fields.iter().map(FieldWriter::estimated_size).sum()
        })
    }

    pub(crate) fn inner(&self) -> &W {
        self.file.inner()
    }

    pub(crate) fn inner_mut(&mut self) -> &mut W {
        self.file.inner_mut()
    }

    /// Writes what is open and the footer, and returns the sink.
    pub(crate) fn into_inner(mut self) -> Result<W> {
        self.flush()?;
        self.file.into_inner()
    }
}

fn write_field(
    writer: &mut FieldWriter,
    field: &arrow::datatypes::FieldRef,
    column: &ArrayRef,
) -> Result<()> {
    match writer {
        FieldWriter::Plain(chunk) => chunk.write(column.as_ref()),
        FieldWriter::Arrow(writers) => {
            let leaves = compute_leaves(field, column)?;
            if leaves.len() != writers.len() {
                return Err(ParquetError::General(format!(
                    "field '{}' has {} leaves, its writers {}",
                    field.name(),
                    leaves.len(),
                    writers.len()
                )));
            }
            for (w, leaf) in writers.iter_mut().zip(&leaves) {
                w.write(leaf)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        Array, ArrayRef, BinaryArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
        Int16Array, Int32Array, Int64Array, Int8Array, LargeBinaryArray, LargeStringArray,
        ListArray, RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
        TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
    };
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
    use parquet::file::properties::WriterProperties;

    use super::FileEncoder;

    /// Values of every column kind the plain chunks take, with nulls, NaN, both zeros,
    /// values past the 64-byte statistics limit (multi-byte characters at the cut, and
    /// all-0xFF bytes that have no truncated upper bound), beside columns arrow-rs keeps
    /// (TINYINT, DECIMAL, seconds, a struct, a list).
    fn batch(rows: usize, from: usize) -> RecordBatch {
        let n = |i: usize| (from + i) as i64;
        let maybe = |i: usize| (i % 7 != 3).then_some(i);
        let long = |i: usize| format!("{}é{}", "x".repeat(60 + i % 5), i);
        let columns: Vec<(&str, ArrayRef, bool)> = vec![
            (
                "k",
                Arc::new(Int64Array::from_iter_values((0..rows).map(n))),
                false,
            ),
            (
                "i32",
                Arc::new(Int32Array::from_iter(
                    (0..rows).map(|i| maybe(i).map(|i| (n(i) % 1000 - 500) as i32)),
                )),
                true,
            ),
            (
                "i8",
                Arc::new(Int8Array::from_iter(
                    (0..rows).map(|i| maybe(i).map(|i| (n(i) % 200 - 100) as i8)),
                )),
                true,
            ),
            (
                "i16",
                Arc::new(Int16Array::from_iter_values(
                    (0..rows).map(|i| (n(i) * 37 % 60_000 - 30_000) as i16),
                )),
                false,
            ),
            (
                "date",
                Arc::new(Date32Array::from_iter_values(
                    (0..rows).map(|i| n(i) as i32 - 20_000),
                )),
                true,
            ),
            (
                "ms",
                Arc::new(
                    TimestampMillisecondArray::from_iter(
                        (0..rows).map(|i| maybe(i).map(|i| -n(i) * 997)),
                    )
                    .with_timezone("UTC"),
                ),
                true,
            ),
            (
                "us",
                Arc::new(TimestampMicrosecondArray::from_iter_values(
                    (0..rows).map(|i| n(i) * 31),
                )),
                true,
            ),
            (
                "ns",
                Arc::new(TimestampNanosecondArray::from_iter_values(
                    (0..rows).map(|i| n(i) << 20),
                )),
                true,
            ),
            (
                "s",
                Arc::new(TimestampSecondArray::from_iter_values((0..rows).map(n))),
                true,
            ),
            (
                "f32",
                Arc::new(Float32Array::from_iter((0..rows).map(|i| {
                    maybe(i).map(|i| match i % 5 {
                        0 => f32::NAN,
                        1 => -0.0,
                        2 => 0.0,
                        _ => n(i) as f32 / 3.0,
                    })
                }))),
                true,
            ),
            (
                "f64",
                Arc::new(Float64Array::from_iter_values((0..rows).map(|i| {
                    if i % 11 == 0 {
                        f64::NAN
                    } else {
                        (n(i) as f64).sin()
                    }
                }))),
                true,
            ),
            (
                "nan",
                Arc::new(Float64Array::from_iter_values((0..rows).map(|_| f64::NAN))),
                true,
            ),
            (
                "str",
                Arc::new(StringArray::from_iter((0..rows).map(|i| {
                    maybe(i).map(|i| {
                        if i % 3 == 0 {
                            long(i)
                        } else {
                            format!("v{}", n(i) * 7919 % 1000)
                        }
                    })
                }))),
                true,
            ),
            (
                "req_str",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("{:08}", n(i))),
                )),
                false,
            ),
            (
                "large_str",
                Arc::new(LargeStringArray::from_iter_values(
                    (0..rows).map(|i| "ü".repeat(i % 40)),
                )),
                true,
            ),
            (
                "bin",
                Arc::new(
                    BinaryArray::from_iter((0..rows).map(|i| maybe(i).map(|i| vec![0xFF; i % 70])))
                        .clone(),
                ),
                true,
            ),
            (
                "large_bin",
                Arc::new(LargeBinaryArray::from_iter_values(
                    (0..rows).map(|i| n(i).to_be_bytes()),
                )),
                true,
            ),
            (
                // Bounds where the first 8 bytes tie: shared prefixes, zero bytes.
                "heads",
                Arc::new(BinaryArray::from_iter_values((0..rows).map(|i| {
                    match n(i) % 4 {
                        0 => vec![0x61; 1 + i % 9],
                        1 => [&b"prefix__"[..], &[0, (n(i) % 7) as u8]].concat(),
                        2 => [&[0x61][..], &vec![0; i % 5]].concat(),
                        _ => vec![0xFF; 8 + i % 3],
                    }
                }))),
                false,
            ),
            (
                "nulls",
                Arc::new(StringArray::from_iter((0..rows).map(|_| None::<String>))),
                true,
            ),
            (
                "tiny",
                Arc::new(Int8Array::from_iter_values(
                    (0..rows).map(|i| (i % 100) as i8),
                )),
                true,
            ),
            (
                "dec",
                Arc::new(
                    Decimal128Array::from_iter_values((0..rows).map(|i| n(i) as i128 * 100))
                        .with_precision_and_scale(20, 2)
                        .unwrap(),
                ),
                true,
            ),
            (
                "row",
                Arc::new(StructArray::from(vec![(
                    Arc::new(Field::new("a", DataType::Int64, true)),
                    Arc::new(Int64Array::from_iter_values((0..rows).map(n))) as ArrayRef,
                )])),
                true,
            ),
            (
                "list",
                Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(
                    (0..rows).map(|i| maybe(i).map(|i| vec![Some(i as i32); i % 3])),
                )),
                true,
            ),
        ];
        let fields: Vec<Field> = (columns.iter().enumerate())
            .map(|(id, (name, a, nullable))| {
                Field::new(*name, a.data_type().clone(), *nullable)
                    .with_metadata([("PARQUET:field_id".to_string(), id.to_string())].into())
            })
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a, _)| a).collect(),
        )
        .unwrap()
    }

    fn properties(compression: Compression) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(compression)
            .set_dictionary_enabled(false)
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(100)
            .set_max_row_group_row_count(Some(1000))
            .build()
    }

    fn read(file: &[u8]) -> (Vec<RecordBatch>, Arc<ParquetMetaData>) {
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
            bytes::Bytes::copy_from_slice(file),
            options,
        )
        .unwrap();
        let metadata = builder.metadata().clone();
        let batches = builder
            .build()
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        (batches, metadata)
    }

    /// A file written by the encoder decodes to the rows written, and carries the same
    /// row groups, field ids, chunk statistics, column index and page row counts as
    /// `ArrowWriter`'s file of the same rows: readers see no difference.
    #[test]
    fn files_match_arrow_writers() {
        let batches: Vec<RecordBatch> = (0..8).map(|b| batch(300, b * 300)).collect();
        for compression in [
            Compression::ZSTD(ZstdLevel::try_new(1).unwrap()),
            Compression::UNCOMPRESSED,
        ] {
            let props = properties(compression);
            let schema = batches[0].schema();
            let mut ours = FileEncoder::try_new(Vec::new(), schema.clone(), props.clone()).unwrap();
            let mut theirs = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).unwrap();
            for b in &batches {
                ours.write(b).unwrap();
                theirs.write(b).unwrap();
            }
            let ours = ours.into_inner().unwrap();
            let theirs = theirs.into_inner().unwrap();
            let (our_rows, our_meta) = read(&ours);
            let (their_rows, their_meta) = read(&theirs);
            let concat =
                |b: &[RecordBatch]| arrow::compute::concat_batches(&b[0].schema(), b).unwrap();
            assert_eq!(concat(&our_rows), concat(&batches), "{compression}");
            assert_eq!(concat(&our_rows), concat(&their_rows));
            assert_eq!(
                our_meta.file_metadata().schema_descr(),
                their_meta.file_metadata().schema_descr()
            );
            assert_eq!(our_meta.num_row_groups(), 3);
            assert_eq!(our_meta.num_row_groups(), their_meta.num_row_groups());
            let (our_index, their_index) = (
                our_meta.column_index().unwrap(),
                their_meta.column_index().unwrap(),
            );
            let (our_pages, their_pages) = (
                our_meta.offset_index().unwrap(),
                their_meta.offset_index().unwrap(),
            );
            for g in 0..our_meta.num_row_groups() {
                let (o, t) = (our_meta.row_group(g), their_meta.row_group(g));
                assert_eq!(o.num_rows(), t.num_rows());
                for c in 0..o.num_columns() {
                    let what = format!(
                        "{compression}, row group {g}, {}",
                        o.column(c).column_path()
                    );
                    assert_eq!(o.column(c).statistics(), t.column(c).statistics(), "{what}");
                    assert_eq!(o.column(c).num_values(), t.column(c).num_values(), "{what}");
                    assert_eq!(
                        o.column(c).compression(),
                        t.column(c).compression(),
                        "{what}"
                    );
                    assert_eq!(our_index[g][c], their_index[g][c], "{what}");
                    let rows =
                        |p: &parquet::file::page_index::offset_index::OffsetIndexMetaData| {
                            p.page_locations()
                                .iter()
                                .map(|l| l.first_row_index)
                                .collect::<Vec<_>>()
                        };
                    assert_eq!(rows(&our_pages[g][c]), rows(&their_pages[g][c]), "{what}");
                    assert_eq!(
                        our_pages[g][c].unencoded_byte_array_data_bytes(),
                        their_pages[g][c].unencoded_byte_array_data_bytes(),
                        "{what}"
                    );
                }
            }
        }
    }

    /// Names of the fields a new row group writes with plain chunks.
    fn plain_fields(props: WriterProperties) -> Vec<String> {
        let rows = batch(10, 0);
        let encoder = FileEncoder::try_new(Vec::new(), rows.schema(), props).unwrap();
        let group = encoder.new_group().unwrap();
        (group.fields.iter().zip(rows.schema().fields()))
            .filter(|(w, _)| matches!(w, super::FieldWriter::Plain(_)))
            .map(|(_, f)| f.name().clone())
            .collect()
    }

    /// Top-level columns of the covered types without a dictionary go plain with zstd or
    /// no compression; with a dictionary, another codec, or a conversion to make (seconds
    /// to milliseconds) they stay with arrow-rs.
    #[test]
    fn columns_without_a_dictionary_go_plain() {
        let plain = [
            "k",
            "i32",
            "i8",
            "i16",
            "date",
            "ms",
            "us",
            "ns",
            "f32",
            "f64",
            "nan",
            "str",
            "req_str",
            "large_str",
            "bin",
            "large_bin",
            "heads",
            "nulls",
            "tiny",
        ];
        assert_eq!(plain_fields(properties(Compression::UNCOMPRESSED)), plain);
        let zstd = Compression::ZSTD(ZstdLevel::try_new(3).unwrap());
        assert_eq!(plain_fields(properties(zstd)), plain);
        assert!(plain_fields(properties(Compression::SNAPPY)).is_empty());
        let dictionary = properties(zstd)
            .into_builder()
            .set_dictionary_enabled(true)
            .set_column_dictionary_enabled("k".into(), false)
            .build();
        assert_eq!(plain_fields(dictionary), ["k"]);
    }

    /// A file can start with a smaller row group; a column whose dictionary did not pay
    /// in a row group (distinct keys) is written plain, without a dictionary page, in the
    /// next ones, and one whose dictionary pays (a small range) keeps it.
    #[test]
    fn skipped_dictionaries_apply_from_the_next_row_group() {
        let rows = batch(50_000, 0);
        let props = properties(Compression::UNCOMPRESSED)
            .into_builder()
            .set_dictionary_enabled(true)
            .set_max_row_group_row_count(Some(40_000))
            .build();
        let mut encoder = FileEncoder::try_new(Vec::new(), rows.schema(), props).unwrap();
        encoder.first_row_group(20_000);
        encoder.write(&rows).unwrap();
        encoder.write(&batch(30_000, 50_000)).unwrap();
        let (read_back, meta) = read(&encoder.into_inner().unwrap());
        assert_eq!(
            read_back.iter().map(|b| b.num_rows()).sum::<usize>(),
            80_000
        );
        let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, [20_000, 40_000, 20_000]);
        let dictionary = |g: usize, c: usize| {
            meta.row_group(g)
                .column(c)
                .dictionary_page_offset()
                .is_some()
        };
        assert!(
            dictionary(0, 0) && !dictionary(1, 0) && !dictionary(2, 0),
            "k"
        );
        assert!(
            dictionary(0, 1) && dictionary(1, 1) && dictionary(2, 1),
            "i32"
        );
    }

    /// Rows of another schema are an error that names both schemas, not a file of mixed
    /// columns.
    #[test]
    fn rows_of_another_schema_are_refused() {
        let rows = batch(10, 0);
        let mut encoder = FileEncoder::try_new(
            Vec::new(),
            rows.schema(),
            properties(Compression::UNCOMPRESSED),
        )
        .unwrap();
        let fewer = rows.project(&[0, 1]).unwrap();
        let retyped = RecordBatch::try_from_iter(
            (rows.schema().fields().iter().zip(rows.columns())).map(|(f, c)| {
                let c = match f.name().as_str() {
                    "k" => arrow::compute::cast(c, &DataType::Int32).unwrap(),
                    _ => c.clone(),
                };
                (f.name().clone(), c)
            }),
        )
        .unwrap();
        for wrong in [fewer, retyped] {
            let e = encoder.write(&wrong).unwrap_err().to_string();
            assert!(e.contains("written to a file of schema"), "{e}");
        }
        encoder.write(&rows).unwrap();
        assert_eq!(read(&encoder.into_inner().unwrap()).0[0].num_rows(), 10);
    }

    /// A null in a column the file declares required is an error naming the column, not a
    /// file that says otherwise.
    #[test]
    fn nulls_in_a_required_column_are_refused() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let mut encoder =
            FileEncoder::try_new(Vec::new(), schema, properties(Compression::UNCOMPRESSED))
                .unwrap();
        let nullable = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        let with_null = RecordBatch::try_new(
            nullable,
            vec![Arc::new(Int64Array::from(vec![Some(1), None]))],
        )
        .unwrap();
        let e = encoder.write(&with_null).unwrap_err().to_string();
        assert!(e.contains("column \"k\" is required but has nulls"), "{e}");
    }
}
