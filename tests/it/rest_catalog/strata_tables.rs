//! Strata tables read through the catalog by iceberg-rust, pyiceberg and DuckDB equal
//! Strata's own read at the same snapshot.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use async_trait::async_trait;
use futures::TryStreamExt;
use iceberg::{Catalog as _, TableIdent};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value};
use strata_format::catalog::{Catalog, Identifier};
use strata_format::scan::TableScan;
use strata_format::snapshot::Snapshot;
use strata_format::table::Table;
use strata_rest_catalog::export::deletes::{DeletedPositions, DeletionVectors};
use strata_rest_catalog::{CatalogService, ServerConfig};

use super::*;

const ORDERS: &[(&str, &str)] = &[
    ("id", "BIGINT NOT NULL"),
    ("dt", "STRING NOT NULL"),
    ("amount", "DOUBLE"),
    ("note", "STRING"),
];

async fn iceberg_rust_rows(server: &Server, warehouse: &Path, ns: &str, t: &str) -> Vec<Value> {
    let client = server.client(warehouse).await;
    let table = client
        .load_table(&TableIdent::from_strs([ns, t]).unwrap())
        .await
        .unwrap();
    let batches: Vec<RecordBatch> = table
        .scan()
        .select_all()
        .build()
        .unwrap()
        .to_arrow()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    json_rows(&batches)
}

fn order(id: i64, dt: &str, amount: f64, note: &str) -> Value {
    json!({"id": id, "dt": dt, "amount": amount, "note": note})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strata_tables_read_like_strata_after_full_compaction() {
    let (_dir, wh) = warehouse();
    let catalog = Catalog::open(wh.to_str().unwrap()).unwrap();
    let table = strata_table(
        &catalog,
        "sales",
        "orders",
        ORDERS,
        &["id", "dt"],
        &["dt"],
        &[("bucket", "2")],
    )
    .await;
    let mut first = Vec::new();
    for i in 0..40 {
        let dt = if i % 2 == 0 {
            "2024-01-01"
        } else {
            "2024-01-02"
        };
        first.push(order(i, dt, i as f64 * 1.5, &format!("n{i}")));
    }
    write_rows(&table, &first).await;
    let mut second = vec![order(3, "2024-01-02", 99.0, "updated")];
    second.push(json!({"id": 4, "dt": "2024-01-01", "amount": null, "note": null, "_kind": 3}));
    second.push(order(100, "2024-01-03", 1.0, "new partition"));
    write_rows(&table, &second).await;
    let compacted = full_compact(&table).await;
    // Written after the full compaction: level 0, not visible to Iceberg readers yet.
    write_rows(&table, &[order(200, "2024-01-01", 2.0, "late")]).await;

    let server = Server::start(&wh, ServerConfig::default()).await;
    let expected = json_rows(&merged_batches(&table, Some(compacted)).await);
    assert_eq!(expected.len(), 40, "39 of the first rows + 1 new");
    assert_eq!(
        iceberg_rust_rows(&server, &wh, "sales", "orders").await,
        expected
    );
    assert_eq!(
        python_read("pyiceberg", &server.url, &wh, "sales.orders").await,
        expected
    );
    assert_eq!(
        python_read("duckdb", &server.url, &wh, "sales.orders").await,
        expected
    );

    // The metadata keeps Strata's ids: snapshot, field ids, identity partition spec.
    let client = server.client(&wh).await;
    let loaded = client
        .load_table(&TableIdent::from_strs(["sales", "orders"]).unwrap())
        .await
        .unwrap();
    let md = loaded.metadata();
    assert_eq!(md.current_snapshot_id(), Some(compacted + 1));
    let schema = md.current_schema();
    for f in &table.schema().fields {
        assert_eq!(
            schema.field_by_name(&f.name).unwrap().id,
            f.id,
            "{}",
            f.name
        );
    }
    let spec = md.default_partition_spec();
    assert_eq!(spec.fields().len(), 1);
    assert_eq!(
        spec.fields()[0].source_id,
        table.schema().field("dt").unwrap().id
    );
    assert_eq!(
        spec.fields()[0].transform,
        iceberg::spec::Transform::Identity
    );

    // The next full compaction makes the late row visible.
    let table = catalog
        .load_table(&Identifier::new("sales", "orders").unwrap())
        .await
        .unwrap();
    let again = full_compact(&table).await;
    let expected = json_rows(&merged_batches(&table, Some(again)).await);
    assert_eq!(expected.len(), 41);
    assert_eq!(
        python_read("pyiceberg", &server.url, &wh, "sales.orders").await,
        expected
    );
    assert_eq!(
        iceberg_rust_rows(&server, &wh, "sales", "orders").await,
        expected
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_to_strata_tables_are_refused_with_406() {
    let (_dir, wh) = warehouse();
    let catalog = Catalog::open(wh.to_str().unwrap()).unwrap();
    let table = strata_table(
        &catalog,
        "db",
        "t",
        ORDERS,
        &["id", "dt"],
        &[],
        &[("bucket", "1")],
    )
    .await;
    write_rows(&table, &[order(1, "d", 1.0, "x")]).await;
    let server = Server::start(&wh, ServerConfig::default()).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/namespaces/db/tables/t", server.url))
        .json(&json!({"requirements": [], "updates": [
            {"action": "set-properties", "updates": {"k": "v"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 406);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "UnsupportedOperationException");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("strata write"));
    // Loading works, and sees no rows: nothing was compacted to the top level yet.
    assert!(python_read("pyiceberg", &server.url, &wh, "db.t")
        .await
        .is_empty());
}

/// Deletion vectors computed from the files themselves: a top-level row is deleted when a
/// level-1 file holds the same key (what Strata's deletion vectors will record).
struct KeysInLowerLevels;

#[async_trait]
impl DeletionVectors for KeysInLowerLevels {
    async fn deleted_positions(
        &self,
        table: &Table,
        snapshot: &Snapshot,
    ) -> strata_rest_catalog::error::Result<DeletedPositions> {
        let plan = TableScan::new(table.clone())
            .with_snapshot(Some(snapshot.id))
            .plan()
            .await
            .unwrap();
        let top = table.options().num_levels() - 1;
        let mut out = DeletedPositions::new();
        for split in plan.splits {
            let keys_of = |level_filter: &dyn Fn(i32) -> bool| {
                let mut files = Vec::new();
                for f in split.files.iter().filter(|f| level_filter(f.level)) {
                    let path =
                        table
                            .paths()
                            .data_file(&split.partition_path, split.bucket, &f.file_name);
                    let local = PathBuf::from(table.storage().uri()).join(path.as_ref());
                    let reader = ParquetRecordBatchReaderBuilder::try_new(
                        std::fs::File::open(local).unwrap(),
                    )
                    .unwrap()
                    .build()
                    .unwrap();
                    let mut keys = Vec::new();
                    for b in reader {
                        let b = b.unwrap();
                        let col = b.column_by_name("_KEY_id").unwrap();
                        keys.extend(col.as_primitive::<Int64Type>().values().iter().copied());
                    }
                    files.push((f.file_name.clone(), keys));
                }
                files
            };
            let newer: HashSet<i64> = keys_of(&|l| l >= 1 && l < top)
                .into_iter()
                .flat_map(|(_, k)| k)
                .collect();
            for (name, keys) in keys_of(&|l| l == top) {
                let positions: Vec<u64> = keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| newer.contains(k))
                    .map(|(i, _)| i as u64)
                    .collect();
                if !positions.is_empty() {
                    out.insert(name, positions);
                }
            }
        }
        Ok(out)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_vector_tables_are_served_with_position_deletes() {
    let (_dir, wh) = warehouse();
    let catalog = Catalog::open(wh.to_str().unwrap()).unwrap();
    let table = strata_table(
        &catalog,
        "db",
        "dv",
        &[("id", "BIGINT NOT NULL"), ("v", "STRING")],
        &["id"],
        &[],
        &[("bucket", "1"), ("deletion-vectors.enabled", "true")],
    )
    .await;
    let rows: Vec<Value> = (0..10)
        .map(|i| json!({"id": i, "v": format!("old{i}")}))
        .collect();
    write_rows(&table, &rows).await;
    full_compact(&table).await;
    write_rows(
        &table,
        &[json!({"id": 2, "v": "new2"}), json!({"id": 5, "v": "new5"})],
    )
    .await;
    // Move the update file to level 1 unchanged, as a compaction out of level 0 would.
    let plan = TableScan::new(table.clone()).plan().await.unwrap();
    let mut messages = Vec::new();
    for split in plan.splits {
        let level0: Vec<_> = split
            .files
            .iter()
            .filter(|f| f.level == 0)
            .cloned()
            .collect();
        let upgraded = level0
            .iter()
            .cloned()
            .map(|mut f| {
                f.level = 1;
                f
            })
            .collect();
        messages.push(CommitMessage {
            partition: split.partition,
            bucket: split.bucket,
            total_buckets: split.total_buckets,
            compact_before: level0,
            compact_after: upgraded,
            ..CommitMessage::default()
        });
    }
    let snapshot = *TableCommit::new(table.clone(), "upgrade")
        .unwrap()
        .commit(1, messages)
        .await
        .unwrap()
        .last()
        .unwrap();

    let service = CatalogService::open(wh.to_str().unwrap())
        .unwrap()
        .with_deletion_vectors(Arc::new(KeysInLowerLevels));
    let server = Server::start_with(service, ServerConfig::default()).await;
    let expected = json_rows(&merged_batches(&table, Some(snapshot)).await);
    assert_eq!(expected.len(), 10);
    assert!(expected.contains(&json!([2, "new2"])));
    assert!(!expected.contains(&json!([2, "old2"])));
    // Without the position deletes a reader would see 12 rows, old 2 and 5 included.
    assert_eq!(iceberg_rust_rows(&server, &wh, "db", "dv").await, expected);
    assert_eq!(
        python_read("pyiceberg", &server.url, &wh, "db.dv").await,
        expected
    );
    assert_eq!(
        python_read("duckdb", &server.url, &wh, "db.dv").await,
        expected
    );
}
