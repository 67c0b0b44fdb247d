//! `dv_read`: a deletion-vector table read ÷ a plain read of the same files (issue 5,
//! target ≥ 0.9).
//!
//! The generated rows, sorted, become level-1 files of a deletion-vector table, every
//! tenth row of each file deleted by its vector. Strata's read plans the table, loads the
//! vectors and drops the deleted rows with no merge; the baseline streams the same files'
//! table columns with arrow-rs's async Parquet reader from the same store, keeping every
//! row. Both are timed in CPU seconds of this process.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, Int8Array, RecordBatch};
use futures::TryStreamExt;
use serde_json::{json, Value};
use strata_format::catalog::Catalog;
use strata_format::commit::{CommitMessage, SystemClock, TableCommit};
use strata_format::data::binary_row::BinaryRow;
use strata_format::deletion::{DeletionVector, IndexFileWriter};
use strata_format::manifest::FileSource;
use strata_format::paths::PartitionPath;
use strata_format::read::file::{read_value_file, KvLayout};
use strata_format::read::TableRead;
use strata_format::table::Table;
use strata_format::types::arrow::to_arrow_schema;
use strata_format::write::{DataFileWriter, FileTarget, WrittenFile};

use crate::cpu::CpuTimer;
use crate::strata::{create_table, Result};

/// Every `DELETE_EVERY`-th row of each file is deleted.
const DELETE_EVERY: usize = 10;

/// Alternating reads of each kind; the best of each counts. The vectors' cost is about a
/// twentieth of a read, less than one read's spread from run to run on a VM: with three
/// of each, the ratio of one run moved by ±0.05.
const REPEATS: usize = 5;

pub async fn bench(rows: usize, seed: u64) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let catalog = Catalog::open(&dir.path().join("warehouse").to_string_lossy())?;
    let sorted = crate::sorted(&crate::generate(rows, 8192, seed));
    let table = create_table(
        &catalog,
        "dv",
        &[
            ("bucket", "1"),
            ("deletion-vectors.enabled", "true"),
            ("target-file-size", "64 mb"),
        ],
    )
    .await?;
    let files = write_level1(&table, &sorted).await?;
    let vectors: Vec<DeletionVector> = files
        .iter()
        .map(|f| DeletionVector::from_positions((0..f.meta.row_count as u64).step_by(DELETE_EVERY)))
        .collect();
    let deleted: u64 = vectors.iter().map(|v| v.cardinality()).sum();
    let index = IndexFileWriter::new(table.clone())
        .write(
            files
                .iter()
                .zip(&vectors)
                .map(|(f, v)| (f.meta.file_name.as_str(), v)),
        )
        .await?;
    TableCommit::new(table.clone(), "bench")?
        .commit(
            1,
            vec![CommitMessage {
                partition: BinaryRow::encode_with_arity(&[], &[])?,
                bucket: 0,
                total_buckets: 1,
                compact_after: files.iter().map(|f| f.meta.clone()).collect(),
                new_index_files: index.into_iter().collect(),
                ..Default::default()
            }],
        )
        .await?;

    let (mut plain, mut dv) = (f64::MAX, f64::MAX);
    let mut returned = 0;
    for _ in 0..REPEATS {
        let timer = CpuTimer::start();
        let read = plain_read(&table, &files).await?;
        plain = plain.min(timer.seconds());
        if read != rows {
            return Err(format!("plain read returned {read} of {rows} rows").into());
        }
        let timer = CpuTimer::start();
        returned = TableRead::new(table.clone())
            .read_snapshot(None)
            .await?
            .try_fold(0usize, |n, b| async move { Ok(n + b.num_rows()) })
            .await?;
        dv = dv.min(timer.seconds());
    }
    if returned as u64 + deleted != rows as u64 {
        return Err(
            format!("the DV read returned {returned} rows, {deleted} of {rows} deleted").into(),
        );
    }
    Ok(json!({
        "files": files.len(),
        "rows": rows,
        "deleted_rows": deleted,
        "plain": { "cpu_seconds": plain, "rows_per_cpu_sec": rows as f64 / plain },
        "dv": { "cpu_seconds": dv, "rows_per_cpu_sec": rows as f64 / dv },
        "ratio": plain / dv,
        "repeats": REPEATS,
        "target_ratio": 0.9,
    }))
}

/// The sorted rows as level-1 data files (sequence numbers in key order, all inserts).
async fn write_level1(table: &Table, sorted: &[RecordBatch]) -> Result<Vec<WrittenFile>> {
    let kv_schema = to_arrow_schema(&table.schema().key_value_fields());
    let mut writer = DataFileWriter::new(table, Arc::new(SystemClock))?;
    let partition = PartitionPath::unpartitioned();
    let target = FileTarget {
        partition: &partition,
        bucket: 0,
        level: 1,
        source: FileSource::Compact,
    };
    let all = arrow::compute::concat_batches(&crate::bench_schema(), sorted)?;
    let rows = all.num_rows();
    let mut columns: Vec<ArrayRef> = vec![
        all.column(0).clone(),
        Arc::new(Int64Array::from_iter_values(0..rows as i64)),
        Arc::new(Int8Array::from(vec![0i8; rows])),
    ];
    columns.extend(all.columns().iter().cloned());
    let kv = RecordBatch::try_new(kv_schema, columns)?;
    Ok(writer.write(target, &kv).await?)
}

/// Rows of the files' table columns, read by the reader the table's reads use, none
/// dropped: only the deletion vectors differ.
async fn plain_read(table: &Table, files: &[WrittenFile]) -> Result<usize> {
    let layout = KvLayout::new(table.schema().fields.clone());
    let mut rows = 0;
    for f in files {
        let stream = read_value_file(
            table.storage(),
            &f.path,
            f.meta.file_size,
            table.schema(),
            &layout,
            strata_format::read::DEFAULT_BATCH_SIZE,
            None,
        )
        .await?;
        rows += stream
            .try_fold(0usize, |n, b| async move { Ok(n + b.num_rows()) })
            .await?;
    }
    Ok(rows)
}
