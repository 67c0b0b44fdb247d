//! The Parquet reader of a data file. On a local warehouse the column chunks are read
//! straight from the file into buffers that are not zeroed first (`object_store`'s local
//! store zero-fills every range before reading into it, which costs as much as the read);
//! other stores, and the footer everywhere, go through `object_store`.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetObjectReader};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ParquetMetaData;

/// See the module docs.
pub struct DataFileReader {
    store: ParquetObjectReader,
    local: Option<PathBuf>,
}

impl DataFileReader {
    pub(super) fn new(store: ParquetObjectReader, local: Option<PathBuf>) -> Self {
        DataFileReader { store, local }
    }
}

/// Reads `ranges` of the local file `path`, each into a buffer of exactly its length.
fn read_local(path: &std::path::Path, ranges: &[Range<u64>]) -> std::io::Result<Vec<Bytes>> {
    let mut file = std::fs::File::open(path)?;
    ranges
        .iter()
        .map(|range| {
            let len = usize::try_from(range.end.saturating_sub(range.start))
                .map_err(|_| std::io::Error::other("range too large"))?;
            file.seek(SeekFrom::Start(range.start))?;
            let mut buf = Vec::with_capacity(len);
            // `read_to_end` fills spare capacity without initializing it first.
            (&mut file).take(len as u64).read_to_end(&mut buf)?;
            if buf.len() != len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} ends before byte {} (read {} of {len} bytes from {})",
                        path.display(),
                        range.end,
                        buf.len(),
                        range.start
                    ),
                ));
            }
            Ok(Bytes::from(buf))
        })
        .collect()
}

fn local_ranges(path: PathBuf, ranges: Vec<Range<u64>>) -> BoxFuture<'static, Result<Vec<Bytes>>> {
    async move {
        let shown = path.display().to_string();
        tokio::task::spawn_blocking(move || read_local(&path, &ranges))
            .await
            .map_err(|e| ParquetError::External(Box::new(e)))?
            .map_err(|e| ParquetError::General(format!("read {shown}: {e}")))
    }
    .boxed()
}

impl AsyncFileReader for DataFileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        match &self.local {
            Some(path) => local_ranges(path.clone(), vec![range])
                .map(|r| r.map(|mut v| v.pop().unwrap_or_default()))
                .boxed(),
            None => self.store.get_bytes(range),
        }
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        match &self.local {
            Some(path) => local_ranges(path.clone(), ranges),
            None => self.store.get_byte_ranges(ranges),
        }
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        self.store.get_metadata(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exact_ranges_and_names_a_short_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let got = read_local(&path, &[2..5, 0..1, 9..10, 4..4]).unwrap();
        assert_eq!(got, vec![&b"234"[..], b"0", b"9", b""]);
        let past_the_end = [Range { start: 8, end: 12 }];
        let err = read_local(&path, &past_the_end).unwrap_err().to_string();
        assert!(err.contains("ends before byte 12"), "{err}");
    }
}
