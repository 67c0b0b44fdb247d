//! One Arrow column of the target schema, built value by value from text or JSON.
//!
//! Every decoder funnels its values through [`Column::push_value`], so the rules for what a
//! BIGINT or a TIMESTAMP(6) accepts are the same in CSV, JSON lines and the CDC formats.
//! Nested columns (ARRAY, MAP, ROW) take JSON arrays and objects, or text holding them.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, BooleanBuilder, Decimal128Builder, Float32Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Builder, Int8Builder, StringBuilder,
};
use arrow_array::{make_array, Array, ArrayRef, ListArray, MapArray, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, FieldRef, Fields, TimeUnit};
use serde_json::value::RawValue;

use super::json::{entries, Json};
use super::text::{
    cannot, cannot_because, convert_epoch, decimal_message, i128_from_be_bytes, nanos_per_unit,
    parse_base64, parse_bool, parse_date, parse_decimal, parse_f32, parse_f64, parse_int,
    parse_time, parse_timestamp, rescale_decimal, type_name, unit_name, Parsed, NANOS_PER_DAY,
};
use super::Fault;

/// How a producer encodes what the canonical rendering writes as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Enc {
    /// Canonical: DATE/TIME/TIMESTAMP are strings; decimals are numbers or strings.
    #[default]
    Plain,
    /// Numbers for DATE, TIME and TIMESTAMP are epoch counts in Debezium's default units:
    /// days, microseconds (TIME), and the column's own unit (TIMESTAMP). Strings as `Plain`.
    EpochDefault,
    /// Numbers for DATE, TIME and TIMESTAMP are epoch counts of this many nanoseconds.
    Epoch(i128),
    /// DECIMAL strings are base64 big-endian two's-complement unscaled values at this scale.
    DecimalBytes(i32),
    /// DECIMAL objects `{"scale": s, "value": base64}` (Debezium's VariableScaleDecimal).
    VariableDecimal,
}

pub(crate) struct Column {
    /// Field name; `path` is the dotted path from the top-level column, for messages.
    name: String,
    path: String,
    dt: DataType,
    nullable: bool,
    data: Data,
}

enum Data {
    Bool(BooleanBuilder),
    I8(Int8Builder),
    I16(Int16Builder),
    /// INT, DATE (days) and TIME (milliseconds); retyped on finish.
    I32(Int32Builder),
    /// BIGINT and TIMESTAMP (in the column's unit); retyped on finish.
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    List {
        field: FieldRef,
        item: Box<Column>,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
    },
    Map {
        entries: FieldRef,
        sorted: bool,
        key: Box<Column>,
        value: Box<Column>,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
    },
    Struct {
        fields: Fields,
        children: Vec<Column>,
        nulls: NullBufferBuilder,
    },
}

impl Column {
    /// A builder for a field of type `dt`; `Err` names the unsupported type.
    pub(crate) fn new(
        name: &str,
        path: String,
        dt: &DataType,
        nullable: bool,
    ) -> Result<Self, String> {
        let child = |f: &FieldRef| {
            Column::new(
                f.name(),
                format!("{path}.{}", f.name()),
                f.data_type(),
                f.is_nullable(),
            )
        };
        let data = match dt {
            DataType::Boolean => Data::Bool(BooleanBuilder::new()),
            DataType::Int8 => Data::I8(Int8Builder::new()),
            DataType::Int16 => Data::I16(Int16Builder::new()),
            DataType::Int32 | DataType::Date32 | DataType::Time32(TimeUnit::Millisecond) => {
                Data::I32(Int32Builder::new())
            }
            DataType::Int64
            | DataType::Timestamp(
                TimeUnit::Millisecond | TimeUnit::Microsecond | TimeUnit::Nanosecond,
                _,
            ) => Data::I64(Int64Builder::new()),
            DataType::Float32 => Data::F32(Float32Builder::new()),
            DataType::Float64 => Data::F64(Float64Builder::new()),
            DataType::Decimal128(p, s) => Data::Decimal(
                Decimal128Builder::new()
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| format!("column '{path}': {e}"))?,
            ),
            DataType::Utf8 => Data::Utf8(StringBuilder::new()),
            DataType::Binary => Data::Binary(BinaryBuilder::new()),
            DataType::List(field) => Data::List {
                field: field.clone(),
                item: Box::new(child(field)?),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
            },
            DataType::Map(entries, sorted) => {
                let (key, value) = match entries.data_type() {
                    _ if entries.is_nullable() => {
                        return Err(format!("column '{path}': malformed MAP type {dt}"))
                    }
                    DataType::Struct(kv) => match (kv.first(), kv.get(1), kv.len()) {
                        (Some(k), Some(v), 2) => (child(k)?, child(v)?),
                        _ => return Err(format!("column '{path}': malformed MAP type {dt}")),
                    },
                    _ => return Err(format!("column '{path}': malformed MAP type {dt}")),
                };
                Data::Map {
                    entries: entries.clone(),
                    sorted: *sorted,
                    key: Box::new(key),
                    value: Box::new(value),
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(0),
                }
            }
            DataType::Struct(fields) => Data::Struct {
                fields: fields.clone(),
                children: fields.iter().map(child).collect::<Result<_, _>>()?,
                nulls: NullBufferBuilder::new(0),
            },
            other => return Err(format!("column '{path}': type {other} is not supported")),
        };
        Ok(Column {
            name: name.to_string(),
            path,
            dt: dt.clone(),
            nullable,
            data,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn fault(&self, message: String) -> Fault {
        Fault::Column {
            column: self.path.clone(),
            message,
        }
    }

    /// A null value from the input: refused for NOT NULL fields.
    pub(crate) fn push_null(&mut self) -> Result<(), Fault> {
        if !self.nullable {
            return Err(Fault::line(format!(
                "column '{}' is NOT NULL but the input has null",
                self.path
            )));
        }
        self.append_null();
        Ok(())
    }

    /// A null slot, unchecked: for NULL values and for the children of a null ROW (masked
    /// by the parent's null).
    fn append_null(&mut self) {
        match &mut self.data {
            Data::Bool(b) => b.append_null(),
            Data::I8(b) => b.append_null(),
            Data::I16(b) => b.append_null(),
            Data::I32(b) => b.append_null(),
            Data::I64(b) => b.append_null(),
            Data::F32(b) => b.append_null(),
            Data::F64(b) => b.append_null(),
            Data::Decimal(b) => b.append_null(),
            Data::Utf8(b) => b.append_null(),
            Data::Binary(b) => b.append_null(),
            Data::List { offsets, nulls, .. } | Data::Map { offsets, nulls, .. } => {
                offsets.push(offsets.last().copied().unwrap_or(0));
                nulls.append_null();
            }
            Data::Struct {
                children, nulls, ..
            } => {
                children.iter_mut().for_each(Column::append_null);
                nulls.append_null();
            }
        }
    }

    /// A JSON value (valid JSON text).
    pub(crate) fn push_json(&mut self, raw: &RawValue, enc: Enc) -> Result<(), Fault> {
        let value = Json::of(raw).map_err(|e| self.fault(e))?;
        self.push_value(value, enc)
    }

    /// One value; `Json::String` also carries plain text (CSV fields, Canal values).
    pub(crate) fn push_value(&mut self, value: Json<'_>, enc: Enc) -> Result<(), Fault> {
        if value == Json::Null {
            return self.push_null();
        }
        if matches!(
            self.dt,
            DataType::List(_) | DataType::Map(..) | DataType::Struct(_)
        ) {
            return self.push_nested(&value, enc);
        }
        self.push_scalar(&value, enc).map_err(|e| self.fault(e))
    }

    fn push_scalar(&mut self, v: &Json<'_>, enc: Enc) -> Parsed<()> {
        let dt = &self.dt;
        let mismatch = || cannot(v.text(), dt);
        // Numbers and strings both carry text for the numeric types.
        let text = match v {
            Json::Number(t) => Some(*t),
            Json::String(s) => Some(s.as_ref()),
            _ => None,
        };
        let numeric = || text.ok_or_else(mismatch);
        match &mut self.data {
            Data::Bool(b) => b.append_value(match v {
                Json::Bool(x) => *x,
                _ => parse_bool(numeric()?, dt)?,
            }),
            Data::I8(b) => b.append_value(narrow(parse_int(numeric()?, dt)?, v, dt)?),
            Data::I16(b) => b.append_value(narrow(parse_int(numeric()?, dt)?, v, dt)?),
            Data::I32(b) => b.append_value(match dt {
                DataType::Date32 => temporal(v, dt, enc, NANOS_PER_DAY, NANOS_PER_DAY, |s| {
                    parse_date(s, dt).map(i64::from)
                })
                .and_then(|d| narrow(d, v, dt))?,
                DataType::Time32(_) => {
                    let ms = temporal(v, dt, enc, 1_000, 1_000_000, |s| {
                        parse_time(s, dt).map(i64::from)
                    })?;
                    if !(0..86_400_000).contains(&ms) {
                        return Err(cannot_because(v.text(), dt, "out of range"));
                    }
                    narrow(ms, v, dt)?
                }
                _ => narrow(parse_int(numeric()?, dt)?, v, dt)?,
            }),
            Data::I64(b) => b.append_value(match dt {
                DataType::Timestamp(unit, _) => {
                    let per = nanos_per_unit(*unit);
                    temporal(v, dt, enc, per, per, |s| parse_timestamp(s, dt, *unit))?
                }
                _ => parse_int(numeric()?, dt)?,
            }),
            Data::F32(b) => b.append_value(parse_f32(numeric()?, dt)?),
            Data::F64(b) => b.append_value(parse_f64(numeric()?, dt)?),
            Data::Decimal(b) => b.append_value(decimal(v, dt, enc)?),
            Data::Utf8(b) => b.append_value(v.text()),
            Data::Binary(b) => match v {
                Json::String(s) => b.append_value(parse_base64(s, dt)?),
                _ => return Err(mismatch()),
            },
            Data::List { .. } | Data::Map { .. } | Data::Struct { .. } => return Err(mismatch()),
        }
        Ok(())
    }

    /// ARRAY from a JSON array, MAP and ROW from a JSON object; text holding them is parsed.
    fn push_nested(&mut self, v: &Json<'_>, enc: Enc) -> Result<(), Fault> {
        let Column { path, dt, data, .. } = self;
        let fault = |message: String| Fault::Column {
            column: path.clone(),
            message,
        };
        let text = match v {
            Json::Array(t) | Json::Object(t) => *t,
            Json::String(s) => s.as_ref(),
            _ => return Err(fault(cannot(v.text(), dt))),
        };
        let bad = || fault(cannot(text, dt));
        match data {
            Data::List {
                item,
                offsets,
                nulls,
                ..
            } => {
                let elements: Vec<&RawValue> = serde_json::from_str(text).map_err(|_| bad())?;
                for e in elements {
                    item.push_json(e, enc)?;
                }
                offsets.push(end_offset(item.len(), &fault)?);
                nulls.append_non_null();
            }
            Data::Map {
                key,
                value,
                offsets,
                nulls,
                ..
            } => {
                for (k, v) in entries(text).map_err(|_| bad())?.0 {
                    key.push_value(Json::String(k), Enc::Plain)?;
                    value.push_json(v, enc)?;
                }
                offsets.push(end_offset(key.len(), &fault)?);
                nulls.append_non_null();
            }
            Data::Struct {
                children, nulls, ..
            } => {
                let mut slots: Vec<Option<&RawValue>> = vec![None; children.len()];
                for (k, v) in entries(text).map_err(|_| bad())?.0 {
                    let slot = children
                        .iter()
                        .position(|c| c.name == k)
                        .and_then(|i| slots.get_mut(i));
                    match slot {
                        Some(slot @ None) => *slot = Some(v),
                        Some(Some(_)) => return Err(fault(format!("field '{k}' appears twice"))),
                        None => return Err(fault(format!("{} has no field '{k}'", type_name(dt)))),
                    }
                }
                for (child, slot) in children.iter_mut().zip(slots) {
                    match slot {
                        Some(v) => child.push_json(v, enc)?,
                        None => child.push_null()?,
                    }
                }
                nulls.append_non_null();
            }
            _ => return Err(bad()),
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        match &self.data {
            Data::Bool(b) => b.len(),
            Data::I8(b) => b.len(),
            Data::I16(b) => b.len(),
            Data::I32(b) => b.len(),
            Data::I64(b) => b.len(),
            Data::F32(b) => b.len(),
            Data::F64(b) => b.len(),
            Data::Decimal(b) => b.len(),
            Data::Utf8(b) => b.len(),
            Data::Binary(b) => b.len(),
            Data::List { nulls, .. } | Data::Map { nulls, .. } | Data::Struct { nulls, .. } => {
                nulls.len()
            }
        }
    }

    /// The values so far as an array of exactly the target type; the builder starts over.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        let dt = &self.dt;
        Ok(match &mut self.data {
            Data::Bool(b) => Arc::new(b.finish()),
            Data::I8(b) => Arc::new(b.finish()),
            Data::I16(b) => Arc::new(b.finish()),
            Data::I32(b) => retype(Arc::new(b.finish()), dt)?,
            Data::I64(b) => retype(Arc::new(b.finish()), dt)?,
            Data::F32(b) => Arc::new(b.finish()),
            Data::F64(b) => Arc::new(b.finish()),
            Data::Decimal(b) => Arc::new(b.finish()),
            Data::Utf8(b) => Arc::new(b.finish()),
            Data::Binary(b) => Arc::new(b.finish()),
            Data::List {
                field,
                item,
                offsets,
                nulls,
            } => Arc::new(ListArray::try_new(
                field.clone(),
                take_offsets(offsets),
                item.finish()?,
                nulls.finish(),
            )?),
            Data::Map {
                entries,
                sorted,
                key,
                value,
                offsets,
                nulls,
            } => {
                let DataType::Struct(kv) = entries.data_type() else {
                    return Err(ArrowError::SchemaError(format!("malformed MAP type {dt}")));
                };
                let pairs =
                    StructArray::try_new(kv.clone(), vec![key.finish()?, value.finish()?], None)?;
                Arc::new(MapArray::try_new(
                    entries.clone(),
                    take_offsets(offsets),
                    pairs,
                    nulls.finish(),
                    *sorted,
                )?)
            }
            Data::Struct {
                fields,
                children,
                nulls,
            } => {
                let len = nulls.len();
                let arrays = children
                    .iter_mut()
                    .map(Column::finish)
                    .collect::<Result<_, _>>()?;
                Arc::new(StructArray::try_new_with_length(
                    fields.clone(),
                    arrays,
                    nulls.finish(),
                    len,
                )?)
            }
        })
    }
}

/// The end offset of a list or map after its values: at most `i32::MAX` per batch.
fn end_offset(len: usize, fault: &impl Fn(String) -> Fault) -> Result<i32, Fault> {
    i32::try_from(len).map_err(|_| fault("too many nested values for one batch".into()))
}

fn take_offsets(offsets: &mut Vec<i32>) -> OffsetBuffer<i32> {
    OffsetBuffer::new(ScalarBuffer::from(std::mem::replace(offsets, vec![0])))
}

/// The same values under the target type (DATE, TIME, TIMESTAMP built as integers).
fn retype(array: ArrayRef, dt: &DataType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == dt {
        return Ok(array);
    }
    Ok(make_array(
        array
            .into_data()
            .into_builder()
            .data_type(dt.clone())
            .build()?,
    ))
}

fn narrow<T: TryFrom<i64>>(v: i64, value: &Json<'_>, dt: &DataType) -> Parsed<T> {
    T::try_from(v).map_err(|_| cannot_because(value.text(), dt, "out of range"))
}

/// A DATE, TIME or TIMESTAMP value as a count of `target` nanoseconds: strings through
/// `parse`, numbers as epoch counts when the encoding says so (`default` nanoseconds per
/// step for [`Enc::EpochDefault`]).
fn temporal(
    v: &Json<'_>,
    dt: &DataType,
    enc: Enc,
    default: i128,
    target: i128,
    parse: impl Fn(&str) -> Parsed<i64>,
) -> Parsed<i64> {
    match v {
        Json::String(s) => parse(s),
        Json::Number(t) => {
            let step = match enc {
                Enc::Epoch(step) => step,
                Enc::EpochDefault => default,
                _ => return Err(cannot_because(t, dt, "expected a string")),
            };
            let count = parse_int(t, &DataType::Int64).map_err(|_| cannot(t, dt))?;
            convert_epoch(count, step, target).ok_or_else(|| {
                let nanos = i128::from(count).saturating_mul(step);
                if nanos % target != 0 {
                    cannot_because(t, dt, &format!("finer than {}", target_unit_name(target)))
                } else {
                    cannot_because(t, dt, "out of range")
                }
            })
        }
        _ => Err(cannot(v.text(), dt)),
    }
}

fn target_unit_name(nanos: i128) -> &'static str {
    match nanos {
        NANOS_PER_DAY => "days",
        1_000_000_000 => unit_name(TimeUnit::Second),
        1_000_000 => unit_name(TimeUnit::Millisecond),
        1_000 => unit_name(TimeUnit::Microsecond),
        _ => unit_name(TimeUnit::Nanosecond),
    }
}

fn decimal(v: &Json<'_>, dt: &DataType, enc: Enc) -> Parsed<i128> {
    let DataType::Decimal128(precision, scale) = *dt else {
        return Err(cannot(v.text(), dt));
    };
    let exact = |unscaled: Option<i128>, from: i32, shown: &str| {
        let unscaled = unscaled.ok_or_else(|| cannot_because(shown, dt, "out of range"))?;
        rescale_decimal(unscaled, from, precision, scale).map_err(|e| decimal_message(shown, dt, e))
    };
    match (v, enc) {
        (Json::String(s), Enc::DecimalBytes(from)) => {
            exact(i128_from_be_bytes(&parse_base64(s, dt)?), from, s)
        }
        (Json::Object(text), Enc::VariableDecimal) => {
            let bad = || cannot(text, dt);
            let pairs = entries(text).map_err(|_| bad())?;
            let (mut from, mut bytes) = (None, None);
            for (k, raw) in pairs.0 {
                match (k.as_ref(), Json::of(raw).map_err(|_| bad())?) {
                    ("scale", Json::Number(n)) => from = n.parse::<i32>().ok(),
                    ("value", Json::String(b)) => bytes = Some(parse_base64(&b, dt)?),
                    _ => {}
                }
            }
            match (from, bytes) {
                (Some(from), Some(bytes)) => exact(i128_from_be_bytes(&bytes), from, text),
                _ => Err(bad()),
            }
        }
        (Json::Number(t), _) => {
            parse_decimal(t, precision, scale).map_err(|e| decimal_message(t, dt, e))
        }
        (Json::String(s), _) => {
            parse_decimal(s, precision, scale).map_err(|e| decimal_message(s, dt, e))
        }
        _ => Err(cannot(v.text(), dt)),
    }
}

/// Plain text as a value: `None` is NULL.
pub(crate) fn text_value(text: Option<&str>) -> Json<'_> {
    match text {
        Some(t) => Json::String(Cow::Borrowed(t)),
        None => Json::Null,
    }
}
