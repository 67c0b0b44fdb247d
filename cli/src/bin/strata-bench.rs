//! `strata-bench`: benchmarks reported as ratios against baselines measured in the same
//! run on the same generated data, printed as JSON.
//!
//! ```text
//! strata-bench [--rows N] [--seed S] [--pypaimon-rows N] [--no-peers]
//! ```
//!
//! Data: BIGINT key in random order, 3 strings of 10–40 chars, 3 BIGINT, 2 DOUBLE, 1
//! TIMESTAMP(6); 5,000,000 rows by default (STRATA_BENCH_ROWS). Baseline
//! "parquet_floor": the same rows, already sorted, written to a local Parquet file (zstd)
//! with arrow-rs directly: the encoding and disk writes no writer can avoid (the in-memory
//! encoding alone is reported beside it). Every time is CPU seconds of the
//! process doing the work, so rates are per core. The writer benchmarks and their
//! baselines are in `cli/src/bench/writer.rs`; `dv_read` (deletion-vector reads ÷ plain
//! reads) in `cli/src/bench/dv_read.rs`; compaction (`compaction`, `write_amplification`)
//! in `cli/src/bench/compaction.rs`.

#[path = "../bench/cpu.rs"]
mod cpu;
#[path = "../bench/dv_read.rs"]
mod dv_read;
#[path = "../bench/strata.rs"]
mod strata;
#[path = "../alloc.rs"]
mod strata_cli_alloc;
#[path = "../bench/writer.rs"]
mod writer_bench;

use std::sync::Arc;

use cpu::CpuTimer;
use writer_bench::{
    ingest_only as ingest_alone, merge_read_only, rss_child, run, strata_ingest_only, updates_only,
    Config, USAGE,
};

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

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
    keys.chunks(batch)
        .map(|chunk| rows_for(chunk, &mut rng))
        .collect()
}

/// One batch with these keys and random values.
fn rows_for(keys: &[i64], rng: &mut Rng) -> RecordBatch {
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let n = keys.len();
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(keys.to_vec()))];
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
    RecordBatch::try_new(bench_schema(), columns).expect("generated batch")
}

/// `commits` commits that each update the same `keys` with new values.
fn updates(keys: &[i64], commits: usize, batch: usize, seed: u64) -> Vec<Vec<RecordBatch>> {
    let mut rng = Rng(seed);
    (0..commits)
        .map(|_| {
            keys.chunks(batch)
                .map(|chunk| rows_for(chunk, &mut rng))
                .collect()
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

/// CPU seconds of the naive writer the issue measures against the floor: all of
/// `batches` concatenated, sorted by key, taken in that order and written as `parquet_floor`
/// writes (to a file in `dir`).
fn naive_sort_then_write(batches: &[RecordBatch], dir: &std::path::Path) -> f64 {
    let start = CpuTimer::start();
    let sorted = sorted(batches);
    start.seconds() + parquet_floor(&sorted, Some(dir))
}

/// CPU seconds to write `batches` to one Parquet file with zstd: to a local file in `dir`
/// (beside the warehouse, so the same disk writes are in both), or in memory when `None`.
fn parquet_floor(batches: &[RecordBatch], dir: Option<&std::path::Path>) -> f64 {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level")))
        .build();
    fn write<W: std::io::Write + Send>(
        w: W,
        batches: &[RecordBatch],
        props: WriterProperties,
    ) -> W {
        let mut writer = ArrowWriter::try_new(w, bench_schema(), Some(props)).expect("writer");
        for b in batches {
            writer.write(b).expect("write");
        }
        writer.into_inner().expect("close")
    }
    let start = CpuTimer::start();
    match dir {
        Some(dir) => {
            // Kept until the run ends, as the table's files are: deleting it would let the
            // next floor write reuse its page-cache pages, which a writer's new files never do.
            let (file, _) = tempfile::Builder::new()
                .prefix("parquet-floor-")
                .suffix(".parquet")
                .tempfile_in(dir)
                .and_then(|f| f.keep().map_err(|e| e.error))
                .expect("floor file");
            std::hint::black_box(write(file, batches, props));
            start.seconds()
        }
        None => {
            std::hint::black_box(write(Vec::new(), batches, props).len());
            start.seconds()
        }
    }
}

fn main() {
    strata_cli_alloc::tune();
    let mut cfg = Config {
        rows: std::env::var("STRATA_BENCH_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5_000_000),
        seed: 42,
        pypaimon_rows: 200_000,
        peers: true,
        rss_child: None,
    };
    let mut compaction_only = false;
    let mut ingest_only = false;
    let mut updates_alone = false;
    let mut merge_read_alone = false;
    let mut dv_read_alone = false;
    let mut strata_ingest_times = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |what: &str| -> usize {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => n,
                None => {
                    eprintln!("error: {what} needs a number");
                    std::process::exit(2);
                }
            }
        };
        match a.as_str() {
            "--rows" => cfg.rows = number("--rows"),
            "--seed" => cfg.seed = number("--seed") as u64,
            "--pypaimon-rows" => cfg.pypaimon_rows = number("--pypaimon-rows"),
            "--no-peers" => cfg.peers = false,
            "--user-cpu" => cpu::count_user_time_only(),
            "--compaction-only" => compaction_only = true,
            "--ingest-only" => ingest_only = true,
            "--updates-only" => updates_alone = true,
            "--merge-read-only" => merge_read_alone = true,
            "--dv-read-only" => dv_read_alone = true,
            "--strata-ingest-only" => strata_ingest_times = Some(number("--strata-ingest-only")),
            "--rss-child" => cfg.rss_child = Some(number("--rss-child")),
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("error: unknown argument '{other}' (try --help)");
                std::process::exit(2);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match cfg.rss_child {
        Some(rows) => runtime.block_on(rss_child(rows, cfg.seed)),
        // Profiling one benchmark without the others.
        None if ingest_only => runtime.block_on(ingest_alone(&cfg)),
        None if updates_alone => runtime.block_on(updates_only(&cfg)),
        None if merge_read_alone => runtime.block_on(merge_read_only(&cfg)),
        None if dv_read_alone => runtime.block_on(dv_read::bench(cfg.rows, cfg.seed)),
        None if strata_ingest_times.is_some() => {
            runtime.block_on(strata_ingest_only(&cfg, strata_ingest_times.unwrap_or(1)))
        }
        None if compaction_only => Ok(compaction::run(
            &generate(cfg.rows, 8192, cfg.seed),
            cfg.seed,
        )),
        None => runtime
            .block_on(async {
                let mut report = run(&cfg).await?;
                report["dv_read"] = dv_read::bench(cfg.rows, cfg.seed).await?;
                Ok(report)
            })
            .map(|mut report: serde_json::Value| {
                // Compaction runs its own (multi-threaded) runtime.
                let c = compaction::run(&generate(cfg.rows, 8192, cfg.seed), cfg.seed);
                report["compaction"] = c["compaction"].clone();
                report["write_amplification"] = c["write_amplification"].clone();
                report
            }),
    };
    match result {
        Ok(mut report) => {
            let counted = if cpu::user_time_only() {
                "user"
            } else {
                "user+system"
            };
            report["cpu_time"] = serde_json::json!(counted);
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            )
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
