//! `manifest.compression`: the Avro block codec of manifest files.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::str::FromStr;

use apache_avro::{Codec, DeflateSettings, ZstandardSettings};

use crate::error::{Error, Result};

/// Java writes manifests with `file.compression.zstd-level`, default 1.
const ZSTD_LEVEL: u8 = 1;

/// The codec used for manifest files, from the table option `manifest.compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ManifestCompression {
    /// No compression (option value `null`).
    Null,
    /// Raw DEFLATE (RFC 1951), Avro codec `deflate`.
    Deflate,
    /// Snappy with a trailing CRC32, Avro codec `snappy`.
    Snappy,
    /// Zstandard, Avro codec `zstandard`; Paimon's default.
    #[default]
    Zstd,
}

impl ManifestCompression {
    /// Maps a `manifest.compression` option value to a codec. Case-insensitive, like Java
    /// (which special-cases `zstd` and passes the rest to Avro's `CodecFactory`).
    pub fn from_option(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "zstd" | "zstandard" => Ok(ManifestCompression::Zstd),
            "snappy" => Ok(ManifestCompression::Snappy),
            "deflate" => Ok(ManifestCompression::Deflate),
            "null" => Ok(ManifestCompression::Null),
            "bzip2" | "xz" => Err(Error::unsupported(format!(
                "manifest.compression `{value}` is valid in Paimon but not supported by Strata \
                 (use zstd, snappy, deflate or null)"
            ))),
            _ => Err(crate::invalid!(
                "unknown manifest.compression `{value}` (expected zstd, snappy, deflate or null)"
            )),
        }
    }

    /// The `avro.codec` header value.
    pub fn avro_name(self) -> &'static str {
        match self {
            ManifestCompression::Null => "null",
            ManifestCompression::Deflate => "deflate",
            ManifestCompression::Snappy => "snappy",
            ManifestCompression::Zstd => "zstandard",
        }
    }

    pub(crate) fn avro_codec(self) -> Codec {
        match self {
            ManifestCompression::Null => Codec::Null,
            ManifestCompression::Deflate => Codec::Deflate(DeflateSettings::default()),
            ManifestCompression::Snappy => Codec::Snappy,
            ManifestCompression::Zstd => Codec::Zstandard(ZstandardSettings::new(ZSTD_LEVEL)),
        }
    }

    /// The codec named by an `avro.codec` header (absent means `null`).
    pub(crate) fn from_avro_name(name: Option<&[u8]>) -> std::result::Result<Self, String> {
        match name {
            None | Some(b"null") => Ok(ManifestCompression::Null),
            Some(b"deflate") => Ok(ManifestCompression::Deflate),
            Some(b"snappy") => Ok(ManifestCompression::Snappy),
            Some(b"zstandard") => Ok(ManifestCompression::Zstd),
            Some(other) => Err(format!(
                "unsupported Avro codec `{}`",
                String::from_utf8_lossy(other)
            )),
        }
    }

    /// Decompresses one block, failing once the output would exceed `limit` bytes.
    pub(crate) fn decompress<'a>(
        self,
        data: &'a [u8],
        limit: usize,
    ) -> std::result::Result<Cow<'a, [u8]>, String> {
        let too_big = || format!("block decompresses to more than {limit} bytes");
        match self {
            ManifestCompression::Null => Ok(Cow::Borrowed(data)),
            ManifestCompression::Deflate => {
                miniz_oxide::inflate::decompress_to_vec_with_limit(data, limit)
                    .map(Cow::Owned)
                    .map_err(|e| match e.status {
                        miniz_oxide::inflate::TINFLStatus::HasMoreOutput => too_big(),
                        status => format!("deflate block is corrupt ({status:?})"),
                    })
            }
            ManifestCompression::Snappy => {
                // Avro appends the big-endian CRC32 of the uncompressed bytes.
                let Some(split) = data.len().checked_sub(4) else {
                    return Err("snappy block shorter than its CRC".to_string());
                };
                let (body, crc) = data.split_at(split);
                let len = snap::raw::decompress_len(body)
                    .map_err(|e| format!("snappy block is corrupt: {e}"))?;
                if len > limit {
                    return Err(too_big());
                }
                let out = snap::raw::Decoder::new()
                    .decompress_vec(body)
                    .map_err(|e| format!("snappy block is corrupt: {e}"))?;
                let expected = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
                if crc32fast::hash(&out) != expected {
                    return Err("snappy block fails its CRC check".to_string());
                }
                Ok(Cow::Owned(out))
            }
            ManifestCompression::Zstd => {
                let decoder = zstd::stream::read::Decoder::with_buffer(data)
                    .map_err(|e| format!("zstd block is corrupt: {e}"))?;
                let mut out = Vec::new();
                decoder
                    .take(limit as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("zstd block is corrupt: {e}"))?;
                if out.len() > limit {
                    return Err(too_big());
                }
                Ok(Cow::Owned(out))
            }
        }
    }
}

impl FromStr for ManifestCompression {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ManifestCompression::from_option(s)
    }
}

impl fmt::Display for ManifestCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ManifestCompression::Zstd => "zstd",
            other => other.avro_name(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn option_names() {
        assert_eq!(ManifestCompression::default(), ManifestCompression::Zstd);
        for (name, codec) in [
            ("zstd", ManifestCompression::Zstd),
            ("ZSTD", ManifestCompression::Zstd),
            ("zstandard", ManifestCompression::Zstd),
            ("snappy", ManifestCompression::Snappy),
            ("deflate", ManifestCompression::Deflate),
            ("null", ManifestCompression::Null),
        ] {
            assert_eq!(ManifestCompression::from_option(name).unwrap(), codec);
            assert_eq!(name.parse::<ManifestCompression>().unwrap(), codec);
        }
        let err = ManifestCompression::from_option("lz4").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataInvalid);
        assert!(err.message().contains("lz4"), "{err}");
        let err = ManifestCompression::from_option("bzip2").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
    }

    #[test]
    fn decompression_is_bounded() {
        let data = vec![7u8; 100_000];
        for codec in [
            ManifestCompression::Deflate,
            ManifestCompression::Snappy,
            ManifestCompression::Zstd,
        ] {
            let mut block = data.clone();
            codec.avro_codec().compress(&mut block).unwrap();
            assert_eq!(&*codec.decompress(&block, data.len()).unwrap(), &data[..]);
            let err = codec.decompress(&block, data.len() - 1).unwrap_err();
            assert!(err.contains("more than"), "{codec}: {err}");
        }
        // apache-avro 0.21 slices `len - 4` here and panics on blocks under 4 bytes.
        assert!(ManifestCompression::Snappy.decompress(&[1, 2], 10).is_err());
    }
}
