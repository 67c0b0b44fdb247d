//! Spilled batches of flat columns (booleans, fixed-width values, strings, binaries) written
//! as Arrow IPC record batch messages straight from the arrays' buffers, in one vectored
//! write per batch: arrow's writer first copies every buffer into one body, growing it as it
//! goes, about a quarter of a spill's writing. Runs are still read by arrow's own decoder
//! ([`super::RunReader`]), which checks every buffer it is given.

use std::fs::File;
use std::io::{IoSlice, Write};

use arrow::array::{ArrayData, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::writer::{write_message, DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use arrow_ipc::{FieldNode, MessageBuilder, MessageHeader, MetadataVersion, RecordBatchBuilder};
use arrow_schema::{ArrowError, DataType, Schema};

/// What starts each IPC message, before its metadata's length.
pub(super) const CONTINUATION: [u8; 4] = [0xff; 4];

/// Alignment of each buffer in a message body, as arrow's writer aligns them.
const ALIGNMENT: usize = 64;
const PADDING: [u8; ALIGNMENT] = [0; ALIGNMENT];

/// Whether every column of `schema` is one this writer writes.
pub(super) fn supports(schema: &Schema) -> bool {
    schema.fields().iter().all(|f| flat(f.data_type()))
}

fn flat(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Boolean | DataType::Utf8 | DataType::Binary | DataType::FixedSizeBinary(_)
    ) || data_type.primitive_width().is_some()
}

/// Writes the stream's schema message.
pub(super) fn write_schema(file: &mut File, schema: &Schema) -> Result<(), ArrowError> {
    let options = IpcWriteOptions::default();
    let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut DictionaryTracker::new(false),
        &options,
    );
    let mut message = Vec::new();
    write_message(&mut message, encoded, &options)?;
    Ok(file.write_all(&message)?)
}

/// Writes the end-of-stream marker.
pub(super) fn write_end(file: &mut File) -> Result<(), ArrowError> {
    let mut end = CONTINUATION.to_vec();
    end.extend_from_slice(&0i32.to_le_bytes());
    Ok(file.write_all(&end)?)
}

/// Writes `batch` as one record batch message: the metadata, then each buffer of each
/// column in order (validity, then offsets and values or values), each padded to
/// [`ALIGNMENT`]. A validity buffer without nulls is empty, as the format allows.
pub(super) fn write_batch(file: &mut File, batch: &RecordBatch) -> Result<(), ArrowError> {
    let mut nodes = Vec::with_capacity(batch.num_columns());
    let mut parts = Vec::with_capacity(3 * batch.num_columns());
    for column in batch.columns() {
        buffers_of(&column.to_data(), &mut nodes, &mut parts)?;
    }
    let mut ipc_buffers = Vec::with_capacity(parts.len());
    let mut body = 0usize;
    for part in &parts {
        ipc_buffers.push(arrow_ipc::Buffer::new(body as i64, part.len() as i64));
        body += part.len() + pad(part.len());
    }
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let nodes = fbb.create_vector(&nodes);
    let ipc_buffers = fbb.create_vector(&ipc_buffers);
    let header = {
        let mut b = RecordBatchBuilder::new(&mut fbb);
        b.add_length(batch.num_rows() as i64);
        b.add_nodes(nodes);
        b.add_buffers(ipc_buffers);
        b.finish()
    };
    let mut message = MessageBuilder::new(&mut fbb);
    message.add_version(MetadataVersion::V5);
    message.add_header_type(MessageHeader::RecordBatch);
    message.add_bodyLength(body as i64);
    message.add_header(header.as_union_value());
    let message = message.finish();
    fbb.finish(message, None);
    let meta = fbb.finished_data();
    // The prefix and metadata end aligned, so the body starts aligned.
    let meta_len = meta.len() + pad(8 + meta.len());
    let mut head = CONTINUATION.to_vec();
    head.extend_from_slice(&i32::try_from(meta_len).map_err(ipc_error)?.to_le_bytes());
    head.extend_from_slice(meta);
    head.extend_from_slice(&PADDING[..pad(8 + meta.len())]);
    let mut slices = Vec::with_capacity(1 + 2 * parts.len());
    slices.push(IoSlice::new(&head));
    for part in &parts {
        slices.push(IoSlice::new(part.as_slice()));
        slices.push(IoSlice::new(&PADDING[..pad(part.len())]));
    }
    Ok(write_all_vectored(file, &mut slices)?)
}

/// The field node and buffers of one flat column, without copies but for string offsets
/// that do not start at 0 (a slice's) and bits that do not start on a byte.
fn buffers_of(
    data: &ArrayData,
    nodes: &mut Vec<FieldNode>,
    parts: &mut Vec<Buffer>,
) -> Result<(), ArrowError> {
    let (offset, len) = (data.offset(), data.len());
    nodes.push(FieldNode::new(len as i64, data.null_count() as i64));
    parts.push(match data.nulls() {
        Some(nulls) if nulls.null_count() > 0 => nulls.inner().sliced(),
        _ => Buffer::from_vec(Vec::<u8>::new()),
    });
    let values = || {
        data.buffers()
            .first()
            .ok_or_else(|| ipc_error("a flat column without its values"))
    };
    let fixed = |width: usize| -> Result<Buffer, ArrowError> {
        Ok(values()?.slice_with_length(offset * width, len * width))
    };
    match data.data_type() {
        DataType::Boolean => parts.push(values()?.bit_slice(offset, len)),
        DataType::Utf8 | DataType::Binary => {
            let bytes = data
                .buffers()
                .get(1)
                .ok_or_else(|| ipc_error("a byte array without its bytes"))?;
            if len == 0 {
                parts.push(Buffer::from_vec(vec![0i32]));
                parts.push(Buffer::from_vec(Vec::<u8>::new()));
                return Ok(());
            }
            let offsets = data.buffer::<i32>(0).get(..=len).unwrap_or_default();
            let (Some(&start), Some(&end)) = (offsets.first(), offsets.last()) else {
                return Err(ipc_error("a byte array with too few offsets"));
            };
            parts.push(if start == 0 {
                values()?.slice_with_length(offset * 4, (len + 1) * 4)
            } else {
                Buffer::from_vec(offsets.iter().map(|o| o - start).collect::<Vec<i32>>())
            });
            let (start, end) = (usize::try_from(start), usize::try_from(end));
            let (Ok(start), Ok(end)) = (start, end) else {
                return Err(ipc_error("a byte array with negative offsets"));
            };
            let length = (end.checked_sub(start))
                .ok_or_else(|| ipc_error("a byte array with decreasing offsets"))?;
            parts.push(bytes.slice_with_length(start, length));
        }
        DataType::FixedSizeBinary(width) => {
            let width = usize::try_from(*width).map_err(ipc_error)?;
            parts.push(fixed(width)?);
        }
        other => match other.primitive_width() {
            Some(width) => parts.push(fixed(width)?),
            None => return Err(ipc_error(format!("{other} is not a flat type"))),
        },
    }
    Ok(())
}

/// Bytes padding `len` to [`ALIGNMENT`].
fn pad(len: usize) -> usize {
    len.next_multiple_of(ALIGNMENT) - len
}

fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn ipc_error(e: impl std::fmt::Display) -> ArrowError {
    ArrowError::IpcError(format!("spilled batch: {e}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array,
        FixedSizeBinaryArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
        Int8Array, ListArray, StringArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{Field, Int32Type};
    use arrow_buffer::i256;
    use arrow_ipc::reader::StreamReader;

    use super::*;

    /// Every flat type, with and without nulls, written whole and as slices starting off a
    /// byte (bits) and off zero (string offsets), reads back through arrow's own stream
    /// reader as it was written.
    #[test]
    fn flat_batches_read_back_as_written() {
        let n = 1000usize;
        let some = |i: usize| !i.is_multiple_of(7);
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "bool",
                Arc::new(BooleanArray::from_iter(
                    (0..n).map(|i| some(i).then_some(i % 3 == 0)),
                )),
            ),
            (
                "bool_all",
                Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 2 == 0)))),
            ),
            (
                "i8",
                Arc::new(Int8Array::from_iter(
                    (0..n).map(|i| some(i).then_some(i as i8)),
                )),
            ),
            (
                "i16",
                Arc::new(Int16Array::from_iter_values((0..n).map(|i| -(i as i16)))),
            ),
            (
                "i32",
                Arc::new(Int32Array::from_iter(
                    (0..n).map(|i| some(i).then_some(i as i32)),
                )),
            ),
            (
                "i64",
                Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|i| i as i64 * 1_000_003),
                )),
            ),
            (
                "f32",
                Arc::new(Float32Array::from_iter_values(
                    (0..n).map(|i| i as f32 / 3.0),
                )),
            ),
            (
                "f64",
                Arc::new(Float64Array::from_iter((0..n).map(|i| {
                    some(i).then_some(if i % 5 == 0 { f64::NAN } else { -0.5 })
                }))),
            ),
            (
                "date",
                Arc::new(Date32Array::from_iter_values(
                    (0..n).map(|i| i as i32 - 500),
                )),
            ),
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from_iter(
                    (0..n).map(|i| some(i).then_some(i as i64 * 7)),
                )),
            ),
            (
                "dec",
                Arc::new(
                    Decimal128Array::from_iter((0..n).map(|i| some(i).then_some(i as i128 - 9)))
                        .with_precision_and_scale(20, 3)
                        .unwrap(),
                ),
            ),
            (
                "dec256",
                Arc::new(
                    Decimal256Array::from_iter_values((0..n).map(|i| i256::from_i128(i as i128)))
                        .with_precision_and_scale(50, 2)
                        .unwrap(),
                ),
            ),
            (
                "text",
                Arc::new(StringArray::from_iter((0..n).map(|i| {
                    some(i).then(|| match i % 3 {
                        0 => String::new(),
                        1 => format!("日本-{i}"),
                        _ => "x".repeat(i % 40),
                    })
                }))),
            ),
            (
                "text_all",
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("v{i}")),
                )),
            ),
            (
                "bin",
                Arc::new(BinaryArray::from_iter(
                    (0..n).map(|i| some(i).then(|| vec![i as u8; i % 5])),
                )),
            ),
            (
                "fixed",
                Arc::new(
                    FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                        (0..n).map(|i| some(i).then(|| (i as u32).to_be_bytes())),
                        4,
                    )
                    .unwrap(),
                ),
            ),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        assert!(supports(&batch.schema()));
        let dir = tempfile::tempdir().unwrap();
        for (offset, len) in [(0, n), (0, 0), (3, 500), (517, 483), (999, 1), (8, 64)] {
            let slice = batch.slice(offset, len);
            let path = dir.path().join(format!("run-{offset}-{len}"));
            let mut file = File::create(&path).unwrap();
            write_schema(&mut file, &batch.schema()).unwrap();
            write_batch(&mut file, &slice).unwrap();
            write_batch(&mut file, &batch).unwrap();
            write_end(&mut file).unwrap();
            drop(file);
            let reader = StreamReader::try_new(File::open(&path).unwrap(), None).unwrap();
            let read: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
            assert_eq!(read, vec![slice, batch.clone()], "slice {offset}+{len}");
        }
    }

    /// Nested and large types are left to arrow's writer.
    #[test]
    fn nested_and_large_types_are_not_flat() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>([Some(vec![Some(1)])]);
        for data_type in [
            list.data_type().clone(),
            DataType::LargeUtf8,
            DataType::Utf8View,
            DataType::Struct(vec![Field::new("a", DataType::Int32, true)].into()),
        ] {
            let schema = Schema::new(vec![
                Field::new("k", DataType::Int64, false),
                Field::new("n", data_type.clone(), true),
            ]);
            assert!(!supports(&schema), "{data_type}");
        }
    }
}
