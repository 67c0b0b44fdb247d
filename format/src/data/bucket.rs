//! Paimon's default bucket function for fixed-bucket tables: Murmur3 (32-bit, seed 42) over
//! the bucket key's BinaryRow bytes, then `abs(hash % num_buckets)` (Java
//! `MurmurHashUtils.hashBytesByWords`, `BinaryRow.hashCode`, `KeyAndBucketExtractor.bucket`).

#[cfg(test)]
mod tests;

use crate::data::binary_row::BinaryRowWriter;
use crate::data::Datum;
use crate::error::Result;
use crate::invalid;
use crate::types::DataType;

/// Seed of Paimon's murmur hashes.
pub const DEFAULT_SEED: i32 = 42;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

fn mix_k1(k1: u32) -> u32 {
    k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

fn mix_h1(h1: u32, k1: u32) -> u32 {
    (h1 ^ k1)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

fn fmix(h1: u32, len: usize) -> u32 {
    // Java mixes in the int length; rows are far below 2^32 bytes.
    let mut h = h1 ^ len as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Murmur3 over whole little-endian 4-byte words, finalized with the byte length, as Java's
/// `hashBytesByWords`. Java requires a multiple of 4; trailing bytes here are ignored (as
/// pypaimon does). BinaryRow bytes are always a multiple of 8.
pub fn hash_bytes_by_words(bytes: &[u8], seed: i32) -> i32 {
    let h1 = bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .fold(seed as u32, |h1, k1| mix_h1(h1, mix_k1(k1)));
    fmix(h1, bytes.len()) as i32
}

/// The bucket hash of BinaryRow bytes (without the arity prefix): Java `BinaryRow.hashCode()`.
pub fn bucket_hash(row_bytes: &[u8]) -> i32 {
    hash_bytes_by_words(row_bytes, DEFAULT_SEED)
}

/// `abs(hash % num_buckets)` with Java's truncating `%`. `num_buckets` must be positive;
/// 0 yields bucket 0 rather than a division panic.
pub fn bucket_of(hash: i32, num_buckets: u32) -> u32 {
    // i64 keeps counts above i32::MAX and `abs` of i32::MIN % n exact.
    i64::from(hash)
        .checked_rem(i64::from(num_buckets))
        .map_or(0, |r| r.unsigned_abs() as u32)
}

/// The bucket of a bucket key (values in bucket-key order, with their types).
pub fn bucket_of_key(key: &[Option<Datum>], types: &[DataType], num_buckets: u32) -> Result<u32> {
    let mut writer = BinaryRowWriter::new(types.len());
    bucket_of_key_with(&mut writer, key, types, num_buckets)
}

/// [`bucket_of_key`] reusing `writer` (arity `types.len()`), for per-record use.
pub fn bucket_of_key_with(
    writer: &mut BinaryRowWriter,
    key: &[Option<Datum>],
    types: &[DataType],
    num_buckets: u32,
) -> Result<u32> {
    if num_buckets == 0 || num_buckets > i32::MAX as u32 {
        return Err(invalid!(
            "bucket count {num_buckets} is outside 1..=2147483647"
        ));
    }
    let bytes = writer.write_row(key, types)?;
    Ok(bucket_of(bucket_hash(bytes), num_buckets))
}

/// The bucket of every row of `columns` (the bucket key, one column per field, typed
/// `types`), as [`bucket_of_key`] computes it row by row. A single non-null 8/16/32/64-bit
/// integer column (BIGINT, INT, SMALLINT, TINYINT, DATE) is hashed straight from its values:
/// its BinaryRow is a fixed header and one 8-byte slot, so only the slot changes per row.
pub fn buckets_of_rows(
    columns: &[arrow_array::ArrayRef],
    types: &[DataType],
    num_buckets: u32,
    writer: &mut BinaryRowWriter,
) -> Result<Vec<u32>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Int16Type, Int32Type, Int64Type, Int8Type};
    use arrow_schema::DataType as ArrowType;

    use crate::data::binary_row::{encode_arrow_row, null_bits_size};

    let rows = columns.first().map_or(0, |c| c.len());
    if rows == 0 {
        return Ok(Vec::new());
    }
    if let [column] = columns {
        if column.null_count() == 0 {
            let slot = null_bits_size(1);
            // One field: an 8-byte header, then the slot. Row 0 through the general encoder gives the exact header bytes.
            encode_arrow_row(columns, types, 0, writer)?;
            if let Ok(template) = <[u8; 16]>::try_from(writer.finish()) {
                debug_assert_eq!(slot, 8);
                let hash_with = |value: [u8; 8]| {
                    let mut bytes = template;
                    bytes[8..].copy_from_slice(&value);
                    bucket_of(bucket_hash(&bytes), num_buckets)
                };
                // Narrower values sit in the slot's low bytes, the rest zero (as written).
                let widen = |le: &[u8]| {
                    let mut v = [0u8; 8];
                    v[..le.len()].copy_from_slice(le);
                    v
                };
                let fast: Option<Vec<u32>> = match column.data_type() {
                    ArrowType::Int64 => column.as_primitive_opt::<Int64Type>().map(|a| {
                        a.values()
                            .iter()
                            .map(|v| hash_with(v.to_le_bytes()))
                            .collect()
                    }),
                    ArrowType::Int32 => column.as_primitive_opt::<Int32Type>().map(|a| {
                        a.values()
                            .iter()
                            .map(|v| hash_with(widen(&v.to_le_bytes())))
                            .collect()
                    }),
                    ArrowType::Date32 => column.as_primitive_opt::<Date32Type>().map(|a| {
                        a.values()
                            .iter()
                            .map(|v| hash_with(widen(&v.to_le_bytes())))
                            .collect()
                    }),
                    ArrowType::Int16 => column.as_primitive_opt::<Int16Type>().map(|a| {
                        a.values()
                            .iter()
                            .map(|v| hash_with(widen(&v.to_le_bytes())))
                            .collect()
                    }),
                    ArrowType::Int8 => column.as_primitive_opt::<Int8Type>().map(|a| {
                        a.values()
                            .iter()
                            .map(|v| hash_with(widen(&v.to_le_bytes())))
                            .collect()
                    }),
                    _ => None,
                };
                if let Some(buckets) = fast {
                    return Ok(buckets);
                }
            }
        }
    }
    (0..rows)
        .map(|row| {
            encode_arrow_row(columns, types, row, writer)?;
            Ok(bucket_of(bucket_hash(writer.finish()), num_buckets))
        })
        .collect()
}
