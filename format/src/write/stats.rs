//! Per-file statistics for `DataFileMeta`: min/max BinaryRows and null counts over the key
//! columns (always exact) and the value columns (per `metadata.stats-mode`).
//!
//! Modes, per column (`fields.<f>.stats-mode` overrides the table's): `none` (no stats),
//! `counts` (null count only, min/max NULL), `full` (exact), `truncate(N)` (Paimon's
//! default, N = 16: strings cut to N characters, the max rounded up so it stays an upper
//! bound; NULL min/max when it cannot be rounded up).
//!
//! The min and max of integer, date, timestamp, string and binary columns of a data file
//! are read from its Parquet chunk statistics when it closes, as Paimon's Parquet stats
//! extractor reads them, not found by a second scan of every value: Parquet orders these
//! types as Paimon does, and data files keep their statistics exact (untruncated). Floats
//! (Parquet leaves NaN out), decimals, booleans and the rest are scanned.
//!
//! Like Java Paimon's dense stats store, only columns that have stats are kept:
//! `_VALUE_STATS_COLS` is NULL when that is every column, else their names. Nested columns
//! (ARRAY, MAP, ROW) never have stats, since a BinaryRow cannot hold them as statistics.

use crate::data::binary_row::{encode_arrow_row, serialize_with_arity, BinaryRowWriter};
use crate::manifest::SimpleStats;
use crate::options::CoreOptions;
use crate::schema::KEY_FIELD_PREFIX;
use crate::types::{DataField, DataType};
use crate::{invalid, Error, Result};
use std::sync::Arc;

use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array,
};
use arrow::compute::{sort_to_indices, take, SortOptions};
use arrow::datatypes::DataType as ArrowType;

/// How much a column's statistics hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsMode {
    None,
    Counts,
    Full,
    /// Strings cut to this many characters.
    Truncate(usize),
}

impl StatsMode {
    pub fn parse(text: &str) -> Result<StatsMode> {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "none" => return Ok(StatsMode::None),
            "counts" => return Ok(StatsMode::Counts),
            "full" => return Ok(StatsMode::Full),
            _ => {}
        }
        t.strip_prefix("truncate(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .map(StatsMode::Truncate)
            .ok_or_else(|| {
                invalid!(
                    "stats mode '{text}' is not one of none, counts, full or truncate(N) with N ≥ 1"
                )
            })
    }
}

/// One column of a stats row: where it is in the key-value batch, and how.
#[derive(Debug, Clone)]
struct StatsColumn {
    column: usize,
    /// Its name in the key-value layout (and the Parquet file).
    name: String,
    data_type: DataType,
    mode: StatsMode,
}

/// Computes key and value stats of key-value batches laid out as `key_value_fields()`.
#[derive(Debug, Clone)]
pub struct StatsCollector {
    key: Vec<StatsColumn>,
    value: Vec<StatsColumn>,
    value_stats_cols: Option<Vec<String>>,
}

impl StatsCollector {
    /// `keys` are the trimmed primary key fields, `values` the table's columns.
    pub fn new(keys: &[DataField], values: &[DataField], options: &CoreOptions) -> Result<Self> {
        let table_mode = StatsMode::parse(options.metadata_stats_mode())
            .map_err(|e| e.context("option 'metadata.stats-mode'"))?;
        let key = keys
            .iter()
            .enumerate()
            .map(|(i, f)| StatsColumn {
                column: i,
                name: format!("{KEY_FIELD_PREFIX}{}", f.name),
                data_type: f.data_type.clone(),
                mode: StatsMode::Full,
            })
            .collect();
        let first_value = keys.len() + 2;
        let mut value = Vec::new();
        for (i, f) in values.iter().enumerate() {
            let mode = match options.field_option(&f.name, "stats-mode") {
                Some(m) => StatsMode::parse(m)
                    .map_err(|e| e.context(format!("option 'fields.{}.stats-mode'", f.name)))?,
                None => table_mode,
            };
            if mode == StatsMode::None || f.data_type.is_nested() {
                continue;
            }
            value.push((
                f.name.clone(),
                StatsColumn {
                    column: first_value + i,
                    name: f.name.clone(),
                    data_type: f.data_type.clone(),
                    mode,
                },
            ));
        }
        let value_stats_cols = if value.len() == values.len() {
            None
        } else {
            Some(value.iter().map(|(name, _)| name.clone()).collect())
        };
        Ok(StatsCollector {
            key,
            value: value.into_iter().map(|(_, c)| c).collect(),
            value_stats_cols,
        })
    }

    pub fn key_stats(&self, batch: &RecordBatch) -> Result<SimpleStats> {
        collect(&self.key, batch)
    }

    pub fn value_stats(&self, batch: &RecordBatch) -> Result<SimpleStats> {
        collect(&self.value, batch)
    }

    /// Running statistics for a Parquet file written batch by batch, finished with its
    /// row groups' statistics ([`StatsAccumulator::finish`]).
    pub fn accumulator(&self) -> StatsAccumulator {
        StatsAccumulator {
            key: Running::new(&self.key, true),
            value: Running::new(&self.value, true),
        }
    }

    /// `_VALUE_STATS_COLS`: `None` when value stats cover every column.
    pub fn value_stats_cols(&self) -> Option<Vec<String>> {
        self.value_stats_cols.clone()
    }
}

/// Key and value statistics of the batches seen so far; see [`StatsCollector::accumulator`].
#[derive(Debug, Clone)]
pub struct StatsAccumulator {
    key: Running,
    value: Running,
}

impl StatsAccumulator {
    /// Adds a key-value batch (the same layout as [`StatsCollector`] reads).
    pub fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        self.key.update(batch)?;
        self.value.update(batch)
    }

    /// Key and value stats of everything added to a file whose row groups are
    /// `row_groups` (all of them, written with untruncated statistics).
    pub fn finish(
        &mut self,
        row_groups: &[RowGroupMetaData],
    ) -> Result<(SimpleStats, SimpleStats)> {
        self.key.read_footer(row_groups)?;
        self.value.read_footer(row_groups)?;
        Ok((self.key.encode()?, self.value.encode()?))
    }
}

/// Per column: null count and the extremes so far (one-element arrays).
#[derive(Debug, Clone)]
struct Running {
    columns: Vec<StatsColumn>,
    null_counts: Vec<i64>,
    extremes: Vec<Option<(ArrayRef, ArrayRef)>>,
    /// Arrow type of each column, known after the first batch.
    types: Vec<Option<ArrowType>>,
    /// Whether extremes of [`in_footer`] types come from the file's statistics.
    footer: bool,
}

impl Running {
    fn new(columns: &[StatsColumn], footer: bool) -> Running {
        Running {
            columns: columns.to_vec(),
            null_counts: vec![0; columns.len()],
            extremes: vec![None; columns.len()],
            types: vec![None; columns.len()],
            footer,
        }
    }

    /// Whether column `i` wants extremes.
    fn bounded(&self, i: usize) -> bool {
        self.columns
            .get(i)
            .is_some_and(|c| matches!(c.mode, StatsMode::Full | StatsMode::Truncate(_)))
    }

    /// Sets the extremes of the columns the footer holds from the row groups' statistics.
    fn read_footer(&mut self, row_groups: &[RowGroupMetaData]) -> Result<()> {
        for i in 0..self.columns.len() {
            let Some(data_type) = self.types[i].clone() else {
                continue;
            };
            if !self.footer || !self.bounded(i) || !in_footer(&data_type) {
                continue;
            }
            let name = &self.columns[i].name;
            self.extremes[i] = footer_extremes(name, &data_type, row_groups)?;
        }
        Ok(())
    }

    fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        for (i, c) in self.columns.iter().enumerate() {
            let array = batch
                .columns()
                .get(c.column)
                .ok_or_else(|| invalid!("stats column {} is outside the batch", c.column))?;
            self.null_counts[i] += array.null_count() as i64;
            self.types[i].get_or_insert_with(|| array.data_type().clone());
            // Footer types are read when the file closes (`read_footer`).
            if !self.bounded(i) || (self.footer && in_footer(array.data_type())) {
                continue;
            }
            let Some((lo, hi)) = extremes(array)? else {
                continue;
            };
            self.extremes[i] = Some(match self.extremes[i].take() {
                None => (lo, hi),
                Some((old_lo, old_hi)) => {
                    let los = arrow::compute::concat(&[old_lo.as_ref(), lo.as_ref()])?;
                    let his = arrow::compute::concat(&[old_hi.as_ref(), hi.as_ref()])?;
                    let lo = extremes(&los)?.map(|e| e.0).unwrap_or(old_lo);
                    let hi = extremes(&his)?.map(|e| e.1).unwrap_or(old_hi);
                    (lo, hi)
                }
            });
        }
        Ok(())
    }

    fn encode(&self) -> Result<SimpleStats> {
        let mut stats = Vec::with_capacity(self.columns.len());
        for i in 0..self.columns.len() {
            let data_type = self.types[i].clone().unwrap_or(ArrowType::Null);
            stats.push((self.null_counts[i], self.extremes[i].clone(), data_type));
        }
        encode(&self.columns, stats)
    }
}

fn collect(columns: &[StatsColumn], batch: &RecordBatch) -> Result<SimpleStats> {
    let mut running = Running::new(columns, false);
    running.update(batch)?;
    running.encode()
}

/// Encodes per-column (null count, extremes, Arrow type) as a stats row.
type ColumnStats = (i64, Option<(ArrayRef, ArrayRef)>, ArrowType);

fn encode(columns: &[StatsColumn], stats: Vec<ColumnStats>) -> Result<SimpleStats> {
    if columns.is_empty() {
        return Ok(SimpleStats::empty());
    }
    let mut mins = Vec::with_capacity(columns.len());
    let mut maxs = Vec::with_capacity(columns.len());
    let mut null_counts = Vec::with_capacity(columns.len());
    for (c, (nulls, extremes, data_type)) in columns.iter().zip(stats) {
        null_counts.push(Some(nulls));
        let (min, max) = extremes.unwrap_or_else(|| {
            let null = new_null_array(&data_type, 1);
            (null.clone(), null)
        });
        let (min, max) = match c.mode {
            StatsMode::Truncate(n) if matches!(data_type, ArrowType::Utf8) => {
                truncate_strings(&min, &max, n)
            }
            _ => (min, max),
        };
        mins.push(min);
        maxs.push(max);
    }
    let types: Vec<DataType> = columns.iter().map(|c| c.data_type.clone()).collect();
    let mut writer = BinaryRowWriter::new(types.len());
    encode_arrow_row(&mins, &types, 0, &mut writer)?;
    let min_values = serialize_with_arity(writer.finish(), types.len());
    encode_arrow_row(&maxs, &types, 0, &mut writer)?;
    let max_values = serialize_with_arity(writer.finish(), types.len());
    Ok(SimpleStats {
        min_values,
        max_values,
        null_counts: Some(null_counts),
    })
}

/// Whether a column of this type takes its extremes from the file's Parquet statistics:
/// types stored as INT32, INT64 or BYTE_ARRAY that Parquet orders as Paimon does (signed
/// integers, bytes unsigned). Timestamps in seconds are stored as milliseconds: scanned.
fn in_footer(data_type: &ArrowType) -> bool {
    use arrow::datatypes::TimeUnit;
    matches!(
        data_type,
        ArrowType::Int8
            | ArrowType::Int16
            | ArrowType::Int32
            | ArrowType::Int64
            | ArrowType::Date32
            | ArrowType::Timestamp(
                TimeUnit::Millisecond | TimeUnit::Microsecond | TimeUnit::Nanosecond,
                _
            )
            | ArrowType::Utf8
            | ArrowType::Binary
    )
}

/// The extremes of column `name` over `row_groups` from their chunk statistics, as
/// one-element arrays of `data_type` ([`in_footer`] types); `None` when all are null.
fn footer_extremes(
    name: &str,
    data_type: &ArrowType,
    row_groups: &[RowGroupMetaData],
) -> Result<Option<(ArrayRef, ArrayRef)>> {
    let missing = |what: &str| {
        Error::internal(format!(
            "data file column '{name}' has {what}; its statistics cannot be taken"
        ))
    };
    let mut ints: Option<(i64, i64)> = None;
    let mut bytes: Option<(Vec<u8>, Vec<u8>)> = None;
    for group in row_groups {
        let column = group
            .columns()
            .iter()
            .find(|c| c.column_path().parts() == [name])
            .ok_or_else(|| missing("no column chunk"))?;
        let stats = column
            .statistics()
            .ok_or_else(|| missing("no chunk statistics"))?;
        // An all-null chunk has no bounds, exact or not.
        let bounded = stats.min_bytes_opt().is_some() || stats.max_bytes_opt().is_some();
        if bounded && !(stats.min_is_exact() && stats.max_is_exact()) {
            return Err(missing("truncated chunk statistics"));
        }
        let widen = |lo: i64, hi: i64| match ints {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        };
        match stats {
            Statistics::Int32(s) => {
                if let (Some(lo), Some(hi)) = (s.min_opt(), s.max_opt()) {
                    ints = Some(widen(i64::from(*lo), i64::from(*hi)));
                }
            }
            Statistics::Int64(s) => {
                if let (Some(lo), Some(hi)) = (s.min_opt(), s.max_opt()) {
                    ints = Some(widen(*lo, *hi));
                }
            }
            Statistics::ByteArray(s) => {
                if let (Some(lo), Some(hi)) = (s.min_opt(), s.max_opt()) {
                    let (lo, hi) = (lo.data(), hi.data());
                    bytes = Some(match bytes.take() {
                        None => (lo.to_vec(), hi.to_vec()),
                        Some((a, b)) => (
                            if lo < a.as_slice() { lo.to_vec() } else { a },
                            if hi > b.as_slice() { hi.to_vec() } else { b },
                        ),
                    });
                }
            }
            _ => return Err(missing("statistics of another physical type")),
        }
    }
    if let Some((lo, hi)) = bytes {
        let one = |v: Vec<u8>| -> Result<ArrayRef> {
            Ok(match data_type {
                ArrowType::Utf8 => {
                    let text = String::from_utf8(v).map_err(|_| missing("invalid UTF-8 bounds"))?;
                    Arc::new(StringArray::from(vec![text]))
                }
                _ => Arc::new(arrow::array::BinaryArray::from_vec(vec![v.as_slice()])),
            })
        };
        return Ok(Some((one(lo)?, one(hi)?)));
    }
    let Some((lo, hi)) = ints else {
        return Ok(None);
    };
    let one = |v: i64| -> Result<ArrayRef> {
        use arrow::array::{Date32Array, Int16Array, Int32Array, Int64Array, Int8Array};
        use arrow::datatypes::{
            TimeUnit, TimestampMicrosecondType as Micros, TimestampMillisecondType as Millis,
            TimestampNanosecondType as Nanos,
        };
        let narrow = || missing("bounds outside its type");
        let timestamp = |unit: &TimeUnit, tz: &Option<Arc<str>>| -> ArrayRef {
            use arrow::array::PrimitiveArray;
            let tz = tz.clone();
            match unit {
                TimeUnit::Millisecond => {
                    Arc::new(PrimitiveArray::<Millis>::from(vec![v]).with_timezone_opt(tz))
                }
                TimeUnit::Microsecond => {
                    Arc::new(PrimitiveArray::<Micros>::from(vec![v]).with_timezone_opt(tz))
                }
                _ => Arc::new(PrimitiveArray::<Nanos>::from(vec![v]).with_timezone_opt(tz)),
            }
        };
        Ok(match data_type {
            ArrowType::Int8 => {
                Arc::new(Int8Array::from(
                    vec![i8::try_from(v).map_err(|_| narrow())?],
                ))
            }
            ArrowType::Int16 => Arc::new(Int16Array::from(vec![
                i16::try_from(v).map_err(|_| narrow())?
            ])),
            ArrowType::Int32 => Arc::new(Int32Array::from(vec![
                i32::try_from(v).map_err(|_| narrow())?
            ])),
            ArrowType::Date32 => Arc::new(Date32Array::from(vec![
                i32::try_from(v).map_err(|_| narrow())?
            ])),
            ArrowType::Timestamp(unit, tz) => timestamp(unit, tz),
            _ => Arc::new(Int64Array::from(vec![v])),
        })
    };
    Ok(Some((one(lo)?, one(hi)?)))
}

/// The smallest and largest non-null value as one-element arrays; `None` when all are null.
/// Arrow's order is Paimon's: bytes for strings and binaries, numeric otherwise, floats with
/// -0.0 below 0.0 and NaN above everything (IEEE total order, in both kernels used here).
/// Strings, binaries and primitives take one linear pass; other types a partial sort.
fn extremes(array: &ArrayRef) -> Result<Option<(ArrayRef, ArrayRef)>> {
    if array.null_count() == array.len() {
        return Ok(None);
    }
    if let Some(found) = extremes_by_kernel(array) {
        return Ok(found);
    }
    let first = |descending: bool| -> Result<ArrayRef> {
        let options = SortOptions {
            descending,
            nulls_first: false,
        };
        let index: UInt32Array = sort_to_indices(array, Some(options), Some(1))?;
        Ok(take(array, &index, None)?)
    };
    Ok(Some((first(false)?, first(true)?)))
}

/// One pass, no sort, for integers, floats, decimals, dates, times, timestamps, strings,
/// binaries and booleans. `None` when the type has no kernel here.
fn extremes_by_kernel(array: &ArrayRef) -> Option<Option<(ArrayRef, ArrayRef)>> {
    use arrow::compute::{max, max_boolean, min, min_boolean};
    use arrow::datatypes::*;
    use std::sync::Arc;
    fn pair(lo: Option<ArrayRef>, hi: Option<ArrayRef>) -> Option<(ArrayRef, ArrayRef)> {
        lo.zip(hi)
    }
    macro_rules! primitive {
        ($t:ty) => {{
            let a = array.as_primitive::<$t>();
            let one = |v: Option<<$t as ArrowPrimitiveType>::Native>| {
                v.map(|v| {
                    Arc::new(
                        arrow::array::PrimitiveArray::<$t>::from(vec![v])
                            .with_data_type(array.data_type().clone()),
                    ) as ArrayRef
                })
            };
            pair(one(min(a)), one(max(a)))
        }};
    }
    // Floats by IEEE total order (`total_cmp`), the order Arrow's sort uses: -0.0 below
    // 0.0, NaN above everything. Each value becomes the integer `total_cmp` compares (a map
    // that is its own inverse), so the pass is a branch-free integer min/max.
    macro_rules! float {
        ($t:ty, $bits:ty, $unsigned:ty) => {{
            let a = array.as_primitive::<$t>();
            let flip = |b: $bits| b ^ ((((b >> (<$bits>::BITS - 1)) as $unsigned) >> 1) as $bits);
            let order = |v: <$t as ArrowPrimitiveType>::Native| flip(v.to_bits() as $bits);
            let fold = |(lo, hi): ($bits, $bits), k: $bits| (lo.min(k), hi.max(k));
            let none = (<$bits>::MAX, <$bits>::MIN);
            let found = match a.null_count() {
                0 => (!a.is_empty()).then(|| a.values().iter().map(|v| order(*v)).fold(none, fold)),
                _ => {
                    let mut keys = a.iter().flatten().map(order).peekable();
                    keys.peek().is_some().then(|| keys.fold(none, fold))
                }
            };
            let one = |k: $bits| {
                let v = <<$t as ArrowPrimitiveType>::Native>::from_bits(flip(k) as $unsigned);
                Arc::new(arrow::array::PrimitiveArray::<$t>::from(vec![v])) as ArrayRef
            };
            found.map(|(lo, hi)| (one(lo), one(hi)))
        }};
    }
    Some(match array.data_type() {
        ArrowType::Float32 => float!(Float32Type, i32, u32),
        ArrowType::Float64 => float!(Float64Type, i64, u64),
        ArrowType::Int8 => primitive!(Int8Type),
        ArrowType::Int16 => primitive!(Int16Type),
        ArrowType::Int32 => primitive!(Int32Type),
        ArrowType::Int64 => primitive!(Int64Type),
        ArrowType::Date32 => primitive!(Date32Type),
        ArrowType::Time32(TimeUnit::Millisecond) => primitive!(Time32MillisecondType),
        ArrowType::Time64(TimeUnit::Microsecond) => primitive!(Time64MicrosecondType),
        ArrowType::Time64(TimeUnit::Nanosecond) => primitive!(Time64NanosecondType),
        ArrowType::Timestamp(TimeUnit::Millisecond, _) => primitive!(TimestampMillisecondType),
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => primitive!(TimestampMicrosecondType),
        ArrowType::Timestamp(TimeUnit::Nanosecond, _) => primitive!(TimestampNanosecondType),
        ArrowType::Decimal128(_, _) => primitive!(Decimal128Type),
        ArrowType::Utf8 => {
            let a = array.as_string::<i32>();
            let found = if a.null_count() == 0 {
                byte_extremes((0..a.len()).map(|i| a.value(i).as_bytes()))
            } else {
                byte_extremes(a.iter().flatten().map(str::as_bytes))
            };
            // Both are whole values of a valid string array.
            let one = |v: &[u8]| -> ArrayRef {
                Arc::new(StringArray::from(vec![
                    std::str::from_utf8(v).unwrap_or_default()
                ]))
            };
            found.map(|(lo, hi)| (one(lo), one(hi)))
        }
        ArrowType::Binary => {
            let a = array.as_binary::<i32>();
            let one = |v: &[u8]| -> ArrayRef { Arc::new(arrow::array::BinaryArray::from(vec![v])) };
            byte_extremes(a.iter().flatten()).map(|(lo, hi)| (one(lo), one(hi)))
        }
        ArrowType::Boolean => {
            let a = array.as_boolean();
            let one = |v: Option<bool>| {
                v.map(|v| Arc::new(arrow::array::BooleanArray::from(vec![v])) as ArrayRef)
            };
            pair(one(min_boolean(a)), one(max_boolean(a)))
        }
        _ => return None,
    })
}

/// The smallest and largest byte strings in one pass (strings compare as their UTF-8 bytes).
/// Most comparisons end in the first 8 bytes, compared as one integer.
pub(crate) fn byte_extremes<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
) -> Option<(&'a [u8], &'a [u8])> {
    let first = values.next()?;
    let (mut lo, mut hi) = (first, first);
    let (mut lo_head, mut hi_head) = (head(first), head(first));
    for v in values {
        let h = head(v);
        if h < lo_head || (h == lo_head && v < lo) {
            (lo, lo_head) = (v, h);
        } else if h > hi_head || (h == hi_head && v > hi) {
            (hi, hi_head) = (v, h);
        }
    }
    Some((lo, hi))
}

/// The first 8 bytes big-endian, zero-padded: where two heads differ, the byte strings
/// differ the same way (a string that ends is below every longer one it starts).
fn head(v: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = v.len().min(8);
    buf[..n].copy_from_slice(&v[..n]);
    u64::from_be_bytes(buf)
}

/// `truncate(n)` for one-element string min/max arrays.
fn truncate_strings(min: &ArrayRef, max: &ArrayRef, n: usize) -> (ArrayRef, ArrayRef) {
    let value = |a: &ArrayRef| {
        a.as_string_opt::<i32>()
            .filter(|s| s.is_valid(0))
            .map(|s| s.value(0).to_string())
    };
    let one = |s: Option<String>| -> ArrayRef { Arc::new(StringArray::from(vec![s])) };
    let (Some(lo), Some(hi)) = (value(min), value(max)) else {
        return (min.clone(), max.clone());
    };
    match round_up_prefix(&hi, n) {
        Some(hi) => (one(Some(lo.chars().take(n).collect())), one(Some(hi))),
        // No upper bound of n characters exists: keep no min/max at all, as Java does.
        None => (one(None), one(None)),
    }
}

/// The smallest string of at most `n` characters that is ≥ `s`: `s` itself when short
/// enough, else its first `n` characters with the last one that can be incremented
/// incremented (UTF-8 order is code point order, so the result is greater than `s`).
fn round_up_prefix(s: &str, n: usize) -> Option<String> {
    let mut chars: Vec<char> = s.chars().take(n.saturating_add(1)).collect();
    if chars.len() <= n {
        return Some(s.to_string());
    }
    chars.truncate(n);
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests;
