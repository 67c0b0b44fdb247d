//! Test helpers shared by the format tests.

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use strata_format::ErrorKind;

use super::{open_input, Input, InputFormat};

/// One column of every supported type; `id` is BIGINT NOT NULL.
pub(crate) fn all_types() -> SchemaRef {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Int32, true),
        ])),
        false,
    );
    let row = Fields::from(vec![
        Field::new("x", DataType::Int32, true),
        Field::new("y", DataType::Utf8, true),
    ]);
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("b", DataType::Boolean, true),
        Field::new("i8", DataType::Int8, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("i32", DataType::Int32, true),
        Field::new("i64", DataType::Int64, true),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("dec", DataType::Decimal128(38, 10), true),
        Field::new("s", DataType::Utf8, true),
        Field::new("bin", DataType::Binary, true),
        Field::new("d", DataType::Date32, true),
        Field::new("t", DataType::Time32(TimeUnit::Millisecond), true),
        Field::new(
            "ts3",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new(
            "ts6",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("ts9", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Field::new(
            "ltz",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new(
            "arr",
            DataType::List(Arc::new(Field::new("element", DataType::Int32, true))),
            true,
        ),
        Field::new("m", DataType::Map(Arc::new(entries), false), true),
        Field::new("row", DataType::Struct(row), true),
    ]))
}

/// `k BIGINT NOT NULL, v TIMESTAMP(3)`.
pub(crate) fn kv_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]))
}

fn reader(bytes: &[u8]) -> Input {
    Input::Reader(Box::new(Cursor::new(bytes.to_vec())))
}

/// All rows of `input`, concatenated, with their kinds; panics on any error.
pub(crate) fn decode(
    format: InputFormat,
    schema: &SchemaRef,
    input: &str,
) -> (RecordBatch, Vec<i8>) {
    decode_batches(format, schema, input.as_bytes(), 1000)
}

pub(crate) fn decode_batches(
    format: InputFormat,
    schema: &SchemaRef,
    input: &[u8],
    batch_rows: usize,
) -> (RecordBatch, Vec<i8>) {
    let mut batches = Vec::new();
    let mut kinds = Vec::new();
    for b in open_input(format, reader(input), schema.clone(), batch_rows).unwrap() {
        let b = b.unwrap();
        assert!(b.batch.num_rows() <= batch_rows);
        assert_eq!(b.batch.num_rows(), b.row_kinds.len());
        assert_eq!(b.batch.schema(), *schema);
        kinds.extend(b.row_kinds);
        batches.push(b.batch);
    }
    (
        arrow::compute::concat_batches(schema, &batches).unwrap(),
        kinds,
    )
}

/// The message of the first error (up front or from the batches); panics if none.
pub(crate) fn decode_err(format: InputFormat, schema: &SchemaRef, input: &str) -> String {
    decode_bytes_err(format, schema, input.as_bytes())
}

pub(crate) fn decode_bytes_err(format: InputFormat, schema: &SchemaRef, input: &[u8]) -> String {
    let err = match open_input(format, reader(input), schema.clone(), 2) {
        Err(e) => e,
        Ok(mut it) => {
            let err = it
                .find_map(|b| b.err())
                .unwrap_or_else(|| panic!("no error for {}", String::from_utf8_lossy(input)));
            assert!(it.next().is_none(), "the reader ends after an error");
            err
        }
    };
    assert_eq!(err.kind(), ErrorKind::DataInvalid, "{err}");
    err.to_string()
}

/// Decodes everything, ignoring errors: what the no-panic property tests run.
pub(crate) fn drain(format: InputFormat, schema: &SchemaRef, input: &[u8]) {
    if let Ok(it) = open_input(format, reader(input), schema.clone(), 3) {
        for b in it.flatten() {
            assert_eq!(b.batch.num_rows(), b.row_kinds.len());
        }
    }
}
