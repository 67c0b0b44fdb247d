//! Input conformance: an input batch becomes a batch of exactly the table's Arrow schema and
//! one row kind per row, or an error that names the column (and row) at fault.
//!
//! The whole batch is checked before the writer buffers any of it, so a batch that fails
//! leaves nothing behind. Columns are matched by name, in any order. A column of another
//! Arrow type is accepted only when the cast loses nothing: the cast must be of a kind that
//! can be exact (integer widths, decimals, float widths, time units, string and binary
//! encodings, dictionaries) and casting back must give the input again.
//!
//! Row kinds come from, in order: the table's `rowkind.field` column (as Paimon does, it
//! overrides anything else), an input column `_ROW_KIND` (`+I`/`-U`/`+U`/`-D` strings or
//! TINYINT 0..=3, not stored), the kinds passed with the batch, else `+I`.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::kernels::cmp::distinct;
use arrow::compute::{cast_with_options, filter_record_batch, CastOptions};
use arrow::datatypes::{DataType as ArrowType, SchemaRef};
use strata_format::merge::{MergeFunction, RowKind};
use strata_format::table::Table;
use strata_format::types::arrow::{to_arrow_schema, LOCAL_ZONED_TIME_ZONE};
use strata_format::{invalid, Error, Result};

/// Name of the optional input column that carries row kinds without being stored.
pub const ROW_KIND_COLUMN: &str = "_ROW_KIND";

/// Option that lets primary key columns hold NULL (pypaimon and Java both know it).
pub const PRIMARY_KEY_NULLABLE: &str = "primary-key.nullable";

/// A batch in the table's schema with one kind per row.
#[derive(Debug, Clone)]
pub(crate) struct Conformed {
    pub batch: RecordBatch,
    pub kinds: Vec<i8>,
}

pub(crate) struct Conformer {
    table: String,
    target: SchemaRef,
    /// Primary key columns (partition columns included), by index in `target`.
    key_columns: Vec<usize>,
    nullable_keys: bool,
    rowkind_column: Option<usize>,
    /// Whether input rows of each kind (by byte) are kept (`ignore-delete`,
    /// `ignore-update-before` drop some).
    keeps: [bool; 4],
    /// Set when the merge engine can never apply the retractions it keeps.
    retraction_error: Option<String>,
}

impl Conformer {
    pub fn new(table: &Table) -> Result<Self> {
        let schema = table.schema();
        let options = table.options();
        let position = |name: &str| schema.fields.iter().position(|f| f.name == name);
        let key_columns = schema
            .primary_keys
            .iter()
            .filter_map(|k| position(k))
            .collect();
        let rowkind_column = match options.rowkind_field() {
            Some(name) => Some(position(name).ok_or_else(|| {
                invalid!(
                    "rowkind.field '{name}' is not a column of table '{}'",
                    table.identifier()
                )
            })?),
            None => None,
        };
        let merge = MergeFunction::from_table(table)?;
        let nullable_keys = options
            .get(PRIMARY_KEY_NULLABLE)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(Conformer {
            table: table.identifier().to_string(),
            target: to_arrow_schema(&schema.fields),
            key_columns,
            nullable_keys,
            rowkind_column,
            keeps: [
                RowKind::Insert,
                RowKind::UpdateBefore,
                RowKind::UpdateAfter,
                RowKind::Delete,
            ]
            .map(|k| merge.accepts(k)),
            retraction_error: merge.retraction_error(),
        })
    }

    /// The table's Arrow schema, which conformed batches have.
    pub fn target(&self) -> &SchemaRef {
        &self.target
    }

    /// Checks and converts `input`; `kinds` are the caller's row kinds, if any.
    pub fn conform(&self, input: &RecordBatch, kinds: Option<&[i8]>) -> Result<Conformed> {
        let input_schema = input.schema();
        for field in input_schema.fields() {
            if field.name() != ROW_KIND_COLUMN && self.target.index_of(field.name()).is_err() {
                return Err(invalid!(
                    "input column '{}' is not a column of table '{}' (columns: {})",
                    field.name(),
                    self.table,
                    self.column_names()
                ));
            }
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.target.fields().len());
        for field in self.target.fields() {
            let index = input_schema.index_of(field.name()).map_err(|_| {
                invalid!(
                    "column '{}' of table '{}' is missing from the input",
                    field.name(),
                    self.table
                )
            })?;
            let column = conform_column(input.column(index), field.data_type())
                .map_err(|e| e.context(format!("column '{}'", field.name())))?;
            columns.push(column);
        }
        self.check_nulls(&columns)?;
        let mut kinds = self.row_kinds(input, &columns, kinds)?;
        let options =
            arrow::array::RecordBatchOptions::new().with_row_count(Some(input.num_rows()));
        let mut batch = RecordBatch::try_new_with_options(self.target.clone(), columns, &options)
            .map_err(|e| invalid!("input does not fit table '{}': {e}", self.table))?;
        let keeps = |k: &i8| self.keeps.get(*k as usize).copied().unwrap_or(true);
        if !kinds.iter().all(keeps) {
            let keep: BooleanArray = kinds.iter().map(|k| Some(keeps(k))).collect();
            batch = filter_record_batch(&batch, &keep)?;
            kinds.retain(keeps);
        }
        let retractions = kinds.iter().filter(|k| is_retraction(**k)).count();
        if let (true, Some(why)) = (retractions > 0, &self.retraction_error) {
            return Err(Error::unsupported(format!(
                "table '{}': {why} ({retractions} -U/-D rows in the input)",
                self.table
            )));
        }
        Ok(Conformed { batch, kinds })
    }

    fn column_names(&self) -> String {
        let names: Vec<&str> = self
            .target
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        names.join(", ")
    }

    fn check_nulls(&self, columns: &[ArrayRef]) -> Result<()> {
        for (i, (field, column)) in self.target.fields().iter().zip(columns).enumerate() {
            let Some(row) = first_null(column.as_ref()) else {
                continue;
            };
            if self.key_columns.contains(&i) && !self.nullable_keys {
                return Err(invalid!(
                    "primary key column '{}' is null in row {row} of the batch; primary keys \
                     cannot be null (unless the table sets '{PRIMARY_KEY_NULLABLE}' = 'true')",
                    field.name()
                ));
            }
            if !field.is_nullable() {
                return Err(invalid!(
                    "column '{}' is NOT NULL but is null in row {row} of the batch",
                    field.name()
                ));
            }
        }
        Ok(())
    }

    fn row_kinds(
        &self,
        input: &RecordBatch,
        columns: &[ArrayRef],
        given: Option<&[i8]>,
    ) -> Result<Vec<i8>> {
        let rows = input.num_rows();
        if let Some(i) = self.rowkind_column {
            let name = self.target.field(i).name();
            let column = columns
                .get(i)
                .ok_or_else(|| Error::internal("rowkind.field column out of range"))?;
            return kinds_from_column(column.as_ref())
                .map_err(|e| e.context(format!("column '{name}' (the table's rowkind.field)")));
        }
        let from_column = match input.schema().index_of(ROW_KIND_COLUMN) {
            Ok(i) => Some(
                kinds_from_column(input.column(i).as_ref())
                    .map_err(|e| e.context(format!("input column '{ROW_KIND_COLUMN}'")))?,
            ),
            Err(_) => None,
        };
        match (from_column, given) {
            (Some(_), Some(_)) => Err(invalid!(
                "row kinds are given both as the '{ROW_KIND_COLUMN}' column and as an argument; \
                 use one of them"
            )),
            (Some(kinds), None) => Ok(kinds),
            (None, Some(kinds)) => {
                if kinds.len() != rows {
                    return Err(invalid!(
                        "{} row kinds given for a batch of {rows} rows",
                        kinds.len()
                    ));
                }
                if let Some((row, k)) = kinds
                    .iter()
                    .enumerate()
                    .find(|(_, k)| RowKind::from_byte(**k).is_none())
                {
                    return Err(invalid!(
                        "row kind {k} of row {row} is not one of 0 (+I), 1 (-U), 2 (+U), 3 (-D)"
                    ));
                }
                Ok(kinds.to_vec())
            }
            (None, None) => Ok(vec![RowKind::Insert.as_byte(); rows]),
        }
    }
}

fn is_retraction(kind: i8) -> bool {
    RowKind::from_byte(kind).is_some_and(|k| !k.is_add())
}

fn first_null(column: &dyn Array) -> Option<usize> {
    if column.null_count() == 0 {
        return None;
    }
    (0..column.len()).find(|i| column.is_null(*i))
}

/// Row kinds from a `+I`/`-U`/`+U`/`-D` string column or a TINYINT 0..=3 column.
fn kinds_from_column(column: &dyn Array) -> Result<Vec<i8>> {
    let mut out = Vec::with_capacity(column.len());
    match column.data_type() {
        ArrowType::Int8 => {
            let values = column.as_primitive::<arrow::datatypes::Int8Type>();
            for row in 0..column.len() {
                let kind = values.is_valid(row).then(|| values.value(row));
                match kind.and_then(RowKind::from_byte) {
                    Some(k) => out.push(k.as_byte()),
                    None => return Err(bad_kind(row, kind.map(|k| k.to_string()))),
                }
            }
        }
        ArrowType::Utf8
        | ArrowType::LargeUtf8
        | ArrowType::Utf8View
        | ArrowType::Dictionary(..) => {
            let text = cast_with_options(column, &ArrowType::Utf8, &CastOptions::default())?;
            let values = text.as_string::<i32>();
            for row in 0..column.len() {
                let kind = values.is_valid(row).then(|| values.value(row));
                match kind.and_then(RowKind::parse_short) {
                    Some(k) => out.push(k.as_byte()),
                    None => return Err(bad_kind(row, kind.map(str::to_string))),
                }
            }
        }
        other => {
            return Err(invalid!(
                "row kinds must be strings (+I, -U, +U, -D) or TINYINT 0..=3, not {other}"
            ))
        }
    }
    Ok(out)
}

fn bad_kind(row: usize, value: Option<String>) -> Error {
    match value {
        Some(v) => invalid!("row {row} has row kind '{v}'; expected +I, -U, +U or -D"),
        None => invalid!("row {row} has no row kind (null); expected +I, -U, +U or -D"),
    }
}

/// The column as `target`, cast only when nothing is lost.
fn conform_column(column: &ArrayRef, target: &ArrowType) -> Result<ArrayRef> {
    let source = column.data_type();
    if source == target {
        return Ok(column.clone());
    }
    if !may_cast_exactly(source, target) {
        return Err(invalid!(
            "the input has arrow type {source}, which cannot be written losslessly as {target}"
        ));
    }
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let cast = cast_with_options(column, target, &strict)
        .map_err(|e| invalid!("cannot convert arrow type {source} to {target}: {e}"))?;
    if needs_round_trip_check(source, target) {
        let back = cast_with_options(&cast, source, &strict)
            .map_err(|e| invalid!("cannot convert arrow type {source} to {target}: {e}"))?;
        let changed = distinct(&back, column)
            .map_err(|e| invalid!("cannot compare {source} with {target}: {e}"))?;
        if let Some(row) = (0..changed.len()).find(|i| changed.is_valid(*i) && changed.value(*i)) {
            return Err(invalid!(
                "row {row} of the batch would change when converted from arrow type {source} \
                 to {target} (lost precision or range)"
            ));
        }
    }
    Ok(cast)
}

fn is_int(t: &ArrowType) -> bool {
    t.is_integer()
}

fn is_decimal(t: &ArrowType) -> bool {
    matches!(
        t,
        ArrowType::Decimal32(..)
            | ArrowType::Decimal64(..)
            | ArrowType::Decimal128(..)
            | ArrowType::Decimal256(..)
    )
}

fn is_string(t: &ArrowType) -> bool {
    matches!(
        t,
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View
    )
}

fn is_binary(t: &ArrowType) -> bool {
    matches!(
        t,
        ArrowType::Binary
            | ArrowType::LargeBinary
            | ArrowType::BinaryView
            | ArrowType::FixedSizeBinary(_)
    )
}

/// Whether a cast from `source` to `target` is of a kind that can be exact. Strings never
/// become numbers here: parsing is the input decoders' job, with their error messages.
fn may_cast_exactly(source: &ArrowType, target: &ArrowType) -> bool {
    use ArrowType as T;
    match (source, target) {
        (T::Null, _) => true,
        (T::Dictionary(_, value), _) => value.as_ref() == target || may_cast_exactly(value, target),
        (s, t) if is_int(s) && (is_int(t) || is_decimal(t) || t.is_floating()) => true,
        (s, t) if is_decimal(s) && is_decimal(t) => true,
        (s, t) if s.is_floating() && t.is_floating() => true,
        (s, t) if is_string(s) && is_string(t) => true,
        (s, t) if is_binary(s) && is_binary(t) => true,
        (T::Date32 | T::Date64, T::Date32) => true,
        (T::Time32(_) | T::Time64(_), T::Time32(_)) => true,
        (T::Timestamp(_, from), T::Timestamp(_, to)) => match (from, to) {
            (None, None) => true,
            // An instant is an instant: any zone can go into TIMESTAMP WITH LOCAL TIME ZONE.
            (Some(_), Some(to)) => to.as_ref() == LOCAL_ZONED_TIME_ZONE,
            _ => false,
        },
        (T::List(_) | T::LargeList(_), T::List(_))
        | (T::Map(..), T::Map(..))
        | (T::Struct(_), T::Struct(_)) => {
            source.equals_datatype(target) || nested_names_only(source, target)
        }
        _ => false,
    }
}

/// Nested types that differ only in child names or nullability (e.g. `item` vs `element`).
fn nested_names_only(source: &ArrowType, target: &ArrowType) -> bool {
    use ArrowType as T;
    match (source, target) {
        (T::List(a) | T::LargeList(a), T::List(b)) => {
            a.data_type() == b.data_type() || nested_names_only(a.data_type(), b.data_type())
        }
        (T::Map(a, _), T::Map(b, _)) => nested_names_only(a.data_type(), b.data_type()),
        (T::Struct(a), T::Struct(b)) => {
            a.len() == b.len()
                && a.iter().zip(b.iter()).all(|(x, y)| {
                    x.data_type() == y.data_type()
                        || nested_names_only(x.data_type(), y.data_type())
                })
        }
        _ => false,
    }
}

/// Casts that can lose information (precision, range, sub-unit parts) are checked by
/// casting back; widening casts between encodings of the same values need no check.
fn needs_round_trip_check(source: &ArrowType, target: &ArrowType) -> bool {
    use ArrowType as T;
    let source = match source {
        T::Dictionary(_, value) => value.as_ref(),
        other => other,
    };
    !(source == target
        || source.is_null()
        || (is_string(source) && is_string(target))
        || (is_binary(source) && is_binary(target))
        || source.is_nested())
}

#[cfg(test)]
mod tests;
