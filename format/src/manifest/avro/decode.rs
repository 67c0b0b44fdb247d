//! Avro binary datum decoding against a [`Node`] tree.
//!
//! Every length and count is checked against the bytes that remain before anything is
//! allocated, so corrupt input ends in an error, never in a panic or a huge allocation.

use std::sync::Arc;

use super::writer_schema::{Node, RecordNode};

/// Arrays of zero-width items (nulls, empty records) consume no input, so their length needs
/// its own cap.
const MAX_ZERO_WIDTH_ITEMS: usize = 1 << 16;

/// A decoded value. Unions decode to their selected branch, logical types to their base type,
/// fixed to bytes.
#[derive(Debug, Default)]
pub(crate) enum Datum {
    #[default]
    Null,
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    Array(Vec<Datum>),
    Record(Arc<RecordNode>, Vec<Datum>),
    /// A validated value of a type no manifest field uses (boolean, float, double, enum, map);
    /// only its type name is kept.
    Other(&'static str),
}

impl Datum {
    pub fn type_name(&self) -> &'static str {
        match self {
            Datum::Null => "null",
            Datum::Int(_) => "int",
            Datum::Long(_) => "long",
            Datum::Bytes(_) => "bytes",
            Datum::String(_) => "string",
            Datum::Array(_) => "array",
            Datum::Record(..) => "record",
            Datum::Other(name) => name,
        }
    }
}

/// A read position over a byte slice.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "needs {n} bytes at offset {} but only {} remain",
                self.pos,
                self.remaining()
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// A zig-zag varint long (at most 10 bytes).
    pub fn read_long(&mut self) -> Result<i64, String> {
        let start = self.pos;
        let mut raw: u64 = 0;
        for i in 0..10u32 {
            let b = self.take(1)?[0];
            if i == 9 && b > 1 {
                return Err(format!("varint at offset {start} overflows 64 bits"));
            }
            raw |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err(format!("varint at offset {start} is longer than 10 bytes"))
    }

    pub fn read_int(&mut self) -> Result<i32, String> {
        let v = self.read_long()?;
        i32::try_from(v).map_err(|_| format!("int value {v} out of range"))
    }

    /// A non-negative length that must fit in the remaining input.
    pub fn read_len(&mut self) -> Result<usize, String> {
        let len = self.read_long()?;
        match usize::try_from(len) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => Err(format!(
                "length {len} at offset {} exceeds the {} bytes that remain",
                self.pos,
                self.remaining()
            )),
        }
    }

    /// The item count of the next array/map block; 0 ends the sequence.
    fn read_block_count(&mut self, min_item_len: usize, seen: usize) -> Result<usize, String> {
        let raw = self.read_long()?;
        let count = if raw < 0 {
            // A negative count is followed by the block's byte size, which we do not need.
            self.read_long()?;
            raw.checked_neg().ok_or("array block count overflows")?
        } else {
            raw
        };
        let count = usize::try_from(count).map_err(|_| format!("bad block count {raw}"))?;
        let fits = match self.remaining().checked_div(min_item_len) {
            Some(max) => count <= max,
            None => seen.saturating_add(count) <= MAX_ZERO_WIDTH_ITEMS,
        };
        if !fits {
            return Err(format!(
                "block claims {count} items but only {} bytes remain",
                self.remaining()
            ));
        }
        Ok(count)
    }
}

/// Decodes one value of type `node`.
pub(crate) fn decode(node: &Node, cur: &mut Cursor<'_>) -> Result<Datum, String> {
    Ok(match node {
        Node::Null => Datum::Null,
        Node::Boolean => match cur.take(1)? {
            [0 | 1] => Datum::Other("boolean"),
            other => return Err(format!("invalid boolean byte {other:?}")),
        },
        Node::Int => Datum::Int(cur.read_int()?),
        Node::Long => Datum::Long(cur.read_long()?),
        Node::Float => {
            cur.take(4)?;
            Datum::Other("float")
        }
        Node::Double => {
            cur.take(8)?;
            Datum::Other("double")
        }
        Node::Bytes => {
            let n = cur.read_len()?;
            Datum::Bytes(cur.take(n)?.to_vec())
        }
        Node::String => Datum::String(read_string(cur)?),
        Node::Fixed(n) => Datum::Bytes(cur.take(*n)?.to_vec()),
        Node::Enum(symbols) => {
            let i = cur.read_int()?;
            if usize::try_from(i).map_or(true, |i| i >= *symbols) {
                return Err(format!("enum index {i} out of range"));
            }
            Datum::Other("enum")
        }
        Node::Array(item) => {
            let min = item.min_encoded_len();
            let mut items = Vec::new();
            loop {
                let count = cur.read_block_count(min, items.len())?;
                if count == 0 {
                    break;
                }
                items.reserve(count);
                for _ in 0..count {
                    items.push(decode(item, cur)?);
                }
            }
            Datum::Array(items)
        }
        Node::Map(value) => {
            let min = value.min_encoded_len().saturating_add(1);
            let mut seen = 0usize;
            loop {
                let count = cur.read_block_count(min, seen)?;
                if count == 0 {
                    break;
                }
                seen += count;
                for _ in 0..count {
                    read_string(cur)?;
                    decode(value, cur)?;
                }
            }
            Datum::Other("map")
        }
        Node::Union(branches) => {
            let i = cur.read_long()?;
            let branch = usize::try_from(i)
                .ok()
                .and_then(|i| branches.get(i))
                .ok_or_else(|| format!("union branch {i} out of range"))?;
            decode(branch, cur)?
        }
        Node::Record(record) => {
            let mut values = Vec::with_capacity(record.fields.len());
            for (_, field) in &record.fields {
                values.push(decode(field, cur)?);
            }
            Datum::Record(record.clone(), values)
        }
    })
}

fn read_string(cur: &mut Cursor<'_>) -> Result<String, String> {
    let n = cur.read_len()?;
    let bytes = cur.take(n)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| "string is not valid UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_varints() {
        for (bytes, v) in [
            (&[0x00][..], 0i64),
            (&[0x01], -1),
            (&[0x02], 1),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                i64::MIN,
            ),
            (
                &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                i64::MAX,
            ),
        ] {
            assert_eq!(Cursor::new(bytes).read_long().unwrap(), v);
        }
        assert!(Cursor::new(&[0xff; 10]).read_long().is_err());
        assert!(Cursor::new(&[0x80]).read_long().is_err());
    }

    #[test]
    fn huge_counts_and_lengths_fail_without_allocating() {
        // bytes claiming ~2^62 length
        let huge = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(decode(&Node::Bytes, &mut Cursor::new(&huge)).is_err());
        assert!(decode(&Node::Array(Box::new(Node::Long)), &mut Cursor::new(&huge)).is_err());
        assert!(decode(&Node::Array(Box::new(Node::Null)), &mut Cursor::new(&huge)).is_err());
        assert!(decode(&Node::Map(Box::new(Node::Null)), &mut Cursor::new(&huge)).is_err());
    }
}
