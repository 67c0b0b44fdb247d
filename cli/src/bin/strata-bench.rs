//! `strata-bench`: benchmarks reported as ratios against baselines measured in the same
//! run on the same generated data, printed as JSON.
//!
//! ```text
//! strata-bench [--rows N] [--seed S]      # default 5,000,000 rows (STRATA_BENCH_ROWS)
//! ```
//!
//! Data: BIGINT key in random order, 3 strings of 10–40 chars, 3 BIGINT, 2 DOUBLE, 1
//! TIMESTAMP(6). Baseline "parquet_floor": the same rows, already sorted, written to
//! Parquet (zstd) with arrow-rs directly: the encoding cost no writer can avoid.
//!
//! Compaction (`compaction`, `write_amplification`): see `cli/src/bench/compaction.rs`.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::json;

#[path = "../bench/compaction.rs"]
mod compaction;

/// A small deterministic generator (SplitMix64), so runs compare like with like.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub fn bench_schema() -> SchemaRef {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    for i in 0..3 {
        fields.push(Field::new(format!("s{i}"), DataType::Utf8, true));
    }
    for i in 0..3 {
        fields.push(Field::new(format!("n{i}"), DataType::Int64, true));
    }
    for i in 0..2 {
        fields.push(Field::new(format!("d{i}"), DataType::Float64, true));
    }
    fields.push(Field::new(
        "ts",
        DataType::Timestamp(TimeUnit::Microsecond, None),
        true,
    ));
    Arc::new(Schema::new(fields))
}

/// `rows` rows in batches of `batch`, keys a random permutation of `0..rows`.
pub fn generate(rows: usize, batch: usize, seed: u64) -> Vec<RecordBatch> {
    let mut rng = Rng(seed);
    let mut keys: Vec<i64> = (0..rows as i64).collect();
    for i in (1..keys.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        keys.swap(i, j);
    }
    let schema = bench_schema();
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    keys.chunks(batch)
        .map(|chunk| {
            let n = chunk.len();
            let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(chunk.to_vec()))];
            for _ in 0..3 {
                let strings: Vec<String> = (0..n)
                    .map(|_| {
                        let len = 10 + rng.below(31) as usize;
                        (0..len)
                            .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize] as char)
                            .collect()
                    })
                    .collect();
                columns.push(Arc::new(StringArray::from(strings)));
            }
            for _ in 0..3 {
                columns.push(Arc::new(Int64Array::from_iter_values(
                    (0..n).map(|_| rng.next() as i64 >> 20),
                )));
            }
            for _ in 0..2 {
                columns.push(Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|_| rng.next() as f64 / u64::MAX as f64 * 1e6),
                )));
            }
            columns.push(Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..n).map(|_| 1_600_000_000_000_000 + rng.below(100_000_000_000_000) as i64),
            )));
            RecordBatch::try_new(schema.clone(), columns).expect("generated batch")
        })
        .collect()
}

/// The rows sorted by key, in batches of the same size.
fn sorted(batches: &[RecordBatch]) -> Vec<RecordBatch> {
    let all = arrow::compute::concat_batches(&bench_schema(), batches).expect("concat");
    let indices = arrow::compute::sort_to_indices(all.column(0), None, None).expect("sort");
    let taken = arrow::compute::take_record_batch(&all, &indices).expect("take");
    let size = batches.first().map_or(8192, |b| b.num_rows().max(1));
    (0..taken.num_rows())
        .step_by(size)
        .map(|o| taken.slice(o, size.min(taken.num_rows() - o)))
        .collect()
}

/// Seconds to write `batches` to one Parquet file in memory with zstd.
fn parquet_floor(batches: &[RecordBatch]) -> f64 {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level")))
        .build();
    let start = Instant::now();
    let mut writer = ArrowWriter::try_new(Vec::new(), bench_schema(), Some(props)).expect("writer");
    for b in batches {
        writer.write(b).expect("write");
    }
    let bytes = writer.into_inner().expect("close");
    std::hint::black_box(bytes.len());
    start.elapsed().as_secs_f64()
}

fn main() {
    let mut rows: usize = std::env::var("STRATA_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let mut seed = 42u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rows" => rows = args.next().and_then(|v| v.parse().ok()).unwrap_or(rows),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            "--help" | "-h" => {
                println!("strata-bench [--rows N] [--seed S]: benchmark ratios as JSON");
                return;
            }
            other => {
                eprintln!("error: unknown argument '{other}' (try --help)");
                std::process::exit(2);
            }
        }
    }
    let data = generate(rows, 8192, seed);
    let presorted = sorted(&data);
    let floor_secs = parquet_floor(&presorted);
    drop(presorted);
    let compaction = compaction::run(&data, seed);
    let report = json!({
        "rows": rows,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "parquet_floor": {
            "seconds": floor_secs,
            "rows_per_sec": rows as f64 / floor_secs,
        },
        "compaction": compaction["compaction"],
        "write_amplification": compaction["write_amplification"],
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
}
