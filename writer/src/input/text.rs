//! One value per target type from text: the grammar shared by CSV fields, Canal's
//! stringified values and JSON strings.
//!
//! Nothing is rounded. A value the column cannot hold exactly (a decimal with more fraction
//! digits than the scale, a timestamp finer than the column's unit, an integer out of range)
//! is an error, never a silently different value.

use arrow_schema::{DataType, TimeUnit};
use base64::engine::general_purpose::GeneralPurpose;
use base64::engine::{DecodePaddingMode, GeneralPurposeConfig};
use base64::Engine;
use chrono::{Datelike, NaiveDate};

/// A problem with one value: the text that follows `column 'x': ` in the error.
pub(crate) type Parsed<T> = std::result::Result<T, String>;

/// Base64 with or without padding (producers differ).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Nanoseconds in a day: the step of an epoch count of days.
pub(crate) const NANOS_PER_DAY: i128 = 86_400_000_000_000;
/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// The value as quoted in messages: its first 60 characters, control characters escaped
/// so that the message stays on one line.
pub(crate) fn shown(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == 60 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `cannot parse 'v' as TYPE`
pub(crate) fn cannot(value: &str, dt: &DataType) -> String {
    format!("cannot parse '{}' as {}", shown(value), type_name(dt))
}

/// `cannot parse 'v' as TYPE: reason`
pub(crate) fn cannot_because(value: &str, dt: &DataType, reason: &str) -> String {
    format!("{}: {reason}", cannot(value, dt))
}

/// The Paimon spelling of a target Arrow type, for messages.
pub(crate) fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Utf8 => "STRING".into(),
        DataType::Binary => "BYTES".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Time32(_) => "TIME".into(),
        DataType::Timestamp(unit, tz) => {
            let p = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            match tz {
                Some(_) => format!("TIMESTAMP({p}) WITH LOCAL TIME ZONE"),
                None => format!("TIMESTAMP({p})"),
            }
        }
        DataType::List(item) => format!("ARRAY<{}>", type_name(item.data_type())),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                let names: Vec<String> = kv.iter().map(|f| type_name(f.data_type())).collect();
                format!("MAP<{}>", names.join(", "))
            }
            _ => "MAP".into(),
        },
        DataType::Struct(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|f| format!("{} {}", f.name(), type_name(f.data_type())))
                .collect();
            format!("ROW<{}>", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// `true`/`false` (any case) or `1`/`0`.
pub(crate) fn parse_bool(s: &str, dt: &DataType) -> Parsed<bool> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("true") || t == "1" {
        Ok(true)
    } else if t.eq_ignore_ascii_case("false") || t == "0" {
        Ok(false)
    } else {
        Err(cannot(s, dt))
    }
}

/// An integer within the range of `dt` (TINYINT … BIGINT). `1.0` and `1e3` are accepted
/// because they are exact integers; `1.5` is not.
pub(crate) fn parse_int(s: &str, dt: &DataType) -> Parsed<i64> {
    let (min, max) = match dt {
        DataType::Int8 => (i64::from(i8::MIN), i64::from(i8::MAX)),
        DataType::Int16 => (i64::from(i16::MIN), i64::from(i16::MAX)),
        DataType::Int32 => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    let t = s.trim();
    let v = match t.parse::<i64>() {
        Ok(v) => i128::from(v),
        Err(_) => parse_decimal(t, 38, 0).map_err(|e| match e {
            DecimalError::OutOfRange => cannot_because(s, dt, "out of range"),
            _ => cannot(s, dt),
        })?,
    };
    match i64::try_from(v) {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(cannot_because(s, dt, "out of range")),
    }
}

/// A DOUBLE: decimal or exponent notation, `NaN`, `Infinity`, `-Infinity` (any case, also
/// `inf`). A finite literal too large for the type is out of range, not infinity.
pub(crate) fn parse_f64(s: &str, dt: &DataType) -> Parsed<f64> {
    let t = s.trim();
    let v: f64 = t.parse().map_err(|_| cannot(s, dt))?;
    if v.is_infinite() && !t.to_ascii_lowercase().contains("inf") {
        return Err(cannot_because(s, dt, "out of range"));
    }
    Ok(v)
}

/// A FLOAT, parsed directly as `f32` (correctly rounded), with the rules of [`parse_f64`].
pub(crate) fn parse_f32(s: &str, dt: &DataType) -> Parsed<f32> {
    let t = s.trim();
    let v: f32 = t.parse().map_err(|_| cannot(s, dt))?;
    if v.is_infinite() && !t.to_ascii_lowercase().contains("inf") {
        return Err(cannot_because(s, dt, "out of range"));
    }
    Ok(v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecimalError {
    Syntax,
    /// Non-zero digits beyond the scale.
    FractionDigits,
    /// More digits than the precision.
    OutOfRange,
}

/// A DECIMAL(precision, scale) value as its unscaled integer, exactly: an optional sign,
/// digits with an optional point, an optional exponent (`1.5e3`).
pub(crate) fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, DecimalError> {
    let t = text.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => {
            let e = e.strip_prefix('+').unwrap_or(e);
            (m, e.parse::<i32>().map_err(|_| DecimalError::Syntax)?)
        }
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(DecimalError::Syntax);
    }
    let joined = format!("{int_part}{frac_part}");
    let digits = joined.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    let frac_len = i64::try_from(frac_part.len()).map_err(|_| DecimalError::OutOfRange)?;
    let shift = i64::from(exponent) - frac_len + i64::from(scale);
    let len = i64::try_from(digits.len()).map_err(|_| DecimalError::OutOfRange)?;
    let unscaled: String = if shift >= 0 {
        if len + shift > i64::from(precision) {
            return Err(DecimalError::OutOfRange);
        }
        let zeros = usize::try_from(shift).map_err(|_| DecimalError::OutOfRange)?;
        format!("{digits}{}", "0".repeat(zeros))
    } else {
        // `digits` starts with a non-zero digit, so cutting all of it loses that digit.
        let cut = usize::try_from(-shift).map_err(|_| DecimalError::FractionDigits)?;
        let keep = digits
            .len()
            .checked_sub(cut)
            .ok_or(DecimalError::FractionDigits)?;
        let (kept, dropped) = digits
            .split_at_checked(keep)
            .ok_or(DecimalError::FractionDigits)?;
        if keep == 0 || dropped.bytes().any(|b| b != b'0') {
            return Err(DecimalError::FractionDigits);
        }
        kept.to_string()
    };
    if unscaled.len() > usize::from(precision) {
        return Err(DecimalError::OutOfRange);
    }
    let v: i128 = unscaled.parse().map_err(|_| DecimalError::OutOfRange)?;
    Ok(if negative { -v } else { v })
}

/// The message for a [`DecimalError`] of `value` read as `dt`.
pub(crate) fn decimal_message(value: &str, dt: &DataType, e: DecimalError) -> String {
    match (e, dt) {
        (DecimalError::Syntax, _) => cannot(value, dt),
        (DecimalError::FractionDigits, DataType::Decimal128(_, s)) => {
            cannot_because(value, dt, &format!("more than {s} fraction digits"))
        }
        (DecimalError::FractionDigits, _) => cannot_because(value, dt, "too many fraction digits"),
        (DecimalError::OutOfRange, _) => cannot_because(value, dt, "out of range"),
    }
}

/// An unscaled value at `from_scale` moved to `scale`, exactly, within `precision` digits.
pub(crate) fn rescale_decimal(
    unscaled: i128,
    from_scale: i32,
    precision: u8,
    scale: i8,
) -> Result<i128, DecimalError> {
    let diff = i64::from(scale) - i64::from(from_scale);
    let factor = |d: i64| {
        u32::try_from(d)
            .ok()
            .and_then(|d| 10i128.checked_pow(d))
            .ok_or(DecimalError::OutOfRange)
    };
    let v = if diff >= 0 {
        unscaled
            .checked_mul(factor(diff)?)
            .ok_or(DecimalError::OutOfRange)?
    } else {
        match factor(-diff) {
            Ok(f) if unscaled % f == 0 => unscaled / f,
            Ok(_) => return Err(DecimalError::FractionDigits),
            // Dividing by more than 10^38: only zero survives.
            Err(_) if unscaled == 0 => 0,
            Err(_) => return Err(DecimalError::FractionDigits),
        }
    };
    let limit = factor(i64::from(precision))?;
    if v.checked_abs().is_none_or(|a| a >= limit) {
        return Err(DecimalError::OutOfRange);
    }
    Ok(v)
}

/// A big-endian two's-complement integer of at most 16 bytes (Kafka Connect's Decimal).
pub(crate) fn i128_from_be_bytes(bytes: &[u8]) -> Option<i128> {
    if bytes.len() > 16 {
        return None;
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut buf = if negative { [0xFF; 16] } else { [0; 16] };
    buf.get_mut(16 - bytes.len()..)?.copy_from_slice(bytes);
    Some(i128::from_be_bytes(buf))
}

/// Standard base64, padding optional.
pub(crate) fn parse_base64(s: &str, dt: &DataType) -> Parsed<Vec<u8>> {
    BASE64
        .decode(s.trim())
        .map_err(|_| cannot_because(s, dt, "not base64"))
}

/// `YYYY-MM-DD` as days since 1970-01-01.
pub(crate) fn parse_date(s: &str, dt: &DataType) -> Parsed<i32> {
    let date = parse_ymd(s.trim()).ok_or_else(|| cannot(s, dt))?;
    i32::try_from(days_since_epoch(date)).map_err(|_| cannot_because(s, dt, "out of range"))
}

/// `HH:MM:SS[.fraction]` as milliseconds of the day.
pub(crate) fn parse_time(s: &str, dt: &DataType) -> Parsed<i32> {
    let nanos = parse_hms(s.trim()).ok_or_else(|| cannot(s, dt))?;
    if nanos % 1_000_000 != 0 {
        return Err(cannot_because(s, dt, "finer than milliseconds"));
    }
    i32::try_from(nanos / 1_000_000).map_err(|_| cannot(s, dt))
}

/// `YYYY-MM-DD[(T| )HH:MM:SS[.fraction]][Z|±HH:MM|±HHMM|±HH]` in `unit` since the epoch.
/// A value with an offset is converted to UTC; one without is taken as UTC (for TIMESTAMP
/// the wall-clock time is kept as written).
pub(crate) fn parse_timestamp(s: &str, dt: &DataType, unit: TimeUnit) -> Parsed<i64> {
    let t = s.trim();
    let bad = || cannot(s, dt);
    let date = parse_ymd(t.get(..10).ok_or_else(bad)?).ok_or_else(bad)?;
    let rest = t.get(10..).ok_or_else(bad)?;
    let (nanos_of_day, offset_secs) = if rest.is_empty() {
        (0, 0)
    } else {
        let rest = rest.strip_prefix(['T', 't', ' ']).ok_or_else(bad)?;
        let split = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
        let (time, offset) = rest.split_at_checked(split).ok_or_else(bad)?;
        let nanos = parse_hms(time).ok_or_else(bad)?;
        (nanos, parse_offset(offset).ok_or_else(bad)?)
    };
    let secs = days_since_epoch(date) * 86_400 - offset_secs;
    let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos_of_day);
    let per = nanos_per_unit(unit);
    if total % per != 0 {
        return Err(cannot_because(
            s,
            dt,
            &format!("finer than {}", unit_name(unit)),
        ));
    }
    i64::try_from(total / per).map_err(|_| cannot_because(s, dt, "out of range"))
}

pub(crate) fn nanos_per_unit(unit: TimeUnit) -> i128 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

pub(crate) fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Second => "seconds",
        TimeUnit::Millisecond => "milliseconds",
        TimeUnit::Microsecond => "microseconds",
        TimeUnit::Nanosecond => "nanoseconds",
    }
}

/// An epoch count with `from` nanoseconds per step, as a count with `to` nanoseconds per
/// step, if that is exact (`None` otherwise or on overflow).
pub(crate) fn convert_epoch(value: i64, from: i128, to: i128) -> Option<i64> {
    let nanos = i128::from(value).checked_mul(from)?;
    if to == 0 || nanos % to != 0 {
        return None;
    }
    i64::try_from(nanos / to).ok()
}

fn days_since_epoch(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - UNIX_EPOCH_DAYS_FROM_CE
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_ymd(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 || s.get(4..5) != Some("-") || s.get(7..8) != Some("-") {
        return None;
    }
    let year = i32::try_from(number(s.get(..4)?)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(s.get(5..7)?)?, number(s.get(8..)?)?)
}

/// `HH:MM:SS[.f{1,9}]` as nanoseconds of the day.
fn parse_hms(s: &str) -> Option<u64> {
    let (hms, fraction) = match s.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (s, None),
    };
    if hms.len() != 8 || hms.get(2..3) != Some(":") || hms.get(5..6) != Some(":") {
        return None;
    }
    let (h, m, sec) = (
        number(hms.get(..2)?)?,
        number(hms.get(3..5)?)?,
        number(hms.get(6..)?)?,
    );
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let nanos = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 => {
            u64::from(number(f)?) * 10u64.pow(9 - u32::try_from(f.len()).ok()?)
        }
        Some(_) => return None,
    };
    Some((u64::from(h) * 3600 + u64::from(m) * 60 + u64::from(sec)) * 1_000_000_000 + nanos)
}

/// `""` (none), `Z`, `±HH:MM`, `±HHMM` or `±HH` as seconds east of UTC.
fn parse_offset(s: &str) -> Option<i64> {
    if s.is_empty() || s == "Z" || s == "z" {
        return Some(0);
    }
    let (sign, rest) = match s.strip_prefix('+') {
        Some(rest) => (1, rest),
        None => (-1, s.strip_prefix('-')?),
    };
    let (h, m) = match rest.len() {
        2 => (rest, "00"),
        4 => (rest.get(..2)?, rest.get(2..)?),
        5 if rest.get(2..3) == Some(":") => (rest.get(..2)?, rest.get(3..)?),
        _ => return None,
    };
    let (h, m) = (number(h)?, number(m)?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (i64::from(h) * 3600 + i64::from(m) * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS3: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

    fn dec(s: &str, p: u8, sc: i8) -> Result<i128, DecimalError> {
        parse_decimal(s, p, sc)
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(dec("12.34", 10, 2), Ok(1234));
        assert_eq!(dec("-12.3", 10, 2), Ok(-1230));
        assert_eq!(dec("+0.5", 10, 2), Ok(50));
        assert_eq!(dec(".5", 10, 2), Ok(50));
        assert_eq!(dec("5.", 10, 2), Ok(500));
        assert_eq!(dec("1.5e2", 10, 2), Ok(15000));
        assert_eq!(dec("1500E-3", 10, 2), Ok(150));
        assert_eq!(dec("12.3400", 10, 2), Ok(1234));
        assert_eq!(dec("0.000", 3, 2), Ok(0));
        assert_eq!(dec("-0", 3, 2), Ok(0));
        assert_eq!(dec("12.345", 10, 2), Err(DecimalError::FractionDigits));
        assert_eq!(dec("0.001", 10, 2), Err(DecimalError::FractionDigits));
        assert_eq!(dec("1e-99999", 10, 2), Err(DecimalError::FractionDigits));
        assert_eq!(dec("123456789", 10, 2), Err(DecimalError::OutOfRange));
        assert_eq!(dec("1e99999", 38, 0), Err(DecimalError::OutOfRange));
        assert_eq!(
            dec("99999999999999999999999999999999999999", 38, 0),
            Ok(99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
        for bad in [
            "", "-", ".", "1.2.3", "abc", "1e", "1e+", "0x10", "1 000", "١",
        ] {
            assert_eq!(dec(bad, 10, 2), Err(DecimalError::Syntax), "{bad}");
        }
    }

    #[test]
    fn decimal_rescale_and_bytes() {
        assert_eq!(rescale_decimal(1234, 2, 10, 4), Ok(123_400));
        assert_eq!(rescale_decimal(123_400, 4, 10, 2), Ok(1234));
        assert_eq!(
            rescale_decimal(123_401, 4, 10, 2),
            Err(DecimalError::FractionDigits)
        );
        assert_eq!(
            rescale_decimal(1234, 2, 3, 2),
            Err(DecimalError::OutOfRange)
        );
        assert_eq!(
            rescale_decimal(1, -200, 10, 2),
            Err(DecimalError::OutOfRange)
        );
        assert_eq!(rescale_decimal(0, 200, 10, 2), Ok(0));
        assert_eq!(
            rescale_decimal(i128::MIN, 0, 38, 0),
            Err(DecimalError::OutOfRange)
        );
        assert_eq!(i128_from_be_bytes(&[0x30, 0x39]), Some(12345));
        assert_eq!(i128_from_be_bytes(&[0xCF, 0xC7]), Some(-12345));
        assert_eq!(i128_from_be_bytes(&[]), Some(0));
        assert_eq!(i128_from_be_bytes(&[1; 17]), None);
    }

    #[test]
    fn integers_floats_booleans() {
        assert_eq!(parse_int(" 42 ", &DataType::Int64), Ok(42));
        assert_eq!(parse_int("1e3", &DataType::Int32), Ok(1000));
        assert_eq!(parse_int("-128", &DataType::Int8), Ok(-128));
        assert_eq!(
            parse_int("abc", &DataType::Int64).unwrap_err(),
            "cannot parse 'abc' as BIGINT"
        );
        assert_eq!(
            parse_int("128", &DataType::Int8).unwrap_err(),
            "cannot parse '128' as TINYINT: out of range"
        );
        assert_eq!(
            parse_int("1.5", &DataType::Int16).unwrap_err(),
            "cannot parse '1.5' as SMALLINT"
        );
        assert_eq!(
            parse_int("9223372036854775808", &DataType::Int64).unwrap_err(),
            "cannot parse '9223372036854775808' as BIGINT: out of range"
        );
        assert!(parse_f64("NaN", &DataType::Float64).is_ok_and(f64::is_nan));
        assert_eq!(
            parse_f64("-Infinity", &DataType::Float64),
            Ok(f64::NEG_INFINITY)
        );
        assert_eq!(parse_f32("inf", &DataType::Float32), Ok(f32::INFINITY));
        assert_eq!(parse_f64("1.5e3", &DataType::Float64), Ok(1500.0));
        assert_eq!(
            parse_f32("1e39", &DataType::Float32).unwrap_err(),
            "cannot parse '1e39' as FLOAT: out of range"
        );
        assert_eq!(parse_bool("TRUE", &DataType::Boolean), Ok(true));
        assert_eq!(parse_bool("0", &DataType::Boolean), Ok(false));
        assert_eq!(
            parse_bool("yes", &DataType::Boolean).unwrap_err(),
            "cannot parse 'yes' as BOOLEAN"
        );
    }

    #[test]
    fn dates_times_timestamps() {
        assert_eq!(parse_date("1970-01-02", &DataType::Date32), Ok(1));
        assert_eq!(parse_date("1969-12-31", &DataType::Date32), Ok(-1));
        assert!(parse_date("2021-02-29", &DataType::Date32).is_err());
        assert!(parse_date("2021-2-3", &DataType::Date32).is_err());
        let time = DataType::Time32(TimeUnit::Millisecond);
        assert_eq!(parse_time("01:02:03.456", &time), Ok(3_723_456));
        assert_eq!(parse_time("23:59:59.999000", &time), Ok(86_399_999));
        assert_eq!(
            parse_time("00:00:00.0001", &time).unwrap_err(),
            "cannot parse '00:00:00.0001' as TIME: finer than milliseconds"
        );
        assert!(parse_time("24:00:00", &time).is_err());
        let ms = TimeUnit::Millisecond;
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5", &TS3, ms), Ok(1500));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01Z", &TS3, ms), Ok(1000));
        assert_eq!(parse_timestamp("1970-01-01", &TS3, ms), Ok(0));
        assert_eq!(
            parse_timestamp("1970-01-01T01:00:00+01:00", &TS3, ms),
            Ok(0)
        );
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00-0130", &TS3, ms),
            Ok(5_400_000)
        );
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00+01", &TS3, ms),
            Ok(-3_600_000)
        );
        let ns = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        assert_eq!(
            parse_timestamp("2020-09-27T13:37:24.058468123Z", &ns, TimeUnit::Nanosecond),
            Ok(1_601_213_844_058_468_123)
        );
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00.0001", &TS3, ms).unwrap_err(),
            "cannot parse '1970-01-01T00:00:00.0001' as TIMESTAMP(3): finer than milliseconds"
        );
        assert_eq!(
            parse_timestamp("3000-01-01", &ns, TimeUnit::Nanosecond).unwrap_err(),
            "cannot parse '3000-01-01' as TIMESTAMP(9) WITH LOCAL TIME ZONE: out of range"
        );
        for bad in [
            "1970-01-01T",
            "1970-01-01X00:00:00",
            "1970-01-01T00:00",
            "1970-01-01T00:00:00.",
            "1970-01-01T00:00:00.1234567890",
            "1970-01-01T00:00:00+1",
            "1970-01-01T00:00:00+24:00",
            "1970-01-01T00:00:00Zx",
            "éééééééééé",
        ] {
            assert!(parse_timestamp(bad, &TS3, ms).is_err(), "{bad}");
        }
    }

    #[test]
    fn epochs_and_base64() {
        assert_eq!(convert_epoch(1, 1_000_000, 1_000), Some(1000));
        assert_eq!(convert_epoch(1500, 1_000, 1_000_000), None);
        assert_eq!(
            convert_epoch(2, NANOS_PER_DAY, 1_000_000),
            Some(172_800_000)
        );
        assert_eq!(convert_epoch(i64::MAX, 1_000, 1), None);
        assert_eq!(parse_base64("AQID", &DataType::Binary), Ok(vec![1, 2, 3]));
        assert_eq!(parse_base64("AQ", &DataType::Binary), Ok(vec![1]));
        assert_eq!(
            parse_base64("%%", &DataType::Binary).unwrap_err(),
            "cannot parse '%%' as BYTES: not base64"
        );
        let long = "x".repeat(100);
        assert_eq!(shown(&long).chars().count(), 61);
    }
}
