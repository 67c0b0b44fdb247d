//! Paimon's BinaryRow: the byte layout of partitions, keys and min/max statistics in
//! manifests, and the input of the bucket hash.
//!
//! Layout (all little-endian): a null bitset whose first byte is the RowKind header (field `i`
//! is bit `i + 8`), one 8-byte slot per field, then an 8-byte aligned variable part.
//! Strings/binaries of at most 7 bytes live inline in their slot (last byte `0x80 | len`);
//! longer ones, non-compact decimals (precision > 18) and non-compact timestamps
//! (precision > 3) go to the variable part and their slot holds `offset << 32 | len` (for
//! timestamps `offset << 32 | nanos_of_milli`), the offset counted from the row start.
//!
//! Where pypaimon 2.1.0 and Java Paimon differ, this follows Java: a NULL non-compact decimal
//! or timestamp still reserves its variable-part space, and non-compact decimal bytes are the
//! minimal two's complement (`BigInteger.toByteArray`).

mod from_arrow;
#[cfg(test)]
mod tests;

pub use from_arrow::encode_arrow_row;

use crate::data::Datum;
use crate::error::{Error, Result};
use crate::invalid;
use crate::types::{DataType, TypeKind};

/// Bits before the first field's null bit (the RowKind header byte).
const HEADER_BITS: usize = 8;
/// Longest string/binary stored inline in its slot.
const MAX_INLINE: usize = 7;
const INLINE_MARK: u64 = 1 << 63;
/// Largest precision that stores a decimal as an unscaled `i64` in its slot.
const MAX_COMPACT_DECIMAL_PRECISION: u8 = 18;
/// Largest precision that stores a timestamp as epoch millis in its slot.
const MAX_COMPACT_TIMESTAMP_PRECISION: u8 = 3;
/// Space a non-compact decimal takes in the variable part, whatever its byte length.
const DECIMAL_VAR_SIZE: usize = 16;

/// Paimon's `BinaryRow.EMPTY_ROW` bytes (arity 0): a zeroed 8-byte null bitset. Unpartitioned
/// tables store this (after the arity prefix) as `_PARTITION`.
pub const EMPTY_ROW: [u8; 8] = [0; 8];

/// Width in bytes of the null bitset (header included) for `arity` fields.
pub fn null_bits_size(arity: usize) -> usize {
    arity.saturating_add(63 + HEADER_BITS) / 64 * 8
}

/// Size of the fixed part (null bitset plus one slot per field), `None` on overflow.
pub fn fixed_part_size(arity: usize) -> Option<usize> {
    arity.checked_mul(8)?.checked_add(null_bits_size(arity))
}

/// Prefixes BinaryRow bytes with their arity as a 4-byte big-endian int, the form manifests
/// store (Java `SerializationUtils.serializeBinaryRow`).
pub fn serialize_with_arity(bytes: &[u8], arity: usize) -> Vec<u8> {
    // Arity is bounded by the row size; anything above i32::MAX can't be a real row.
    debug_assert!(arity <= i32::MAX as usize);
    let mut out = Vec::with_capacity(bytes.len() + 4);
    out.extend_from_slice(&(arity as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

/// Splits manifest bytes into the arity and the BinaryRow bytes.
pub fn deserialize_with_arity(bytes: &[u8]) -> Result<(usize, &[u8])> {
    let (prefix, rest) = bytes.split_first_chunk::<4>().ok_or_else(|| {
        invalid!(
            "BinaryRow: {} bytes, too short for the arity prefix",
            bytes.len()
        )
    })?;
    let arity = i32::from_be_bytes(*prefix);
    let arity =
        usize::try_from(arity).map_err(|_| invalid!("BinaryRow: negative arity {arity}"))?;
    Ok((arity, rest))
}

fn is_compact_decimal(precision: u8) -> bool {
    precision <= MAX_COMPACT_DECIMAL_PRECISION
}

fn is_compact_timestamp(precision: u8) -> bool {
    precision <= MAX_COMPACT_TIMESTAMP_PRECISION
}

fn check_decimal_precision(precision: u8) -> Result<()> {
    if (1..=38).contains(&precision) {
        Ok(())
    } else {
        Err(invalid!("DECIMAL precision {precision} is outside 1..=38"))
    }
}

/// Whether `unscaled` has at most `precision` digits.
fn decimal_fits(unscaled: i128, precision: u8) -> bool {
    match 10i128.checked_pow(u32::from(precision)) {
        Some(limit) => unscaled.unsigned_abs() < limit.unsigned_abs(),
        None => true,
    }
}

/// Bytes of Java's `BigInteger.toByteArray` (minimal big-endian two's complement), as
/// `(buffer, start)`: the value is `buffer[start..]`.
fn unscaled_bytes(v: i128) -> ([u8; 16], usize) {
    // Java's bitLength: the bits after dropping redundant sign bits.
    let sign_bits = if v < 0 {
        v.leading_ones()
    } else {
        v.leading_zeros()
    };
    let len = (128 - sign_bits as usize) / 8 + 1;
    (v.to_be_bytes(), 16usize.saturating_sub(len))
}

fn unsupported_nested(pos: usize, ty: &DataType) -> Error {
    Error::unsupported(format!(
        "BinaryRow field {pos}: nested type {:?} is not supported (only atomic types can be keys, \
         partitions or statistics)",
        ty.kind
    ))
}

/// Builds BinaryRow bytes field by field into a reused buffer, so a writer that needs one row
/// per input record (bucketing) allocates only when a row outgrows all earlier ones.
///
/// Write fields in increasing position order: the variable part is laid out in write order,
/// and hashes and byte comparisons rely on Paimon's canonical order. A field never written
/// reads as NULL.
#[derive(Debug, Clone)]
pub struct BinaryRowWriter {
    arity: usize,
    null_bits: usize,
    fixed_size: usize,
    buf: Vec<u8>,
    next_pos: usize,
}

impl BinaryRowWriter {
    pub fn new(arity: usize) -> Self {
        let null_bits = null_bits_size(arity);
        let fixed_size = null_bits.saturating_add(arity.saturating_mul(8));
        let mut writer = BinaryRowWriter {
            arity,
            null_bits,
            fixed_size,
            buf: Vec::with_capacity(fixed_size),
            next_pos: 0,
        };
        writer.reset();
        writer
    }

    pub fn arity(&self) -> usize {
        self.arity
    }

    /// Starts a new row: zeroed slots, header 0 (+I), every field NULL until written.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(self.fixed_size, 0);
        for pos in 0..self.arity {
            self.set_null_bit(pos, true);
        }
        self.next_pos = 0;
    }

    /// The row bytes so far (no arity prefix).
    pub fn finish(&self) -> &[u8] {
        &self.buf
    }

    /// Resets, writes `values` in order and returns the row bytes.
    pub fn write_row(&mut self, values: &[Option<Datum>], types: &[DataType]) -> Result<&[u8]> {
        if values.len() != self.arity || types.len() != self.arity {
            return Err(invalid!(
                "BinaryRow: {} values and {} types for a writer of arity {}",
                values.len(),
                types.len(),
                self.arity
            ));
        }
        self.reset();
        for (pos, (value, ty)) in values.iter().zip(types).enumerate() {
            self.write(pos, value.as_ref(), ty)?;
        }
        Ok(self.finish())
    }

    /// Writes field `pos` (`None` = NULL). The value must match the type's kind.
    pub fn write(&mut self, pos: usize, value: Option<&Datum>, ty: &DataType) -> Result<()> {
        self.claim(pos)?;
        let Some(value) = value else {
            return self.write_null(pos, ty);
        };
        match (&ty.kind, value) {
            (TypeKind::Boolean, Datum::Boolean(v)) => self.write_fixed(pos, &[u8::from(*v)]),
            (TypeKind::TinyInt, Datum::TinyInt(v)) => self.write_fixed(pos, &v.to_le_bytes()),
            (TypeKind::SmallInt, Datum::SmallInt(v)) => self.write_fixed(pos, &v.to_le_bytes()),
            (TypeKind::Int, Datum::Int(v))
            | (TypeKind::Date, Datum::Date(v))
            | (TypeKind::Time(_), Datum::Time(v)) => self.write_fixed(pos, &v.to_le_bytes()),
            (TypeKind::BigInt, Datum::BigInt(v)) => self.write_fixed(pos, &v.to_le_bytes()),
            (TypeKind::Float, Datum::Float(v)) => self.write_fixed(pos, &v.to_bits().to_le_bytes()),
            (TypeKind::Double, Datum::Double(v)) => {
                self.write_fixed(pos, &v.to_bits().to_le_bytes())
            }
            (TypeKind::Decimal { precision, .. }, Datum::Decimal(v)) => {
                self.write_decimal(pos, *v, *precision)
            }
            (TypeKind::Char(_) | TypeKind::VarChar(_), Datum::String(s)) => {
                self.write_var(pos, s.as_bytes())
            }
            (TypeKind::Binary(_) | TypeKind::VarBinary(_), Datum::Binary(b)) => {
                self.write_var(pos, b)
            }
            (
                TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p),
                Datum::Timestamp {
                    millis,
                    nanos_of_milli,
                },
            ) => self.write_timestamp(pos, *millis, *nanos_of_milli, *p),
            (TypeKind::Array(_) | TypeKind::Map(..) | TypeKind::Row(_), _) => {
                Err(unsupported_nested(pos, ty))
            }
            (kind, v) => Err(invalid!(
                "BinaryRow field {pos}: a {} value does not fit type {kind:?}",
                v.kind_name()
            )),
        }
    }

    /// Checks `pos` is in range and after every field written so far.
    fn claim(&mut self, pos: usize) -> Result<()> {
        if pos >= self.arity {
            return Err(invalid!(
                "BinaryRow: field {pos} out of range for arity {}",
                self.arity
            ));
        }
        if pos < self.next_pos {
            return Err(invalid!(
                "BinaryRow: field {pos} written after field {}; write fields in order",
                self.next_pos - 1
            ));
        }
        self.next_pos = pos + 1;
        Ok(())
    }

    fn set_null_bit(&mut self, pos: usize, null: bool) {
        let bit = pos + HEADER_BITS;
        if let Some(byte) = self.buf.get_mut(bit / 8) {
            let mask = 1u8 << (bit % 8);
            if null {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }

    fn slot_mut(&mut self, pos: usize) -> Result<&mut [u8]> {
        let start = self.null_bits + pos * 8;
        self.buf
            .get_mut(start..start + 8)
            .ok_or_else(|| Error::internal(format!("BinaryRow: slot {pos} outside the fixed part")))
    }

    fn write_slot(&mut self, pos: usize, word: u64) -> Result<()> {
        self.slot_mut(pos)?.copy_from_slice(&word.to_le_bytes());
        Ok(())
    }

    /// NULL: Java reserves the variable-part space of non-compact decimals and timestamps.
    pub(crate) fn write_null(&mut self, pos: usize, ty: &DataType) -> Result<()> {
        let reserve = match ty.kind {
            TypeKind::Decimal { precision, .. } if !is_compact_decimal(precision) => {
                DECIMAL_VAR_SIZE
            }
            TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p)
                if !is_compact_timestamp(p) =>
            {
                8
            }
            TypeKind::Array(_) | TypeKind::Map(..) | TypeKind::Row(_) => {
                return Err(unsupported_nested(pos, ty))
            }
            _ => 0,
        };
        let word = if reserve > 0 {
            let offset = self.append_var(&[], reserve)?;
            offset << 32
        } else {
            0
        };
        self.write_slot(pos, word)?;
        self.set_null_bit(pos, true);
        Ok(())
    }

    /// Little-endian value bytes at the start of the slot, rest zero.
    pub(crate) fn write_fixed(&mut self, pos: usize, bytes: &[u8]) -> Result<()> {
        let slot = self.slot_mut(pos)?;
        slot.fill(0);
        if let Some(dst) = slot.get_mut(..bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.set_null_bit(pos, false);
        Ok(())
    }

    /// Appends `data` zero-padded to `size` bytes; returns its offset from the row start.
    fn append_var(&mut self, data: &[u8], size: usize) -> Result<u64> {
        let offset = self.buf.len();
        if u32::try_from(offset.saturating_add(size)).is_err() {
            return Err(invalid!("BinaryRow: row larger than 4 GiB"));
        }
        self.buf.extend_from_slice(data);
        self.buf.resize(offset + size.max(data.len()), 0);
        Ok(offset as u64)
    }

    /// String or binary bytes: inline when at most 7 bytes, else in the variable part.
    pub(crate) fn write_var(&mut self, pos: usize, bytes: &[u8]) -> Result<()> {
        if bytes.len() <= MAX_INLINE {
            let mut word = [0u8; 8];
            if let Some(dst) = word.get_mut(..bytes.len()) {
                dst.copy_from_slice(bytes);
            }
            word[7] = 0x80 | bytes.len() as u8;
            self.slot_mut(pos)?.copy_from_slice(&word);
        } else {
            let rounded = bytes.len().div_ceil(8).saturating_mul(8);
            let offset = self.append_var(bytes, rounded)?;
            self.write_slot(pos, offset << 32 | bytes.len() as u64)?;
        }
        self.set_null_bit(pos, false);
        Ok(())
    }

    pub(crate) fn write_decimal(
        &mut self,
        pos: usize,
        unscaled: i128,
        precision: u8,
    ) -> Result<()> {
        check_decimal_precision(precision)?;
        if !decimal_fits(unscaled, precision) {
            return Err(invalid!(
                "BinaryRow field {pos}: unscaled decimal {unscaled} has more than {precision} digits"
            ));
        }
        if is_compact_decimal(precision) {
            // Fits: at most 18 digits.
            return self.write_fixed(pos, &(unscaled as i64).to_le_bytes());
        }
        let (buf, start) = unscaled_bytes(unscaled);
        let bytes = buf.get(start..).unwrap_or(&buf);
        let offset = self.append_var(bytes, DECIMAL_VAR_SIZE)?;
        self.write_slot(pos, offset << 32 | bytes.len() as u64)?;
        self.set_null_bit(pos, false);
        Ok(())
    }

    pub(crate) fn write_timestamp(
        &mut self,
        pos: usize,
        millis: i64,
        nanos_of_milli: i32,
        precision: u8,
    ) -> Result<()> {
        if is_compact_timestamp(precision) {
            return self.write_fixed(pos, &millis.to_le_bytes());
        }
        let nanos = u32::try_from(nanos_of_milli)
            .ok()
            .filter(|n| *n <= 999_999)
            .ok_or_else(|| {
                invalid!(
                    "BinaryRow field {pos}: nanos_of_milli {nanos_of_milli} outside 0..=999999"
                )
            })?;
        let offset = self.append_var(&millis.to_le_bytes(), 8)?;
        self.write_slot(pos, offset << 32 | u64::from(nanos))?;
        self.set_null_bit(pos, false);
        Ok(())
    }
}

/// A bounds-checked view of BinaryRow bytes (without the arity prefix).
#[derive(Debug, Clone, Copy)]
pub struct BinaryRow<'a> {
    data: &'a [u8],
    arity: usize,
}

impl<'a> BinaryRow<'a> {
    /// Views `data` as a row of `arity` fields; fails unless the fixed part is all there and
    /// the RowKind header is valid (0..=3). Bytes past the row are ignored, as Java does.
    pub fn new(data: &'a [u8], arity: usize) -> Result<Self> {
        let fixed = fixed_part_size(arity)
            .ok_or_else(|| invalid!("BinaryRow: arity {arity} is too large"))?;
        if data.len() < fixed {
            return Err(invalid!(
                "BinaryRow: {} bytes, but arity {arity} needs a {fixed}-byte fixed part",
                data.len()
            ));
        }
        let kind = data.first().copied().unwrap_or(0);
        if kind > 3 {
            return Err(invalid!("BinaryRow: invalid RowKind header byte {kind}"));
        }
        Ok(BinaryRow { data, arity })
    }

    /// Views manifest bytes (4-byte big-endian arity, then the row).
    pub fn from_bytes_with_arity(bytes: &'a [u8]) -> Result<Self> {
        let (arity, data) = deserialize_with_arity(bytes)?;
        BinaryRow::new(data, arity)
    }

    pub fn arity(&self) -> usize {
        self.arity
    }

    /// The RowKind header: 0 = +I, 1 = -U, 2 = +U, 3 = -D.
    pub fn row_kind(&self) -> u8 {
        self.data.first().copied().unwrap_or(0)
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.data
    }

    pub fn is_null_at(&self, pos: usize) -> Result<bool> {
        self.check_pos(pos)?;
        let bit = pos + HEADER_BITS;
        let byte = self.data.get(bit / 8).copied().unwrap_or(0);
        Ok(byte & (1 << (bit % 8)) != 0)
    }

    fn check_pos(&self, pos: usize) -> Result<()> {
        if pos < self.arity {
            Ok(())
        } else {
            Err(invalid!(
                "BinaryRow: field {pos} out of range for arity {}",
                self.arity
            ))
        }
    }

    fn slot(&self, pos: usize) -> Result<(u64, [u8; 8])> {
        let start = null_bits_size(self.arity) + pos * 8;
        let bytes: [u8; 8] = self
            .data
            .get(start..start + 8)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| invalid!("BinaryRow: slot of field {pos} is truncated"))?;
        Ok((u64::from_le_bytes(bytes), bytes))
    }

    /// `len` bytes at `offset` from the row start.
    fn var_bytes(&self, pos: usize, offset: u64, len: u64) -> Result<&'a [u8]> {
        let start = usize::try_from(offset).ok();
        let end = start
            .zip(usize::try_from(len).ok())
            .and_then(|(s, l)| s.checked_add(l));
        start
            .zip(end)
            .and_then(|(s, e)| self.data.get(s..e))
            .ok_or_else(|| {
                invalid!(
                    "BinaryRow field {pos}: {len} bytes at offset {offset} exceed the row's {} bytes",
                    self.data.len()
                )
            })
    }

    /// String/binary bytes, inline or in the variable part.
    fn read_var(&self, pos: usize) -> Result<&'a [u8]> {
        let (word, _) = self.slot(pos)?;
        if word & INLINE_MARK != 0 {
            let len = ((word >> 56) & 0x7f) as usize;
            if len > MAX_INLINE {
                return Err(invalid!(
                    "BinaryRow field {pos}: inline length {len} exceeds 7"
                ));
            }
            let start = null_bits_size(self.arity) + pos * 8;
            return self.var_bytes(pos, start as u64, len as u64);
        }
        self.var_bytes(pos, word >> 32, word & 0xffff_ffff)
    }

    /// Field `pos` decoded as `ty`; `None` when NULL.
    pub fn get(&self, pos: usize, ty: &DataType) -> Result<Option<Datum>> {
        if matches!(
            ty.kind,
            TypeKind::Array(_) | TypeKind::Map(..) | TypeKind::Row(_)
        ) {
            return Err(unsupported_nested(pos, ty));
        }
        if self.is_null_at(pos)? {
            return Ok(None);
        }
        let (word, b) = self.slot(pos)?;
        let datum = match &ty.kind {
            TypeKind::Boolean => Datum::Boolean(b[0] != 0),
            TypeKind::TinyInt => Datum::TinyInt(i8::from_le_bytes([b[0]])),
            TypeKind::SmallInt => Datum::SmallInt(i16::from_le_bytes([b[0], b[1]])),
            TypeKind::Int => Datum::Int(word as u32 as i32),
            TypeKind::Date => Datum::Date(word as u32 as i32),
            TypeKind::Time(_) => Datum::Time(word as u32 as i32),
            TypeKind::BigInt => Datum::BigInt(word as i64),
            TypeKind::Float => Datum::Float(f32::from_bits(word as u32)),
            TypeKind::Double => Datum::Double(f64::from_bits(word)),
            TypeKind::Char(_) | TypeKind::VarChar(_) => {
                let bytes = self.read_var(pos)?;
                let s = std::str::from_utf8(bytes)
                    .map_err(|e| invalid!("BinaryRow field {pos}: string is not UTF-8: {e}"))?;
                Datum::String(s.to_string())
            }
            TypeKind::Binary(_) | TypeKind::VarBinary(_) => {
                Datum::Binary(self.read_var(pos)?.to_vec())
            }
            TypeKind::Decimal { precision, .. } => {
                check_decimal_precision(*precision)?;
                if is_compact_decimal(*precision) {
                    Datum::Decimal(i128::from(word as i64))
                } else {
                    let bytes = self.var_bytes(pos, word >> 32, word & 0xffff_ffff)?;
                    let v = decimal_from_be(pos, bytes)?;
                    // Java's getDecimal yields null for values over the precision.
                    if !decimal_fits(v, *precision) {
                        return Ok(None);
                    }
                    Datum::Decimal(v)
                }
            }
            TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p) => {
                if is_compact_timestamp(*p) {
                    Datum::Timestamp {
                        millis: word as i64,
                        nanos_of_milli: 0,
                    }
                } else {
                    let nanos = word & 0xffff_ffff;
                    if nanos > 999_999 {
                        return Err(invalid!(
                            "BinaryRow field {pos}: nanos_of_milli {nanos} exceeds 999999"
                        ));
                    }
                    let millis = self.var_bytes(pos, word >> 32, 8)?;
                    let millis: [u8; 8] = millis
                        .try_into()
                        .map_err(|_| invalid!("BinaryRow field {pos}: truncated timestamp"))?;
                    Datum::Timestamp {
                        millis: i64::from_le_bytes(millis),
                        nanos_of_milli: nanos as i32,
                    }
                }
            }
            TypeKind::Array(_) | TypeKind::Map(..) | TypeKind::Row(_) => {
                return Err(unsupported_nested(pos, ty))
            }
        };
        Ok(Some(datum))
    }

    /// All fields; `types` must have one entry per field.
    pub fn to_values(&self, types: &[DataType]) -> Result<Vec<Option<Datum>>> {
        if types.len() != self.arity {
            return Err(invalid!(
                "BinaryRow: arity {} but {} field types given",
                self.arity,
                types.len()
            ));
        }
        types
            .iter()
            .enumerate()
            .map(|(pos, ty)| self.get(pos, ty))
            .collect()
    }

    /// Encodes one row (no arity prefix).
    pub fn encode(values: &[Option<Datum>], types: &[DataType]) -> Result<Vec<u8>> {
        let mut writer = BinaryRowWriter::new(types.len());
        Ok(writer.write_row(values, types)?.to_vec())
    }

    /// Encodes one row with the 4-byte arity prefix, as manifests store it.
    pub fn encode_with_arity(values: &[Option<Datum>], types: &[DataType]) -> Result<Vec<u8>> {
        let bytes = BinaryRow::encode(values, types)?;
        Ok(serialize_with_arity(&bytes, types.len()))
    }

    /// Decodes row bytes (no arity prefix) whose arity is `types.len()`.
    pub fn decode(bytes: &[u8], types: &[DataType]) -> Result<Vec<Option<Datum>>> {
        BinaryRow::new(bytes, types.len())?.to_values(types)
    }

    /// Decodes manifest bytes; the stored arity must equal `types.len()`.
    pub fn decode_with_arity(bytes: &[u8], types: &[DataType]) -> Result<Vec<Option<Datum>>> {
        BinaryRow::from_bytes_with_arity(bytes)?.to_values(types)
    }

    /// Decodes the leading fields of manifest bytes whose stored arity may differ from
    /// `types.len()`, as statistics rows do (e.g. an empty stats row of arity 0, or a file
    /// written before columns were added). Returns `min(arity, types.len())` values; the
    /// caller treats fields past the end as absent.
    pub fn decode_partial(bytes: &[u8], types: &[DataType]) -> Result<Vec<Option<Datum>>> {
        let row = BinaryRow::from_bytes_with_arity(bytes)?;
        let n = row.arity.min(types.len());
        types
            .iter()
            .take(n)
            .enumerate()
            .map(|(pos, ty)| row.get(pos, ty))
            .collect()
    }
}

/// Big-endian two's complement bytes (1..=16 of them) to an `i128`.
fn decimal_from_be(pos: usize, bytes: &[u8]) -> Result<i128> {
    if bytes.is_empty() || bytes.len() > 16 {
        return Err(invalid!(
            "BinaryRow field {pos}: decimal of {} bytes, expected 1..=16",
            bytes.len()
        ));
    }
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut buf = if negative { [0xffu8; 16] } else { [0u8; 16] };
    if let Some(dst) = buf.get_mut(16 - bytes.len()..) {
        dst.copy_from_slice(bytes);
    }
    Ok(i128::from_be_bytes(buf))
}
