//! `SimpleStats`: per-column min/max/null-count statistics of a file or manifest.

use apache_avro::types::Value;

use super::avro::{nullable, record, Fields};
use crate::error::Result;

/// A serialized empty BinaryRow as manifests store it: arity 0 (4 bytes, big-endian) followed
/// by the 8-byte header/null-bit word of a zero-field row.
pub const EMPTY_ROW_BYTES: [u8; 12] = [0; 12];

/// Min/max values and null counts over a list of columns. `min_values` and `max_values` are
/// serialized BinaryRows with their 4-byte arity prefix, kept as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SimpleStats {
    pub min_values: Vec<u8>,
    pub max_values: Vec<u8>,
    /// One count per column, `None` where unknown. Java always writes an array; the Avro field
    /// is nullable, so `None` is kept to round-trip files that hold null.
    pub null_counts: Option<Vec<Option<i64>>>,
}

impl SimpleStats {
    /// Java's `SimpleStats.EMPTY_STATS`: stats over zero columns.
    pub fn empty() -> Self {
        SimpleStats {
            min_values: EMPTY_ROW_BYTES.to_vec(),
            max_values: EMPTY_ROW_BYTES.to_vec(),
            null_counts: Some(Vec::new()),
        }
    }

    pub(crate) fn to_avro(&self) -> Value {
        record(vec![
            ("_MIN_VALUES", Value::Bytes(self.min_values.clone())),
            ("_MAX_VALUES", Value::Bytes(self.max_values.clone())),
            (
                "_NULL_COUNTS",
                nullable(self.null_counts.as_ref(), |counts| {
                    Value::Array(counts.iter().map(|c| nullable(*c, Value::Long)).collect())
                }),
            ),
        ])
    }

    pub(crate) fn from_avro(mut f: Fields) -> Result<Self> {
        Ok(SimpleStats {
            min_values: f.req_bytes("_MIN_VALUES")?,
            max_values: f.req_bytes("_MAX_VALUES")?,
            null_counts: f.opt_nullable_i64_list("_NULL_COUNTS")?,
        })
    }
}

impl Default for SimpleStats {
    fn default() -> Self {
        SimpleStats::empty()
    }
}
