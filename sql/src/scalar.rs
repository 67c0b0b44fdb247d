//! Values stored in manifests (partition values, key and value statistics) as DataFusion
//! scalars of the Arrow type a read produces for the column, and as text for system tables.

use arrow_schema::{DataType as ArrowType, TimeUnit};
use datafusion::common::ScalarValue;
use strata_format::data::Datum;
use strata_format::paths::{format_date, format_decimal, format_time, format_timestamp};
use strata_format::types::arrow::{timestamp_unit, to_arrow_type, LOCAL_ZONED_TIME_ZONE};
use strata_format::types::{DataType, TypeKind};

/// The scalar of `value` (None = NULL) as a column of Paimon type `ty` reads in Arrow, or
/// `None` when the type has no scalar form here (nested types) or the value does not fit.
pub fn to_scalar(value: Option<&Datum>, ty: &DataType) -> Option<ScalarValue> {
    let arrow = to_arrow_type(ty);
    let Some(value) = value else {
        return ScalarValue::try_from(&arrow).ok();
    };
    let ts = |millis: i64, nanos: i32, precision: u8, tz: Option<&str>| {
        let tz: Option<std::sync::Arc<str>> = tz.map(Into::into);
        let nanos = i64::from(nanos);
        Some(match timestamp_unit(precision) {
            TimeUnit::Second => ScalarValue::TimestampSecond(Some(millis.div_euclid(1000)), tz),
            TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(millis), tz),
            TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(
                Some(millis.checked_mul(1000)?.checked_add(nanos / 1000)?),
                tz,
            ),
            TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(
                Some(millis.checked_mul(1_000_000)?.checked_add(nanos)?),
                tz,
            ),
        })
    };
    match (&ty.kind, value) {
        (TypeKind::Boolean, Datum::Boolean(v)) => Some(ScalarValue::Boolean(Some(*v))),
        (TypeKind::TinyInt, Datum::TinyInt(v)) => Some(ScalarValue::Int8(Some(*v))),
        (TypeKind::SmallInt, Datum::SmallInt(v)) => Some(ScalarValue::Int16(Some(*v))),
        (TypeKind::Int, Datum::Int(v)) => Some(ScalarValue::Int32(Some(*v))),
        (TypeKind::BigInt, Datum::BigInt(v)) => Some(ScalarValue::Int64(Some(*v))),
        (TypeKind::Float, Datum::Float(v)) => Some(ScalarValue::Float32(Some(*v))),
        (TypeKind::Double, Datum::Double(v)) => Some(ScalarValue::Float64(Some(*v))),
        (TypeKind::Decimal { precision, scale }, Datum::Decimal(v)) => Some(
            ScalarValue::Decimal128(Some(*v), *precision, i8::try_from(*scale).ok()?),
        ),
        (TypeKind::Char(_) | TypeKind::VarChar(_), Datum::String(s)) => {
            Some(ScalarValue::Utf8(Some(s.clone())))
        }
        (TypeKind::Binary(_) | TypeKind::VarBinary(_), Datum::Binary(b)) => {
            Some(ScalarValue::Binary(Some(b.clone())))
        }
        (TypeKind::Date, Datum::Date(d)) => Some(ScalarValue::Date32(Some(*d))),
        (TypeKind::Time(_), Datum::Time(t)) => Some(ScalarValue::Time32Millisecond(Some(*t))),
        (
            TypeKind::Timestamp(p),
            Datum::Timestamp {
                millis,
                nanos_of_milli,
            },
        ) => ts(*millis, *nanos_of_milli, *p, None),
        (
            TypeKind::LocalZonedTimestamp(p),
            Datum::Timestamp {
                millis,
                nanos_of_milli,
            },
        ) => ts(*millis, *nanos_of_milli, *p, Some(LOCAL_ZONED_TIME_ZONE)),
        _ => None,
    }
    .filter(|s| s.data_type() == arrow || matches!(arrow, ArrowType::Timestamp(..)))
}

/// Text of a value for system tables: numbers as numbers, decimals with their scale,
/// dates and timestamps ISO-8601, binary as hex, NULL as `null`.
pub fn to_text(value: Option<&Datum>, ty: &DataType) -> String {
    let Some(value) = value else {
        return "null".to_string();
    };
    match (value, &ty.kind) {
        (Datum::Boolean(v), _) => v.to_string(),
        (Datum::TinyInt(v), _) => v.to_string(),
        (Datum::SmallInt(v), _) => v.to_string(),
        (Datum::Int(v), _) => v.to_string(),
        (Datum::BigInt(v), _) => v.to_string(),
        (Datum::Float(v), _) => v.to_string(),
        (Datum::Double(v), _) => v.to_string(),
        (Datum::Decimal(v), TypeKind::Decimal { scale, .. }) => format_decimal(*v, *scale),
        (Datum::Decimal(v), _) => v.to_string(),
        (Datum::String(s), _) => s.clone(),
        (Datum::Binary(b), _) => b.iter().map(|x| format!("{x:02x}")).collect(),
        (Datum::Date(d), _) => format_date(*d),
        (Datum::Time(t), TypeKind::Time(p)) => format_time(*t, *p),
        (Datum::Time(t), _) => format_time(*t, 3),
        (
            Datum::Timestamp {
                millis,
                nanos_of_milli,
            },
            TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p),
        ) => format_timestamp(*millis, *nanos_of_milli, *p, 'T'),
        (
            Datum::Timestamp {
                millis,
                nanos_of_milli,
            },
            _,
        ) => format_timestamp(*millis, *nanos_of_milli, 9, 'T'),
    }
}
