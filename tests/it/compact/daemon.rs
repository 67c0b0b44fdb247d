//! The daemon embedded as a library (as `strata serve` runs it): it finds every table of
//! the warehouse, compacts what needs it, serves Prometheus metrics over HTTP, and stops.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use strata_compactor::{metrics, DaemonConfig};
use strata_format::catalog::{Catalog, Identifier};
use strata_format::compact::plan::sorted_run_count;
use strata_format::scan::TableScan;
use strata_format::schema::TableSchema;
use strata_format::table::Table;
use strata_format::types::DataType;
use strata_writer::TableWriter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::read_rows;

/// The tables' `num-sorted-run.compaction-trigger`: above it a bucket must be compacted (Paimon compacts for the run
/// count only when it exceeds the trigger; at the trigger the size ratio decides).
const TRIGGER: usize = 3;

async fn create(catalog: &Catalog, name: &str) -> Table {
    let schema = TableSchema::new_for_create(
        [
            ("k", DataType::parse("BIGINT NOT NULL").unwrap()),
            ("v", DataType::parse("STRING").unwrap()),
        ],
        vec![],
        vec!["k".into()],
        [
            ("bucket", "2"),
            ("write-only", "true"),
            ("num-sorted-run.compaction-trigger", "3"),
            ("num-sorted-run.stop-trigger", "100"),
        ],
        None,
    )
    .unwrap();
    catalog
        .create_table(&Identifier::parse(name).unwrap(), schema)
        .await
        .unwrap()
}

async fn write_commits(table: &Table, commits: i64) {
    let mut writer = TableWriter::builder(table.clone()).build().unwrap();
    for c in 1..=commits {
        let keys: Vec<i64> = (0..50).map(|i| i * 3 + c).collect();
        let batch = RecordBatch::try_from_iter([
            ("k", Arc::new(Int64Array::from(keys.clone())) as ArrayRef),
            (
                "v",
                Arc::new(StringArray::from_iter_values(
                    keys.iter().map(|k| format!("{k}@{c}")),
                )) as ArrayRef,
            ),
        ])
        .unwrap();
        writer.write(&batch).await.unwrap();
        writer.commit(c).await.unwrap();
    }
}

async fn max_runs(table: &Table) -> usize {
    TableScan::new(table.clone())
        .plan()
        .await
        .unwrap()
        .splits
        .iter()
        .map(|s| sorted_run_count(&s.files))
        .max()
        .unwrap_or(0)
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn the_embedded_daemon_compacts_every_table_and_serves_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(dir.path().to_str().unwrap()).unwrap();
    catalog.create_database("a", false).await.unwrap();
    catalog.create_database("b", false).await.unwrap();
    let t1 = create(&catalog, "a.one").await;
    let t2 = create(&catalog, "b.two").await;
    write_commits(&t1, 6).await;
    write_commits(&t2, 4).await;
    let before = (read_rows(&t1).await, read_rows(&t2).await);
    assert!(max_runs(&t1).await >= 6 && max_runs(&t2).await >= 4);

    let config = DaemonConfig {
        poll_interval: Duration::from_millis(50),
        metrics_bind: Some("127.0.0.1:0".parse().unwrap()),
        ..DaemonConfig::default()
    };
    let handle =
        strata_compactor::start(Catalog::open(dir.path().to_str().unwrap()).unwrap(), config)
            .await
            .unwrap();
    let addr = handle.metrics_addr().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while max_runs(&t1).await > TRIGGER || max_runs(&t2).await > TRIGGER {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the daemon did not compact in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A table created while it runs is found too.
    let t3 = create(&catalog, "a.three").await;
    write_commits(&t3, 5).await;
    while max_runs(&t3).await > TRIGGER {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new table was not compacted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((read_rows(&t1).await, read_rows(&t2).await), before);

    let response = http_get(addr, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"));
    for table in ["a.one", "b.two", "a.three"] {
        assert!(
            response.contains(&format!(
                "strata_compactor_compactions_total{{table=\"{table}\""
            )),
            "no compactions of {table} in:\n{response}"
        );
        assert!(response.contains(&format!(
            "strata_compactor_sorted_runs{{table=\"{table}\",partition=\"\",bucket=\"0\"}}"
        )));
    }
    assert!(response.contains("strata_compactor_compaction_seconds_count{table=\"a.one\"}"));
    let m = handle.metrics();
    // Taking t1 (6 runs) and t2 (4 runs) to at most TRIGGER runs per bucket merges at least
    // 4 and 2 of their commits (~300 rows); how much of t3 is read depends on timing.
    assert!(
        m.total(metrics::ROWS_READ) >= 250.0,
        "{}",
        m.total(metrics::ROWS_READ)
    );
    assert!(m.total(metrics::BYTES_WRITTEN) > 0.0);
    assert_eq!(m.value(metrics::TABLES, &[]), Some(3.0));
    assert!(http_get(addr, "/healthz").await.ends_with("ok\n"));

    handle.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the metrics endpoint still answers after stop"
    );
}
