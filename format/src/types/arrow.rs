//! The mapping between Paimon types and Arrow (arrow-rs 58).
//!
//! | Paimon | Arrow |
//! |---|---|
//! | BOOLEAN | `Boolean` |
//! | TINYINT, SMALLINT, INT, BIGINT | `Int8`, `Int16`, `Int32`, `Int64` |
//! | FLOAT, DOUBLE | `Float32`, `Float64` |
//! | DECIMAL(p, s) | `Decimal128(p, s)` |
//! | CHAR(n), VARCHAR(n), STRING | `Utf8` |
//! | BINARY(n), VARBINARY(n), BYTES | `Binary` |
//! | DATE | `Date32` |
//! | TIME(p) | `Time32(Millisecond)` (Paimon keeps time as millis of the day) |
//! | TIMESTAMP(p) | `Timestamp(unit, None)`: p 0 → s, 1-3 → ms, 4-6 → µs, 7-9 → ns |
//! | TIMESTAMP(p) WITH LOCAL TIME ZONE | `Timestamp(unit, Some("UTC"))`, same units |
//! | `ARRAY<t>` | `List` of a field named `element` |
//! | `MAP<k, v>` | `Map` of a non-null struct `key_value` with `key` (always non-null) and `value` |
//! | `ROW<...>` | `Struct` |
//!
//! Why these: the scalar mapping and the timestamp units are pypaimon's
//! (`PyarrowFieldParser.from_paimon_type`) and Java's (`ArrowFieldTypeConversion`, same
//! `getTimeUnit` precision ranges). For LOCAL TIME ZONE Java uses the JVM zone; we use
//! pypaimon's fixed "UTC" so schemas do not depend on the machine.
//!
//! Nested child names follow the Parquet files rather than the in-memory Arrow conventions
//! (pypaimon says `item`/`entries`, Java's Arrow module `$data$`/`entries`): Java's
//! `ParquetSchemaConverter` and pyarrow both write `list`/`element` and `key_value`/`key`/
//! `value`, and the parquet crate takes these names from the Arrow schema. With them, what we
//! write is laid out exactly like Java's files, and a Java file reads back as the same Arrow type.
//!
//! Field ids travel in field metadata under `PARQUET:field_id`, which the parquet crate writes
//! as Parquet field ids. Like Java's writer, list elements and map keys/values carry the
//! derived ids of `SpecialFields` (`536870911 ± 1024 * id ± depth`) and ROW fields their own.
//! [`to_arrow_type`] has no column id, so only its ROW fields carry ids; Arrow's
//! `equals_datatype` (used by `RecordBatch::try_new`) ignores such metadata differences.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, Fields, Schema, SchemaRef, TimeUnit};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;

use super::{assign_field_ids, DataField, DataType, TypeKind, MAX_LENGTH};
use crate::error::{Error, Result};
use crate::invalid;

/// Name of the list element field.
pub const LIST_ELEMENT_NAME: &str = "element";
/// Name of the map entries struct.
pub const MAP_ENTRIES_NAME: &str = "key_value";
pub const MAP_KEY_NAME: &str = "key";
pub const MAP_VALUE_NAME: &str = "value";
/// Time zone of TIMESTAMP WITH LOCAL TIME ZONE columns.
pub const LOCAL_ZONED_TIME_ZONE: &str = "UTC";

/// Java `SpecialFields.STRUCTURED_TYPE_FIELD_ID_BASE` and its depth factor.
const STRUCTURED_ID_BASE: i32 = i32::MAX / 4;
const STRUCTURED_DEPTH_LIMIT: i32 = 1 << 10;

/// The Arrow unit for a timestamp precision (0 → s, 1-3 → ms, 4-6 → µs, 7-9 → ns).
pub fn timestamp_unit(precision: u8) -> TimeUnit {
    match precision {
        // Seconds would be pypaimon's choice for p = 0; Paimon's Parquet files hold
        // milliseconds for p ≤ 3, and one unit for them keeps casts away.
        0..=3 => TimeUnit::Millisecond,
        4..=6 => TimeUnit::Microsecond,
        _ => TimeUnit::Nanosecond,
    }
}

/// The Arrow type of a Paimon type. Nested ROW fields carry their ids.
pub fn to_arrow_type(data_type: &DataType) -> ArrowType {
    convert(data_type, None, 0)
}

/// The Arrow field of a column, with its id under `PARQUET:field_id`.
pub fn to_arrow_field(field: &DataField) -> Field {
    arrow_field(
        &field.name,
        &field.data_type,
        Some(field.id),
        Some(field.id),
        0,
    )
}

pub fn to_arrow_schema(fields: &[DataField]) -> SchemaRef {
    Arc::new(Schema::new(
        fields.iter().map(to_arrow_field).collect::<Vec<_>>(),
    ))
}

fn id_metadata(id: i32) -> HashMap<String, String> {
    HashMap::from([(PARQUET_FIELD_ID_META_KEY.to_string(), id.to_string())])
}

/// `own_id` goes into the field's metadata; `column_id` and `depth` derive the ids of list
/// elements and map entries below it, as Java's `ParquetSchemaConverter` does.
fn arrow_field(
    name: &str,
    data_type: &DataType,
    own_id: Option<i32>,
    column_id: Option<i32>,
    depth: i32,
) -> Field {
    let field = Field::new(
        name,
        convert(data_type, column_id, depth),
        data_type.nullable,
    );
    match own_id {
        Some(id) => field.with_metadata(id_metadata(id)),
        None => field,
    }
}

// Java computes these in int arithmetic; wrapping keeps the same values for huge ids.
/// The Parquet field id of a list element (and of a map value) at `depth` below column
/// `column_id`; the Iceberg catalog presents the same ids.
pub fn array_element_id(column_id: i32, depth: i32) -> i32 {
    STRUCTURED_ID_BASE
        .wrapping_add(column_id.wrapping_mul(STRUCTURED_DEPTH_LIMIT))
        .wrapping_add(depth)
}

/// The Parquet field id of a map key at `depth` below column `column_id`.
pub fn map_key_id(column_id: i32, depth: i32) -> i32 {
    STRUCTURED_ID_BASE
        .wrapping_sub(column_id.wrapping_mul(STRUCTURED_DEPTH_LIMIT))
        .wrapping_sub(depth)
}

fn convert(data_type: &DataType, column_id: Option<i32>, depth: i32) -> ArrowType {
    match &data_type.kind {
        TypeKind::Boolean => ArrowType::Boolean,
        TypeKind::TinyInt => ArrowType::Int8,
        TypeKind::SmallInt => ArrowType::Int16,
        TypeKind::Int => ArrowType::Int32,
        TypeKind::BigInt => ArrowType::Int64,
        TypeKind::Float => ArrowType::Float32,
        TypeKind::Double => ArrowType::Float64,
        TypeKind::Decimal { precision, scale } => ArrowType::Decimal128(*precision, *scale as i8),
        TypeKind::Char(_) | TypeKind::VarChar(_) => ArrowType::Utf8,
        TypeKind::Binary(_) | TypeKind::VarBinary(_) => ArrowType::Binary,
        TypeKind::Date => ArrowType::Date32,
        TypeKind::Time(_) => ArrowType::Time32(TimeUnit::Millisecond),
        TypeKind::Timestamp(p) => ArrowType::Timestamp(timestamp_unit(*p), None),
        TypeKind::LocalZonedTimestamp(p) => {
            ArrowType::Timestamp(timestamp_unit(*p), Some(LOCAL_ZONED_TIME_ZONE.into()))
        }
        TypeKind::Array(element) => {
            let depth = depth + 1;
            let id = column_id.map(|c| array_element_id(c, depth));
            ArrowType::List(Arc::new(arrow_field(
                LIST_ELEMENT_NAME,
                element,
                id,
                column_id,
                depth,
            )))
        }
        TypeKind::Map(key, value) => {
            let depth = depth + 1;
            // Map keys cannot be null in Arrow or Parquet; Java forces the same.
            let key = key.as_ref().clone().with_nullable(false);
            let key_field = arrow_field(
                MAP_KEY_NAME,
                &key,
                column_id.map(|c| map_key_id(c, depth)),
                column_id,
                depth,
            );
            let value_field = arrow_field(
                MAP_VALUE_NAME,
                value,
                column_id.map(|c| array_element_id(c, depth)),
                column_id,
                depth,
            );
            let entries = Field::new(
                MAP_ENTRIES_NAME,
                ArrowType::Struct(Fields::from(vec![key_field, value_field])),
                false,
            );
            ArrowType::Map(Arc::new(entries), false)
        }
        TypeKind::Row(fields) => ArrowType::Struct(Fields::from(
            fields
                .iter()
                .map(|f| arrow_field(&f.name, &f.data_type, Some(f.id), Some(f.id), 0))
                .collect::<Vec<_>>(),
        )),
    }
}

// ------------------------------------------------------------------------------------------
// Arrow → Paimon
// ------------------------------------------------------------------------------------------

/// The field id an Arrow field carries under `PARQUET:field_id`, if any.
pub fn arrow_field_id(field: &Field) -> Option<i32> {
    field
        .metadata()
        .get(PARQUET_FIELD_ID_META_KEY)
        .and_then(|v| v.trim().parse().ok())
}

/// The Paimon type for an Arrow type, following pypaimon's `to_paimon_type`: strings become
/// STRING, binaries BYTES, `FixedSizeBinary(n)` BINARY(n), any time TIME(0), timestamps
/// TIMESTAMP(0/3/6/9) (LOCAL TIME ZONE when the Arrow type has a zone). Struct fields take
/// their `PARQUET:field_id` or else their position as id.
pub fn from_arrow_type(data_type: &ArrowType, nullable: bool) -> Result<DataType> {
    Converter::default().convert(data_type, nullable)
}

/// A column from an Arrow field that carries its id under `PARQUET:field_id`.
pub fn from_arrow_field(field: &Field) -> Result<DataField> {
    let id = arrow_field_id(field).ok_or_else(|| {
        invalid!(
            "arrow field '{}' has no {PARQUET_FIELD_ID_META_KEY} metadata",
            field.name()
        )
    })?;
    let mut column = Converter::default().field(field, 0)?;
    column.id = id;
    Ok(column)
}

/// Columns for an Arrow schema. Ids come from `PARQUET:field_id` when every field (nested
/// struct fields too) has a distinct one; otherwise all ids are assigned afresh as at table
/// creation (see [`assign_field_ids`]).
pub fn from_arrow_schema(schema: &Schema) -> Result<Vec<DataField>> {
    let mut converter = Converter::default();
    let fields = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| converter.field(f, i))
        .collect::<Result<Vec<_>>>()?;
    let mut ids: Vec<i32> = Vec::new();
    for f in &fields {
        ids.push(f.id);
        f.data_type.collect_field_ids(&mut ids);
    }
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    if converter.missing_id || ids.len() != count {
        return Ok(assign_field_ids(fields));
    }
    Ok(fields)
}

#[derive(Default)]
struct Converter {
    missing_id: bool,
    depth: usize,
}

/// Guards against hostile, absurdly deep Arrow schemas.
const MAX_DEPTH: usize = 128;

impl Converter {
    fn field(&mut self, field: &Field, position: usize) -> Result<DataField> {
        let id = match arrow_field_id(field) {
            Some(id) => id,
            None => {
                self.missing_id = true;
                i32::try_from(position).unwrap_or(i32::MAX)
            }
        };
        let data_type = self
            .convert(field.data_type(), field.is_nullable())
            .map_err(|e| e.context(format!("arrow field '{}'", field.name())))?;
        Ok(DataField {
            id,
            name: field.name().clone(),
            data_type,
            description: field.metadata().get("description").cloned(),
        })
    }

    fn convert(&mut self, data_type: &ArrowType, nullable: bool) -> Result<DataType> {
        if self.depth > MAX_DEPTH {
            return Err(invalid!("arrow type nests deeper than {MAX_DEPTH} levels"));
        }
        self.depth += 1;
        let kind = self.kind(data_type);
        self.depth -= 1;
        Ok(DataType::new(kind?).with_nullable(nullable))
    }

    fn kind(&mut self, data_type: &ArrowType) -> Result<TypeKind> {
        let kind = match data_type {
            ArrowType::Boolean => TypeKind::Boolean,
            ArrowType::Int8 => TypeKind::TinyInt,
            ArrowType::Int16 => TypeKind::SmallInt,
            ArrowType::Int32 => TypeKind::Int,
            ArrowType::Int64 => TypeKind::BigInt,
            ArrowType::Float32 => TypeKind::Float,
            ArrowType::Float64 => TypeKind::Double,
            ArrowType::Decimal32(p, s)
            | ArrowType::Decimal64(p, s)
            | ArrowType::Decimal128(p, s)
            | ArrowType::Decimal256(p, s) => decimal(*p, *s, data_type)?,
            ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => {
                TypeKind::VarChar(MAX_LENGTH)
            }
            ArrowType::Binary | ArrowType::LargeBinary | ArrowType::BinaryView => {
                TypeKind::VarBinary(MAX_LENGTH)
            }
            ArrowType::FixedSizeBinary(n) => match u32::try_from(*n) {
                Ok(n) if n >= 1 => TypeKind::Binary(n),
                _ => return Err(invalid!("arrow type {data_type} has an invalid width")),
            },
            ArrowType::Date32 => TypeKind::Date,
            // pypaimon maps every Arrow time to TIME(0); Paimon stores millis either way.
            ArrowType::Time32(_) | ArrowType::Time64(_) => TypeKind::Time(0),
            ArrowType::Timestamp(unit, tz) => {
                let p = match unit {
                    TimeUnit::Second => 0,
                    TimeUnit::Millisecond => 3,
                    TimeUnit::Microsecond => 6,
                    TimeUnit::Nanosecond => 9,
                };
                match tz {
                    None => TypeKind::Timestamp(p),
                    Some(_) => TypeKind::LocalZonedTimestamp(p),
                }
            }
            ArrowType::List(f)
            | ArrowType::LargeList(f)
            | ArrowType::ListView(f)
            | ArrowType::LargeListView(f) => {
                TypeKind::Array(Box::new(self.convert(f.data_type(), f.is_nullable())?))
            }
            ArrowType::Map(entries, _) => match entries.data_type() {
                ArrowType::Struct(kv) if kv.len() == 2 => {
                    let (Some(k), Some(v)) = (kv.first(), kv.get(1)) else {
                        return Err(invalid!("arrow map {data_type} needs key and value"));
                    };
                    TypeKind::Map(
                        Box::new(self.convert(k.data_type(), k.is_nullable())?),
                        Box::new(self.convert(v.data_type(), v.is_nullable())?),
                    )
                }
                _ => return Err(invalid!("arrow map {data_type} needs key and value")),
            },
            ArrowType::Struct(fields) => {
                let mut row = Vec::with_capacity(fields.len());
                for (i, f) in fields.iter().enumerate() {
                    if row.iter().any(|g: &DataField| g.name == *f.name()) {
                        return Err(invalid!("duplicate struct field '{}'", f.name()));
                    }
                    row.push(self.field(f, i)?);
                }
                TypeKind::Row(row)
            }
            ArrowType::Dictionary(_, value) => self.kind(value)?,
            other => {
                return Err(Error::unsupported(format!(
                    "arrow type {other} has no Paimon equivalent"
                )))
            }
        };
        Ok(kind)
    }
}

fn decimal(precision: u8, scale: i8, data_type: &ArrowType) -> Result<TypeKind> {
    match u8::try_from(scale) {
        Ok(scale) if (1..=38).contains(&precision) && scale <= precision => {
            Ok(TypeKind::Decimal { precision, scale })
        }
        _ => Err(Error::unsupported(format!(
            "arrow type {data_type} is outside Paimon's DECIMAL(1..38, 0..precision)"
        ))),
    }
}

#[cfg(test)]
mod tests;
