//! `strata serve`'s Iceberg REST catalog driven by real clients: the `iceberg-catalog-rest`
//! crate, pyiceberg and DuckDB (through `tests/conformance/iceberg_read.py`), and raw HTTP
//! for conflicts and hostile input. Spark and schemathesis run in the pytest suite.

mod catalog_tests;
mod conflicts;
mod format_v3;
mod hostile;
mod strata_tables;

use std::collections::HashMap;
use std::mem::take;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::{DataType as ArrowType, Float64Type, Int32Type, Int64Type};
use arrow_array::RecordBatch;
use futures::TryStreamExt;
use iceberg::CatalogBuilder;
use iceberg_catalog_rest::{RestCatalog, RestCatalogBuilder};
use serde_json::Value;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::commit::{CommitMessage, TableCommit};
use strata_format::read::TableRead;
use strata_format::scan::TableScan;
use strata_format::schema::TableSchema;
use strata_format::table::Table;
use strata_format::types::DataType;
use strata_rest_catalog::{router, CatalogService, ServerConfig};
use strata_writer::input::{open_input, Input, InputFormat};
use strata_writer::TableWriter;

/// A catalog server on a free loopback port, serving one warehouse.
pub struct Server {
    pub url: String,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl Server {
    pub async fn start(warehouse: &Path, config: ServerConfig) -> Server {
        Self::start_with(
            CatalogService::open(warehouse.to_str().unwrap()).unwrap(),
            config,
        )
        .await
    }

    pub async fn start_with(service: CatalogService, config: ServerConfig) -> Server {
        let app = router(Arc::new(service), config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            url: format!("http://{addr}"),
            handle,
        }
    }

    /// The `iceberg-catalog-rest` client on this server.
    pub async fn client(&self, warehouse: &Path) -> RestCatalog {
        RestCatalogBuilder::default()
            .with_storage_factory(Arc::new(iceberg::io::LocalFsStorageFactory))
            .load(
                "strata",
                HashMap::from([
                    ("uri".to_string(), self.url.clone()),
                    (
                        "warehouse".to_string(),
                        format!("file://{}", warehouse.display()),
                    ),
                ]),
            )
            .await
            .unwrap()
    }
}

/// A fresh warehouse directory.
pub fn warehouse() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("warehouse");
    std::fs::create_dir_all(&wh).unwrap();
    (dir, wh)
}

/// Creates the Strata table `db.name` (database created if needed).
pub async fn strata_table(
    catalog: &Catalog,
    db: &str,
    name: &str,
    columns: &[(&str, &str)],
    primary_keys: &[&str],
    partition_keys: &[&str],
    options: &[(&str, &str)],
) -> Table {
    catalog.create_database(db, true).await.unwrap();
    let fields: Vec<(&str, DataType)> = columns
        .iter()
        .map(|(n, t)| (*n, DataType::parse(t).unwrap()))
        .collect();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let schema = TableSchema::new_for_create(
        fields,
        strings(partition_keys),
        strings(primary_keys),
        options.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        None,
    )
    .unwrap();
    catalog
        .create_table(&Identifier::new(db, name).unwrap(), schema)
        .await
        .unwrap()
}

/// Writes JSON-lines rows (upserts; `"_kind": 3` deletes) with one commit.
pub async fn write_rows(table: &Table, rows: &[Value]) {
    let mut writer = TableWriter::builder(table.clone()).build().unwrap();
    let schema = writer.input_schema().clone();
    let mut kinds = Vec::new();
    let mut text = String::new();
    for r in rows {
        let mut r = r.clone();
        let kind = r
            .as_object_mut()
            .unwrap()
            .remove("_kind")
            .and_then(|k| k.as_i64())
            .unwrap_or(0);
        kinds.push(kind as i8);
        text.push_str(&r.to_string());
        text.push('\n');
    }
    let input = Input::Reader(Box::new(std::io::Cursor::new(text)));
    let batches: Vec<RecordBatch> = open_input(InputFormat::Jsonl, input, schema.clone(), 1 << 20)
        .unwrap()
        .map(|b| b.unwrap().batch)
        .collect();
    let batch = arrow::compute::concat_batches(&schema, &batches).unwrap();
    writer.write_with_kinds(&batch, &kinds).await.unwrap();
    writer.commit(1).await.unwrap();
}

/// What a full compaction leaves: the merged rows rewritten as top-level files, every older
/// file replaced, in one COMPACT snapshot. (Stands in for `strata compact --full`, which is
/// not on main yet.) Returns the new snapshot id.
pub async fn full_compact(table: &Table) -> i64 {
    compact_to(table, table.options().num_levels() - 1).await
}

/// Rewrites the merged rows into files of `level`, replacing every live file.
pub async fn compact_to(table: &Table, level: i32) -> i64 {
    let merged = merged_batches(table, None).await;
    let plan = TableScan::new(table.clone()).plan().await.unwrap();
    let mut writer = TableWriter::builder(table.clone())
        .commit_user("test-full-compaction")
        .build()
        .unwrap();
    for b in &merged {
        writer.write(b).await.unwrap();
    }
    let mut messages = writer.prepare_commit().await.unwrap();
    for m in &mut messages {
        m.compact_after = take(&mut m.new_files)
            .into_iter()
            .map(|mut f| {
                f.level = level;
                f
            })
            .collect();
    }
    for split in plan.splits {
        let existing = messages
            .iter_mut()
            .find(|m| m.partition == split.partition && m.bucket == split.bucket);
        match existing {
            Some(m) => m.compact_before = split.files,
            None => messages.push(CommitMessage {
                partition: split.partition,
                bucket: split.bucket,
                total_buckets: split.total_buckets,
                compact_before: split.files,
                ..CommitMessage::default()
            }),
        }
    }
    let ids = TableCommit::new(table.clone(), "test-full-compaction")
        .unwrap()
        .commit(1, messages)
        .await
        .unwrap();
    *ids.last().unwrap()
}

/// Strata's merged rows at a snapshot (latest when `None`).
pub async fn merged_batches(table: &Table, snapshot: Option<i64>) -> Vec<RecordBatch> {
    TableRead::new(table.clone())
        .read_snapshot(snapshot)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// Rows as JSON arrays (ints, floats, strings, nulls), sorted: the form the Python readers
/// print too.
pub fn json_rows(batches: &[RecordBatch]) -> Vec<Value> {
    let mut rows = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let row: Vec<Value> = b
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(i) {
                        return Value::Null;
                    }
                    match c.data_type() {
                        ArrowType::Int64 => c.as_primitive::<Int64Type>().value(i).into(),
                        ArrowType::Int32 => c.as_primitive::<Int32Type>().value(i).into(),
                        ArrowType::Float64 => c.as_primitive::<Float64Type>().value(i).into(),
                        ArrowType::Utf8 => c.as_string::<i32>().value(i).into(),
                        ArrowType::LargeUtf8 => c.as_string::<i64>().value(i).into(),
                        ArrowType::Utf8View => c.as_string_view().value(i).into(),
                        other => panic!("json_rows: unexpected type {other}"),
                    }
                })
                .collect();
            rows.push(Value::Array(row));
        }
    }
    sort_rows(&mut rows);
    rows
}

pub fn sort_rows(rows: &mut [Value]) {
    rows.sort_by_key(|r| r.to_string());
}

/// Runs `iceberg_read.py` (pyiceberg or DuckDB) off the async runtime and returns its rows.
pub async fn python_read(engine: &str, url: &str, warehouse: &Path, table: &str) -> Vec<Value> {
    let (engine, url, warehouse, table) = (
        engine.to_string(),
        url.to_string(),
        warehouse.display().to_string(),
        table.to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        strata_tests::python::run_script(
            "iceberg_read.py",
            &[
                "--engine",
                &engine,
                "--uri",
                &url,
                "--warehouse",
                &warehouse,
                "--table",
                &table,
            ],
        )
    })
    .await
    .unwrap();
    let mut rows: Vec<Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    sort_rows(&mut rows);
    rows
}
