use arrow_array::{new_null_array, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::Type as ParquetType;

use super::*;
use crate::error::ErrorKind;

fn t(kind: TypeKind) -> DataType {
    DataType::new(kind)
}

fn parse(s: &str) -> DataType {
    DataType::parse(s).unwrap()
}

#[test]
fn scalar_mapping() {
    let cases = [
        ("BOOLEAN", ArrowType::Boolean),
        ("TINYINT", ArrowType::Int8),
        ("SMALLINT", ArrowType::Int16),
        ("INT", ArrowType::Int32),
        ("BIGINT", ArrowType::Int64),
        ("FLOAT", ArrowType::Float32),
        ("DOUBLE", ArrowType::Float64),
        ("DECIMAL(10, 2)", ArrowType::Decimal128(10, 2)),
        ("DECIMAL(38, 38)", ArrowType::Decimal128(38, 38)),
        ("CHAR(3)", ArrowType::Utf8),
        ("VARCHAR(3)", ArrowType::Utf8),
        ("STRING", ArrowType::Utf8),
        ("BINARY(3)", ArrowType::Binary),
        ("VARBINARY(3)", ArrowType::Binary),
        ("BYTES", ArrowType::Binary),
        ("DATE", ArrowType::Date32),
        ("TIME(0)", ArrowType::Time32(TimeUnit::Millisecond)),
        ("TIME(9)", ArrowType::Time32(TimeUnit::Millisecond)),
    ];
    for (s, arrow) in cases {
        assert_eq!(to_arrow_type(&parse(s)), arrow, "{s}");
    }
}

#[test]
fn timestamp_units_follow_precision() {
    let units = [
        (0, TimeUnit::Millisecond),
        (1, TimeUnit::Millisecond),
        (3, TimeUnit::Millisecond),
        (4, TimeUnit::Microsecond),
        (6, TimeUnit::Microsecond),
        (7, TimeUnit::Nanosecond),
        (9, TimeUnit::Nanosecond),
    ];
    for (p, unit) in units {
        assert_eq!(
            to_arrow_type(&t(TypeKind::Timestamp(p))),
            ArrowType::Timestamp(unit, None)
        );
        assert_eq!(
            to_arrow_type(&t(TypeKind::LocalZonedTimestamp(p))),
            ArrowType::Timestamp(unit, Some("UTC".into()))
        );
    }
}

fn field_id(f: &Field) -> Option<i32> {
    arrow_field_id(f)
}

#[test]
fn nested_fields_carry_java_parquet_ids() {
    let field = DataField::new(
        10,
        "m",
        parse("ARRAY<MAP<INT, ARRAY<INT NOT NULL>> NOT NULL>"),
    );
    let arrow = to_arrow_field(&field);
    assert_eq!(field_id(&arrow), Some(10));
    assert!(arrow.is_nullable());
    // The example in Java's SpecialFields docs: ids for ARRAY(MAP(INT, ARRAY(INT))) at id 10.
    let ArrowType::List(element) = arrow.data_type() else {
        panic!("{arrow:?}")
    };
    assert_eq!(element.name(), "element");
    assert!(!element.is_nullable());
    assert_eq!(field_id(element), Some(536870911 + 1024 * 10 + 1));
    let ArrowType::Map(entries, false) = element.data_type() else {
        panic!("{element:?}")
    };
    assert_eq!(entries.name(), "key_value");
    assert!(!entries.is_nullable());
    let ArrowType::Struct(kv) = entries.data_type() else {
        panic!("{entries:?}")
    };
    assert_eq!(kv[0].name(), "key");
    assert!(!kv[0].is_nullable(), "map keys are never null");
    assert_eq!(field_id(&kv[0]), Some(536870911 - 1024 * 10 - 2));
    assert_eq!(kv[1].name(), "value");
    assert!(kv[1].is_nullable());
    assert_eq!(field_id(&kv[1]), Some(536870911 + 1024 * 10 + 2));
    let ArrowType::List(inner) = kv[1].data_type() else {
        panic!("{kv:?}")
    };
    assert_eq!(field_id(inner), Some(536870911 + 1024 * 10 + 3));
    assert!(!inner.is_nullable());
}

#[test]
fn row_fields_carry_their_own_ids() {
    let row = DataType::not_null(TypeKind::Row(vec![
        DataField::new(21, "x", t(TypeKind::Int)),
        DataField::new(23, "y", t(TypeKind::Array(Box::new(t(TypeKind::Int))))),
    ]));
    let arrow = to_arrow_field(&DataField::new(20, "r", row.clone()));
    let ArrowType::Struct(fields) = arrow.data_type() else {
        panic!()
    };
    assert_eq!(field_id(&fields[0]), Some(21));
    assert_eq!(field_id(&fields[1]), Some(23));
    let ArrowType::List(element) = fields[1].data_type() else {
        panic!()
    };
    assert_eq!(field_id(element), Some(536870911 + 1024 * 23 + 1));
    // Without a column id only ROW fields carry ids; the types still compare equal in Arrow.
    let bare = to_arrow_type(&row);
    assert!(bare.equals_datatype(arrow.data_type()));
}

#[test]
fn schema_keeps_order_nullability_and_ids() {
    let fields = vec![
        DataField::new(0, "k", DataType::not_null(TypeKind::BigInt)),
        DataField::new(1, "v", t(TypeKind::VarChar(MAX_LENGTH))),
    ];
    let schema = to_arrow_schema(&fields);
    assert_eq!(schema.fields().len(), 2);
    assert_eq!(schema.field(0).name(), "k");
    assert!(!schema.field(0).is_nullable());
    assert_eq!(
        schema.field(1).metadata().get("PARQUET:field_id"),
        Some(&"1".to_string())
    );
}

fn parquet_schema_of(fields: &[DataField]) -> Arc<ParquetType> {
    let schema = to_arrow_schema(fields);
    let columns = schema
        .fields()
        .iter()
        .map(|f| new_null_array(f.data_type(), 0))
        .collect::<Vec<_>>();
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema_ptr()
}

fn child<'a>(group: &'a ParquetType, name: &str) -> &'a ParquetType {
    group
        .get_fields()
        .iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no {name} in {group:?}"))
}

/// What the parquet crate writes from our Arrow schema has Java's names and field ids.
#[test]
fn parquet_layout_matches_paimon_java() {
    let fields = vec![
        DataField::new(0, "k", DataType::not_null(TypeKind::BigInt)),
        DataField::new(1, "arr", parse("ARRAY<INT>")),
        DataField::new(2, "m", parse("MAP<STRING, BIGINT>")),
        DataField::new(
            3,
            "r",
            t(TypeKind::Row(vec![DataField::new(
                4,
                "x",
                t(TypeKind::Int),
            )])),
        ),
    ];
    let root = parquet_schema_of(&fields);
    let k = child(&root, "k");
    assert_eq!(k.get_basic_info().id(), 0);
    let arr = child(&root, "arr");
    assert_eq!(arr.get_basic_info().id(), 1);
    let element = child(child(arr, "list"), "element");
    assert_eq!(element.get_basic_info().id(), 536870911 + 1024 + 1);
    let m = child(&root, "m");
    let key_value = child(m, "key_value");
    assert_eq!(
        child(key_value, "key").get_basic_info().id(),
        536870911 - 2048 - 1
    );
    assert_eq!(
        child(key_value, "value").get_basic_info().id(),
        536870911 + 2048 + 1
    );
    let r = child(&root, "r");
    assert_eq!(r.get_basic_info().id(), 3);
    assert_eq!(child(r, "x").get_basic_info().id(), 4);
}

#[test]
fn arrow_to_paimon_follows_pypaimon() {
    let cases = [
        (ArrowType::Utf8, "STRING"),
        (ArrowType::LargeUtf8, "STRING"),
        (ArrowType::Utf8View, "STRING"),
        (ArrowType::Binary, "BYTES"),
        (ArrowType::LargeBinary, "BYTES"),
        (ArrowType::FixedSizeBinary(16), "BINARY(16)"),
        (ArrowType::Decimal128(10, 2), "DECIMAL(10, 2)"),
        (ArrowType::Time32(TimeUnit::Millisecond), "TIME(0)"),
        (ArrowType::Time64(TimeUnit::Microsecond), "TIME(0)"),
        (ArrowType::Timestamp(TimeUnit::Second, None), "TIMESTAMP(0)"),
        (
            ArrowType::Timestamp(TimeUnit::Millisecond, None),
            "TIMESTAMP(3)",
        ),
        (
            ArrowType::Timestamp(TimeUnit::Microsecond, None),
            "TIMESTAMP(6)",
        ),
        (
            ArrowType::Timestamp(TimeUnit::Nanosecond, None),
            "TIMESTAMP(9)",
        ),
        (
            ArrowType::Timestamp(TimeUnit::Microsecond, Some("+08:00".into())),
            "TIMESTAMP(6) WITH LOCAL TIME ZONE",
        ),
        (ArrowType::Date32, "DATE"),
        (
            ArrowType::Dictionary(Box::new(ArrowType::Int32), Box::new(ArrowType::Utf8)),
            "STRING",
        ),
    ];
    for (arrow, paimon) in cases {
        assert_eq!(from_arrow_type(&arrow, true).unwrap().to_string(), paimon);
    }
    for bad in [
        ArrowType::UInt32,
        ArrowType::Float16,
        ArrowType::Null,
        ArrowType::Date64,
        ArrowType::Decimal256(40, 0),
    ] {
        let e = from_arrow_type(&bad, true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{bad}");
    }
}

#[test]
fn every_type_round_trips_through_arrow_up_to_lengths() {
    // Arrow has no lengths or sub-second time precision, so those come back as
    // STRING / BYTES / TIME(0) and timestamps at their unit's precision.
    let cases = [
        ("BOOLEAN NOT NULL", "BOOLEAN NOT NULL"),
        ("DECIMAL(38, 4)", "DECIMAL(38, 4)"),
        ("VARCHAR(5)", "STRING"),
        ("VARBINARY(5)", "BYTES"),
        ("TIME(3)", "TIME(0)"),
        ("TIMESTAMP(2)", "TIMESTAMP(3)"),
        (
            "TIMESTAMP(9) WITH LOCAL TIME ZONE",
            "TIMESTAMP(9) WITH LOCAL TIME ZONE",
        ),
        (
            "ARRAY<INT NOT NULL> NOT NULL",
            "ARRAY<INT NOT NULL> NOT NULL",
        ),
        ("MAP<STRING, DOUBLE>", "MAP<STRING NOT NULL, DOUBLE>"),
        (
            "ROW<a INT, b ROW<c DATE>>",
            "ROW<`a` INT, `b` ROW<`c` DATE>>",
        ),
    ];
    for (paimon, back) in cases {
        let ty = parse(paimon);
        let arrow = to_arrow_type(&ty);
        let round = from_arrow_type(&arrow, ty.nullable).unwrap();
        assert_eq!(round.to_string(), back, "{paimon}");
    }
}

#[test]
fn schema_from_arrow_keeps_or_assigns_ids() {
    let fields = vec![
        DataField::new(5, "k", DataType::not_null(TypeKind::BigInt)),
        DataField::new(
            9,
            "r",
            t(TypeKind::Row(vec![DataField::new(
                7,
                "x",
                t(TypeKind::Int),
            )])),
        ),
    ];
    let schema = to_arrow_schema(&fields);
    assert_eq!(from_arrow_schema(&schema).unwrap(), fields);
    assert_eq!(from_arrow_field(schema.field(1)).unwrap(), fields[1]);

    // Without ids: Paimon's creation order, nested fields after their column.
    let plain = Schema::new(vec![
        Field::new("a", ArrowType::Int32, true),
        Field::new(
            "r",
            ArrowType::Struct(Fields::from(vec![Field::new("x", ArrowType::Int64, false)])),
            true,
        ),
        Field::new("b", ArrowType::Utf8, true),
    ]);
    let assigned = from_arrow_schema(&plain).unwrap();
    let ids: Vec<i32> = assigned.iter().map(|f| f.id).collect();
    assert_eq!(ids, vec![0, 1, 3]);
    let TypeKind::Row(nested) = &assigned[1].data_type.kind else {
        panic!()
    };
    assert_eq!(nested[0].id, 2);
    let e = from_arrow_field(plain.field(0)).unwrap_err();
    assert!(e.to_string().contains("no PARQUET:field_id"), "{e}");
}

#[test]
fn hostile_arrow_nesting_is_an_error() {
    let mut ty = ArrowType::Int32;
    for _ in 0..200 {
        ty = ArrowType::List(Arc::new(Field::new("item", ty, true)));
    }
    let e = from_arrow_type(&ty, true).unwrap_err();
    assert!(e.to_string().contains("deeper"), "{e}");
}
