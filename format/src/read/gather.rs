//! Copies of the rows of a batch that lie in a few ascending ranges: what a deletion vector
//! or a merge's selection keeps. Primitive and byte columns are copied range by range, with
//! a byte column's offsets shifted in one tight loop per range; arrow's `filter` pushes
//! each offset separately, which made it most of the cost of dropping every tenth row.
//! Other columns go through `filter`.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{BinaryType, ByteArrayType, LargeBinaryType, LargeUtf8Type, Utf8Type};
use arrow_array::{
    downcast_primitive_array, Array, ArrayRef, ArrowPrimitiveType, BooleanArray, GenericByteArray,
    PrimitiveArray, RecordBatch, RecordBatchOptions,
};
use arrow_buffer::{
    ArrowNativeType, BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer,
};
use arrow_schema::DataType;

use crate::error::Result;

/// The rows of `batch` in `ranges` (ascending, not overlapping, within the batch).
pub(crate) fn keep_ranges(batch: &RecordBatch, ranges: &[Range<usize>]) -> Result<RecordBatch> {
    let kept: usize = ranges.iter().map(Range::len).sum();
    if kept == batch.num_rows() {
        return Ok(batch.clone());
    }
    let mut mask = None;
    let columns = batch
        .columns()
        .iter()
        .map(|c| match copy_ranges(c, ranges, kept) {
            Some(copied) => Ok(copied),
            None => {
                let mask = mask.get_or_insert_with(|| mask_of(ranges, batch.num_rows()));
                Ok(arrow_select::filter::filter(c, mask)?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(kept));
    Ok(RecordBatch::try_new_with_options(
        batch.schema(),
        columns,
        &options,
    )?)
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

/// `array`'s rows in `ranges`, when its type has a range-wise copy.
fn copy_ranges(array: &ArrayRef, ranges: &[Range<usize>], kept: usize) -> Option<ArrayRef> {
    let copied: ArrayRef = match array.data_type() {
        DataType::Utf8 => Arc::new(bytes::<Utf8Type>(array.as_bytes(), ranges, kept)),
        DataType::LargeUtf8 => Arc::new(bytes::<LargeUtf8Type>(array.as_bytes(), ranges, kept)),
        DataType::Binary => Arc::new(bytes::<BinaryType>(array.as_bytes(), ranges, kept)),
        DataType::LargeBinary => Arc::new(bytes::<LargeBinaryType>(array.as_bytes(), ranges, kept)),
        _ => downcast_primitive_array!(
            array => Arc::new(primitive(array, ranges, kept)),
            _ => return None
        ),
    };
    Some(copied)
}

fn primitive<T: ArrowPrimitiveType>(
    array: &PrimitiveArray<T>,
    ranges: &[Range<usize>],
    kept: usize,
) -> PrimitiveArray<T> {
    let values = array.values();
    let mut out = Vec::with_capacity(kept);
    for r in ranges {
        out.extend_from_slice(&values[r.clone()]);
    }
    PrimitiveArray::<T>::new(ScalarBuffer::from(out), nulls(array.nulls(), ranges, kept))
        .with_data_type(array.data_type().clone())
}

fn bytes<T: ByteArrayType>(
    array: &GenericByteArray<T>,
    ranges: &[Range<usize>],
    kept: usize,
) -> GenericByteArray<T> {
    let offsets = array.value_offsets();
    let data = array.value_data();
    let mut out_offsets = Vec::with_capacity(kept + 1);
    let mut end = T::Offset::default();
    out_offsets.push(end);
    let mut out_data = Vec::with_capacity(
        ranges
            .iter()
            .map(|r| (offsets[r.end] - offsets[r.start]).as_usize())
            .sum(),
    );
    for r in ranges {
        let first = offsets[r.start];
        let shift = end - first;
        out_offsets.extend(offsets[r.start + 1..=r.end].iter().map(|&o| o + shift));
        out_data.extend_from_slice(&data[first.as_usize()..offsets[r.end].as_usize()]);
        end = end + (offsets[r.end] - first);
    }
    let offsets = OffsetBuffer::new(ScalarBuffer::from(out_offsets));
    let nulls = nulls(array.nulls(), ranges, kept);
    // SAFETY: the offsets start at 0, ascend (OffsetBuffer::new checks) and end at the data's
    // length; each value is a whole value of the valid source array, so string values are
    // UTF-8 cut at char boundaries; the nulls have one bit per row. `try_new` would check
    // the UTF-8 again, a fifth of the cost of dropping deleted rows.
    unsafe { GenericByteArray::<T>::new_unchecked(offsets, Buffer::from_vec(out_data), nulls) }
}

fn nulls(nulls: Option<&NullBuffer>, ranges: &[Range<usize>], kept: usize) -> Option<NullBuffer> {
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
        /// Equal to arrow's filter with the same selection, on sliced input too.
        #[test]
        fn keeping_ranges_equals_filtering(
            rows in 1usize..300,
            offset in 0usize..20,
            seed in any::<u64>(),
            keep in proptest::collection::vec(any::<bool>(), 320),
        ) {
            let whole = batch(rows + offset, seed);
            let sliced = whole.slice(offset, rows);
            let mask = BooleanArray::from(keep[..rows].to_vec());
            let expected = arrow_select::filter::filter_record_batch(&sliced, &mask).unwrap();
            let got = keep_ranges(&sliced, &ranges_of(&mask)).unwrap();
            prop_assert_eq!(got, expected);
        }
    }
}
