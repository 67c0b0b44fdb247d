//! Compaction benchmarks of `strata-bench`.
//!
//! - `compaction`: a full compaction of one bucket holding 4 overlapping level-0 files
//!   (update-heavy: keys repeat across files), in input rows per second, divided by the
//!   baseline: a plain arrow-rs k-way merge of the same files (read with the parquet crate,
//!   merged on the BIGINT key with a binary heap, deduplicated by sequence number,
//!   gathered with `interleave`, written as a zstd Parquet file next to the table),
//!   measured in the same run.
//! - `write_amplification`: an update-heavy ingest (many small commits over a small key
//!   space) with the writer compacting its buckets, against the same ingest without
//!   compaction: bytes written / bytes ingested, beside what a read then touches (files,
//!   sorted runs per bucket).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::{json, Value};
use strata_format::catalog::{Catalog, Identifier};
use strata_format::compact::plan::sorted_run_count;
use strata_format::compact::Compactor;
use strata_format::manifest::{read_manifest_entries, read_manifest_list, FileKind};
use strata_format::scan::TableScan;
use strata_format::schema::TableSchema;
use strata_format::snapshot::CommitKind;
use strata_format::table::Table;
use strata_format::types::DataType;
use strata_writer::TableWriter;

use crate::cpu::CpuTimer;

/// Level-0 files merged by the compaction benchmark.
const RUNS: usize = 4;
/// Runs of the compaction and its baseline, best of each.
const REPEATS: usize = 3;

/// Copies the directory `from` to `to`, recursively.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("copy directory");
    for entry in std::fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Runs both benchmarks on `data` (the generator's batches) and returns their JSON.
pub fn run(data: &[RecordBatch], seed: u64) -> Value {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("strata-bench-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = runtime.block_on(async {
        json!({
            "compaction": compaction(&dir.join("merge"), data).await,
            "write_amplification": write_amplification(&dir.join("wa"), data).await,
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

const COLUMNS: &[(&str, &str)] = &[
    ("id", "BIGINT NOT NULL"),
    ("s0", "STRING"),
    ("s1", "STRING"),
    ("s2", "STRING"),
    ("n0", "BIGINT"),
    ("n1", "BIGINT"),
    ("n2", "BIGINT"),
    ("d0", "DOUBLE"),
    ("d1", "DOUBLE"),
    ("ts", "TIMESTAMP(6)"),
];

async fn create_table(dir: &std::path::Path, options: &[(&str, &str)]) -> Table {
    std::fs::create_dir_all(dir).expect("bench directory");
    let catalog = Catalog::open(&dir.to_string_lossy()).expect("catalog");
    catalog
        .create_database("bench", true)
        .await
        .expect("database");
    let fields: Vec<(&str, DataType)> = COLUMNS
        .iter()
        .map(|(n, t)| (*n, DataType::parse(t).expect("type")))
        .collect();
    let schema = TableSchema::new_for_create(
        fields,
        vec![],
        vec!["id".into()],
        options.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        None,
    )
    .expect("schema");
    catalog
        .create_table(&Identifier::parse("bench.t").expect("id"), schema)
        .await
        .expect("table")
}

/// The batch with its keys folded into `0..space` (so keys repeat: updates).
fn with_keys_in(batch: &RecordBatch, space: i64) -> RecordBatch {
    let ids = batch.column(0).as_primitive::<Int64Type>();
    let folded: ArrayRef = Arc::new(Int64Array::from_iter_values(
        ids.values().iter().map(|k| k % space.max(1)),
    ));
    let mut columns = batch.columns().to_vec();
    columns[0] = folded;
    RecordBatch::try_new(batch.schema(), columns).expect("batch")
}

async fn compaction(dir: &std::path::Path, data: &[RecordBatch]) -> Value {
    let table = create_table(
        dir,
        &[
            ("bucket", "1"),
            ("write-only", "true"),
            ("num-sorted-run.stop-trigger", "1000"),
            ("write-buffer-size", "8 gb"),
            ("target-file-size", "8 gb"),
        ],
    )
    .await;
    let rows: usize = data.iter().map(|b| b.num_rows()).sum();
    // Each run holds a quarter of the rows with keys in 0..rows/2: most keys are in two runs.
    let per_run = data.len().div_ceil(RUNS).max(1);
    let mut writer = TableWriter::builder(table.clone()).build().expect("writer");
    for (i, chunk) in data.chunks(per_run).enumerate() {
        for b in chunk {
            writer
                .write(&with_keys_in(b, rows as i64 / 2))
                .await
                .expect("write");
        }
        writer.commit(i as i64 + 1).await.expect("commit");
    }
    let split = TableScan::new(table.clone())
        .plan()
        .await
        .expect("plan")
        .splits;
    let files: Vec<PathBuf> = split
        .iter()
        .flat_map(|s| {
            s.files.iter().map(|f| {
                let p = table
                    .paths()
                    .data_file(&s.partition_path, s.bucket, &f.file_name);
                dir.join(p.as_ref())
            })
        })
        .collect();

    // Best of REPEATS alternating runs of each, every compaction on a fresh copy of the
    // table: the cost of writing a new file swings with the page cache on this VM. Both
    // write new files and keep them, as a table keeps its files (overwriting one file
    // would reuse its page cache, which no compaction can).
    let mut baseline: Option<Baseline> = None;
    let (mut cpu_seconds, mut system_seconds, mut seconds) = (f64::MAX, 0.0, f64::MAX);
    let mut reports = Vec::new();
    for repeat in 0..REPEATS {
        let copy = dir.with_file_name(format!("copy-{repeat}"));
        copy_dir(dir, &copy);
        let output = dir.with_file_name(format!("baseline-output-{repeat}.parquet"));
        let run = baseline_merge(&files, &output);
        if baseline
            .as_ref()
            .is_none_or(|b| run.cpu_seconds < b.cpu_seconds)
        {
            baseline = Some(run);
        }
        let catalog = Catalog::open(&copy.to_string_lossy()).expect("catalog");
        let table = catalog
            .load_table(&Identifier::parse("bench.t").expect("id"))
            .await
            .expect("table");
        let compactor = Compactor::new(table, "bench").expect("compactor");
        let start = Instant::now();
        let cpu = CpuTimer::start();
        reports = compactor.compact_table(true).await.expect("compaction");
        if cpu.seconds() < cpu_seconds {
            (cpu_seconds, system_seconds) = (cpu.seconds(), cpu.system_seconds());
        }
        seconds = seconds.min(start.elapsed().as_secs_f64());
    }
    let baseline = baseline.expect("a baseline run");
    let input_rows: u64 = reports.iter().map(|r| r.stats.rows_read).sum();
    let output_rows: u64 = reports.iter().map(|r| r.stats.rows_written).sum();
    assert_eq!(
        (input_rows, output_rows),
        (baseline.input_rows, baseline.output_rows),
        "the compaction and the baseline merged different rows"
    );
    // Per CPU second (all threads), as every figure here: the wall clock of a phase that
    // writes hundreds of MB swings with the page cache's writeback on this VM.
    let strata_rate = input_rows as f64 / cpu_seconds;
    let baseline_rate = baseline.input_rows as f64 / baseline.cpu_seconds;
    json!({
        "repeats": REPEATS,
        "input_files": files.len(),
        "input_rows": input_rows,
        "output_rows": output_rows,
        "cpu_seconds": cpu_seconds,
        "system_seconds": system_seconds,
        "wall_seconds": seconds,
        "input_rows_per_cpu_sec": strata_rate,
        "baseline_kway_merge": {
            "cpu_seconds": baseline.cpu_seconds,
            "system_seconds": baseline.system_seconds,
            "wall_seconds": baseline.seconds,
            "input_rows_per_cpu_sec": baseline_rate,
        },
        "ratio_vs_baseline": strata_rate / baseline_rate,
    })
}

struct Baseline {
    input_rows: u64,
    output_rows: u64,
    seconds: f64,
    cpu_seconds: f64,
    system_seconds: f64,
}

/// One input file being merged: its reader, current batch and position.
struct Cursor {
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    slot: usize,
    keys: Int64Array,
    seqs: Int64Array,
    row: usize,
}

/// A plain k-way merge of key-value files sorted by a BIGINT key (column 0), keeping the
/// largest `_SEQUENCE_NUMBER` (column 1) of each key, written as one zstd Parquet file to
/// `output` (as the compaction writes its output to the table's storage).
fn baseline_merge(files: &[PathBuf], output: &std::path::Path) -> Baseline {
    let start = Instant::now();
    let cpu = CpuTimer::start();
    let mut arena: Vec<RecordBatch> = Vec::new();
    let mut cursors: Vec<Cursor> = Vec::new();
    let mut input_rows = 0u64;
    let next = |reader: &mut parquet::arrow::arrow_reader::ParquetRecordBatchReader,
                arena: &mut Vec<RecordBatch>,
                input_rows: &mut u64|
     -> Option<(usize, Int64Array, Int64Array)> {
        let batch = reader.next()?.expect("read");
        *input_rows += batch.num_rows() as u64;
        let keys = batch.column(0).as_primitive::<Int64Type>().clone();
        let seqs = batch.column(1).as_primitive::<Int64Type>().clone();
        arena.push(batch);
        Some((arena.len() - 1, keys, seqs))
    };
    for path in files {
        let file = std::fs::File::open(path).expect("input file");
        let mut reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("reader")
            .with_batch_size(8192)
            .build()
            .expect("reader");
        if let Some((slot, keys, seqs)) = next(&mut reader, &mut arena, &mut input_rows) {
            cursors.push(Cursor {
                reader,
                slot,
                keys,
                seqs,
                row: 0,
            });
        }
    }
    let schema = arena.first().map(|b| b.schema()).expect("an input batch");
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level")))
        .build();
    // Straight to the file, as arrow-rs users write: the encoder's small writes, no copy of
    // the whole file in one large write.
    let file = std::fs::File::create(output).expect("baseline output");
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).expect("writer");
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = cursors
        .iter()
        .enumerate()
        .map(|(i, c)| Reverse((c.keys.value(0), i)))
        .collect();
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(8192);
    let mut output_rows = 0u64;
    let mut group: Vec<usize> = Vec::new();
    let flush = |picks: &mut Vec<(usize, usize)>,
                 arena: &[RecordBatch],
                 writer: &mut ArrowWriter<std::fs::File>| {
        if picks.is_empty() {
            return;
        }
        let columns: Vec<ArrayRef> = (0..arena[0].num_columns())
            .map(|c| {
                let sources: Vec<&dyn Array> = arena.iter().map(|b| b.column(c).as_ref()).collect();
                arrow::compute::interleave(&sources, picks).expect("interleave")
            })
            .collect();
        let batch = RecordBatch::try_new(arena[0].schema(), columns).expect("batch");
        writer.write(&batch).expect("write");
        picks.clear();
    };
    while let Some(Reverse((key, first))) = heap.pop() {
        group.clear();
        group.push(first);
        while let Some(Reverse((k, i))) = heap.peek().copied() {
            if k != key {
                break;
            }
            heap.pop();
            group.push(i);
        }
        let mut best: Option<(i64, usize, usize)> = None;
        for &i in &group {
            // A file may hold a key more than once; take all of its rows with that key.
            loop {
                let c = &mut cursors[i];
                if c.row >= c.keys.len() || c.keys.value(c.row) != key {
                    break;
                }
                let seq = c.seqs.value(c.row);
                if best.is_none_or(|b| seq > b.0) {
                    best = Some((seq, c.slot, c.row));
                }
                c.row += 1;
                if c.row == c.keys.len() {
                    if let Some((slot, keys, seqs)) =
                        next(&mut c.reader, &mut arena, &mut input_rows)
                    {
                        (c.slot, c.keys, c.seqs, c.row) = (slot, keys, seqs, 0);
                    }
                }
            }
            let c = &cursors[i];
            if c.row < c.keys.len() {
                heap.push(Reverse((c.keys.value(c.row), i)));
            }
        }
        if let Some((_, slot, row)) = best {
            picks.push((slot, row));
            output_rows += 1;
        }
        if picks.len() == 8192 {
            flush(&mut picks, &arena, &mut writer);
            // Keep only the batches the cursors still read.
            let mut kept = Vec::new();
            for c in &mut cursors {
                kept.push(arena[c.slot].clone());
                c.slot = kept.len() - 1;
            }
            arena = kept;
        }
    }
    flush(&mut picks, &arena, &mut writer);
    writer.close().expect("close");
    Baseline {
        input_rows,
        output_rows,
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: cpu.seconds(),
        system_seconds: cpu.system_seconds(),
    }
}

/// Bytes of the data files each snapshot added: (by APPENDs, by COMPACTs, not counting
/// files a compaction only moved up a level).
async fn bytes_added(table: &Table) -> (u64, u64) {
    let sm = table.snapshot_manager();
    let latest = sm.latest_id().await.expect("latest").unwrap_or(0);
    let (mut ingested, mut compacted) = (0u64, 0u64);
    for id in 1..=latest {
        let snapshot = sm.snapshot(id).await.expect("snapshot");
        let list = table.paths().manifest_file(&snapshot.delta_manifest_list);
        let metas =
            read_manifest_list(&table.storage().get(&list).await.expect("list")).expect("list");
        let mut entries = Vec::new();
        for m in metas {
            let path = table.paths().manifest_file(&m.file_name);
            let bytes = table.storage().get(&path).await.expect("manifest");
            entries.extend(read_manifest_entries(&bytes).expect("manifest"));
        }
        let deleted: Vec<&str> = entries
            .iter()
            .filter(|e| e.kind == FileKind::Delete)
            .map(|e| e.file.file_name.as_str())
            .collect();
        for e in entries.iter().filter(|e| e.kind == FileKind::Add) {
            let size = e.file.file_size.max(0) as u64;
            match snapshot.commit_kind {
                CommitKind::Compact if !deleted.contains(&e.file.file_name.as_str()) => {
                    compacted += size
                }
                CommitKind::Compact => {}
                _ => ingested += size,
            }
        }
    }
    (ingested, compacted)
}

async fn write_amplification(dir: &std::path::Path, data: &[RecordBatch]) -> Value {
    // A fifth of the rows, in 40 commits, over keys in 0..rows/20: every key is updated
    // about four times.
    let rows: usize = data.iter().map(|b| b.num_rows()).sum::<usize>() / 5;
    let space = (rows / 4).max(1) as i64;
    let mut out = serde_json::Map::new();
    for (name, compact) in [("with_compaction", true), ("without_compaction", false)] {
        let mut options = vec![("bucket", "2")];
        if !compact {
            options.extend([
                ("write-only", "true"),
                ("num-sorted-run.stop-trigger", "100000"),
            ]);
        }
        let table = create_table(&dir.join(name), &options).await;
        let mut writer = TableWriter::builder(table.clone()).build().expect("writer");
        let mut taken = 0;
        let per_commit = rows.div_ceil(40).max(1);
        let mut commit = 0;
        for b in data {
            if taken >= rows {
                break;
            }
            let n = b.num_rows().min(rows - taken);
            let mut at = 0;
            while at < n {
                let len = (per_commit - taken % per_commit).min(n - at);
                writer
                    .write(&with_keys_in(&b.slice(at, len), space))
                    .await
                    .expect("write");
                at += len;
                taken += len;
                if taken % per_commit == 0 || taken == rows {
                    commit += 1;
                    writer.commit(commit).await.expect("commit");
                }
            }
        }
        let (ingested, compacted) = bytes_added(&table).await;
        let splits = TableScan::new(table.clone())
            .plan()
            .await
            .expect("plan")
            .splits;
        let files: usize = splits.iter().map(|s| s.files.len()).sum();
        let runs: Vec<usize> = splits.iter().map(|s| sorted_run_count(&s.files)).collect();
        out.insert(
            name.to_string(),
            json!({
                "commits": commit,
                "bytes_ingested": ingested,
                "bytes_written": ingested + compacted,
                "write_amplification": (ingested + compacted) as f64 / ingested.max(1) as f64,
                "files_per_read": files,
                "max_sorted_runs_per_bucket": runs.iter().max().copied().unwrap_or(0),
                "mean_sorted_runs_per_bucket": runs.iter().sum::<usize>() as f64 / runs.len().max(1) as f64,
            }),
        );
    }
    out.insert("rows".into(), json!(rows));
    Value::Object(out)
}
