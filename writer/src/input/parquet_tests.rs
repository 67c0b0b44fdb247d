use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{Int32Builder, ListBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, Decimal128Array, Float32Array, Int32Array, Int64Array, LargeStringArray,
    RecordBatch, StringArray, StructArray, TimestampMicrosecondArray, TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use strata_format::ErrorKind;

use super::super::testing::{all_types, decode, decode_batches, decode_bytes_err};
use super::super::{open_input, Input, InputFormat::Jsonl, InputFormat::Parquet};

fn parquet_bytes(batch: &RecordBatch, row_group_rows: usize) -> Vec<u8> {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group_rows))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

#[test]
fn same_types_round_trip_through_a_file_in_batches() {
    let lines: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"id":{i},"dec":"{i}.5","s":"s{i}","ts6":"2024-01-01T00:00:0{i}.000001","arr":[{i}],"m":{{"k":{i}}},"row":{{"x":{i}}}}}"#
            )
        })
        .collect();
    let (expected, _) = decode(Jsonl, &all_types(), &lines.join("\n"));
    let file = parquet_bytes(&expected, 4);
    let (got, kinds) = decode_batches(Parquet, &all_types(), &file, 3);
    assert_eq!(kinds, vec![0; 10]);
    assert_eq!(got, expected);
    // From a path too.
    let mut tmp = tempfile::NamedTempFile::new().unwrap();
    tmp.write_all(&file).unwrap();
    let input = Input::Path(tmp.path().to_path_buf());
    let rows: usize = open_input(Parquet, input, all_types(), 100)
        .unwrap()
        .map(|b| b.unwrap().batch.num_rows())
        .sum();
    assert_eq!(rows, 10);
}

fn target() -> SchemaRef {
    let item = Arc::new(Field::new("element", DataType::Int32, true));
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("f", DataType::Float64, true),
        Field::new("dec", DataType::Decimal128(10, 2), true),
        Field::new("s", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("arr", DataType::List(item), true),
        Field::new(
            "row",
            DataType::Struct(
                vec![
                    Field::new("a", DataType::Int64, true),
                    Field::new("b", DataType::Utf8, false),
                ]
                .into(),
            ),
            true,
        ),
    ]))
}

/// Other but compatible types, columns and ROW fields in another order.
fn compatible(ts_micros: i64, k: Option<i32>) -> RecordBatch {
    let mut list = ListBuilder::new(Int32Builder::new());
    list.append_value([Some(1), None]);
    list.append_null();
    let row = StructArray::from(vec![
        (
            Arc::new(Field::new("b", DataType::Utf8, false)),
            Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("a", DataType::Int32, true)),
            Arc::new(Int32Array::from(vec![Some(7), None])) as ArrayRef,
        ),
    ]);
    batch(vec![
        ("row", Arc::new(row) as ArrayRef),
        ("arr", Arc::new(list.finish())),
        (
            "ts",
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_000, ts_micros]).with_timezone("+00:00"),
            ),
        ),
        ("s", Arc::new(LargeStringArray::from(vec!["é", ""]))),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(vec![15, -3])
                    .with_precision_and_scale(5, 1)
                    .unwrap(),
            ),
        ),
        ("f", Arc::new(Float32Array::from(vec![0.25, f32::NAN]))),
        ("k", Arc::new(Int32Array::from(vec![Some(1), k]))),
    ])
}

#[test]
fn compatible_types_convert_exactly() {
    let file = parquet_bytes(&compatible(2_000, Some(2)), 100);
    let (got, _) = decode_batches(Parquet, &target(), &file, 10);
    assert_eq!(
        got.column(0).as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 2]
    );
    assert_eq!(got.column(1).as_primitive::<Float64Type>().value(0), 0.25);
    assert!(got
        .column(1)
        .as_primitive::<Float64Type>()
        .value(1)
        .is_nan());
    assert_eq!(
        got.column(2)
            .as_primitive::<Decimal128Type>()
            .values()
            .to_vec(),
        vec![150, -30]
    );
    assert_eq!(got.column(3).as_string::<i32>().value(0), "é");
    assert_eq!(
        got.column(4)
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .to_vec(),
        vec![1, 2]
    );
    let arr = got.column(5).as_list::<i32>();
    assert_eq!(arr.value(0).as_primitive::<Int32Type>().len(), 2);
    assert!(arr.is_null(1));
    let row = got.column(6).as_struct();
    assert_eq!(row.column(0).as_primitive::<Int64Type>().value(0), 7);
    assert_eq!(row.column(1).as_string::<i32>().value(1), "y");
}

#[test]
fn errors() {
    let file = parquet_bytes(&compatible(2_001, Some(2)), 100);
    assert_eq!(
        decode_bytes_err(Parquet, &target(), &file),
        "row 2, column 'ts': cannot convert Timestamp(µs) to TIMESTAMP(3) without changing the value"
    );
    let file = parquet_bytes(&compatible(2_000, None), 100);
    assert_eq!(
        decode_bytes_err(Parquet, &target(), &file),
        "row 2: column 'k' is NOT NULL but the input has null"
    );
    let mut schema = target().as_ref().clone();
    schema.fields = schema
        .fields()
        .iter()
        .cloned()
        .chain([Arc::new(Field::new("z", DataType::Int8, true))])
        .collect();
    let file = parquet_bytes(&compatible(2_000, Some(1)), 100);
    assert_eq!(
        decode_bytes_err(Parquet, &Arc::new(schema), &file),
        "column 'z' is missing from the input"
    );
    let two = batch(vec![
        ("k", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("x", Arc::new(Int64Array::from(vec![1]))),
        ("y", Arc::new(Int64Array::from(vec![1]))),
    ]);
    let one = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
    assert_eq!(
        decode_bytes_err(Parquet, &one, &parquet_bytes(&two, 10)),
        "the input has columns that are not in the table: 'x', 'y'"
    );
    let text = batch(vec![(
        "k",
        Arc::new(StringArray::from(vec!["1"])) as ArrayRef,
    )]);
    assert_eq!(
        decode_bytes_err(Parquet, &one, &parquet_bytes(&text, 10)),
        "column 'k': cannot convert Parquet type Utf8 to BIGINT"
    );
    let small = Arc::new(Schema::new(vec![Field::new("k", DataType::Int8, false)]));
    let big = batch(vec![(
        "k",
        Arc::new(Int64Array::from(vec![1, 300])) as ArrayRef,
    )]);
    assert_eq!(
        decode_bytes_err(Parquet, &small, &parquet_bytes(&big, 10)),
        "column 'k': cannot convert Int64 to TINYINT: Cast error: Can't cast value 300 to type Int8"
    );
    let nanos = batch(vec![(
        "k",
        Arc::new(TimestampNanosecondArray::from(vec![1])) as ArrayRef,
    )]);
    let dates = Arc::new(Schema::new(vec![Field::new("k", DataType::Date32, true)]));
    assert_eq!(
        decode_bytes_err(Parquet, &dates, &parquet_bytes(&nanos, 10)),
        "column 'k': cannot convert Parquet type Timestamp(ns) to DATE"
    );
    let err = decode_bytes_err(Parquet, &one, b"PAR1 not really PAR1");
    assert!(
        err.starts_with("the input is not a readable Parquet file: "),
        "{err}"
    );
    let missing = Input::Path("/nonexistent/strata-input.parquet".into());
    let err = open_input(Parquet, missing, one, 10).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}
