//! `parquet`: columns matched to the table by name (case-sensitive), converted to the
//! table's types without loss. All rows `+I`.
//!
//! The file must have exactly the table's columns: a missing one is an error (ingest never
//! invents NULLs) and so are extra ones. Conversions allowed, each checked value by value so
//! that nothing changes silently (a value that would change is an error naming its row):
//! integers to any integer, integers and floats to FLOAT/DOUBLE, integers and decimals to
//! DECIMAL, any string/binary encoding to STRING/BYTES, DATE64 to DATE, any time unit to
//! TIME, any timestamp unit and time zone to TIMESTAMP (the instant is kept; a timestamp
//! without a zone is taken as UTC), and ARRAY/MAP/ROW of those (ROW fields by name).
//!
//! Parquet needs random access: a stream (stdin) is first copied to an unlinked temporary
//! file. Reading is by batches of `batch_rows` rows, row group after row group.

use std::fs::File;
use std::io::{BufRead, Seek};
use std::sync::Arc;

use arrow::compute::kernels::cmp::distinct;
use arrow::compute::{cast_with_options, CastOptions};
use arrow_array::cast::AsArray;
use arrow_array::{make_array, Array, ArrayRef, ListArray, MapArray, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, FieldRef, Fields, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use strata_format::{Error, Result};

use super::text::type_name;
use super::{open_file, DecodedBatch, Fault, Input, InputReader, INSERT};

pub(crate) fn open(input: Input, target: SchemaRef, batch_rows: usize) -> Result<InputReader> {
    let file = match input {
        Input::Path(path) => open_file(&path)?,
        Input::Reader(mut reader) => spool(&mut reader)?,
    };
    // The Parquet schema alone decides the Arrow types: the embedded Arrow IPC schema is
    // only a hint, and its decoder panics on corrupt bytes.
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let builder = guarded(|| ParquetRecordBatchReaderBuilder::try_new_with_options(file, options))?
        .map_err(|e| {
            Error::data_invalid(format!("the input is not a readable Parquet file: {e}"))
        })?;
    let source = builder.schema().clone();
    let extra: Vec<String> = source
        .fields()
        .iter()
        .filter(|f| target.field_with_name(f.name()).is_err())
        .map(|f| format!("'{}'", f.name()))
        .collect();
    if !extra.is_empty() {
        return Err(Error::data_invalid(format!(
            "the input has columns that are not in the table: {}",
            extra.join(", ")
        )));
    }
    let mut columns = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        let (index, from) = source.column_with_name(field.name()).ok_or_else(|| {
            Error::data_invalid(format!(
                "column '{}' is missing from the input",
                field.name()
            ))
        })?;
        let plan = plan(from.data_type(), field.data_type()).ok_or_else(|| {
            Error::data_invalid(format!(
                "column '{}': cannot convert Parquet type {} to {}",
                field.name(),
                from.data_type(),
                type_name(field.data_type())
            ))
        })?;
        columns.push((index, plan));
    }
    let reader = guarded(|| builder.with_batch_size(batch_rows).build())??;
    Ok(Box::new(Batches {
        reader,
        target,
        columns,
        rows_before: 0,
        done: false,
    }))
}

/// Runs a step of the Parquet decoder, turning a panic on corrupt data into an error: the
/// parquet crate still asserts in places on bad input (apache/arrow-rs#9742, #10107), and
/// ingest must fail cleanly. Relies on unwinding (the workspace does not set panic=abort).
fn guarded<T>(step: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).map_err(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Error::data_invalid(format!(
            "the Parquet file is corrupt: the decoder failed ({detail})"
        ))
    })
}

fn spool(reader: &mut dyn BufRead) -> Result<File> {
    let spooling = "copying the Parquet input to a temporary file";
    let mut file = tempfile::tempfile().map_err(|e| Error::from(e).context(spooling))?;
    std::io::copy(reader, &mut file).map_err(|e| Error::from(e).context(spooling))?;
    file.rewind()
        .map_err(|e| Error::from(e).context(spooling))?;
    Ok(file)
}

/// How one source column becomes its target type.
#[derive(Debug)]
enum Plan {
    Same,
    /// An Arrow cast; `check`: cast back and refuse any value that changed.
    Cast {
        check: bool,
    },
    /// Unit change; the time zone is metadata only (values are UTC instants).
    Timestamp,
    List(Box<Plan>),
    Map(Box<Plan>, Box<Plan>),
    /// Per target field: the source child and its plan.
    Struct(Vec<(usize, Plan)>),
}

fn plan(from: &DataType, to: &DataType) -> Option<Plan> {
    use DataType::*;
    let decimal = |t: &DataType| {
        matches!(
            t,
            Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..)
        )
    };
    if from == to {
        return Some(Plan::Same);
    }
    Some(match (from, to) {
        (f, Int8 | Int16 | Int32 | Int64) if f.is_integer() => Plan::Cast { check: false },
        (f, Float32 | Float64) if f.is_integer() || f.is_floating() => Plan::Cast { check: true },
        (f, Decimal128(..)) if f.is_integer() || decimal(f) => Plan::Cast { check: true },
        (Utf8 | LargeUtf8 | Utf8View, Utf8) => Plan::Cast { check: false },
        (Binary | LargeBinary | BinaryView | FixedSizeBinary(_), Binary) => {
            Plan::Cast { check: false }
        }
        (Date64, Date32) | (Time32(_) | Time64(_), Time32(_)) => Plan::Cast { check: true },
        (Timestamp(..), Timestamp(..)) => Plan::Timestamp,
        (List(f) | LargeList(f), List(t)) => {
            Plan::List(Box::new(plan(f.data_type(), t.data_type())?))
        }
        (Map(f, _), Map(t, _)) => {
            let ((fk, fv), (tk, tv)) = (pair(f)?, pair(t)?);
            Plan::Map(
                Box::new(plan(fk.data_type(), tk.data_type())?),
                Box::new(plan(fv.data_type(), tv.data_type())?),
            )
        }
        (Struct(fs), Struct(ts)) if fs.len() == ts.len() => Plan::Struct(
            ts.iter()
                .map(|t| {
                    let (i, f) = fs.find(t.name())?;
                    Some((i, plan(f.data_type(), t.data_type())?))
                })
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

/// The key and value fields of a MAP's entries.
fn pair(entries: &FieldRef) -> Option<(&FieldRef, &FieldRef)> {
    match entries.data_type() {
        DataType::Struct(kv) if kv.len() == 2 => Some((kv.first()?, kv.get(1)?)),
        _ => None,
    }
}

/// A conversion failure and the row (within the batch) it was found in, if known.
struct Problem {
    row: Option<usize>,
    fault: Fault,
}

impl Problem {
    fn new(path: &str, row: Option<usize>, message: impl std::fmt::Display) -> Self {
        let fault = Fault::Column {
            column: path.to_string(),
            message: message.to_string(),
        };
        Problem { row, fault }
    }

    fn not_null(path: &str, row: Option<usize>) -> Self {
        let fault = Fault::line(format!(
            "column '{path}' is NOT NULL but the input has null"
        ));
        Problem { row, fault }
    }
}

fn apply(plan: &Plan, array: &ArrayRef, to: &Field, path: &str) -> Result<ArrayRef, Problem> {
    let fail = |e: arrow_schema::ArrowError| Problem::new(path, None, e);
    let out = match plan {
        Plan::Same => array.clone(),
        Plan::Cast { check } => cast_exact(array, to.data_type(), *check, path)?,
        Plan::Timestamp => match (array.data_type(), to.data_type()) {
            (DataType::Timestamp(from_unit, _), DataType::Timestamp(to_unit, _)) => {
                let utc = retype(array, DataType::Timestamp(*from_unit, None)).map_err(fail)?;
                let out = cast_exact(&utc, &DataType::Timestamp(*to_unit, None), true, path)?;
                retype(&out, to.data_type().clone()).map_err(fail)?
            }
            _ => return Err(Problem::new(path, None, "unexpected timestamp types")),
        },
        Plan::List(item_plan) => {
            let DataType::List(item) = to.data_type() else {
                return Err(Problem::new(path, None, "unexpected list type"));
            };
            let from = match array.data_type() {
                DataType::LargeList(f) => {
                    cast_with_options(array, &DataType::List(f.clone()), &strict()).map_err(fail)?
                }
                _ => array.clone(),
            };
            let list = from
                .as_list_opt::<i32>()
                .ok_or_else(|| Problem::new(path, None, "not a list"))?;
            let child = format!("{path}.{}", item.name());
            let values = apply(item_plan, list.values(), item, &child)?;
            Arc::new(
                ListArray::try_new(
                    item.clone(),
                    list.offsets().clone(),
                    values,
                    list.nulls().cloned(),
                )
                .map_err(fail)?,
            )
        }
        Plan::Map(key_plan, value_plan) => {
            let (DataType::Map(entries, sorted), Some(map)) = (to.data_type(), array.as_map_opt())
            else {
                return Err(Problem::new(path, None, "unexpected map type"));
            };
            let (DataType::Struct(kv), Some((k, v))) = (entries.data_type(), pair(entries)) else {
                return Err(Problem::new(path, None, "unexpected map type"));
            };
            let keys = apply(key_plan, map.keys(), k, &format!("{path}.{}", k.name()))?;
            let values = apply(value_plan, map.values(), v, &format!("{path}.{}", v.name()))?;
            let pairs = StructArray::try_new(kv.clone(), vec![keys, values], None).map_err(fail)?;
            Arc::new(
                MapArray::try_new(
                    entries.clone(),
                    map.offsets().clone(),
                    pairs,
                    map.nulls().cloned(),
                    *sorted,
                )
                .map_err(fail)?,
            )
        }
        Plan::Struct(children) => {
            let (DataType::Struct(fields), Some(row)) = (to.data_type(), array.as_struct_opt())
            else {
                return Err(Problem::new(path, None, "unexpected row type"));
            };
            let mut arrays = Vec::with_capacity(children.len());
            for ((index, child_plan), field) in children.iter().zip(fields.iter()) {
                let source = row
                    .columns()
                    .get(*index)
                    .ok_or_else(|| Problem::new(path, None, "missing field"))?;
                arrays.push(apply(
                    child_plan,
                    source,
                    field,
                    &format!("{path}.{}", field.name()),
                )?);
            }
            Arc::new(struct_array(fields, arrays, row).map_err(fail)?)
        }
    };
    if !to.is_nullable() {
        // Nulls under a null parent row are masked, and fine.
        if let Some(i) = (0..out.len()).find(|&i| out.is_null(i)) {
            return Err(Problem::not_null(path, Some(i)));
        }
    }
    Ok(out)
}

fn struct_array(
    fields: &Fields,
    arrays: Vec<ArrayRef>,
    source: &StructArray,
) -> Result<StructArray, arrow_schema::ArrowError> {
    StructArray::try_new_with_length(
        fields.clone(),
        arrays,
        source.nulls().cloned(),
        source.len(),
    )
}

fn strict() -> CastOptions<'static> {
    CastOptions {
        safe: false,
        ..Default::default()
    }
}

/// Casts, failing on overflow; with `check`, also on any value the cast changed.
fn cast_exact(
    array: &ArrayRef,
    to: &DataType,
    check: bool,
    path: &str,
) -> Result<ArrayRef, Problem> {
    let what = || format!("cannot convert {} to {}", array.data_type(), type_name(to));
    let out = cast_with_options(array, to, &strict())
        .map_err(|e| Problem::new(path, None, format!("{}: {e}", what())))?;
    if check {
        let changed = cast_with_options(&out, array.data_type(), &strict())
            .and_then(|back| distinct(array, &back))
            .map_err(|e| Problem::new(path, None, format!("{}: {e}", what())))?;
        if let Some(i) = changed.iter().position(|d| d == Some(true)) {
            return Err(Problem::new(
                path,
                Some(i),
                format!("{} without changing the value", what()),
            ));
        }
    }
    Ok(out)
}

/// The same data under another type of identical layout.
fn retype(array: &ArrayRef, to: DataType) -> Result<ArrayRef, arrow_schema::ArrowError> {
    Ok(make_array(
        array.to_data().into_builder().data_type(to).build()?,
    ))
}

struct Batches {
    reader: ParquetRecordBatchReader,
    target: SchemaRef,
    columns: Vec<(usize, Plan)>,
    rows_before: usize,
    done: bool,
}

impl Batches {
    fn conform(&self, batch: &RecordBatch) -> Result<DecodedBatch> {
        let mut arrays = Vec::with_capacity(self.columns.len());
        for ((index, plan), field) in self.columns.iter().zip(self.target.fields()) {
            let source = batch.columns().get(*index).ok_or_else(|| {
                Error::data_invalid(format!(
                    "column '{}' is missing from a Parquet batch",
                    field.name()
                ))
            })?;
            let array = apply(plan, source, field, field.name()).map_err(|p| {
                let row = p.row.map(|i| format!("row {}", self.rows_before + i + 1));
                p.fault.located(row)
            })?;
            arrays.push(array);
        }
        let batch = RecordBatch::try_new(self.target.clone(), arrays)?;
        Ok(DecodedBatch {
            row_kinds: vec![INSERT; batch.num_rows()],
            batch,
        })
    }
}

impl Iterator for Batches {
    type Item = Result<DecodedBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match guarded(|| self.reader.next().map(|b| self.conform(&b?))) {
            Ok(None) => return None,
            Ok(Some(result)) => result,
            Err(e) => Err(e),
        };
        match &result {
            Ok(b) => self.rows_before += b.batch.num_rows(),
            Err(_) => self.done = true,
        }
        Some(result)
    }
}

#[cfg(test)]
#[path = "parquet_tests.rs"]
mod tests;
