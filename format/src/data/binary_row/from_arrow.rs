//! Encodes one row of Arrow arrays straight into a [`BinaryRowWriter`], without building
//! `Datum`s, for per-record partition and bucket keys.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type,
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, Time32MillisecondType,
    Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray};
use arrow_schema::{DataType as ArrowType, TimeUnit};

use super::BinaryRowWriter;
use crate::error::Result;
use crate::invalid;
use crate::types::{DataType, TypeKind};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Resets `writer` and writes row `row` of `columns` (one column per field, typed `types`).
/// The finished bytes are then `writer.finish()`.
///
/// Arrow mapping: BOOLEAN Boolean, TINYINT..BIGINT Int8..Int64, FLOAT/DOUBLE Float32/64,
/// DECIMAL Decimal32/64/128/256 with the same scale, CHAR/VARCHAR Utf8/LargeUtf8/Utf8View,
/// BINARY/VARBINARY Binary/LargeBinary/BinaryView/FixedSizeBinary, DATE Date32/Date64, TIME
/// Time32/Time64 (truncated to millis), TIMESTAMP/TIMESTAMP_LTZ Timestamp in any unit and
/// zone (epoch value kept). Dictionary-encoded columns of these are accepted too.
pub fn encode_arrow_row(
    columns: &[ArrayRef],
    types: &[DataType],
    row: usize,
    writer: &mut BinaryRowWriter,
) -> Result<()> {
    if columns.len() != types.len() || types.len() != writer.arity() {
        return Err(invalid!(
            "BinaryRow: {} columns and {} types for a writer of arity {}",
            columns.len(),
            types.len(),
            writer.arity()
        ));
    }
    writer.reset();
    for (pos, (column, ty)) in columns.iter().zip(types).enumerate() {
        if row >= column.len() {
            return Err(invalid!(
                "BinaryRow field {pos}: row {row} out of range for a column of {} rows",
                column.len()
            ));
        }
        writer.claim(pos)?;
        write_value(writer, pos, column.as_ref(), ty, row)?;
    }
    Ok(())
}

fn mismatch(pos: usize, array: &dyn Array, ty: &DataType) -> crate::Error {
    invalid!(
        "BinaryRow field {pos}: arrow type {} does not match type {:?}",
        array.data_type(),
        ty.kind
    )
}

/// Value `row` of a primitive array, which the caller matched by data type.
fn prim<T: ArrowPrimitiveType>(
    pos: usize,
    array: &dyn Array,
    ty: &DataType,
    row: usize,
) -> Result<T::Native> {
    let array: &PrimitiveArray<T> = array
        .as_primitive_opt::<T>()
        .ok_or_else(|| mismatch(pos, array, ty))?;
    Ok(array.value(row))
}

fn write_value(
    w: &mut BinaryRowWriter,
    pos: usize,
    array: &dyn Array,
    ty: &DataType,
    row: usize,
) -> Result<()> {
    if array.is_null(row) {
        return w.write_null(pos, ty);
    }
    if let ArrowType::Dictionary(..) = array.data_type() {
        return write_dictionary_value(w, pos, array, ty, row);
    }
    match (&ty.kind, array.data_type()) {
        (TypeKind::Boolean, ArrowType::Boolean) => {
            let v = array
                .as_boolean_opt()
                .ok_or_else(|| mismatch(pos, array, ty))?
                .value(row);
            w.write_fixed(pos, &[u8::from(v)])
        }
        (TypeKind::TinyInt, ArrowType::Int8) => {
            w.write_fixed(pos, &prim::<Int8Type>(pos, array, ty, row)?.to_le_bytes())
        }
        (TypeKind::SmallInt, ArrowType::Int16) => {
            w.write_fixed(pos, &prim::<Int16Type>(pos, array, ty, row)?.to_le_bytes())
        }
        (TypeKind::Int, ArrowType::Int32) => {
            w.write_fixed(pos, &prim::<Int32Type>(pos, array, ty, row)?.to_le_bytes())
        }
        (TypeKind::Date, ArrowType::Date32) => {
            w.write_fixed(pos, &prim::<Date32Type>(pos, array, ty, row)?.to_le_bytes())
        }
        (TypeKind::Date, ArrowType::Date64) => {
            let days = prim::<Date64Type>(pos, array, ty, row)?.div_euclid(MILLIS_PER_DAY);
            w.write_fixed(pos, &to_i32(pos, days, "date")?.to_le_bytes())
        }
        (TypeKind::BigInt, ArrowType::Int64) => {
            w.write_fixed(pos, &prim::<Int64Type>(pos, array, ty, row)?.to_le_bytes())
        }
        (TypeKind::Float, ArrowType::Float32) => {
            let v = prim::<Float32Type>(pos, array, ty, row)?;
            w.write_fixed(pos, &v.to_bits().to_le_bytes())
        }
        (TypeKind::Double, ArrowType::Float64) => {
            let v = prim::<Float64Type>(pos, array, ty, row)?;
            w.write_fixed(pos, &v.to_bits().to_le_bytes())
        }
        (TypeKind::Decimal { precision, scale }, arrow_type) => {
            let arrow_scale = match arrow_type {
                ArrowType::Decimal32(_, s)
                | ArrowType::Decimal64(_, s)
                | ArrowType::Decimal128(_, s)
                | ArrowType::Decimal256(_, s) => *s,
                _ => return Err(mismatch(pos, array, ty)),
            };
            if i16::from(arrow_scale) != i16::from(*scale) {
                return Err(invalid!(
                    "BinaryRow field {pos}: arrow decimal scale {arrow_scale} differs from the \
                     type's scale {scale}"
                ));
            }
            let unscaled = match arrow_type {
                ArrowType::Decimal32(..) => i128::from(prim::<Decimal32Type>(pos, array, ty, row)?),
                ArrowType::Decimal64(..) => i128::from(prim::<Decimal64Type>(pos, array, ty, row)?),
                ArrowType::Decimal128(..) => prim::<Decimal128Type>(pos, array, ty, row)?,
                _ => prim::<Decimal256Type>(pos, array, ty, row)?
                    .to_i128()
                    .ok_or_else(|| invalid!("BinaryRow field {pos}: decimal exceeds 38 digits"))?,
            };
            w.write_decimal(pos, unscaled, *precision)
        }
        (TypeKind::Char(_) | TypeKind::VarChar(_), ArrowType::Utf8) => {
            let a = array
                .as_string_opt::<i32>()
                .ok_or_else(|| mismatch(pos, array, ty))?;
            w.write_var(pos, a.value(row).as_bytes())
        }
        (TypeKind::Char(_) | TypeKind::VarChar(_), ArrowType::LargeUtf8) => {
            let a = array
                .as_string_opt::<i64>()
                .ok_or_else(|| mismatch(pos, array, ty))?;
            w.write_var(pos, a.value(row).as_bytes())
        }
        (TypeKind::Char(_) | TypeKind::VarChar(_), ArrowType::Utf8View) => {
            let a = array
                .as_string_view_opt()
                .ok_or_else(|| mismatch(pos, array, ty))?;
            w.write_var(pos, a.value(row).as_bytes())
        }
        (TypeKind::Binary(_) | TypeKind::VarBinary(_), ArrowType::Binary) => {
            let a = array
                .as_binary_opt::<i32>()
                .ok_or_else(|| mismatch(pos, array, ty))?;
            w.write_var(pos, a.value(row))
        }
        (TypeKind::Binary(_) | TypeKind::VarBinary(_), ArrowType::LargeBinary) => {
            let a = array
                .as_binary_opt::<i64>()
                .ok_or_else(|| mismatch(pos, array, ty))?;
            w.write_var(pos, a.value(row))
        }
        (TypeKind::Binary(_) | TypeKind::VarBinary(_), ArrowType::BinaryView) => {
            let a = array
                .as_binary_view_opt()
                .ok_or_else(|| mismatch(pos, array, ty))?;
            w.write_var(pos, a.value(row))
        }
        (TypeKind::Binary(_) | TypeKind::VarBinary(_), ArrowType::FixedSizeBinary(_)) => {
            let a = array
                .as_fixed_size_binary_opt()
                .ok_or_else(|| mismatch(pos, array, ty))?;
            w.write_var(pos, a.value(row))
        }
        (TypeKind::Time(_), ArrowType::Time32(unit) | ArrowType::Time64(unit)) => {
            let millis = match unit {
                TimeUnit::Second => {
                    i64::from(prim::<Time32SecondType>(pos, array, ty, row)?) * 1000
                }
                TimeUnit::Millisecond => {
                    i64::from(prim::<Time32MillisecondType>(pos, array, ty, row)?)
                }
                TimeUnit::Microsecond => {
                    prim::<Time64MicrosecondType>(pos, array, ty, row)?.div_euclid(1000)
                }
                TimeUnit::Nanosecond => {
                    prim::<Time64NanosecondType>(pos, array, ty, row)?.div_euclid(1_000_000)
                }
            };
            w.write_fixed(pos, &to_i32(pos, millis, "time")?.to_le_bytes())
        }
        (
            TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p),
            ArrowType::Timestamp(unit, _),
        ) => {
            let (millis, nanos) = match unit {
                TimeUnit::Second => {
                    let s = prim::<TimestampSecondType>(pos, array, ty, row)?;
                    let ms = s.checked_mul(1000).ok_or_else(|| {
                        invalid!("BinaryRow field {pos}: timestamp {s}s overflows millis")
                    })?;
                    (ms, 0)
                }
                TimeUnit::Millisecond => {
                    (prim::<TimestampMillisecondType>(pos, array, ty, row)?, 0)
                }
                TimeUnit::Microsecond => {
                    let us = prim::<TimestampMicrosecondType>(pos, array, ty, row)?;
                    (us.div_euclid(1000), us.rem_euclid(1000) * 1000)
                }
                TimeUnit::Nanosecond => {
                    let ns = prim::<TimestampNanosecondType>(pos, array, ty, row)?;
                    (ns.div_euclid(1_000_000), ns.rem_euclid(1_000_000))
                }
            };
            // Remainders are within 0..1_000_000, so the cast is exact.
            w.write_timestamp(pos, millis, nanos as i32, *p)
        }
        (TypeKind::Array(_) | TypeKind::Map(..) | TypeKind::Row(_), _) => {
            Err(super::unsupported_nested(pos, ty))
        }
        _ => Err(mismatch(pos, array, ty)),
    }
}

fn to_i32(pos: usize, v: i64, what: &str) -> Result<i32> {
    i32::try_from(v).map_err(|_| invalid!("BinaryRow field {pos}: {what} {v} out of INT range"))
}

/// Follows the dictionary key of `row` to its value.
fn write_dictionary_value(
    w: &mut BinaryRowWriter,
    pos: usize,
    array: &dyn Array,
    ty: &DataType,
    row: usize,
) -> Result<()> {
    let dict = array
        .as_any_dictionary_opt()
        .ok_or_else(|| mismatch(pos, array, ty))?;
    let keys = dict.keys();
    let key: Option<usize> = match keys.data_type() {
        ArrowType::Int8 => usize::try_from(prim::<Int8Type>(pos, keys, ty, row)?).ok(),
        ArrowType::Int16 => usize::try_from(prim::<Int16Type>(pos, keys, ty, row)?).ok(),
        ArrowType::Int32 => usize::try_from(prim::<Int32Type>(pos, keys, ty, row)?).ok(),
        ArrowType::Int64 => usize::try_from(prim::<Int64Type>(pos, keys, ty, row)?).ok(),
        ArrowType::UInt8 => Some(usize::from(prim::<UInt8Type>(pos, keys, ty, row)?)),
        ArrowType::UInt16 => Some(usize::from(prim::<UInt16Type>(pos, keys, ty, row)?)),
        ArrowType::UInt32 => usize::try_from(prim::<UInt32Type>(pos, keys, ty, row)?).ok(),
        ArrowType::UInt64 => usize::try_from(prim::<UInt64Type>(pos, keys, ty, row)?).ok(),
        _ => None,
    };
    let values = dict.values();
    match key {
        Some(k) if k < values.len() => write_value(w, pos, values.as_ref(), ty, k),
        _ => Err(invalid!(
            "BinaryRow field {pos}: bad dictionary key at row {row}"
        )),
    }
}
