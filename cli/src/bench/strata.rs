//! Strata's side of the writer benchmarks: ingest, update commits and merge-on-read over a
//! table made for it, each timed in CPU seconds of this process (Strata runs on one
//! thread here, so CPU seconds are core-seconds).

use arrow_array::RecordBatch;
use futures::TryStreamExt;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::read::file::{read_kv_file, KvLayout};
use strata_format::read::TableRead;
use strata_format::scan::TableScan;
use strata_format::schema::TableSchema;
use strata_format::table::Table;
use strata_format::types::DataType;
use strata_writer::TableWriter;

use super::cpu::CpuTimer;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Paimon type strings of the generated columns (see `generate`).
pub const COLUMNS: [(&str, &str); 10] = [
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

/// A fresh deduplicate table `bench.<name>` keyed by `id`.
pub async fn create_table(
    catalog: &Catalog,
    name: &str,
    options: &[(&str, &str)],
) -> Result<Table> {
    catalog.create_database("bench", true).await?;
    let fields = COLUMNS
        .iter()
        .map(|(n, t)| Ok((*n, DataType::parse(t)?)))
        .collect::<strata_format::Result<Vec<_>>>()?;
    let schema = TableSchema::new_for_create(
        fields,
        vec![],
        vec!["id".to_string()],
        options.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        None,
    )?;
    Ok(catalog
        .create_table(&Identifier::new("bench", name)?, schema)
        .await?)
}

/// Writes every batch through one `TableWriter` and commits once per group; returns the
/// CPU seconds spent.
pub async fn write_commits(table: &Table, commits: &[&[RecordBatch]]) -> Result<f64> {
    let timer = CpuTimer::start();
    let mut writer = TableWriter::builder(table.clone()).build()?;
    for (i, batches) in commits.iter().enumerate() {
        for b in batches.iter() {
            writer.write(b).await?;
        }
        writer.commit(i as i64 + 1).await?;
    }
    Ok(timer.seconds())
}

/// Rows in the live files of the latest snapshot, and how many sorted runs the fullest
/// bucket has.
pub async fn file_rows_and_runs(table: &Table) -> Result<(i64, usize)> {
    let plan = TableScan::new(table.clone()).plan().await?;
    let rows = plan.splits.iter().map(|s| s.row_count()).sum();
    let runs = plan
        .splits
        .iter()
        .map(|s| s.files.iter().filter(|f| f.level == 0).count())
        .max()
        .unwrap_or(0);
    Ok((rows, runs))
}

/// CPU seconds of a merge-on-read of the latest snapshot, and the rows it produced. Batches
/// are counted and dropped as they come, as the plain read does.
pub async fn merge_read(table: &Table) -> Result<(Timed, usize)> {
    // Planned outside the timer, as the plain read is.
    let plan = TableScan::new(table.clone()).plan().await?;
    let timer = Timed::start();
    let mut stream = TableRead::new(table.clone()).read_plan(plan)?;
    let mut rows = 0;
    while let Some(batch) = stream.try_next().await? {
        rows += batch.num_rows();
    }
    Ok((timer.stop(), rows))
}

/// CPU and wall seconds of a read (the wall time for information: targets are CPU ratios).
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    pub cpu: f64,
    pub wall: f64,
}

/// A running [`Timed`].
pub struct TimedStart(CpuTimer, std::time::Instant);

impl Timed {
    pub const NONE: Timed = Timed {
        cpu: f64::MAX,
        wall: f64::MAX,
    };

    pub fn start() -> TimedStart {
        TimedStart(CpuTimer::start(), std::time::Instant::now())
    }

    /// The lesser of each.
    pub fn best(self, other: Timed) -> Timed {
        Timed {
            cpu: self.cpu.min(other.cpu),
            wall: self.wall.min(other.wall),
        }
    }
}

impl TimedStart {
    pub fn stop(self) -> Timed {
        Timed {
            cpu: self.0.seconds(),
            wall: self.1.elapsed().as_secs_f64(),
        }
    }
}

/// CPU seconds of reading the same live files one after another, every column, no merge.
pub async fn plain_read(table: &Table) -> Result<(Timed, usize)> {
    let plan = TableScan::new(table.clone()).plan().await?;
    let schema = table.schema();
    let layout = KvLayout::new(schema.fields.clone());
    let timer = Timed::start();
    let mut rows = 0;
    for split in &plan.splits {
        for file in &split.files {
            let path =
                table
                    .paths()
                    .data_file(&split.partition_path, split.bucket, &file.file_name);
            let stream = read_kv_file(
                table.storage(),
                &path,
                file.file_size,
                schema,
                &layout,
                strata_format::read::DEFAULT_BATCH_SIZE,
                None,
            )
            .await?;
            let batches: Vec<RecordBatch> = stream.try_collect().await?;
            rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
    }
    Ok((timer.stop(), rows))
}
