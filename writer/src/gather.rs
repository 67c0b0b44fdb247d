//! Gathering rows of many arrays (the write pool's batches) into one array, in a given
//! order: arrow's `interleave` for the types the writer sees most, taking the pool's
//! (batch, row) references as they are and reading a byte array's offsets once, where
//! `interleave` wants 16-byte indices and reads them twice (once to size its buffer).
//!
//! A flush gathers a bucket in key order from hundreds of sorted runs, each read front to
//! back: too many streams for the hardware prefetcher, so each value read asks for the
//! next cache line of its source, and that line is there when the run comes up again.
//! This halves the gather's time (`cargo run --release -p strata-writer --example
//! gather_runs`: its `prefetched` lines).

use std::sync::Arc;

use arrow::array::{
    new_empty_array, Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanBufferBuilder,
    GenericByteArray, PrimitiveArray,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::interleave;
use arrow::datatypes::{
    ArrowNativeType, BinaryType, ByteArrayType, DataType, LargeBinaryType, LargeUtf8Type, Utf8Type,
};
use arrow_array::downcast_primitive;
use strata_format::{invalid, Result};

/// A row of one of several arrays: array, row within it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RowRef {
    pub batch: u32,
    pub row: u32,
}

impl RowRef {
    pub fn pair(self) -> (usize, usize) {
        (self.batch as usize, self.row as usize)
    }
}

/// `rows` of `sources` (arrays of one type) as one array. A row outside the sources is an
/// error, found as it is gathered (a pass over the rows before would ask each source's
/// length through its `dyn Array` once per row).
pub fn gather(sources: &[&dyn Array], rows: &[RowRef]) -> Result<ArrayRef> {
    let Some(first) = sources.first() else {
        return Err(invalid!("nothing to gather rows from"));
    };
    let data_type = first.data_type();
    if sources.iter().any(|s| s.data_type() != data_type) {
        return Err(invalid!("gathering rows from arrays of different types"));
    }
    if rows.is_empty() {
        return Ok(new_empty_array(data_type));
    }
    macro_rules! primitive {
        ($t:ty, $sources:ident, $rows:ident, $data_type:ident) => {
            gather_primitive::<$t>($sources, $rows, $data_type)
        };
    }
    downcast_primitive! {
        data_type => (primitive, sources, rows, data_type),
        DataType::Utf8 => gather_bytes::<Utf8Type>(sources, rows),
        DataType::LargeUtf8 => gather_bytes::<LargeUtf8Type>(sources, rows),
        DataType::Binary => gather_bytes::<BinaryType>(sources, rows),
        DataType::LargeBinary => gather_bytes::<LargeBinaryType>(sources, rows),
        _ => {
            let in_bounds = |r: &RowRef| {
                sources
                    .get(r.batch as usize)
                    .is_some_and(|s| (r.row as usize) < s.len())
            };
            if !rows.iter().all(in_bounds) {
                return Err(outside());
            }
            let pairs: Vec<(usize, usize)> = rows.iter().map(|r| r.pair()).collect();
            Ok(interleave(sources, &pairs)?)
        }
    }
}

fn gather_primitive<T: ArrowPrimitiveType>(
    sources: &[&dyn Array],
    rows: &[RowRef],
    data_type: &DataType,
) -> Result<ArrayRef> {
    let values = sources
        .iter()
        .map(|s| s.as_primitive_opt::<T>().map(|a| a.values().as_ref()))
        .collect::<Option<Vec<&[T::Native]>>>()
        .ok_or_else(|| invalid!("gathering {data_type} rows from another type"))?;
    let per_line = (LINE / std::mem::size_of::<T::Native>()).max(1);
    let mut inside = true;
    let gathered: Vec<T::Native> = rows
        .iter()
        .map(|r| {
            let source = values.get(r.batch as usize);
            let v = source.and_then(|v| v.get(r.row as usize));
            if let Some(source) = source {
                prefetch(source.as_ptr().wrapping_add(r.row as usize + per_line));
            }
            inside &= v.is_some();
            v.copied().unwrap_or_default()
        })
        .collect();
    if !inside {
        return Err(outside());
    }
    let array = PrimitiveArray::<T>::new(gathered.into(), nulls(sources, rows))
        .with_data_type(data_type.clone());
    Ok(Arc::new(array))
}

fn gather_bytes<T: ByteArrayType>(sources: &[&dyn Array], rows: &[RowRef]) -> Result<ArrayRef> {
    let arrays = sources
        .iter()
        .map(|s| s.as_bytes_opt::<T>())
        .collect::<Option<Vec<&GenericByteArray<T>>>>()
        .ok_or_else(|| invalid!("gathering {} rows from another type", T::DATA_TYPE))?;
    // The sources' mean value length, for one allocation in the common case (their
    // offsets' span: a slice's data buffer may be the whole parent's).
    let (bytes, count) = arrays.iter().fold((0usize, 0usize), |(b, n), a| {
        let offsets = a.value_offsets();
        let span = match (offsets.first(), offsets.last()) {
            (Some(first), Some(last)) => last.as_usize().saturating_sub(first.as_usize()),
            _ => 0,
        };
        (b + span, n + a.len())
    });
    let mut data: Vec<u8> = Vec::with_capacity(bytes / count.max(1) * rows.len() + SHORT);
    let mut offsets: Vec<T::Offset> = Vec::with_capacity(rows.len() + 1);
    offsets.push(T::Offset::usize_as(0));
    let any_nulls = arrays.iter().any(|a| a.null_count() > 0);
    let offsets_per_line = LINE / std::mem::size_of::<T::Offset>();
    for r in rows {
        let (b, i) = r.pair();
        let Some(a) = arrays.get(b).filter(|a| i < a.len()) else {
            return Err(outside());
        };
        if !(any_nulls && a.is_null(i)) {
            let source = a.value_offsets();
            let (start, end) = (source[i].as_usize(), source[i + 1].as_usize());
            let values = a.value_data();
            // The next value of this source sits past this one: with hundreds of
            // sources, too many streams for the hardware prefetcher to follow.
            prefetch(values.as_ptr().wrapping_add(end + LINE));
            prefetch(source.as_ptr().wrapping_add(i + offsets_per_line));
            let len = end - start;
            match values.get(start..start + SHORT) {
                // A short value as one fixed-size copy (no branch on its length), the
                // bytes past it cut off again.
                Some(block) if len <= SHORT => {
                    let at = data.len();
                    data.extend_from_slice(block);
                    data.truncate(at + len);
                }
                _ => data.extend_from_slice(&values[start..end]),
            }
        }
        offsets
            .push(T::Offset::from_usize(data.len()).ok_or_else(|| {
                invalid!("gathered {} values exceed their offsets", T::DATA_TYPE)
            })?);
    }
    // SAFETY: the offsets start at 0 and never decrease, and each value was copied
    // whole from an array of the same type (so valid UTF-8 where the type asks).
    let array = unsafe {
        GenericByteArray::<T>::new_unchecked(
            OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)),
            Buffer::from_vec(data),
            nulls(sources, rows),
        )
    };
    Ok(Arc::new(array))
}

/// A cache line: how far ahead of a source's current value to prefetch.
const LINE: usize = 64;

/// Values up to this long are copied as one block of this size.
const SHORT: usize = 64;

/// Asks the CPU to bring `p`'s cache line in; a hint only (never faults, any address).
#[inline(always)]
fn prefetch<P>(p: *const P) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

fn outside() -> strata_format::Error {
    invalid!("gathering a row outside its arrays")
}

/// The validity of `rows`, or none when no source has nulls.
fn nulls(sources: &[&dyn Array], rows: &[RowRef]) -> Option<NullBuffer> {
    if sources.iter().all(|s| s.null_count() == 0) {
        return None;
    }
    let mut valid = BooleanBufferBuilder::new(rows.len());
    for r in rows {
        let (b, i) = r.pair();
        valid.append(sources.get(b).is_some_and(|s| s.is_valid(i)));
    }
    Some(NullBuffer::new(valid.finish()))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int32Array, StringArray, TimestampMicrosecondArray};

    use super::*;

    fn at(batch: u32, row: u32) -> RowRef {
        RowRef { batch, row }
    }

    /// Each supported kind of array gathers to what arrow's `interleave` gives, nulls and
    /// parameterised types (a timestamp's zone) included.
    #[test]
    fn gathers_like_interleave() {
        let cases: Vec<[ArrayRef; 2]> = vec![
            [
                Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(Int32Array::from(vec![7, 8])),
            ],
            [
                Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])),
                Arc::new(StringArray::from(vec!["", "long value here"])),
            ],
            [
                Arc::new(TimestampMicrosecondArray::from(vec![1, 2, 3]).with_timezone("UTC")),
                Arc::new(TimestampMicrosecondArray::from(vec![4, 5]).with_timezone("UTC")),
            ],
            [
                Arc::new(arrow::array::BooleanArray::from(vec![true, false, true])),
                Arc::new(arrow::array::BooleanArray::from(vec![Some(false), None])),
            ],
        ];
        let rows = [at(1, 1), at(0, 1), at(0, 0), at(1, 0), at(0, 2), at(0, 1)];
        let pairs: Vec<(usize, usize)> = rows.iter().map(|r| r.pair()).collect();
        for sources in &cases {
            let sources: Vec<&dyn Array> = sources.iter().map(|a| a.as_ref()).collect();
            let got = gather(&sources, &rows).unwrap();
            let want = interleave(&sources, &pairs).unwrap();
            assert_eq!(got.as_ref(), want.as_ref(), "{}", want.data_type());
        }
    }

    /// Byte values of every length around the short-copy block, at the start, middle and
    /// very end of their data buffers, from sliced arrays and with nulls, gather whole.
    #[test]
    fn byte_values_of_any_length_gather_whole() {
        let values: Vec<Option<String>> = [0, 1, 63, 64, 65, 200, 7, 64, 3]
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                (i != 6).then(|| {
                    (0..n)
                        .map(|j| (b'a' + ((i + j) % 26) as u8) as char)
                        .collect()
                })
            })
            .collect();
        let strings = StringArray::from(values.clone());
        let large = arrow::array::LargeBinaryArray::from_iter(
            values.iter().map(|v| v.as_ref().map(|s| s.as_bytes())),
        );
        for whole in [Arc::new(strings) as ArrayRef, Arc::new(large)] {
            let sources = [whole.slice(2, 7), whole.slice(0, 3), whole.clone()];
            let sources: Vec<&dyn Array> = sources.iter().map(|a| a.as_ref()).collect();
            let rows: Vec<RowRef> = (0..3u32)
                .flat_map(|b| (0..sources[b as usize].len() as u32).map(move |r| at(b, r)))
                .rev()
                .collect();
            let pairs: Vec<(usize, usize)> = rows.iter().map(|r| r.pair()).collect();
            let got = gather(&sources, &rows).unwrap();
            let want = interleave(&sources, &pairs).unwrap();
            assert_eq!(got.as_ref(), want.as_ref(), "{}", want.data_type());
        }
    }

    /// Rows outside the arrays and mixed types are errors, not panics.
    #[test]
    fn bad_rows_are_errors() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let s: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        let err = gather(&[a.as_ref()], &[at(0, 2)]).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        let err = gather(&[a.as_ref()], &[at(1, 0)]).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        // Found in each kind's own loop, and before arrow's `interleave`.
        let b: ArrayRef = Arc::new(arrow::array::BooleanArray::from(vec![true]));
        for (source, row) in [(&s, at(0, 1)), (&s, at(2, 0)), (&b, at(0, 1))] {
            let err = gather(&[source.as_ref()], &[at(0, 0), row]).unwrap_err();
            assert!(err.to_string().contains("outside"), "{err}");
        }
        let err = gather(&[a.as_ref(), s.as_ref()], &[at(0, 0)]).unwrap_err();
        assert!(err.to_string().contains("different types"), "{err}");
        assert!(gather(&[], &[]).is_err());
    }
}
