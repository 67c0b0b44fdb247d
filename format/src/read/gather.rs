//! The rows of a batch that lie in a few ascending ranges: what a deletion vector or a
//! merge's selection keeps. Primitive and byte columns whose buffers the batch alone owns
//! (as a freshly decoded one does) are compacted in place: the kept values move down over
//! the dropped ones, so nothing is allocated and the lines written are the ones just read.
//! Arrow's `filter` copied every kept value into new buffers and pushed each string offset
//! separately, which made it most of the cost of dropping every tenth row. Shared columns
//! and other types still go through `filter`.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::ArrayData;
use arrow_array::types::{BinaryType, ByteArrayType, LargeBinaryType, LargeUtf8Type, Utf8Type};
use arrow_array::{
    downcast_primitive, make_array, Array, ArrayRef, ArrowPrimitiveType, BooleanArray,
    GenericByteArray, PrimitiveArray, RecordBatch, RecordBatchOptions,
};
use arrow_buffer::{
    ArrowNativeType, BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer,
};
use arrow_schema::DataType;

use crate::error::Result;

/// The rows of `batch` in `ranges` (ascending, not overlapping, within the batch).
pub(crate) fn keep_ranges(batch: RecordBatch, ranges: &[Range<usize>]) -> Result<RecordBatch> {
    let ranges = maximal(ranges);
    let kept: usize = ranges.iter().map(Range::len).sum();
    let (schema, columns, rows) = batch.into_parts();
    if kept == rows {
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        return Ok(RecordBatch::try_new_with_options(
            schema, columns, &options,
        )?);
    }
    let mut mask = None;
    let columns = columns
        .into_iter()
        .map(|c| match compact(c, &ranges, kept) {
            Ok(compacted) => Ok(compacted),
            Err(shared) => {
                let mask = mask.get_or_insert_with(|| mask_of(&ranges, rows));
                Ok(arrow_select::filter::filter(&shared, mask)?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(kept));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// The ranges without empty ones and with touching ones joined, so that every range after
/// the first starts past a dropped row (which [`compact_bytes`] relies on).
fn maximal(ranges: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges.iter().filter(|r| !r.is_empty()) {
        match out.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => out.push(r.clone()),
        }
    }
    out
}

/// `array`'s rows in `ranges`, compacted in place when its type allows and its buffers are
/// not shared; else the array back.
fn compact(array: ArrayRef, ranges: &[Range<usize>], kept: usize) -> Result<ArrayRef, ArrayRef> {
    // Taken out of `array`, so that the buffers are unique when nothing else holds them.
    let data = array.to_data();
    drop(array);
    let data_type = data.data_type().clone();
    macro_rules! bytes {
        ($t:ty) => {
            wrap(compact_bytes(
                GenericByteArray::<$t>::from(data),
                ranges,
                kept,
            ))
        };
    }
    match data_type {
        DataType::Utf8 => bytes!(Utf8Type),
        DataType::LargeUtf8 => bytes!(LargeUtf8Type),
        DataType::Binary => bytes!(BinaryType),
        DataType::LargeBinary => bytes!(LargeBinaryType),
        _ => {
            macro_rules! primitive {
                ($t:ty) => {
                    compact_primitive_data::<$t>(data, ranges, kept)
                };
            }
            downcast_primitive! {
                data_type => (primitive),
                _ => Err(make_array(data))
            }
        }
    }
}

fn compact_primitive_data<T: ArrowPrimitiveType>(
    data: ArrayData,
    ranges: &[Range<usize>],
    kept: usize,
) -> Result<ArrayRef, ArrayRef> {
    wrap(compact_primitive(
        PrimitiveArray::<T>::from(data),
        ranges,
        kept,
    ))
}

fn wrap<A: Array + 'static>(compacted: Result<A, A>) -> Result<ArrayRef, ArrayRef> {
    compacted
        .map(|a| Arc::new(a) as ArrayRef)
        .map_err(|a| Arc::new(a) as ArrayRef)
}

fn compact_primitive<T: ArrowPrimitiveType>(
    array: PrimitiveArray<T>,
    ranges: &[Range<usize>],
    kept: usize,
) -> Result<PrimitiveArray<T>, PrimitiveArray<T>> {
    let (data_type, values, nulls) = array.into_parts();
    let mut buffer = match values.into_inner().into_mutable() {
        Ok(buffer) => buffer,
        Err(shared) => {
            return Err(
                PrimitiveArray::new(ScalarBuffer::from(shared), nulls).with_data_type(data_type)
            )
        }
    };
    let values = buffer.typed_data_mut::<T::Native>();
    let mut end = 0;
    for r in ranges {
        values.copy_within(r.clone(), end);
        end += r.len();
    }
    buffer.truncate(kept * std::mem::size_of::<T::Native>());
    let nulls = kept_nulls(nulls.as_ref(), ranges, kept);
    Ok(
        PrimitiveArray::new(ScalarBuffer::from(Buffer::from(buffer)), nulls)
            .with_data_type(data_type),
    )
}

fn compact_bytes<T: ByteArrayType>(
    array: GenericByteArray<T>,
    ranges: &[Range<usize>],
    kept: usize,
) -> Result<GenericByteArray<T>, GenericByteArray<T>> {
    let (offsets, values, nulls) = array.into_parts();
    let (mut offsets, mut values) = match (
        offsets.into_inner().into_inner().into_mutable(),
        values.into_mutable(),
    ) {
        (Ok(o), Ok(v)) => (o, v),
        (o, v) => {
            let o = o.map_or_else(|shared| shared, Buffer::from);
            let v = v.map_or_else(|shared| shared, Buffer::from);
            let offsets = OffsetBuffer::new(ScalarBuffer::from(o));
            // SAFETY: the parts of the valid array taken apart above, unchanged.
            return Err(unsafe { GenericByteArray::new_unchecked(offsets, v, nulls) });
        }
    };
    let offs = offsets.typed_data_mut::<T::Offset>();
    let data = values.as_slice_mut();
    // Offsets are rewritten from index 1 on, up to the row count so far; every range after
    // the first starts past a dropped row, so its offsets are read before they are rewritten.
    let (mut row, mut end) = (0, T::Offset::default());
    for r in ranges {
        let (first, last) = (offs[r.start], offs[r.end]);
        let shift = first - end;
        for i in r.start..r.end {
            row += 1;
            offs[row] = offs[i + 1] - shift;
        }
        data.copy_within(first.as_usize()..last.as_usize(), end.as_usize());
        end += last - first;
    }
    offs[0] = T::Offset::default();
    offsets.truncate((kept + 1) * std::mem::size_of::<T::Offset>());
    values.truncate(end.as_usize());
    // SAFETY: the offsets start at 0 and ascend, as the source's did (each kept value keeps
    // its length), so `new` would only check them again.
    let offsets = unsafe { OffsetBuffer::new_unchecked(ScalarBuffer::from(Buffer::from(offsets))) };
    let nulls = kept_nulls(nulls.as_ref(), ranges, kept);
    // SAFETY: the offsets end at the data's length; each value is a whole value of the valid
    // source array, so string values are UTF-8 cut at char boundaries; the nulls have one
    // bit per row. `try_new` would check the UTF-8 again, a fifth of the cost of dropping
    // deleted rows.
    Ok(unsafe { GenericByteArray::new_unchecked(offsets, Buffer::from(values), nulls) })
}

/// The ranges of set bits of a selection.
pub(crate) fn ranges_of(mask: &BooleanArray) -> Vec<Range<usize>> {
    mask.values().set_slices().map(|(s, e)| s..e).collect()
}

fn mask_of(ranges: &[Range<usize>], len: usize) -> BooleanArray {
    let mut bits = BooleanBufferBuilder::new(len);
    for r in ranges {
        bits.append_n(r.start - bits.len(), false);
        bits.append_n(r.len(), true);
    }
    bits.append_n(len - bits.len(), false);
    BooleanArray::new(bits.finish(), None)
}

fn kept_nulls(
    nulls: Option<&NullBuffer>,
    ranges: &[Range<usize>],
    kept: usize,
) -> Option<NullBuffer> {
    let nulls = nulls?;
    let mut bits = BooleanBufferBuilder::new(kept);
    for r in ranges {
        bits.append_buffer(&nulls.inner().slice(r.start, r.len()));
    }
    Some(NullBuffer::new(bits.finish())).filter(|n| n.null_count() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{
        Int32Array, Int64Array, LargeStringArray, StringArray, StructArray,
        TimestampMicrosecondArray,
    };
    use arrow_schema::{Field, Schema};
    use proptest::prelude::*;

    fn batch(rows: usize, seed: u64) -> RecordBatch {
        let pick = |i: usize, m: u64| (i as u64).wrapping_mul(seed | 1).rotate_left(17) % m;
        let ints = Int64Array::from_iter((0..rows).map(|i| (pick(i, 7) != 0).then_some(i as i64)));
        let strings = StringArray::from_iter(
            (0..rows).map(|i| (pick(i, 5) != 0).then(|| "é".repeat(pick(i, 9) as usize))),
        );
        let large = LargeStringArray::from_iter_values((0..rows).map(|i| format!("v{i}")));
        let ts = TimestampMicrosecondArray::from_iter_values((0..rows).map(|i| i as i64))
            .with_timezone("UTC");
        let nested = StructArray::from(vec![(
            Arc::new(Field::new("x", DataType::Int32, false)),
            Arc::new(Int32Array::from_iter_values(0..rows as i32)) as ArrayRef,
        )]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(ints),
            Arc::new(strings),
            Arc::new(large),
            Arc::new(ts),
            Arc::new(nested),
        ];
        let schema = Schema::new(
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    proptest! {
        /// Equal to arrow's filter with the same selection: in place on a batch that owns its
        /// buffers, by `filter` on a shared or sliced one, with touching ranges too.
        #[test]
        fn keeping_ranges_equals_filtering(
            rows in 1usize..300,
            offset in 0usize..20,
            shared in any::<bool>(),
            seed in any::<u64>(),
            keep in proptest::collection::vec(any::<bool>(), 320),
        ) {
            let mask = BooleanArray::from(keep[..rows].to_vec());
            let input = || batch(rows + offset, seed).slice(offset, rows);
            let expected = arrow_select::filter::filter_record_batch(&input(), &mask).unwrap();
            // Touching pieces of the selection's ranges.
            let ranges: Vec<Range<usize>> = ranges_of(&mask)
                .into_iter()
                .flat_map(|r| {
                    let mid = r.start + r.len() / 2;
                    [r.start..mid, mid..r.end]
                })
                .collect();
            let input = input();
            let alive = shared.then(|| input.clone());
            let ints = |b: &RecordBatch| b.column(0).as_primitive::<Int64Type>().values().as_ptr();
            let before = ints(&input);
            let got = keep_ranges(input, &ranges).unwrap();
            prop_assert_eq!(&got, &expected);
            let in_place = offset == 0 && alive.is_none();
            if expected.num_rows() > 0 && expected.num_rows() < rows {
                prop_assert_eq!(ints(&got) == before, in_place);
            }
        }
    }
}
