//! Key rows compared by their first 16 bytes. Merges compare keys in arrow-row format;
//! most comparisons end within 16 bytes, and keys of fixed-width columns fit there whole,
//! so a `u128` per row replaces most byte-slice comparisons. The writer sorts its buffers
//! by the same prefixes, so files and merge-on-read agree on key order.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use arrow_array::{Array, RecordBatch};
use arrow_row::Rows;
use arrow_schema::Schema;

/// The key prefixes of one batch.
pub(crate) struct Prefixes {
    pub values: Vec<u128>,
    /// `Some(n)` when every key row is `n ≤ 16` bytes long: equal prefixes of rows of the
    /// same length are equal keys.
    pub exact: Option<usize>,
}

impl Prefixes {
    /// Prefixes of the rows `keys` of `batch`, whose key columns are `key_columns`;
    /// `fixed_len` from [`fixed_key_len`].
    pub fn of(
        batch: &RecordBatch,
        key_columns: &[usize],
        keys: &Rows,
        fixed_len: Option<usize>,
    ) -> Prefixes {
        let len = keys.num_rows();
        let values: Vec<u128> = match Prefixes::of_int64_key(batch, key_columns) {
            Some(p) => p.values,
            None => (0..len).map(|r| prefix(keys.row(r).as_ref())).collect(),
        };
        debug_assert!(len == 0 || values[0] == prefix(keys.row(0).as_ref()));
        let exact = fixed_len.or_else(|| exact_len(keys));
        Prefixes { values, exact }
    }

    /// Prefixes straight from the values of a key that is one BIGINT column without nulls,
    /// with no key rows needed; `None` for other keys.
    pub fn of_int64_key(batch: &RecordBatch, key_columns: &[usize]) -> Option<Prefixes> {
        int64_key(batch, key_columns).map(|values| Prefixes {
            values: values.iter().map(|v| int64_prefix(*v)).collect(),
            // A valid marker and 8 bytes.
            exact: Some(1 + std::mem::size_of::<i64>()),
        })
    }
}

/// The length of every key row when the key columns are fixed-width and their rows fit
/// the prefix (arrow-row writes a null marker byte, then the value's bytes).
pub fn fixed_key_len(schema: &Schema, key_columns: &[usize]) -> Option<usize> {
    key_columns
        .iter()
        .map(|c| {
            schema
                .field(*c)
                .data_type()
                .primitive_width()
                .map(|w| w + 1)
        })
        .sum::<Option<usize>>()
        .filter(|n| *n <= 16)
}

/// `Some(n)` when every key row is `n ≤ 16` bytes long, so equal prefixes are equal keys.
pub fn exact_len(keys: &Rows) -> Option<usize> {
    if keys.num_rows() == 0 {
        return None;
    }
    let first = keys.row(0).as_ref().len();
    let all = (0..keys.num_rows()).all(|r| keys.row(r).as_ref().len() == first);
    (first <= 16 && all).then_some(first)
}

/// The values of a key that is one BIGINT column without nulls (the common case), whose
/// prefixes come straight from the values.
pub fn int64_key<'a>(batch: &'a RecordBatch, key_columns: &[usize]) -> Option<&'a [i64]> {
    let [c] = key_columns else {
        return None;
    };
    let column = batch.column(*c);
    if column.null_count() > 0 {
        return None;
    }
    column
        .as_primitive_opt::<Int64Type>()
        .map(|a| a.values().as_ref())
}

/// [`prefix`] of a non-null BIGINT key row: arrow-row writes a valid marker (1), then the
/// value big-endian with its sign bit flipped.
pub fn int64_prefix(v: i64) -> u128 {
    (1u128 << 120) | (u128::from((v as u64) ^ (1 << 63)) << 56)
}

/// The first 16 bytes, big-endian, zero-padded: orders like the bytes when they differ
/// within the prefix.
pub fn prefix(bytes: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    let n = bytes.len().min(16);
    buf[..n].copy_from_slice(&bytes[..n]);
    u128::from_be_bytes(buf)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array};
    use arrow_row::{RowConverter, SortField};

    use super::*;

    /// The prefix computed from a BIGINT equals the prefix of its arrow-row key, and orders
    /// like the values.
    #[test]
    fn int64_prefixes_are_the_key_row_prefixes() {
        let values = vec![i64::MIN, -1_000_000, -1, 0, 1, 42, i64::MAX];
        let converter = RowConverter::new(vec![SortField::new(arrow_schema::DataType::Int64)])
            .expect("converter");
        let column: ArrayRef = Arc::new(Int64Array::from(values.clone()));
        let rows = converter.convert_columns(&[column]).expect("rows");
        let prefixes: Vec<u128> = values.iter().map(|v| int64_prefix(*v)).collect();
        for (i, p) in prefixes.iter().enumerate() {
            assert_eq!(*p, prefix(rows.row(i).as_ref()), "value {}", values[i]);
        }
        assert!(prefixes.windows(2).all(|w| w[0] < w[1]));
    }
}
