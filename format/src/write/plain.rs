//! Plain-encoded Parquet column chunks, written without arrow-rs's column writer.
//!
//! A column whose values are mostly distinct (keys, sequence numbers, free text, measures)
//! is written plain. arrow-rs's generic column writer spends about as much CPU on such a
//! column as zstd does (definition levels built and run-length encoded value by value,
//! per-value statistics through generic comparisons, copies); here a page is the values
//! copied as they are, the validity bitmap as the definition levels, and min/max taken in
//! one typed pass (`cargo run --release -p strata-format --example page_encoding`). The
//! chunk carries what arrow-rs's would: statistics, a column index and an offset index.
//! Pages are version 1 data pages compressed with zstd or not at all; other codecs,
//! dictionaries, bloom filters and nested columns stay with arrow-rs (see `encoder.rs`).

use std::marker::PhantomData;

use arrow::array::{Array, ArrowPrimitiveType, AsArray, GenericByteArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowNativeType, ByteArrayType, DataType, Date32Type, Float32Type, Float64Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType,
};
use arrow_buffer::ToByteSlice;
use bytes::Bytes;
use parquet::basic::{BoundaryOrder, Compression, Encoding, PageType, Type as PhysicalType};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, LevelHistogram, OffsetIndexBuilder, PageEncodingStats,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::schema::types::ColumnDescPtr;

use super::stats::byte_extremes;

/// A column chunk being encoded: values in, the chunk's bytes and metadata out.
pub(crate) trait PlainChunk: Send {
    /// Appends the rows of `array` (of the type the chunk was made for).
    fn write(&mut self, array: &dyn Array) -> Result<()>;
    /// Encoded bytes so far, including the open page before compression.
    fn estimated_size(&self) -> usize;
    /// The chunk's bytes, starting at offset 0, and its metadata.
    fn close(self: Box<Self>) -> Result<(Pages, ColumnCloseResult)>;
}

/// A plain chunk for `data_type` in column `descr`, or `None` where arrow-rs must write it
/// (a `dictionary` or bloom filter asked for, another codec, nesting, a type this does not
/// cover, or a conversion arrow-rs would make such as seconds to milliseconds).
pub(crate) fn plain_chunk(
    data_type: &DataType,
    descr: &ColumnDescPtr,
    props: &WriterProperties,
    dictionary: bool,
) -> Option<Box<dyn PlainChunk>> {
    let path = descr.path();
    let codec = match props.compression(path) {
        Compression::UNCOMPRESSED => None,
        Compression::ZSTD(level) => Some(level.compression_level()),
        _ => return None,
    };
    if dictionary
        || props.bloom_filter_properties(path).is_some()
        || props.statistics_enabled(path) != EnabledStatistics::Page
        || props.write_page_header_statistics(path)
        || props.offset_index_disabled()
        || props.writer_version() != WriterVersion::PARQUET_1_0
        || descr.max_rep_level() != 0
        || descr.max_def_level() > 1
    {
        return None;
    }
    let settings = Settings {
        descr: descr.clone(),
        codec,
        page_bytes: props.data_page_size_limit(),
        page_rows: props.data_page_row_count_limit(),
        batch_rows: props.write_batch_size().max(1),
        index_truncate: props.column_index_truncate_length(),
        stats_truncate: props.statistics_truncate_length(),
    };
    let physical = descr.physical_type();
    Some(match (data_type, physical) {
        (DataType::Int8 | DataType::Int16, PhysicalType::INT32) => widened(settings)?,
        (DataType::Int32, PhysicalType::INT32) => primitive::<Int32Type>(settings)?,
        (DataType::Date32, PhysicalType::INT32) => primitive::<Date32Type>(settings)?,
        (DataType::Int64, PhysicalType::INT64) => primitive::<Int64Type>(settings)?,
        (DataType::Timestamp(unit, _), PhysicalType::INT64) => match unit {
            TimeUnit::Millisecond => primitive::<TimestampMillisecondType>(settings)?,
            TimeUnit::Microsecond => primitive::<TimestampMicrosecondType>(settings)?,
            TimeUnit::Nanosecond => primitive::<TimestampNanosecondType>(settings)?,
            TimeUnit::Second => return None,
        },
        (DataType::Float32, PhysicalType::FLOAT) => primitive::<Float32Type>(settings)?,
        (DataType::Float64, PhysicalType::DOUBLE) => primitive::<Float64Type>(settings)?,
        (DataType::Utf8, PhysicalType::BYTE_ARRAY) => bytes::<arrow::datatypes::Utf8Type>(settings),
        (DataType::LargeUtf8, PhysicalType::BYTE_ARRAY) => {
            bytes::<arrow::datatypes::LargeUtf8Type>(settings)
        }
        (DataType::Binary, PhysicalType::BYTE_ARRAY) => {
            bytes::<arrow::datatypes::BinaryType>(settings)
        }
        (DataType::LargeBinary, PhysicalType::BYTE_ARRAY) => {
            bytes::<arrow::datatypes::LargeBinaryType>(settings)
        }
        _ => return None,
    })
}

fn primitive<T>(settings: Settings) -> Option<Box<dyn PlainChunk>>
where
    T: ArrowPrimitiveType,
    T::Native: Native,
{
    // Only columns sorted as signed numbers (not, say, an INT32 annotated unsigned).
    if !settings.descr.sort_order().is_signed() {
        return None;
    }
    Some(Box::new(Chunk::new(
        settings,
        PrimitivePages::<T>(PhantomData),
    )))
}

/// TINYINT and SMALLINT: each batch cast to INT32 and written as INT32 is, as arrow-rs
/// stores them.
fn widened(settings: Settings) -> Option<Box<dyn PlainChunk>> {
    Some(Box::new(Widened(primitive::<Int32Type>(settings)?)))
}

struct Widened(Box<dyn PlainChunk>);

impl PlainChunk for Widened {
    fn write(&mut self, array: &dyn Array) -> Result<()> {
        if !matches!(array.data_type(), DataType::Int8 | DataType::Int16) {
            return Err(wrong_type(array.data_type()));
        }
        self.0
            .write(arrow::compute::cast(array, &DataType::Int32)?.as_ref())
    }

    fn estimated_size(&self) -> usize {
        self.0.estimated_size()
    }

    fn close(self: Box<Self>) -> Result<(Pages, ColumnCloseResult)> {
        self.0.close()
    }
}

fn bytes<T: ByteArrayType>(settings: Settings) -> Box<dyn PlainChunk> {
    Box::new(Chunk::new(settings, BytePages::<T>(PhantomData)))
}

/// What a chunk takes from the writer's properties.
struct Settings {
    descr: ColumnDescPtr,
    /// zstd level, or no compression.
    codec: Option<i32>,
    page_bytes: usize,
    page_rows: usize,
    batch_rows: usize,
    index_truncate: Option<usize>,
    stats_truncate: Option<usize>,
}

/// Min and max of the values seen, as the type orders them.
#[derive(Debug, Clone)]
struct Bounds<V> {
    min: V,
    max: V,
}

impl<V> Bounds<V> {
    /// Widens `bounds` (none: nothing seen yet) to take in `lo..=hi`.
    fn widen(bounds: &mut Option<Self>, lo: V, hi: V, less: impl Fn(&V, &V) -> bool) {
        match bounds {
            Some(b) => {
                if less(&lo, &b.min) {
                    b.min = lo;
                }
                if less(&b.max, &hi) {
                    b.max = hi;
                }
            }
            None => *bounds = Some(Bounds { min: lo, max: hi }),
        }
    }
}

/// How one kind of column lays out its values and orders them.
trait Values: Send {
    type Value: Clone + Send;
    /// Appends `array`'s valid values in `range` plain to `page`, widening `bounds`.
    fn append(
        &self,
        array: &dyn Array,
        range: std::ops::Range<usize>,
        page: &mut Vec<u8>,
        bounds: &mut Option<Bounds<Self::Value>>,
    ) -> Result<()>;
    fn less(a: &Self::Value, b: &Self::Value) -> bool;
    /// Bounds as they are written: zeros signed as Parquet asks of floats.
    fn finish(bounds: Bounds<Self::Value>) -> Bounds<Self::Value> {
        bounds
    }
    /// A bound as the column index stores it.
    fn bytes(v: &Self::Value) -> Vec<u8>;
    /// The chunk's statistics.
    fn statistics(
        bounds: Option<Bounds<Self::Value>>,
        nulls: u64,
        truncate: Option<usize>,
        utf8: bool,
    ) -> Statistics;
    /// Variable-length values (byte arrays): bounds truncated, sizes counted.
    const BYTES: bool;
}

/// Fixed-width numbers stored as their little-endian bytes.
trait Native: Copy + Send + Sync + 'static {
    fn less(a: Self, b: Self) -> bool;
    /// NaN: left out of min and max.
    fn is_nan(self) -> bool {
        false
    }
    fn min_zero(self) -> Self {
        self
    }
    fn max_zero(self) -> Self {
        self
    }
    fn le_bytes(self) -> Vec<u8>;
    /// Min and max of `values` but NaN, in one pass the compiler can vectorise.
    fn bounds(values: &[Self]) -> Option<(Self, Self)> {
        let mut rest = values.iter().copied().filter(|v| !v.is_nan());
        let first = rest.next()?;
        Some(rest.fold((first, first), |(lo, hi), v| {
            (
                if Self::less(v, lo) { v } else { lo },
                if Self::less(hi, v) { v } else { hi },
            )
        }))
    }
    fn statistics(bounds: Option<Bounds<Self>>, nulls: u64) -> Statistics;
}

/// `impl Native` for a number type: `$extra` names a macro of further methods.
macro_rules! native {
    ($t:ty, $variant:ident $(, $extra:ident)?) => {
        impl Native for $t {
            fn less(a: Self, b: Self) -> bool {
                a < b
            }
            fn le_bytes(self) -> Vec<u8> {
                self.to_le_bytes().to_vec()
            }
            fn statistics(bounds: Option<Bounds<Self>>, nulls: u64) -> Statistics {
                let (min, max) = bounds.map(|b| (b.min, b.max)).unzip();
                Statistics::$variant(
                    ValueStatistics::new(min, max, None, Some(nulls), false)
                        .with_backwards_compatible_min_max(true),
                )
            }
            $($extra!();)?
        }
    };
}

/// What floats add: NaN left out, and Parquet's rule for zeros: a zero minimum is
/// written -0.0 and a zero maximum +0.0, since both zeros compare equal and either may
/// be in the data.
macro_rules! float_rules {
    () => {
        fn is_nan(self) -> bool {
            self.is_nan()
        }
        fn min_zero(self) -> Self {
            if self == 0.0 {
                -0.0
            } else {
                self
            }
        }
        fn max_zero(self) -> Self {
            if self == 0.0 {
                0.0
            } else {
                self
            }
        }
    };
}

native!(i32, Int32);
native!(i64, Int64);
native!(f32, Float, float_rules);
native!(f64, Double, float_rules);

// `fn() -> T`: a marker that is Send whatever `T` is.
struct PrimitivePages<T>(PhantomData<fn() -> T>);

impl<T> Values for PrimitivePages<T>
where
    T: ArrowPrimitiveType,
    T::Native: Native,
{
    type Value = T::Native;
    const BYTES: bool = false;

    fn append(
        &self,
        array: &dyn Array,
        range: std::ops::Range<usize>,
        page: &mut Vec<u8>,
        bounds: &mut Option<Bounds<T::Native>>,
    ) -> Result<()> {
        let array = array
            .as_primitive_opt::<T>()
            .ok_or_else(|| wrong_type(array.data_type()))?;
        let widen = |bounds: &mut Option<Bounds<T::Native>>, lo, hi| {
            Bounds::widen(bounds, lo, hi, |a, b| Native::less(*a, *b))
        };
        match array.nulls().filter(|n| n.null_count() > 0) {
            None => {
                let values = &array.values()[range];
                page.extend_from_slice(values.to_byte_slice());
                if let Some((lo, hi)) = Native::bounds(values) {
                    widen(bounds, lo, hi);
                }
            }
            Some(nulls) => {
                for i in range {
                    let v = array.values()[i];
                    if nulls.is_valid(i) {
                        page.extend_from_slice(&v.le_bytes());
                        if !v.is_nan() {
                            widen(bounds, v, v);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn less(a: &T::Native, b: &T::Native) -> bool {
        Native::less(*a, *b)
    }

    fn finish(b: Bounds<T::Native>) -> Bounds<T::Native> {
        Bounds {
            min: b.min.min_zero(),
            max: b.max.max_zero(),
        }
    }

    fn bytes(v: &T::Native) -> Vec<u8> {
        v.le_bytes()
    }

    fn statistics(
        bounds: Option<Bounds<T::Native>>,
        nulls: u64,
        _: Option<usize>,
        _: bool,
    ) -> Statistics {
        // The chunk's bounds are the pages' ones, already finished.
        T::Native::statistics(bounds, nulls)
    }
}

struct BytePages<T>(PhantomData<fn() -> T>);

impl<T: ByteArrayType> Values for BytePages<T> {
    type Value = Vec<u8>;
    const BYTES: bool = true;

    fn append(
        &self,
        array: &dyn Array,
        range: std::ops::Range<usize>,
        page: &mut Vec<u8>,
        bounds: &mut Option<Bounds<Vec<u8>>>,
    ) -> Result<()> {
        let array: &GenericByteArray<T> = array
            .as_bytes_opt::<T>()
            .ok_or_else(|| wrong_type(array.data_type()))?;
        let nulls: Option<&NullBuffer> = array.nulls().filter(|n| n.null_count() > 0);
        let offsets = array.value_offsets();
        let data = array.value_data();
        let valid = |i: &usize| !nulls.is_some_and(|n| n.is_null(*i));
        let value = |i: usize| &data[offsets[i].as_usize()..offsets[i + 1].as_usize()];
        for i in range.clone().filter(valid) {
            let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
            let len = u32::try_from(end - start)
                .map_err(|_| ParquetError::General("a byte array value over 4 GiB".into()))?;
            page.extend_from_slice(&len.to_le_bytes());
            match data.get(start..start + SHORT) {
                // A short value as one fixed-size copy (no call to `memcpy`), the bytes past
                // it cut off again.
                Some(block) if end - start <= SHORT => {
                    let at = page.len();
                    page.extend_from_slice(block);
                    page.truncate(at + end - start);
                }
                _ => page.extend_from_slice(&data[start..end]),
            }
        }
        // Bounds of this slice as ranges of `data`, turned into owned bytes once.
        if let Some((lo, hi)) = byte_extremes(range.filter(valid).map(value)) {
            Bounds::widen(bounds, lo.to_vec(), hi.to_vec(), |a, b| a < b);
        }
        Ok(())
    }

    fn less(a: &Vec<u8>, b: &Vec<u8>) -> bool {
        a < b
    }

    fn bytes(v: &Vec<u8>) -> Vec<u8> {
        v.clone()
    }

    fn statistics(
        bounds: Option<Bounds<Vec<u8>>>,
        nulls: u64,
        truncate: Option<usize>,
        utf8: bool,
    ) -> Statistics {
        let Some(bounds) = bounds else {
            return Statistics::ByteArray(ValueStatistics::new(
                None,
                None,
                None,
                Some(nulls),
                false,
            ));
        };
        let (min, min_exact) = truncate_min(bounds.min, truncate, utf8);
        let (max, max_exact) = truncate_max(bounds.max, truncate, utf8);
        Statistics::ByteArray(
            ValueStatistics::new(
                Some(ByteArray::from(min)),
                Some(ByteArray::from(max)),
                None,
                Some(nulls),
                false,
            )
            .with_min_is_exact(min_exact)
            .with_max_is_exact(max_exact),
        )
    }
}

fn wrong_type(data_type: &DataType) -> ParquetError {
    ParquetError::General(format!("a plain column chunk was given {data_type} values"))
}

/// `value` cut to at most `limit` bytes (at a character boundary in UTF-8), as arrow-rs
/// cuts a lower bound; the flag says whether it is still the whole value.
fn truncate_min(mut value: Vec<u8>, limit: Option<usize>, utf8: bool) -> (Vec<u8>, bool) {
    let Some(limit) = limit.filter(|l| value.len() > *l) else {
        return (value, true);
    };
    let cut = match std::str::from_utf8(&value) {
        Ok(text) if utf8 => (1..=limit).rev().find(|&i| text.is_char_boundary(i)),
        _ => Some(limit),
    };
    match cut {
        Some(cut) => {
            value.truncate(cut);
            (value, false)
        }
        None => (value, true),
    }
}

/// `value` cut to at most `limit` bytes with its last character (or byte, carrying)
/// incremented, as arrow-rs makes an upper bound; the whole value where none can be made.
fn truncate_max(value: Vec<u8>, limit: Option<usize>, utf8: bool) -> (Vec<u8>, bool) {
    let Some(limit) = limit.filter(|l| value.len() > *l) else {
        return (value, true);
    };
    let bound = match std::str::from_utf8(&value) {
        Ok(text) if utf8 => (limit.saturating_sub(3)..=limit)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .and_then(|cut| increment_utf8(&text[..cut])),
        _ => {
            let mut bytes = value[..limit].to_vec();
            let mut carried = true;
            for byte in bytes.iter_mut().rev() {
                (*byte, carried) = byte.overflowing_add(1);
                if !carried {
                    break;
                }
            }
            (!carried).then_some(bytes)
        }
    };
    match bound {
        Some(bound) => (bound, false),
        None => (value, true),
    }
}

/// `text` up to and including its last character that has a successor of the same
/// encoded length, that character replaced by the successor.
fn increment_utf8(text: &str) -> Option<Vec<u8>> {
    text.char_indices().rev().find_map(|(at, c)| {
        let next = char::from_u32(u32::from(c) + 1).filter(|n| n.len_utf8() == c.len_utf8())?;
        let mut out = text.as_bytes()[..at].to_vec();
        out.extend_from_slice(next.encode_utf8(&mut [0; 4]).as_bytes());
        Some(out)
    })
}

/// Bytes at the start of a nullable column's page kept for its definition levels: their
/// length and one run (the levels of a page without nulls) fit, so the page is compressed
/// in place.
const LEVELS_ROOM: usize = 16;

/// Byte values up to this long are copied into a page as one block of this size.
const SHORT: usize = 64;

/// A column chunk of plain pages; see the module docs.
struct Chunk<V: Values> {
    settings: Settings,
    values: V,
    /// Pages written so far: each one's header and data.
    pages: Pages,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    /// The open page's values, plain, after [`LEVELS_ROOM`] bytes in a nullable column.
    page: Vec<u8>,
    /// The open page's validity, when the column is nullable.
    validity: Option<arrow::array::BooleanBufferBuilder>,
    page_rows: usize,
    page_nulls: usize,
    page_bounds: Option<Bounds<V::Value>>,
    chunk_bounds: Option<Bounds<V::Value>>,
    rows: u64,
    nulls: u64,
    page_count: i32,
    /// Bytes of the pages before compression, headers included.
    uncompressed: i64,
    column_index: ColumnIndexBuilder,
    offset_index: OffsetIndexBuilder,
    /// The last page with values' bounds, and whether pages' bounds only rose or fell.
    last_bounds: Option<Bounds<V::Value>>,
    ascending: bool,
    descending: bool,
    /// Scratch for a page's levels and values before compression.
    scratch: Vec<u8>,
    /// The chunk's definition levels (nullable columns) and byte array sizes.
    levels: Option<LevelHistogram>,
    value_bytes: i64,
}

impl<V: Values> Chunk<V> {
    fn new(settings: Settings, values: V) -> Self {
        let settings_def_level = settings.descr.max_def_level();
        let nullable = settings_def_level == 1;
        Chunk {
            zstd: None,
            validity: nullable.then(|| arrow::array::BooleanBufferBuilder::new(1024)),
            column_index: ColumnIndexBuilder::new(settings.descr.physical_type()),
            settings,
            values,
            pages: Pages::default(),
            page: vec![0; if nullable { LEVELS_ROOM } else { 0 }],
            page_rows: 0,
            page_nulls: 0,
            page_bounds: None,
            chunk_bounds: None,
            rows: 0,
            nulls: 0,
            page_count: 0,
            uncompressed: 0,
            offset_index: OffsetIndexBuilder::new(),
            last_bounds: None,
            ascending: true,
            descending: true,
            scratch: Vec::new(),
            levels: LevelHistogram::try_new(settings_def_level),
            value_bytes: 0,
        }
    }

    /// Bytes kept free at the start of a page for its levels.
    fn room(&self) -> usize {
        match self.validity {
            Some(_) => LEVELS_ROOM,
            None => 0,
        }
    }

    /// Bytes of the open page's values.
    fn values_len(&self) -> usize {
        self.page.len() - self.room()
    }

    fn utf8(&self) -> bool {
        self.settings.descr.logical_type_ref() == Some(&parquet::basic::LogicalType::String)
            || self.settings.descr.converted_type() == parquet::basic::ConvertedType::UTF8
    }

    /// Compresses and writes the open page, and notes it in the indexes.
    fn flush_page(&mut self) -> Result<()> {
        if self.page_rows == 0 {
            return Ok(());
        }
        // A nullable column's page starts with its levels; a required one is its values.
        let body: &[u8] = match self.validity.as_mut() {
            None => &self.page,
            Some(validity) => {
                let bits = validity.finish();
                let levels = encode_levels(self.page_rows, self.page_nulls, &bits)?;
                let len = u32::try_from(levels.len())
                    .map_err(|_| ParquetError::General("definition levels over 4 GiB".into()))?;
                let values = &self.page[LEVELS_ROOM..];
                match LEVELS_ROOM.checked_sub(4 + levels.len()) {
                    // The levels fit the room left for them before the values: no copy.
                    Some(start) => {
                        let room = &mut self.page[start..LEVELS_ROOM];
                        room[..4].copy_from_slice(&len.to_le_bytes());
                        room[4..].copy_from_slice(&levels);
                        &self.page[start..]
                    }
                    None => {
                        self.scratch.clear();
                        self.scratch.extend_from_slice(&len.to_le_bytes());
                        self.scratch.extend_from_slice(&levels);
                        self.scratch.extend_from_slice(values);
                        &self.scratch
                    }
                }
            }
        };
        let uncompressed = body.len();
        let buf = match self.settings.codec {
            None => Bytes::copy_from_slice(body),
            Some(level) => {
                let zstd = match self.zstd.as_mut() {
                    Some(z) => z,
                    None => self.zstd.insert(
                        zstd::bulk::Compressor::new(level)
                            .map_err(|e| ParquetError::External(Box::new(e)))?,
                    ),
                };
                Bytes::from(
                    zstd.compress(body)
                        .map_err(|e| ParquetError::External(Box::new(e)))?,
                )
            }
        };
        let rows = i32::try_from(self.page_rows)
            .map_err(|_| ParquetError::General("a page of over 2G rows".into()))?;
        let header = page_header(uncompressed, buf.len(), rows)?;
        let offset = self.pages.len;
        let size = header.len() + buf.len();
        self.uncompressed += (header.len() + uncompressed) as i64;
        self.pages.push(Bytes::from(header));
        self.pages.push(buf);
        self.offset_index.append_offset_and_size(
            offset as i64,
            i32::try_from(size).map_err(|_| ParquetError::General("a page over 2 GiB".into()))?,
        );
        self.offset_index.append_row_count(self.page_rows as i64);
        if V::BYTES {
            // Plain byte arrays: a 4-byte length before each value.
            let values = (self.page_rows - self.page_nulls) as i64;
            let bytes = self.values_len() as i64 - 4 * values;
            self.offset_index
                .append_unencoded_byte_array_data_bytes(Some(bytes));
            self.value_bytes += bytes;
        }
        let levels = LevelHistogram::try_new(self.settings.descr.max_def_level()).map(|mut h| {
            h.increment_by(0, self.page_nulls as i64);
            h.increment_by(1, (self.page_rows - self.page_nulls) as i64);
            h
        });
        self.column_index.append_histograms(&None, &levels);
        if let (Some(chunk), Some(page)) = (self.levels.as_mut(), levels.as_ref()) {
            chunk.add(page);
        }
        self.page_count += 1;
        self.index_page();
        self.rows += self.page_rows as u64;
        self.nulls += self.page_nulls as u64;
        self.page.clear();
        self.page.resize(self.room(), 0);
        self.page_rows = 0;
        self.page_nulls = 0;
        Ok(())
    }

    /// The open page's entry in the column index (which is dropped, as arrow-rs drops it,
    /// when a page has values but no bounds: all NaN).
    fn index_page(&mut self) {
        let nulls = self.page_nulls as i64;
        let Some(bounds) = self.page_bounds.take() else {
            if self.page_nulls == self.page_rows {
                self.column_index
                    .append(true, Vec::new(), Vec::new(), nulls);
            } else {
                self.column_index.to_invalid();
            }
            return;
        };
        let bounds = V::finish(bounds);
        if let Some(last) = &self.last_bounds {
            if V::less(&bounds.min, &last.min) || V::less(&bounds.max, &last.max) {
                self.ascending = false;
            }
            if V::less(&last.min, &bounds.min) || V::less(&last.max, &bounds.max) {
                self.descending = false;
            }
        }
        let (min, max) = (V::bytes(&bounds.min), V::bytes(&bounds.max));
        let (min, max) = match V::BYTES {
            false => (min, max),
            true => {
                let utf8 = self.utf8();
                let limit = self.settings.index_truncate;
                (
                    truncate_min(min, limit, utf8).0,
                    truncate_max(max, limit, utf8).0,
                )
            }
        };
        self.column_index.append(false, min, max, nulls);
        Bounds::widen(
            &mut self.chunk_bounds,
            bounds.min.clone(),
            bounds.max.clone(),
            V::less,
        );
        self.last_bounds = Some(bounds);
    }
}

impl<V: Values> PlainChunk for Chunk<V> {
    fn write(&mut self, array: &dyn Array) -> Result<()> {
        let nulls = array.logical_nulls();
        if nulls.as_ref().is_some_and(|n| n.null_count() > 0) && self.validity.is_none() {
            return Err(ParquetError::General(format!(
                "column {} is required but has nulls",
                self.settings.descr.path()
            )));
        }
        let mut start = 0;
        while start < array.len() {
            let len = self.settings.batch_rows.min(array.len() - start).min(
                self.settings
                    .page_rows
                    .saturating_sub(self.page_rows)
                    .max(1),
            );
            self.values.append(
                array,
                start..start + len,
                &mut self.page,
                &mut self.page_bounds,
            )?;
            if let Some(validity) = self.validity.as_mut() {
                match nulls.as_ref() {
                    Some(n) => {
                        let slice = n.inner().slice(start, len);
                        validity.append_buffer(&slice);
                        self.page_nulls += len - slice.count_set_bits();
                    }
                    None => validity.append_n(len, true),
                }
            }
            self.page_rows += len;
            start += len;
            if self.values_len() >= self.settings.page_bytes
                || self.page_rows >= self.settings.page_rows
            {
                self.flush_page()?;
            }
        }
        Ok(())
    }

    fn estimated_size(&self) -> usize {
        self.pages.len as usize + self.values_len()
    }

    fn close(mut self: Box<Self>) -> Result<(Pages, ColumnCloseResult)> {
        self.flush_page()?;
        let bytes_written = self.pages.len;
        let descr = self.settings.descr.clone();
        let has_levels = self.validity.is_some();
        let statistics = V::statistics(
            self.chunk_bounds.clone(),
            self.nulls,
            self.settings.stats_truncate,
            self.utf8(),
        );
        let encodings = match has_levels {
            true => vec![Encoding::PLAIN, Encoding::RLE],
            false => vec![Encoding::PLAIN],
        };
        let metadata = ColumnChunkMetaData::builder(descr)
            .set_compression(match self.settings.codec {
                None => Compression::UNCOMPRESSED,
                Some(level) => Compression::ZSTD(parquet::basic::ZstdLevel::try_new(level)?),
            })
            .set_encodings(encodings)
            .set_page_encoding_stats(vec![PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding: Encoding::PLAIN,
                count: self.page_count,
            }])
            .set_total_compressed_size(bytes_written as i64)
            .set_total_uncompressed_size(self.uncompressed)
            .set_num_values(self.rows as i64)
            .set_data_page_offset(0)
            .set_statistics(statistics)
            .set_definition_level_histogram(self.levels.take())
            .set_unencoded_byte_array_data_bytes(V::BYTES.then_some(self.value_bytes))
            .build()?;
        let mut column_index = std::mem::replace(
            &mut self.column_index,
            ColumnIndexBuilder::new(self.settings.descr.physical_type()),
        );
        column_index.set_boundary_order(match (self.ascending, self.descending) {
            (true, _) => BoundaryOrder::ASCENDING,
            (false, true) => BoundaryOrder::DESCENDING,
            (false, false) => BoundaryOrder::UNORDERED,
        });
        let column_index = match column_index.valid() && self.page_count > 0 {
            true => Some(column_index.build()?),
            false => None,
        };
        let offset_index = std::mem::take(&mut self.offset_index).build();
        let result = ColumnCloseResult {
            bytes_written,
            rows_written: self.rows,
            metadata,
            bloom_filter: None,
            column_index,
            offset_index: Some(offset_index),
        };
        Ok((std::mem::take(&mut self.pages), result))
    }
}

/// A page's definition levels (0 null, 1 value) in Parquet's RLE/bit-packed hybrid: one
/// run when no value is null, else the validity bits as one bit-packed run (both put the
/// first value in the lowest bit).
fn encode_levels(
    rows: usize,
    nulls: usize,
    validity: &arrow::buffer::BooleanBuffer,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let varint = |mut v: u64, out: &mut Vec<u8>| {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    };
    if nulls == 0 {
        varint((rows as u64) << 1, &mut out);
        out.push(1);
        return Ok(out);
    }
    let groups = rows.div_ceil(8);
    varint(((groups as u64) << 1) | 1, &mut out);
    // A fresh builder's bits: they start at the buffer's first byte.
    let bits = validity.inner().as_slice();
    out.extend_from_slice(bits.get(..groups).ok_or_else(|| {
        ParquetError::General("definition levels shorter than their page".into())
    })?);
    // Bits past the last row are whatever the buffer held: clear them for tidy files.
    if !rows.is_multiple_of(8) {
        if let Some(last) = out.last_mut() {
            *last &= (1u8 << (rows % 8)) - 1;
        }
    }
    Ok(out)
}

/// A column chunk's pages as they were encoded, each header and data a piece of its own:
/// read once, when the row group is written out, so never copied into one buffer.
#[derive(Debug, Default)]
pub(crate) struct Pages {
    pieces: Vec<Bytes>,
    len: u64,
}

impl Pages {
    fn push(&mut self, piece: Bytes) {
        self.len += piece.len() as u64;
        self.pieces.push(piece);
    }
}

impl Length for Pages {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Pages {
    type T = PagesReader;

    fn get_read(&self, start: u64) -> Result<PagesReader> {
        let mut reader = PagesReader {
            pieces: self.pieces.iter().cloned().collect(),
        };
        let mut skip = start;
        while skip > 0 {
            let Some(front) = reader.pieces.front_mut() else {
                return Err(ParquetError::EOF(format!("{start} is past the pages' end")));
            };
            let n = (front.len() as u64).min(skip);
            bytes::Buf::advance(front, n as usize);
            skip -= n;
            if front.is_empty() {
                reader.pieces.pop_front();
            }
        }
        Ok(reader)
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        let mut out = vec![0; length];
        std::io::Read::read_exact(&mut self.get_read(start)?, &mut out)
            .map_err(|e| ParquetError::EOF(format!("{length} bytes at {start}: {e}")))?;
        Ok(Bytes::from(out))
    }
}

/// Reads [`Pages`] from some offset on.
pub(crate) struct PagesReader {
    pieces: std::collections::VecDeque<Bytes>,
}

impl std::io::Read for PagesReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(front) = self.pieces.front_mut() {
            if front.is_empty() {
                self.pieces.pop_front();
                continue;
            }
            let n = front.len().min(buf.len());
            buf[..n].copy_from_slice(&front[..n]);
            bytes::Buf::advance(front, n);
            return Ok(n);
        }
        Ok(0)
    }
}

/// The Thrift (compact protocol) `PageHeader` of a version 1 data page of plain values
/// with RLE levels, without CRC or statistics: what arrow-rs writes for the same page.
fn page_header(uncompressed: usize, compressed: usize, rows: i32) -> Result<Vec<u8>> {
    let size = |n: usize| {
        i32::try_from(n).map_err(|_| ParquetError::General(format!("a page of {n} bytes")))
    };
    // Field header: id delta 1 (2 for `data_page_header`, id 5 after id 3) and type.
    const I32: u8 = 0x15;
    const STRUCT_AFTER_3: u8 = 0x2C;
    const STOP: u8 = 0;
    let mut out = Vec::with_capacity(24);
    let int = |out: &mut Vec<u8>, v: i32| {
        let mut z = ((v << 1) ^ (v >> 31)) as u32;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    };
    // Parquet's Thrift enum values: DATA_PAGE 0, PLAIN 0, RLE 3.
    const DATA_PAGE: i32 = 0;
    const PLAIN: i32 = 0;
    const RLE: i32 = 3;
    out.push(I32);
    int(&mut out, DATA_PAGE);
    out.push(I32);
    int(&mut out, size(uncompressed)?);
    out.push(I32);
    int(&mut out, size(compressed)?);
    out.push(STRUCT_AFTER_3);
    out.push(I32);
    int(&mut out, rows);
    for encoding in [PLAIN, RLE, RLE] {
        out.push(I32);
        int(&mut out, encoding);
    }
    out.push(STOP);
    out.push(STOP);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use parquet::basic::Encoding;
    use parquet::column::page::{CompressedPage, Page, PageWriter};
    use parquet::file::reader::ChunkReader;
    use parquet::file::writer::{SerializedPageWriter, TrackedWrite};

    use super::{page_header, Pages};

    /// The hand-written page header is byte for byte the one arrow-rs writes.
    #[test]
    fn page_headers_are_arrow_rs_ones() {
        for (uncompressed, rows, data) in [(10, 1, 7), (1 << 20, 20_000, 300_000), (64, 64, 0)] {
            let mut sink = TrackedWrite::new(Vec::new());
            let page = Page::DataPage {
                buf: Bytes::from(vec![7u8; data]),
                num_values: rows as u32,
                encoding: Encoding::PLAIN,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            };
            let spec = SerializedPageWriter::new(&mut sink)
                .write_page(CompressedPage::new(page, uncompressed))
                .unwrap();
            let written = sink.into_inner().unwrap();
            let header = page_header(uncompressed, data, rows).unwrap();
            assert_eq!(header.len() + data, spec.compressed_size);
            assert_eq!(written[..header.len()], header[..]);
        }
    }

    /// Pages read back from any offset as the bytes pushed.
    #[test]
    fn pages_read_from_any_offset() {
        let mut pages = Pages::default();
        let whole: Vec<u8> = (0..=255).collect();
        for piece in whole.chunks(37) {
            pages.push(Bytes::copy_from_slice(piece));
        }
        for start in [0usize, 1, 36, 37, 100, 255, 256] {
            let mut read = Vec::new();
            std::io::Read::read_to_end(&mut pages.get_read(start as u64).unwrap(), &mut read)
                .unwrap();
            assert_eq!(read, whole[start..]);
        }
        assert_eq!(pages.get_bytes(30, 20).unwrap(), whole[30..50]);
        assert!(pages.get_read(257).is_err());
    }
}
