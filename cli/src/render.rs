//! Rendering rows for `strata read`: canonical JSON lines, CSV and a text table.
//!
//! JSON values: integers and decimals as exact JSON numbers (decimals with exactly `scale`
//! fraction digits), floats as numbers (`"NaN"`, `"Infinity"`, `"-Infinity"` as strings),
//! dates `YYYY-MM-DD`, times `HH:MM:SS[.fff]`, timestamps ISO-8601 with a 3/6/9-digit
//! fraction only when non-zero (`Z` appended for TIMESTAMP_LTZ), binary as base64, arrays
//! as arrays, maps and rows as objects.

use std::io::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType as ArrowType;
use base64::Engine;
use strata_format::paths::{format_date, format_decimal};
use strata_format::types::{DataField, DataType, TypeKind};
use strata_format::{Error, Result};

/// JSON value of row `row` of `array`, whose Paimon type is `ty`.
/// A JSON value whose numbers keep their exact text.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (k, item)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    item.write(out);
                }
                out.push('}');
            }
        }
    }

    /// Text for CSV and table cells: strings bare, nulls empty, the rest as JSON.
    pub fn cell(&self) -> String {
        match self {
            Json::Null => String::new(),
            Json::String(s) => s.clone(),
            other => {
                let mut s = String::new();
                other.write(&mut s);
                s
            }
        }
    }
}

pub fn json_value(array: &ArrayRef, ty: &DataType, row: usize) -> Result<Json> {
    if array.is_null(row) {
        return Ok(Json::Null);
    }
    let unexpected = || {
        Error::internal(format!(
            "column of Arrow type {} does not match Paimon type {ty:?}",
            array.data_type()
        ))
    };
    Ok(match &ty.kind {
        TypeKind::Boolean => Json::Bool(array.as_boolean_opt().ok_or_else(unexpected)?.value(row)),
        TypeKind::TinyInt => int(array
            .as_primitive_opt::<Int8Type>()
            .ok_or_else(unexpected)?
            .value(row)),
        TypeKind::SmallInt => int(array
            .as_primitive_opt::<Int16Type>()
            .ok_or_else(unexpected)?
            .value(row)),
        TypeKind::Int => int(array
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(unexpected)?
            .value(row)),
        TypeKind::BigInt => int(array
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(unexpected)?
            .value(row)),
        TypeKind::Float => float(
            f64::from(
                array
                    .as_primitive_opt::<Float32Type>()
                    .ok_or_else(unexpected)?
                    .value(row),
            ),
            true,
        ),
        TypeKind::Double => float(
            array
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(unexpected)?
                .value(row),
            false,
        ),
        TypeKind::Decimal { scale, .. } => {
            let v = array
                .as_primitive_opt::<Decimal128Type>()
                .ok_or_else(unexpected)?
                .value(row);
            raw_number(&format_decimal(v, *scale))
        }
        TypeKind::Char(_) | TypeKind::VarChar(_) => match array.data_type() {
            ArrowType::Utf8 => Json::String(array.as_string::<i32>().value(row).to_string()),
            ArrowType::LargeUtf8 => Json::String(array.as_string::<i64>().value(row).to_string()),
            ArrowType::Utf8View => Json::String(array.as_string_view().value(row).to_string()),
            _ => return Err(unexpected()),
        },
        TypeKind::Binary(_) | TypeKind::VarBinary(_) => {
            let bytes: &[u8] = match array.data_type() {
                ArrowType::Binary => array.as_binary::<i32>().value(row),
                ArrowType::LargeBinary => array.as_binary::<i64>().value(row),
                ArrowType::BinaryView => array.as_binary_view().value(row),
                ArrowType::FixedSizeBinary(_) => array.as_fixed_size_binary().value(row),
                _ => return Err(unexpected()),
            };
            Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        TypeKind::Date => Json::String(format_date(
            array
                .as_primitive_opt::<Date32Type>()
                .ok_or_else(unexpected)?
                .value(row),
        )),
        TypeKind::Time(_) => {
            let millis = match array.data_type() {
                ArrowType::Time32(arrow_schema::TimeUnit::Millisecond) => {
                    i64::from(array.as_primitive::<Time32MillisecondType>().value(row))
                }
                ArrowType::Time32(arrow_schema::TimeUnit::Second) => {
                    i64::from(array.as_primitive::<Time32SecondType>().value(row)) * 1000
                }
                ArrowType::Time64(arrow_schema::TimeUnit::Microsecond) => {
                    array.as_primitive::<Time64MicrosecondType>().value(row) / 1000
                }
                ArrowType::Time64(arrow_schema::TimeUnit::Nanosecond) => {
                    array.as_primitive::<Time64NanosecondType>().value(row) / 1_000_000
                }
                _ => return Err(unexpected()),
            };
            Json::String(format_time(millis))
        }
        TypeKind::Timestamp(_) | TypeKind::LocalZonedTimestamp(_) => {
            let (secs, nanos) = timestamp_parts(array, row).ok_or_else(unexpected)?;
            let mut s = format_iso(secs, nanos);
            if matches!(ty.kind, TypeKind::LocalZonedTimestamp(_)) {
                s.push('Z');
            }
            Json::String(s)
        }
        TypeKind::Array(element) => {
            let list = list_values(array, row).ok_or_else(unexpected)?;
            let mut out = Vec::with_capacity(list.len());
            for i in 0..list.len() {
                out.push(json_value(&list, element, i)?);
            }
            Json::Array(out)
        }
        TypeKind::Map(key_ty, value_ty) => {
            let map = array.as_map_opt().ok_or_else(unexpected)?;
            let entries = map.value(row);
            let keys = entries.column(0).clone();
            let values = entries.column(1).clone();
            let mut out = Vec::with_capacity(entries.len());
            for i in 0..entries.len() {
                let k = json_value(&keys, key_ty, i)?.cell();
                out.push((k, json_value(&values, value_ty, i)?));
            }
            Json::Object(out)
        }
        TypeKind::Row(fields) => {
            let st = array.as_struct_opt().ok_or_else(unexpected)?;
            let mut out = Vec::with_capacity(fields.len());
            for (i, f) in fields.iter().enumerate() {
                let col = st.columns().get(i).ok_or_else(unexpected)?;
                out.push((f.name.clone(), json_value(col, &f.data_type, row)?));
            }
            Json::Object(out)
        }
    })
}

fn list_values(array: &ArrayRef, row: usize) -> Option<ArrayRef> {
    match array.data_type() {
        ArrowType::List(_) => Some(array.as_list::<i32>().value(row)),
        ArrowType::LargeList(_) => Some(array.as_list::<i64>().value(row)),
        ArrowType::FixedSizeList(_, _) => Some(array.as_fixed_size_list().value(row)),
        _ => None,
    }
}

fn timestamp_parts(array: &ArrayRef, row: usize) -> Option<(i64, u32)> {
    use arrow_schema::TimeUnit::*;
    let (v, per_sec) = match array.data_type() {
        ArrowType::Timestamp(Second, _) => {
            (array.as_primitive::<TimestampSecondType>().value(row), 1)
        }
        ArrowType::Timestamp(Millisecond, _) => (
            array.as_primitive::<TimestampMillisecondType>().value(row),
            1_000,
        ),
        ArrowType::Timestamp(Microsecond, _) => (
            array.as_primitive::<TimestampMicrosecondType>().value(row),
            1_000_000,
        ),
        ArrowType::Timestamp(Nanosecond, _) => (
            array.as_primitive::<TimestampNanosecondType>().value(row),
            1_000_000_000,
        ),
        _ => return None,
    };
    let secs = v.div_euclid(per_sec);
    let frac = v.rem_euclid(per_sec);
    Some((secs, (frac * (1_000_000_000 / per_sec)) as u32))
}

/// `YYYY-MM-DDTHH:MM:SS` plus the shortest exact 3/6/9-digit fraction, if non-zero.
pub fn format_iso(secs: i64, nanos: u32) -> String {
    let Some(dt) = chrono::DateTime::from_timestamp(secs, 0) else {
        return format!("{secs}s");
    };
    let mut s = dt.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos != 0 {
        if nanos.is_multiple_of(1_000_000) {
            s.push_str(&format!(".{:03}", nanos / 1_000_000));
        } else if nanos.is_multiple_of(1_000) {
            s.push_str(&format!(".{:06}", nanos / 1_000));
        } else {
            s.push_str(&format!(".{nanos:09}"));
        }
    }
    s
}

fn format_time(millis: i64) -> String {
    let millis = millis.rem_euclid(86_400_000);
    let secs = millis / 1000;
    let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if millis % 1000 != 0 {
        s.push_str(&format!(".{:03}", millis % 1000));
    }
    s
}

fn int(v: impl Into<i64>) -> Json {
    Json::Number(v.into().to_string())
}

fn float(v: f64, single: bool) -> Json {
    if v.is_nan() {
        return Json::String("NaN".into());
    }
    if v.is_infinite() {
        return Json::String(if v > 0.0 { "Infinity" } else { "-Infinity" }.into());
    }
    // Shortest round-tripping digits (of the f32 for FLOAT, not of its f64 widening).
    let text = if single {
        format!("{:?}", v as f32)
    } else {
        format!("{v:?}")
    };
    Json::Number(text)
}

fn raw_number(text: &str) -> Json {
    Json::Number(text.to_string())
}

/// Output formats of `strata read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Jsonl,
    Csv,
    Table,
}

/// Streams batches to `out` in `format`.
pub struct RowWriter<W: Write> {
    out: W,
    fields: Vec<DataField>,
    format: OutputFormat,
    header_written: bool,
    table_rows: Vec<Vec<String>>,
}

impl<W: Write> RowWriter<W> {
    pub fn new(out: W, fields: Vec<DataField>, format: OutputFormat) -> Self {
        RowWriter {
            out,
            fields,
            format,
            header_written: false,
            table_rows: Vec::new(),
        }
    }

    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let io = |e: std::io::Error| Error::from(e);
        if self.format == OutputFormat::Csv && !self.header_written {
            let header: Vec<String> = self.fields.iter().map(|f| csv_field(&f.name)).collect();
            writeln!(self.out, "{}", header.join(",")).map_err(io)?;
            self.header_written = true;
        }
        let mut line = String::new();
        for row in 0..batch.num_rows() {
            line.clear();
            match self.format {
                OutputFormat::Jsonl => {
                    line.push('{');
                    for (i, f) in self.fields.iter().enumerate() {
                        if i > 0 {
                            line.push(',');
                        }
                        line.push_str(&serde_json::Value::String(f.name.clone()).to_string());
                        line.push(':');
                        json_value(batch.column(i), &f.data_type, row)?.write(&mut line);
                    }
                    line.push('}');
                    writeln!(self.out, "{line}").map_err(io)?;
                }
                OutputFormat::Csv => {
                    let cells = self.cells(batch, row)?;
                    let cells: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
                    writeln!(self.out, "{}", cells.join(",")).map_err(io)?;
                }
                OutputFormat::Table => {
                    let cells = self.cells(batch, row)?;
                    self.table_rows.push(cells);
                }
            }
        }
        Ok(())
    }

    fn cells(&self, batch: &RecordBatch, row: usize) -> Result<Vec<String>> {
        let mut cells = Vec::with_capacity(self.fields.len());
        for (i, f) in self.fields.iter().enumerate() {
            cells.push(json_value(batch.column(i), &f.data_type, row)?.cell());
        }
        Ok(cells)
    }

    pub fn finish(mut self) -> Result<()> {
        if self.format == OutputFormat::Table {
            let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
            let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
            for r in &self.table_rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |cells: &[String]| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            let header: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            writeln!(self.out, "{}", line(&header))?;
            writeln!(
                self.out,
                "{}",
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("-+-")
            )?;
            for r in &self.table_rows {
                writeln!(self.out, "{}", line(r))?;
            }
            writeln!(self.out, "({} rows)", self.table_rows.len())?;
        }
        self.out.flush()?;
        Ok(())
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_fractions() {
        assert_eq!(format_iso(0, 0), "1970-01-01T00:00:00");
        assert_eq!(format_iso(-1, 999_999_000), "1969-12-31T23:59:59.999999");
        assert_eq!(format_iso(0, 5_000_000), "1970-01-01T00:00:00.005");
        assert_eq!(format_iso(0, 1), "1970-01-01T00:00:00.000000001");
    }

    #[test]
    fn exact_decimals() {
        let mut s = String::new();
        Json::Array(vec![
            raw_number("12345678901234567890.1234567890"),
            float(1e20, false),
            float(0.1, true),
        ])
        .write(&mut s);
        assert_eq!(s, "[12345678901234567890.1234567890,1e20,0.1]");
        assert_eq!(format_time(3_723_004), "01:02:03.004");
        assert_eq!(format_time(3_600_000), "01:00:00");
    }
}
