//! Strata tables read through the catalog by iceberg-rust, pyiceberg and DuckDB equal
//! Strata's own read at the same snapshot.

use futures::TryStreamExt;
use iceberg::{Catalog as _, TableIdent};
use serde_json::{json, Value};
use strata_format::catalog::{Catalog, Identifier};
use strata_format::scan::TableScan;
use strata_rest_catalog::ServerConfig;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_vectors_strata_wrote_are_served_as_position_deletes() {
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
    // The writer compacts level 0 up after each commit (deletion-vector tables are read
    // without level 0): the first load goes to the top level, the update to a level below,
    // and the compaction marks the old copies of keys 2 and 5 in the top file's vector.
    write_rows(&table, &rows).await;
    write_rows(
        &table,
        &[json!({"id": 2, "v": "new2"}), json!({"id": 5, "v": "new5"})],
    )
    .await;
    let snapshot = table.snapshot_manager().latest_id().await.unwrap().unwrap();
    let live = TableScan::new(table.clone()).plan().await.unwrap();
    let levels: Vec<i32> = live.splits[0].files.iter().map(|f| f.level).collect();
    assert!(!levels.contains(&0), "level 0 was compacted up: {levels:?}");
    assert_eq!(levels.len(), 2, "{levels:?}");

    let snap = table.snapshot_manager().snapshot(snapshot).await.unwrap();
    let vectors = strata_format::deletion::snapshot_deletions(&table, &snap)
        .await
        .unwrap();
    assert_eq!(
        vectors
            .iter()
            .map(|v| v.vector.iter().count())
            .sum::<usize>(),
        2
    );
    let server = Server::start(&wh, ServerConfig::default()).await;
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
