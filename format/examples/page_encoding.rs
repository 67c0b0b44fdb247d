//! What arrow-rs's `ArrowWriter` costs over the work a plain-encoded Parquet column needs:
//! one bucket's file of the benchmark's rows (1.25M rows, Paimon's 13 columns, sorted by
//! key), written by `ArrowWriter` with zstd-1 and no dictionaries (what the data file
//! writer does for columns of distinct values), against the same columns copied into
//! plain pages of at most 1 MiB or 20,000 rows, each page's min/max taken and the page
//! compressed by zstd-1. The second is a lower bound for a writer that encodes pages
//! itself: no levels, page headers, footer or page index.
//!
//! `cargo run --release -p strata-format --example page_encoding`

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, Int8Array, RecordBatch, StringArray,
};
use arrow::datatypes::{Float64Type, Int64Type, Int8Type};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

const ROWS: usize = 1_250_000;
const CHUNK: usize = 8192;
const PAGE_BYTES: usize = 1 << 20;
const PAGE_ROWS: usize = 20_000;

fn rows() -> RecordBatch {
    let mut rng = StdRng::seed_from_u64(7);
    let mut keys: Vec<i64> = (0..ROWS).map(|_| rng.next_u64() as i64).collect();
    keys.sort_unstable();
    let sequences = (0..ROWS).map(|_| (rng.next_u64() % 5_000_000) as i64);
    let mut columns: Vec<(String, ArrayRef)> = vec![
        ("_KEY_id".into(), Arc::new(Int64Array::from(keys.clone()))),
        (
            "_SEQUENCE_NUMBER".into(),
            Arc::new(Int64Array::from_iter_values(sequences)),
        ),
        (
            "_VALUE_KIND".into(),
            Arc::new(Int8Array::from(vec![0; ROWS])),
        ),
        ("id".into(), Arc::new(Int64Array::from(keys))),
    ];
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for i in 0..3 {
        let strings = (0..ROWS).map(|_| {
            let len = 10 + (rng.next_u64() % 31) as usize;
            (0..len)
                .map(|_| alphabet[(rng.next_u64() % 62) as usize] as char)
                .collect::<String>()
        });
        let array: StringArray = strings.map(Some).collect();
        columns.push((format!("s{i}"), Arc::new(array)));
    }
    for i in 0..4 {
        let values = (0..ROWS).map(|_| rng.next_u64() as i64 >> 20);
        columns.push((
            format!("b{i}"),
            Arc::new(Int64Array::from_iter_values(values)),
        ));
    }
    for i in 0..2 {
        let values = (0..ROWS).map(|_| rng.next_u64() as f64 / u64::MAX as f64 * 1e6);
        columns.push((
            format!("d{i}"),
            Arc::new(Float64Array::from_iter_values(values)),
        ));
    }
    RecordBatch::try_from_iter(columns).expect("generated rows")
}

/// Bytes of the file `ArrowWriter` writes from `batch`, a chunk at a time.
fn arrow_writer(batch: &RecordBatch, properties: &WriterProperties) -> usize {
    let mut writer =
        ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties.clone())).expect("writer");
    for start in (0..batch.num_rows()).step_by(CHUNK) {
        let len = CHUNK.min(batch.num_rows() - start);
        writer.write(&batch.slice(start, len)).expect("write");
    }
    writer.into_inner().expect("close").len()
}

/// Compressed bytes of `batch`'s columns as plain pages, and a checksum of the pages'
/// min/max (so that work is not optimised away).
fn plain_pages(batch: &RecordBatch) -> (usize, i64) {
    let mut zstd = zstd::bulk::Compressor::new(1).expect("zstd");
    let (mut bytes, mut check) = (0usize, 0i64);
    let mut page: Vec<u8> = Vec::with_capacity(2 * PAGE_BYTES);
    for column in batch.columns() {
        let mut page_rows = 0;
        for start in (0..column.len()).step_by(CHUNK) {
            let chunk = column.slice(start, CHUNK.min(column.len() - start));
            if let Some(strings) = chunk.as_string_opt::<i32>() {
                let mut values = strings.iter().flatten();
                let first = values.next().unwrap_or_default();
                let (mut lo, mut hi) = (first, first);
                for v in std::iter::once(first).chain(values) {
                    page.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    page.extend_from_slice(v.as_bytes());
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
                check += (lo.len() + hi.len()) as i64;
            } else if let Some(ints) = chunk.as_primitive_opt::<Int64Type>() {
                page.extend_from_slice(ints.values().inner().as_slice());
                let (lo, hi) = (ints.values().iter().min(), ints.values().iter().max());
                check = check.wrapping_add(lo.copied().unwrap_or(0) ^ hi.copied().unwrap_or(0));
            } else if let Some(floats) = chunk.as_primitive_opt::<Float64Type>() {
                page.extend_from_slice(floats.values().inner().as_slice());
                let lo = floats.values().iter().fold(f64::MAX, |m, v| m.min(*v));
                check = check.wrapping_add(lo as i64);
            } else if let Some(bytes) = chunk.as_primitive_opt::<Int8Type>() {
                // Parquet stores a TINYINT as a 32-bit integer.
                for v in bytes.values() {
                    page.extend_from_slice(&i32::from(*v).to_le_bytes());
                }
            }
            page_rows += chunk.len();
            if page.len() >= PAGE_BYTES || page_rows >= PAGE_ROWS {
                bytes += zstd.compress(&page).expect("compress").len();
                page.clear();
                page_rows = 0;
            }
        }
        if !page.is_empty() {
            bytes += zstd.compress(&page).expect("compress").len();
            page.clear();
        }
    }
    (bytes, check)
}

fn main() {
    let batch = rows();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level")))
        .set_dictionary_enabled(false)
        .build();
    for _ in 0..3 {
        let t = Instant::now();
        let file = arrow_writer(&batch, &properties);
        let writer_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (pages, check) = plain_pages(&batch);
        let pages_s = t.elapsed().as_secs_f64();
        println!(
            "ArrowWriter {writer_s:.3} s ({file} bytes) | plain pages + zstd {pages_s:.3} s \
             ({pages} bytes, check {check}) | ratio {:.2}",
            writer_s / pages_s
        );
    }
}
