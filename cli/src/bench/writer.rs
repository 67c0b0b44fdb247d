//! The writer benchmarks of issue 3, each a ratio against a baseline measured in this run
//! on the same generated rows:
//!
//! - `ingest`: rows into a 4-bucket deduplicate table ÷ the Parquet floor (target ≥ 0.6),
//!   and ÷ the `paimon` crate 0.4.0 writing the same rows into a 4-bucket table (≥ 1.2);
//! - `updates`: 10 commits updating the same keys (a tenth of the table), same ratios, into
//!   a `write-only` table (the writer's work alone: the `paimon` crate does not compact
//!   either); `with_writer_compaction` is the same commits into the ingest table, whose
//!   writer compacts its buckets as they reach the trigger (the compactor's cost is
//!   measured on its own in `compaction`);
//! - `merge_read`: merge-on-read of a table with 11 sorted runs per bucket ÷ a plain read
//!   of the same files (≥ 0.8);
//! - `peak_rss`: a child process ingesting N and 2N rows with `write-buffer-size` 64 MB
//!   (< 512 MB, flat in N);
//! - `pypaimon`: pure-Python pypaimon 2.1.0 on a prefix of the rows, for reference.
//!
//! Peers run in Python (`peer.py`, with `STRATA_PYTHON` or `python3`); when they cannot
//! run, their entries say why instead of a number.

use std::path::Path;
use std::process::Command;

use arrow_array::RecordBatch;
use serde_json::{json, Value};
use strata_format::catalog::Catalog;

use crate::cpu::{peak_rss_bytes, CpuTimer};
use crate::strata::{self, Result};

pub const USAGE: &str =
    "strata-bench [--rows N] [--seed S] [--pypaimon-rows N] [--no-peers] [--compaction-only] [--ingest-only] \
[--updates-only] [--merge-read-only] [--dv-read-only] [--strata-ingest-only TIMES] [--user-cpu]: \
writer benchmarks as JSON ratios against baselines measured in the same run";

const BUCKETS: &str = "4";
const UPDATE_COMMITS: usize = 10;
const RUNS: usize = 11;
const BATCH: usize = 8192;
const READ_REPEATS: usize = 5;
const INGEST_REPEATS: usize = 3;

pub struct Config {
    pub rows: usize,
    pub seed: u64,
    pub pypaimon_rows: usize,
    pub peers: bool,
    /// Internal: run as the peak-RSS child ingesting this many rows.
    pub rss_child: Option<usize>,
}

fn rate(rows: usize, seconds: f64) -> Value {
    json!({ "cpu_seconds": seconds, "rows_per_cpu_sec": rows as f64 / seconds })
}

fn ratio(a: f64, b: f64) -> Value {
    json!(a / b)
}

/// A write buffer that holds the whole ingest, as the floor and the `paimon` crate hold
/// the rows in memory: the sort and the writing without the spill.
const WHOLE_BUFFER: (&str, &str) = ("write-buffer-size", "4 gb");

/// CPU seconds of the ingest baselines and of Strata's ingests, each the best of
/// `INGEST_REPEATS`.
struct Ingest {
    floor: Best,
    floor_in_memory: Best,
    /// Sort everything, then write it as the floor does.
    naive: Best,
    /// Default options: the 256 MB buffer spills at this size.
    strata: Best,
    /// [`WHOLE_BUFFER`].
    whole_buffer: Best,
}

/// The fewest CPU seconds of a measurement's runs, and the kernel's part of that run: page
/// faults and file writes, which on a VM can swing more than the code does.
#[derive(Clone, Copy)]
struct Best {
    seconds: f64,
    system: f64,
}

impl Best {
    const NONE: Best = Best {
        seconds: f64::MAX,
        system: 0.0,
    };

    /// Keeps a run's `seconds` (as its measurement counts them) and the kernel time since
    /// `kernel` started, when they are the best so far.
    fn keep(&mut self, seconds: f64, kernel: &CpuTimer) {
        if seconds < self.seconds {
            *self = Best {
                seconds,
                system: kernel.system_seconds(),
            };
        }
    }
}

/// The Parquet floor (to a file, and in memory) and the ingest into a fresh 4-bucket table,
/// alternately, the best of `INGEST_REPEATS` of each: on a VM the cost of writing new files
/// swings with the state of the page cache, and the best runs compare like with like.
/// Returns their CPU seconds and the last ingest table (default options).
async fn ingest_against_floor(
    catalog: &Catalog,
    dir: &Path,
    data: &[RecordBatch],
) -> Result<(Ingest, strata_format::table::Table)> {
    let sorted = crate::sorted(data);
    let mut best = Ingest {
        floor: Best::NONE,
        floor_in_memory: Best::NONE,
        naive: Best::NONE,
        strata: Best::NONE,
        whole_buffer: Best::NONE,
    };
    let mut table = None;
    for i in 0..INGEST_REPEATS {
        let kernel = CpuTimer::start();
        best.floor
            .keep(crate::parquet_floor(&sorted, Some(dir)), &kernel);
        let kernel = CpuTimer::start();
        best.floor_in_memory
            .keep(crate::parquet_floor(&sorted, None), &kernel);
        let kernel = CpuTimer::start();
        best.naive
            .keep(crate::naive_sort_then_write(data, dir), &kernel);
        let t =
            strata::create_table(catalog, &format!("ingest{i}"), &[("bucket", BUCKETS)]).await?;
        let kernel = CpuTimer::start();
        best.strata
            .keep(strata::write_commits(&t, &[data]).await?, &kernel);
        table = Some(t);
        let options = [("bucket", BUCKETS), WHOLE_BUFFER];
        let whole = strata::create_table(catalog, &format!("ingest-whole{i}"), &options).await?;
        let kernel = CpuTimer::start();
        best.whole_buffer
            .keep(strata::write_commits(&whole, &[data]).await?, &kernel);
    }
    let table = table.ok_or("no ingest run")?;
    Ok((best, table))
}

/// The kernel's part of the best ingest runs' CPU seconds (counted in them unless
/// `--user-cpu`).
fn ingest_system(ingest: &Ingest) -> Value {
    json!({
        "parquet_floor": ingest.floor.system,
        "naive_sort_then_write": ingest.naive.system,
        "strata": ingest.strata.system,
        "whole_buffer": ingest.whole_buffer.system,
    })
}

/// The naive writer's rate and its ratio to the floor, which the issue puts at 0.57 on the
/// machine its targets were set on: the context for the ingest's ratio here.
fn naive(rows: usize, ingest: &Ingest) -> Value {
    let mut v = rate(rows, ingest.naive.seconds);
    v["ratio_to_floor"] = ratio(ingest.floor.seconds, ingest.naive.seconds);
    v["strata_ratio_to_naive"] = ratio(ingest.naive.seconds, ingest.strata.seconds);
    v
}

/// The ingest benchmark alone (for profiling): ingest ÷ the Parquet floor.
pub async fn ingest_only(cfg: &Config) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let catalog = Catalog::open(&dir.path().join("warehouse").to_string_lossy())?;
    let data = crate::generate(cfg.rows, BATCH, cfg.seed);
    let (ingest, _) = ingest_against_floor(&catalog, dir.path(), &data).await?;
    Ok(json!({
        "rows": cfg.rows,
        "parquet_floor": rate(cfg.rows, ingest.floor.seconds),
        "parquet_floor_in_memory": rate(cfg.rows, ingest.floor_in_memory.seconds),
        "naive_sort_then_write": naive(cfg.rows, &ingest),
        "strata": rate(cfg.rows, ingest.strata.seconds),
        "ratio_to_floor": ratio(ingest.floor.seconds, ingest.strata.seconds),
        "system_seconds": ingest_system(&ingest),
        "whole_buffer": {
            "write_buffer_size": WHOLE_BUFFER.1,
            "strata": rate(cfg.rows, ingest.whole_buffer.seconds),
            "ratio_to_floor": ratio(ingest.floor.seconds, ingest.whole_buffer.seconds),
        },
    }))
}

/// The default-options ingest alone, `times` times, each into a fresh table: every run's
/// CPU seconds. For comparing two builds run alternately, without the floors and peers
/// around it (a change of a few hundredths of a second is lost in one run's spread).
pub async fn strata_ingest_only(cfg: &Config, times: usize) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let catalog = Catalog::open(&dir.path().join("warehouse").to_string_lossy())?;
    let data = crate::generate(cfg.rows, BATCH, cfg.seed);
    let mut seconds = Vec::with_capacity(times);
    for i in 0..times.max(1) {
        let options = [("bucket", BUCKETS)];
        let table = strata::create_table(&catalog, &format!("ingest{i}"), &options).await?;
        seconds.push(strata::write_commits(&table, &[&data]).await?);
    }
    let best = seconds.iter().copied().fold(f64::MAX, f64::min);
    Ok(json!({ "rows": cfg.rows, "cpu_seconds": seconds, "best": rate(cfg.rows, best) }))
}

/// The merge-on-read benchmark alone (for profiling).
pub async fn merge_read_only(cfg: &Config) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let catalog = Catalog::open(&dir.path().join("warehouse").to_string_lossy())?;
    let data = crate::generate(cfg.rows, BATCH, cfg.seed);
    merge_read(&catalog, &data).await
}

/// Options of the table the update commits are timed on: nothing but the writer's work.
const WRITE_ONLY: [(&str, &str); 3] = [
    ("bucket", BUCKETS),
    ("write-only", "true"),
    // Runs pile up without a compactor: the writer must not wait for one.
    ("num-sorted-run.stop-trigger", "1000"),
];

/// The update benchmark alone (for profiling): ingest, then the update commits timed, into
/// a write-only table and into one whose writer compacts.
pub async fn updates_only(cfg: &Config) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let catalog = Catalog::open(&dir.path().join("warehouse").to_string_lossy())?;
    let data = crate::generate(cfg.rows, BATCH, cfg.seed);
    let keys = update_keys(&data, cfg.rows);
    let update_commits = crate::updates(&keys, UPDATE_COMMITS, BATCH, cfg.seed + 1);
    let groups: Vec<&[RecordBatch]> = update_commits.iter().map(|c| c.as_slice()).collect();
    let rows = keys.len() * UPDATE_COMMITS;
    let mut report = json!({});
    for (name, options) in [
        ("write_only", &WRITE_ONLY[..]),
        ("with_writer_compaction", &WRITE_ONLY[..1]),
    ] {
        let table = strata::create_table(&catalog, name, options).await?;
        strata::write_commits(&table, &[&data]).await?;
        report[name] = rate(rows, strata::write_commits(&table, &groups).await?);
    }
    Ok(report)
}

/// The first tenth of the keys, which every update commit rewrites.
fn update_keys(data: &[RecordBatch], rows: usize) -> Vec<i64> {
    data.iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
                .map(|a| a.values().to_vec())
                .unwrap_or_default()
        })
        .take((rows / 10).max(1))
        .collect()
}

pub async fn run(cfg: &Config) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let warehouse = dir.path().join("warehouse");
    let catalog = Catalog::open(&warehouse.to_string_lossy())?;
    let rows = cfg.rows;
    let data = crate::generate(rows, BATCH, cfg.seed);
    let (ingest, table) = ingest_against_floor(&catalog, dir.path(), &data).await?;
    let (floor, in_memory) = (ingest.floor.seconds, ingest.floor_in_memory.seconds);
    let floor_rate = rows as f64 / floor;
    let ingest_rate = rows as f64 / ingest.strata.seconds;

    // Updates: the first tenth of the keys, rewritten in every commit.
    let keys = update_keys(&data, rows);
    let update_commits = crate::updates(&keys, UPDATE_COMMITS, BATCH, cfg.seed + 1);
    let update_rows = keys.len() * UPDATE_COMMITS;
    // Best of INGEST_REPEATS, as the ingest floor: a single pass swings with the cost of
    // new files on this VM, which would flatter the ratio.
    let sorted_commits: Vec<Vec<RecordBatch>> =
        update_commits.iter().map(|c| crate::sorted(c)).collect();
    let update_floor: f64 = (0..INGEST_REPEATS)
        .map(|_| {
            sorted_commits
                .iter()
                .map(|c| crate::parquet_floor(c, Some(dir.path())))
                .sum::<f64>()
        })
        .fold(f64::MAX, f64::min);
    let groups: Vec<&[RecordBatch]> = update_commits.iter().map(|c| c.as_slice()).collect();
    let compacting = strata::write_commits(&table, &groups).await?;
    // Best of INGEST_REPEATS too: one pass swings as much as the floor's.
    let mut update = f64::MAX;
    for i in 0..INGEST_REPEATS {
        let write_only =
            strata::create_table(&catalog, &format!("updates{i}"), &WRITE_ONLY).await?;
        strata::write_commits(&write_only, &[&data]).await?;
        update = update.min(strata::write_commits(&write_only, &groups).await?);
    }
    let update_rate = update_rows as f64 / update;

    let mut report = json!({
        "rows": rows,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "parquet_floor": rate(rows, floor),
        "parquet_floor_in_memory": rate(rows, in_memory),
        "naive_sort_then_write": naive(rows, &ingest),
        "ingest": {
            "buckets": 4,
            "repeats": INGEST_REPEATS,
            "strata": rate(rows, ingest.strata.seconds),
            "ratio_to_floor": ratio(ingest_rate, floor_rate),
            "target_ratio_to_floor": 0.6,
            "system_seconds": ingest_system(&ingest),
            "whole_buffer": {
                "write_buffer_size": WHOLE_BUFFER.1,
                "strata": rate(rows, ingest.whole_buffer.seconds),
                "ratio_to_floor": ratio(floor, ingest.whole_buffer.seconds),
            },
        },
        "updates": {
            "commits": UPDATE_COMMITS,
            "rows_per_commit": keys.len(),
            "table": "write-only (the writer's work; compaction is measured in `compaction`)",
            "strata": rate(update_rows, update),
            "parquet_floor": rate(update_rows, update_floor),
            "ratio_to_floor": ratio(update_rate, update_rows as f64 / update_floor),
            "with_writer_compaction": {
                "strata": rate(update_rows, compacting),
                "ratio_to_floor": ratio(update_rows as f64 / compacting, update_rows as f64 / update_floor),
            },
        },
    });

    // The paimon crate on the same rows, ingest then the same update commits.
    if cfg.peers {
        let files = dir.path().join("inputs");
        std::fs::create_dir_all(&files)?;
        let ingest_file = files.join("ingest.parquet");
        write_parquet(&ingest_file, &data)?;
        let mut update_files = Vec::new();
        for (i, c) in update_commits.iter().enumerate() {
            let f = files.join(format!("update-{i}.parquet"));
            write_parquet(&f, c)?;
            update_files.push(f);
        }
        // Best of INGEST_REPEATS, each into a fresh table, as Strata's.
        let refs: Vec<&Path> = update_files.iter().map(|p| p.as_path()).collect();
        let (mut crate_ingest, mut crate_update) = (Value::Null, Value::Null);
        for i in 0..INGEST_REPEATS {
            let name = format!("crate{i}");
            strata::create_table(&catalog, &name, &[("bucket", BUCKETS)]).await?;
            let table = format!("bench.{name}");
            let ingest = peer("paimon-crate", &warehouse, &table, &[&ingest_file]);
            crate_ingest = faster(crate_ingest, ingest);
            let update = peer("paimon-crate", &warehouse, &table, &refs);
            crate_update = faster(crate_update, update);
        }
        report["ingest"]["paimon_crate"] = crate_ingest.clone();
        report["ingest"]["ratio_to_paimon_crate"] = peer_ratio(ingest_rate, &crate_ingest);
        report["ingest"]["whole_buffer"]["ratio_to_paimon_crate"] =
            peer_ratio(rows as f64 / ingest.whole_buffer.seconds, &crate_ingest);
        report["ingest"]["target_ratio_to_paimon_crate"] = json!(1.2);
        report["updates"]["paimon_crate"] = crate_update.clone();
        report["updates"]["ratio_to_paimon_crate"] = peer_ratio(update_rate, &crate_update);
        report["updates"]["target_ratio_to_paimon_crate"] = json!(1.2);
        report["updates"]["with_writer_compaction"]["ratio_to_paimon_crate"] =
            peer_ratio(update_rows as f64 / compacting, &crate_update);

        // pypaimon is slow: a prefix of the rows, as a reference point only.
        let py_rows = cfg.pypaimon_rows.min(rows);
        let prefix: Vec<RecordBatch> = slice_rows(&data, py_rows);
        let py_file = files.join("pypaimon.parquet");
        write_parquet(&py_file, &prefix)?;
        strata::create_table(&catalog, "pypaimon", &[("bucket", BUCKETS)]).await?;
        let py = peer("pypaimon", &warehouse, "bench.pypaimon", &[&py_file]);
        report["pypaimon"] = json!({
            "rows": py_rows,
            "result": py.clone(),
            "strata_ingest_ratio": peer_ratio(ingest_rate, &py),
        });
    }

    report["merge_read"] = merge_read(&catalog, &data).await?;
    report["peak_rss"] = peak_rss(rows, cfg.seed)?;
    Ok(report)
}

/// A table whose buckets each hold `RUNS` level-0 files (one per commit: buffers and files
/// large enough): every commit adds a slice of new keys and rewrites some keys of the
/// previous slice, so runs overlap. Merge-on-read ÷ plain read of the same files.
async fn merge_read(catalog: &Catalog, data: &[RecordBatch]) -> Result<Value> {
    let table = strata::create_table(
        catalog,
        "runs",
        &[
            ("bucket", BUCKETS),
            ("write-buffer-size", "4 gb"),
            ("target-file-size", "4 gb"),
            // The runs stay: no compaction by the writer, no wait at the stop trigger.
            ("write-only", "true"),
            ("num-sorted-run.stop-trigger", "1000"),
        ],
    )
    .await?;
    let per = data.len().div_ceil(RUNS).max(1);
    let chunks: Vec<&[RecordBatch]> = data.chunks(per).collect();
    let mut commits: Vec<Vec<RecordBatch>> = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut c = chunk.to_vec();
        if i > 0 {
            if let Some(first) = chunks[i - 1].first() {
                c.push(first.clone());
            }
        }
        commits.push(c);
    }
    let groups: Vec<&[RecordBatch]> = commits.iter().map(|c| c.as_slice()).collect();
    strata::write_commits(&table, &groups).await?;
    let (input_rows, runs) = strata::file_rows_and_runs(&table).await?;
    // Reads are short: the best of a few alternating runs of each, so that noise from the
    // machine does not decide the ratio.
    let (mut plain, mut merge) = (strata::Timed::NONE, strata::Timed::NONE);
    let (mut plain_rows, mut output_rows) = (0, 0);
    for _ in 0..READ_REPEATS {
        let (p, rows) = strata::plain_read(&table).await?;
        (plain, plain_rows) = (plain.best(p), rows);
        let (m, rows) = strata::merge_read(&table).await?;
        (merge, output_rows) = (merge.best(m), rows);
    }
    Ok(json!({
        "repeats": READ_REPEATS,
        "runs_per_bucket": runs,
        "input_rows": input_rows,
        "output_rows": output_rows,
        "plain": rate(plain_rows, plain.cpu),
        "merge": rate(input_rows as usize, merge.cpu),
        "ratio": ratio(plain.cpu, merge.cpu),
        "target_ratio": 0.8,
        // The plain read takes one file after another; the merge reads a bucket's files
        // together, and decodes on blocking threads beside the selection.
        "wall_seconds": { "plain": plain.wall, "merge": merge.wall },
        "wall_ratio": ratio(plain.wall, merge.wall),
    }))
}

/// Peak RSS of child processes ingesting `rows` and `2 * rows` rows with a 64 MB buffer.
fn peak_rss(rows: usize, seed: u64) -> Result<Value> {
    let exe = std::env::current_exe()?;
    let mut runs = Vec::new();
    for n in [rows, rows * 2] {
        let out = Command::new(&exe)
            .args(["--rss-child", &n.to_string(), "--seed", &seed.to_string()])
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "peak-RSS child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        runs.push(serde_json::from_slice::<Value>(&out.stdout)?);
    }
    Ok(json!({ "write_buffer_size": "64 mb", "target_mb": 512, "runs": runs }))
}

/// The child: streams `rows` generated rows (never all in memory) into a 4-bucket table.
pub async fn rss_child(rows: usize, seed: u64) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let catalog = Catalog::open(&dir.path().join("warehouse").to_string_lossy())?;
    let table = strata::create_table(
        &catalog,
        "rss",
        &[("bucket", BUCKETS), ("write-buffer-size", "64 mb")],
    )
    .await?;
    let timer = CpuTimer::start();
    let mut writer = strata_writer::TableWriter::builder(table).build()?;
    let mut rng = crate::Rng(seed);
    let mut next = 0u64;
    while (next as usize) < rows {
        let n = BATCH.min(rows - next as usize);
        // A bijection of the counter: unique keys in random order, without a permutation.
        let keys: Vec<i64> = (next..next + n as u64)
            .map(|i| crate::Rng(i).next() as i64)
            .collect();
        next += n as u64;
        writer.write(&crate::rows_for(&keys, &mut rng)).await?;
    }
    writer.commit(1).await?;
    Ok(json!({
        "rows": rows,
        "peak_rss_mb": peak_rss_bytes() as f64 / (1 << 20) as f64,
        "cpu_seconds": timer.seconds(),
    }))
}

fn slice_rows(data: &[RecordBatch], rows: usize) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut left = rows;
    for b in data {
        if left == 0 {
            break;
        }
        let n = b.num_rows().min(left);
        out.push(b.slice(0, n));
        left -= n;
    }
    out
}

fn write_parquet(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    let file = std::fs::File::create(path)?;
    let mut w = parquet::arrow::ArrowWriter::try_new(file, crate::bench_schema(), None)?;
    for b in batches {
        w.write(b)?;
    }
    w.close()?;
    Ok(())
}

/// Runs `peer.py` and returns its JSON, or `{"error": …}` when it cannot run.
fn peer(which: &str, warehouse: &Path, table: &str, files: &[&Path]) -> Value {
    let script = std::env::temp_dir().join(format!("strata-bench-peer-{}.py", std::process::id()));
    if let Err(e) = std::fs::write(&script, include_str!("peer.py")) {
        return json!({ "error": format!("cannot write the peer script: {e}") });
    }
    let python = std::env::var("STRATA_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let mut command = Command::new(&python);
    if crate::cpu::user_time_only() {
        command.env("STRATA_BENCH_USER_CPU", "1");
    }
    let out = command
        .arg(&script)
        .arg(which)
        .arg(warehouse)
        .arg(table)
        .args(files)
        .output();
    let _ = std::fs::remove_file(&script);
    match out {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| json!({ "error": format!("{which} printed no JSON: {e}") })),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let last = err.lines().last().unwrap_or("").to_string();
            json!({ "error": format!("{which} failed: {last}") })
        }
        Err(e) => json!({ "error": format!("cannot run {python}: {e}") }),
    }
}

/// Of two peer results, the one that took less CPU; one that ran over one that did not.
fn faster(a: Value, b: Value) -> Value {
    match (a["cpu_seconds"].as_f64(), b["cpu_seconds"].as_f64()) {
        (Some(x), Some(y)) if y < x => b,
        (Some(_), _) => a,
        (None, Some(_)) => b,
        (None, None) if a.is_null() => b,
        (None, None) => a,
    }
}

/// Strata's rate ÷ the peer's rows per CPU-second, or null when the peer did not run.
fn peer_ratio(strata_rate: f64, peer: &Value) -> Value {
    match (peer["rows"].as_f64(), peer["cpu_seconds"].as_f64()) {
        (Some(rows), Some(secs)) if secs > 0.0 => json!(strata_rate / (rows / secs)),
        _ => Value::Null,
    }
}
