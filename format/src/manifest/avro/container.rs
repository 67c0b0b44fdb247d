//! Avro object container files: magic, metadata, sync marker, then compressed blocks.

use apache_avro::types::Value;
use apache_avro::Schema;

use super::decode::{decode, Cursor, Datum};
use super::fields::Fields;
use super::writer_schema::{parse_writer_schema, Node};
use super::FileRole;
use crate::error::{Error, Result};
use crate::invalid;
use crate::manifest::ManifestCompression;

const MAGIC: &[u8; 4] = b"Obj\x01";
const SYNC_LEN: usize = 16;
/// Writers use blocks of 16-64 KB; this only stops decompression bombs.
const MAX_BLOCK_BYTES: usize = 64 << 20;
/// Cap on all decompressed blocks of one file together.
const MAX_FILE_BYTES: usize = 1 << 30;
const MAX_HEADER_ENTRIES: usize = 1024;
const MAX_ZERO_WIDTH_RECORDS: usize = 1 << 16;

/// Decodes every top-level record of an Avro object container file and hands it to `each`.
pub(crate) fn read_container(
    bytes: &[u8],
    role: FileRole,
    mut each: impl FnMut(Fields) -> Result<()>,
) -> Result<()> {
    let malformed = |detail: String| invalid!("malformed Avro manifest ({role}): {detail}");
    let mut cur = Cursor::new(bytes);
    if cur.take(MAGIC.len()).ok() != Some(&MAGIC[..]) {
        return Err(malformed(
            "not an Avro object container file (bad magic)".into(),
        ));
    }
    let header = read_metadata(&mut cur).map_err(|e| malformed(format!("header: {e}")))?;
    let codec = match header.codec.as_deref() {
        Some(name @ (b"bzip2" | b"xz")) => {
            return Err(Error::unsupported(format!(
                "{role}: Avro codec `{}` is not supported",
                String::from_utf8_lossy(name)
            )))
        }
        other => ManifestCompression::from_avro_name(other).map_err(malformed)?,
    };
    let schema_text = header
        .schema
        .ok_or_else(|| malformed("header has no avro.schema".into()))?;
    let schema_text = std::str::from_utf8(&schema_text)
        .map_err(|_| malformed("avro.schema is not UTF-8".into()))?;
    let top = parse_writer_schema(schema_text).map_err(malformed)?;
    // Java wraps the top-level record in ["null", record]; pypaimon does not.
    let nullable_top = match &top {
        Node::Record(_) => false,
        Node::Union(b) if b.iter().any(|n| matches!(n, Node::Record(_))) => true,
        other => {
            return Err(malformed(format!(
                "top-level writer schema is {}, expected a record",
                other.type_name()
            )))
        }
    };
    let sync = cur
        .take(SYNC_LEN)
        .map_err(|e| malformed(format!("sync marker: {e}")))?;

    let min_record_len = top.min_encoded_len();
    let mut total = 0usize;
    let mut block = 0usize;
    while cur.remaining() > 0 {
        let at = |e: String| malformed(format!("block {block}: {e}"));
        let count = cur.read_long().map_err(at)?;
        let count = usize::try_from(count).map_err(|_| at(format!("negative count {count}")))?;
        let size = cur.read_len().map_err(at)?;
        let data = cur.take(size).map_err(at)?;
        if cur.take(SYNC_LEN).map_err(at)? != sync {
            return Err(at("sync marker mismatch".into()));
        }
        let limit = MAX_BLOCK_BYTES.min(MAX_FILE_BYTES - total);
        let plain = codec.decompress(data, limit).map_err(at)?;
        total += plain.len();
        let max_records = match min_record_len {
            0 => MAX_ZERO_WIDTH_RECORDS,
            n => plain.len() / n,
        };
        if count > max_records {
            return Err(at(format!(
                "{count} records cannot fit in {} bytes",
                plain.len()
            )));
        }
        let mut records = Cursor::new(&plain);
        for i in 0..count {
            let datum = decode(&top, &mut records).map_err(|e| at(format!("record {i}: {e}")))?;
            if nullable_top && matches!(datum, Datum::Null) {
                return Err(at(format!("record {i} is null")));
            }
            each(Fields::new(role, String::new(), datum)?)?;
        }
        if records.remaining() != 0 {
            return Err(at(format!(
                "{} trailing bytes after {count} records",
                records.remaining()
            )));
        }
        block += 1;
    }
    Ok(())
}

#[derive(Default)]
struct Header {
    schema: Option<Vec<u8>>,
    codec: Option<Vec<u8>>,
}

/// The file metadata: an Avro `map<bytes>`.
fn read_metadata(cur: &mut Cursor<'_>) -> std::result::Result<Header, String> {
    let mut header = Header::default();
    let mut entries = 0usize;
    loop {
        let raw = cur.read_long()?;
        if raw == 0 {
            return Ok(header);
        }
        if raw < 0 {
            cur.read_long()?; // block byte size
        }
        let count = raw.unsigned_abs();
        entries = usize::try_from(count)
            .ok()
            .and_then(|c| entries.checked_add(c))
            .filter(|&n| n <= MAX_HEADER_ENTRIES)
            .ok_or_else(|| format!("metadata claims {count} more entries"))?;
        for _ in 0..count {
            let key_len = cur.read_len()?;
            let key = cur.take(key_len)?;
            let value_len = cur.read_len()?;
            let value = cur.take(value_len)?.to_vec();
            match key {
                b"avro.schema" => header.schema = Some(value),
                b"avro.codec" => header.codec = Some(value),
                _ => {}
            }
        }
    }
}

/// Writes `records` (already shaped like `schema`) as an Avro object container file.
pub(crate) fn write_container(
    schema: &Schema,
    role: FileRole,
    records: impl IntoIterator<Item = Value>,
    compression: ManifestCompression,
) -> Result<Vec<u8>> {
    let fail = |e: apache_avro::Error| {
        Error::internal(format!("writing Avro {role}: {e}").replace('\n', " "))
    };
    let mut writer = apache_avro::Writer::with_codec(schema, Vec::new(), compression.avro_codec());
    for record in records {
        writer.append(record).map_err(fail)?;
    }
    writer.into_inner().map_err(fail)
}
