//! Iceberg v3 deletion vectors: `deletion-vector-v1` blobs in Puffin files.
//!
//! A v3 table marks the deleted rows of a data file with one `deletion-vector-v1` blob:
//! `[length u32 BE][magic D1 D3 39 64][Roaring64 portable bitmap][CRC-32 u32 BE]`. That is
//! byte for byte Paimon's bitmap64 vector, so the codec is `strata_format::deletion`'s
//! ([`DeletionVector::to_iceberg_blob`]); this module adds the Puffin container: `PFA1`,
//! the blobs, then the footer `PFA1`, the JSON footer payload, its length (u32 LE), 4 flag
//! bytes (0: uncompressed) and `PFA1`. Readers find a blob through the delete manifest's
//! `content_offset` and `content_size_in_bytes`.

use serde_json::json;
use strata_format::deletion::DeletionVector;

use crate::error::{CatalogError, Result};

/// Magic bytes that open and close a Puffin file.
pub const PUFFIN_MAGIC: [u8; 4] = *b"PFA1";
/// Iceberg's reserved field id of `_pos`, the field a deletion vector applies to.
pub const ROW_POSITION_FIELD_ID: i32 = 2_147_483_645;
/// The Puffin blob type of an Iceberg deletion vector.
pub const DV_BLOB_TYPE: &str = "deletion-vector-v1";

/// Serializes deleted positions (any order, duplicates allowed) as a `deletion-vector-v1` blob.
pub fn encode_dv(positions: &[u64]) -> Result<Vec<u8>> {
    DeletionVector::from_positions(positions.iter().copied())
        .to_iceberg_blob()
        .map_err(|e| CatalogError::internal(format!("deletion vector: {e}")))
}

/// Decodes a `deletion-vector-v1` blob into ascending positions; length, magic and CRC are
/// checked and every defect is an error naming it.
pub fn decode_dv(blob: &[u8]) -> Result<Vec<u64>> {
    DeletionVector::from_iceberg_blob(blob)
        .map(|dv| dv.iter().collect())
        .map_err(|e| CatalogError::bad_request(format!("deletion vector blob: {e}")))
}

/// A blob of a Puffin file: where it is, for the delete manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLocation {
    pub offset: u64,
    pub length: u64,
}

/// Builds one Puffin file holding the deletion vectors of several data files.
#[derive(Debug)]
pub struct PuffinBuilder {
    bytes: Vec<u8>,
    blobs: Vec<serde_json::Value>,
}

impl Default for PuffinBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PuffinBuilder {
    pub fn new() -> Self {
        Self {
            bytes: PUFFIN_MAGIC.to_vec(),
            blobs: Vec::new(),
        }
    }

    /// Appends the deletion vector of `data_file_uri`.
    pub fn add_dv(&mut self, data_file_uri: &str, positions: &[u64]) -> Result<BlobLocation> {
        let blob = encode_dv(positions)?;
        let mut distinct = positions.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let location = BlobLocation {
            offset: self.bytes.len() as u64,
            length: blob.len() as u64,
        };
        self.bytes.extend_from_slice(&blob);
        // Snapshot id and sequence number are -1: they are inherited from the manifest entry.
        self.blobs.push(json!({
            "type": DV_BLOB_TYPE,
            "fields": [ROW_POSITION_FIELD_ID],
            "snapshot-id": -1,
            "sequence-number": -1,
            "offset": location.offset,
            "length": location.length,
            "properties": {
                "referenced-data-file": data_file_uri,
                "cardinality": distinct.len().to_string(),
            },
        }));
        Ok(location)
    }

    /// The finished file.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        let footer = serde_json::to_vec(&json!({
            "blobs": self.blobs,
            "properties": {"created-by": "strata"},
        }))
        .map_err(|e| CatalogError::internal(format!("Puffin footer: {e}")))?;
        let size = u32::try_from(footer.len())
            .map_err(|_| CatalogError::internal("Puffin footer exceeds 4 GiB"))?;
        self.bytes.extend_from_slice(&PUFFIN_MAGIC);
        self.bytes.extend_from_slice(&footer);
        self.bytes.extend_from_slice(&size.to_le_bytes());
        self.bytes.extend_from_slice(&[0, 0, 0, 0]);
        self.bytes.extend_from_slice(&PUFFIN_MAGIC);
        Ok(self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dv_round_trips_with_crc_and_framing() {
        let positions = vec![0, 3, 4, 70_000, (1 << 32) + 5, 3, (7 << 32) | 0xFFFF_FFFF];
        let blob = encode_dv(&positions).unwrap();
        let length = u32::from_be_bytes(blob[..4].try_into().unwrap()) as usize;
        assert_eq!(length, blob.len() - 8);
        assert_eq!(blob[4..8], [0xD1, 0xD3, 0x39, 0x64]);
        // The CRC-32 covers magic and bitmap, stored big-endian.
        let crc = u32::from_be_bytes(blob[blob.len() - 4..].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&blob[4..blob.len() - 4]));
        // Three 32-bit bitmaps, keys 0, 1 and 7.
        assert_eq!(u64::from_le_bytes(blob[8..16].try_into().unwrap()), 3);
        let mut expected = positions.clone();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(decode_dv(&blob).unwrap(), expected);
        assert_eq!(
            decode_dv(&encode_dv(&[]).unwrap()).unwrap(),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let blob = encode_dv(&[1, 2, 3]).unwrap();
        let mut flipped = blob.clone();
        let n = flipped.len();
        flipped[n - 6] ^= 1;
        assert!(decode_dv(&flipped)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        let mut longer = blob.clone();
        longer.push(0);
        assert!(decode_dv(&longer).is_err());
        for cut in 0..blob.len() {
            assert!(decode_dv(&blob[..cut]).is_err(), "cut at {cut}");
        }
    }

    /// A blob Iceberg 1.10.2 (Java, through Spark 3.5) wrote for `DELETE ... WHERE id IN (1,
    /// 3)` on a one-file v3 table, copied out of its Puffin file: positions 1 and 3.
    const SPARK_DV_1_3: &[u8] = &[
        0x00, 0x00, 0x00, 0x24, 0xD1, 0xD3, 0x39, 0x64, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x3A, 0x30, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x03, 0x00, 0x68, 0x34, 0x97, 0xA9,
    ];

    #[test]
    fn blob_written_by_iceberg_java_decodes_and_re_encodes_identically() {
        assert_eq!(decode_dv(SPARK_DV_1_3).unwrap(), vec![1, 3]);
        assert_eq!(encode_dv(&[1, 3]).unwrap(), SPARK_DV_1_3);
    }

    #[test]
    fn puffin_file_has_magic_footer_and_blob_offsets() {
        let mut b = PuffinBuilder::new();
        let first = b.add_dv("file:///a.parquet", &[1, 1, 2]).unwrap();
        let second = b.add_dv("file:///b.parquet", &[9]).unwrap();
        let file = b.finish().unwrap();
        assert_eq!(file[..4], PUFFIN_MAGIC);
        assert_eq!(file[file.len() - 4..], PUFFIN_MAGIC);
        assert_eq!(first.offset, 4);
        assert_eq!(second.offset, first.offset + first.length);
        let blob = |l: &BlobLocation| &file[l.offset as usize..(l.offset + l.length) as usize];
        assert_eq!(decode_dv(blob(&first)).unwrap(), vec![1, 2]);
        assert_eq!(decode_dv(blob(&second)).unwrap(), vec![9]);
        let n = file.len();
        assert_eq!(file[n - 8..n - 4], [0, 0, 0, 0]);
        let size = u32::from_le_bytes(file[n - 12..n - 8].try_into().unwrap()) as usize;
        let footer_start = n - 12 - size;
        assert_eq!(file[footer_start - 4..footer_start], PUFFIN_MAGIC);
        let footer: serde_json::Value =
            serde_json::from_slice(&file[footer_start..n - 12]).unwrap();
        let blobs = footer["blobs"].as_array().unwrap();
        assert_eq!(blobs[0]["type"], DV_BLOB_TYPE);
        assert_eq!(blobs[0]["properties"]["cardinality"], "2");
        assert_eq!(blobs[1]["offset"], second.offset);
        assert_eq!(
            blobs[1]["properties"]["referenced-data-file"],
            "file:///b.parquet"
        );
    }
}
