//! The daemon's scheduled maintenance (short intervals): snapshot expiry per the table's
//! `snapshot.*` options, automatic tags, and orphan cleanup with its age threshold, each
//! repeated on schedule while writers keep committing, with the rows untouched.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use futures::TryStreamExt;
use strata_compactor::{metrics, DaemonConfig};
use strata_format::catalog::{Catalog, Identifier};
use strata_format::maintenance::TagManager;
use strata_format::read::TableRead;
use strata_format::scan::TableScan;
use strata_format::schema::TableSchema;
use strata_format::table::Table;
use strata_format::types::DataType;
use strata_writer::TableWriter;

use super::read_rows;

const RETAINED: i64 = 3;

async fn create(catalog: &Catalog) -> Table {
    let schema = TableSchema::new_for_create(
        [
            ("k", DataType::parse("BIGINT NOT NULL").unwrap()),
            ("v", DataType::parse("STRING").unwrap()),
        ],
        vec![],
        vec!["k".into()],
        [
            ("bucket", "1"),
            ("write-only", "true"),
            ("snapshot.num-retained.min", "1"),
            ("snapshot.num-retained.max", "3"),
            ("snapshot.time-retained", "1 ms"),
            ("tag.automatic-creation", "process-time"),
            ("tag.creation-period", "hourly"),
        ],
        None,
    )
    .unwrap();
    catalog
        .create_table(&Identifier::parse("db.t").unwrap(), schema)
        .await
        .unwrap()
}

async fn write_commits(table: &Table, from: i64, to: i64) {
    let mut writer = TableWriter::builder(table.clone()).build().unwrap();
    for c in from..=to {
        let keys: Vec<i64> = (0..20).map(|i| i + c).collect();
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

/// (earliest, latest) snapshot ids.
async fn bounds(table: &Table) -> (i64, i64) {
    let sm = table.snapshot_manager();
    (
        sm.earliest_id().await.unwrap().unwrap(),
        sm.latest_id().await.unwrap().unwrap(),
    )
}

async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn the_daemon_expires_snapshots_tags_and_removes_orphans_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let catalog = Catalog::open(&root).unwrap();
    catalog.create_database("db", false).await.unwrap();
    let table = create(&catalog).await;
    write_commits(&table, 1, 8).await;
    assert_eq!(bounds(&table).await, (1, 8));
    assert!(TagManager::new(table.clone())
        .names()
        .await
        .unwrap()
        .is_empty());
    // A file nothing references, as a lost commit leaves behind.
    let orphan = dir
        .path()
        .join("db.db/t/bucket-0/data-orphan-by-test.parquet");
    assert!(orphan.parent().unwrap().is_dir());
    std::fs::write(&orphan, b"not referenced").unwrap();

    let config = DaemonConfig {
        poll_interval: Duration::from_millis(50),
        maintenance_interval: Some(Duration::from_millis(200)),
        orphan_interval: Some(Duration::from_millis(300)),
        orphan_older_than: Duration::from_secs(2),
        ..DaemonConfig::default()
    };
    let handle = strata_compactor::start(Catalog::open(&root).unwrap(), config)
        .await
        .unwrap();

    // The first pass tags the first snapshot (its hour's previous period) before expiring.
    wait_until("snapshots expired to snapshot.num-retained.max", || async {
        let (earliest, latest) = bounds(&table).await;
        latest - earliest < RETAINED
    })
    .await;
    let tags = TagManager::new(table.clone()).list().await.unwrap();
    assert_eq!(tags.len(), 1, "one automatic tag");
    assert_eq!(tags[0].snapshot.id, 1, "the first snapshot was tagged");
    // The orphan is young: the cleanups so far kept it.
    assert!(
        orphan.exists(),
        "a file younger than older-than was removed"
    );

    // The schedule repeats: new commits are expired again, the old orphan goes.
    write_commits(&table, 9, 14).await;
    wait_until("the new snapshots expired on the next pass", || async {
        let (earliest, latest) = bounds(&table).await;
        latest >= 14 && latest - earliest < RETAINED
    })
    .await;
    wait_until(
        "the orphan removed once older than the threshold",
        || async { !orphan.exists() },
    )
    .await;
    // The tagged snapshot still reads (expiry keeps what tags need), and so does the table.
    let plan = TableScan::new(table.clone())
        .plan_snapshot(tags[0].snapshot.clone())
        .await
        .unwrap();
    let batches: Vec<RecordBatch> = TableRead::new(table.clone())
        .read_plan(plan)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 20);
    assert_eq!(read_rows(&table).await.len(), 33);

    let m = handle.metrics().clone();
    handle.stop().await;
    let labels = [("table", "db.t")];
    assert!(m.value(metrics::MAINTENANCE_RUNS, &labels).unwrap() >= 2.0);
    assert!(m.value(metrics::SNAPSHOTS_EXPIRED, &labels).unwrap() >= 11.0);
    assert_eq!(m.value(metrics::TAGS_CREATED, &labels), Some(1.0));
    assert!(m.value(metrics::ORPHAN_RUNS, &labels).unwrap() >= 2.0);
    let orphans = [("table", "db.t"), ("kind", "orphan")];
    assert!(m.value(metrics::FILES_REMOVED, &orphans).unwrap() >= 1.0);
    assert_eq!(m.total(metrics::MAINTENANCE_ERRORS), 0.0);
}
