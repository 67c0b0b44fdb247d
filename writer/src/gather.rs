//! Gathering rows of many arrays (the write pool's batches) into one array, in a given
//! order: arrow's `interleave` for the types the writer sees most, taking the pool's
//! (batch, row) references as they are and reading a byte array's offsets once, where
//! `interleave` wants 16-byte indices and reads them twice (once to size its buffer).

use std::sync::Arc;

use arrow::array::{
    new_empty_array, Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanBufferBuilder,
    GenericByteArray, GenericByteBuilder, PrimitiveArray,
};
use arrow::buffer::NullBuffer;
use arrow::compute::interleave;
use arrow::datatypes::{
    ArrowNativeType, BinaryType, ByteArrayType, DataType, LargeBinaryType, LargeUtf8Type, Utf8Type,
};
use arrow_array::downcast_primitive;
use strata_format::{invalid, Result};

/// A row of one of several arrays: array, row within it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RowRef {
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
pub(crate) fn gather(sources: &[&dyn Array], rows: &[RowRef]) -> Result<ArrayRef> {
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
    let mut inside = true;
    let gathered: Vec<T::Native> = rows
        .iter()
        .map(|r| {
            let v = values
                .get(r.batch as usize)
                .and_then(|v| v.get(r.row as usize));
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
    let capacity = bytes / count.max(1) * rows.len();
    let mut out = GenericByteBuilder::<T>::with_capacity(rows.len(), capacity);
    for r in rows {
        let (b, i) = r.pair();
        match arrays.get(b) {
            Some(a) if i < a.len() => match a.is_valid(i) {
                true => out.append_value(a.value(i)),
                false => out.append_null(),
            },
            _ => return Err(outside()),
        }
    }
    Ok(Arc::new(out.finish()))
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
