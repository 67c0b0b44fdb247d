//! Deletion-vector reads ÷ plain reads of the same files.
//!
//! The benchmark rows (sorted) become level-1 files of a deletion-vector table, every
//! tenth row of each file deleted by its vector. "dv_read" is Strata's table read (plan,
//! vectors loaded and applied, no merge); the baseline "plain_read" streams the same
//! files' value columns with arrow-rs's async Parquet reader from the same store, keeping
//! every row. The ratio is plain seconds ÷ deletion-vector seconds (higher is better).

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Int64Array, Int8Array, RecordBatch};
use futures::TryStreamExt;
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use serde_json::{json, Value};
use strata_format::catalog::{Catalog, Identifier};
use strata_format::commit::{CommitMessage, SystemClock, TableCommit};
use strata_format::data::binary_row::BinaryRow;
use strata_format::deletion::{DeletionVector, IndexFileWriter};
use strata_format::manifest::FileSource;
use strata_format::paths::PartitionPath;
use strata_format::read::TableRead;
use strata_format::schema::TableSchema;
use strata_format::table::Table;
use strata_format::types::arrow::to_arrow_schema;
use strata_format::types::{DataType, TypeKind, MAX_LENGTH};
use strata_format::write::{DataFileWriter, FileTarget, WrittenFile};

/// Runs the benchmark over `sorted` (the bench rows in key order).
pub fn run(sorted: &[RecordBatch]) -> Value {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        match measure(sorted).await {
            Ok(v) => v,
            Err(e) => json!({ "error": e.to_string() }),
        }
    })
}

async fn measure(sorted: &[RecordBatch]) -> strata_format::Result<Value> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("strata-bench-dv-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = measure_in(&dir, sorted).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn create(dir: &std::path::Path) -> strata_format::Result<Table> {
    let catalog = Catalog::open(dir.to_str().unwrap_or("."))?;
    catalog.create_database("bench", true).await?;
    let mut columns = vec![("id".to_string(), DataType::new(TypeKind::BigInt), None)];
    for i in 0..3 {
        columns.push((
            format!("s{i}"),
            DataType::new(TypeKind::VarChar(MAX_LENGTH)),
            None,
        ));
    }
    for i in 0..3 {
        columns.push((format!("n{i}"), DataType::new(TypeKind::BigInt), None));
    }
    for i in 0..2 {
        columns.push((format!("d{i}"), DataType::new(TypeKind::Double), None));
    }
    columns.push((
        "ts".to_string(),
        DataType::new(TypeKind::Timestamp(6)),
        None,
    ));
    let options: std::collections::BTreeMap<String, String> = [
        ("bucket", "1"),
        ("deletion-vectors.enabled", "true"),
        ("target-file-size", "64 mb"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let schema = TableSchema::new_for_create(columns, vec![], vec!["id".into()], options, None)?;
    catalog
        .create_table(&Identifier::new("bench", "dv")?, schema)
        .await
}

async fn measure_in(dir: &std::path::Path, sorted: &[RecordBatch]) -> strata_format::Result<Value> {
    let table = create(dir).await?;
    let kv_schema = to_arrow_schema(&table.schema().key_value_fields());
    let all = arrow::compute::concat_batches(&sorted[0].schema(), sorted)?;
    let rows = all.num_rows();
    let mut columns: Vec<ArrayRef> = vec![
        all.column(0).clone(),
        Arc::new(Int64Array::from_iter_values(0..rows as i64)),
        Arc::new(Int8Array::from(vec![0i8; rows])),
    ];
    columns.extend(all.columns().iter().cloned());
    let kv = RecordBatch::try_new(kv_schema, columns)?;
    let mut writer = DataFileWriter::new(&table, Arc::new(SystemClock))?;
    let partition = PartitionPath::unpartitioned();
    let target = FileTarget {
        partition: &partition,
        bucket: 0,
        level: 1,
        source: FileSource::Compact,
    };
    let files: Vec<WrittenFile> = writer.write(target, &kv).await?;
    let vectors: Vec<DeletionVector> = files
        .iter()
        .map(|f| DeletionVector::from_positions((0..f.meta.row_count as u64).step_by(10)))
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

    let mut plain = f64::MAX;
    let mut dv = f64::MAX;
    let mut dv_rows = 0usize;
    for _ in 0..3 {
        let start = Instant::now();
        let n = plain_read(&table, &files).await?;
        plain = plain.min(start.elapsed().as_secs_f64());
        assert_eq!(n, rows, "plain read row count");
        let start = Instant::now();
        dv_rows = TableRead::new(table.clone())
            .read_snapshot(None)
            .await?
            .try_fold(0usize, |n, b| async move { Ok(n + b.num_rows()) })
            .await?;
        dv = dv.min(start.elapsed().as_secs_f64());
    }
    Ok(json!({
        "files": files.len(),
        "rows": rows,
        "deleted_rows": deleted,
        "rows_returned": dv_rows,
        "plain_read_seconds": plain,
        "dv_read_seconds": dv,
        "ratio": plain / dv,
    }))
}

/// Every row of the files' table columns, read straight from Parquet.
async fn plain_read(table: &Table, files: &[WrittenFile]) -> strata_format::Result<usize> {
    let key_columns = table.schema().trimmed_primary_key_fields().len();
    let mut rows = 0;
    for f in files {
        let reader =
            ParquetObjectReader::new(table.storage().object_store().clone(), f.path.clone())
                .with_file_size(f.meta.file_size as u64);
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
        let n = builder.schema().fields().len();
        let mask = ProjectionMask::roots(builder.parquet_schema(), key_columns + 2..n);
        let stream = builder
            .with_projection(mask)
            .with_batch_size(8192)
            .build()?;
        rows += stream
            .try_fold(0usize, |n, b| async move { Ok(n + b.num_rows()) })
            .await?;
    }
    Ok(rows)
}
