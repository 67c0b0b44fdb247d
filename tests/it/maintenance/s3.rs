//! The same maintenance on an S3-compatible store (moto): expiry with compactions and a
//! tag, reads of what is retained, orphan cleanup that removes exactly a stray object.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::commit::{Clock, TableCommit};
use strata_format::maintenance::{ExpireConfig, Maintenance};
use strata_format::schema::TableSchema;
use strata_format::types::DataType;
use strata_tests::s3::MotoServer;
use strata_writer::TableWriter;

use super::{batch, compact_all, model_rows, read_snapshot, read_tag, TestClock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_tags_and_orphan_cleanup_on_s3() {
    let moto = MotoServer::start();
    moto.create_bucket("maint");
    let catalog = Catalog::open_with_options("s3://maint/wh", &moto.options()).unwrap();
    catalog.create_database("db", false).await.unwrap();
    let schema = TableSchema::new_for_create(
        [
            ("p", DataType::parse("STRING").unwrap()),
            ("k", DataType::parse("INT").unwrap()),
            ("v", DataType::parse("STRING").unwrap()),
        ],
        vec!["p".into()],
        vec!["p".into(), "k".into()],
        [("bucket", "2"), ("write-buffer-size", "4 kb")],
        None,
    )
    .unwrap();
    let table = catalog
        .create_table(&Identifier::new("db", "t").unwrap(), schema)
        .await
        .unwrap();
    let clock = TestClock::now();
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let mut writer = TableWriter::builder(table.clone())
        .clock(dyn_clock.clone())
        .build()
        .unwrap();
    let compactor = TableCommit::new(table.clone(), "compactor")
        .unwrap()
        .with_clock(dyn_clock.clone());
    let mut model = BTreeMap::new();
    let mut expected = BTreeMap::new();
    for n in 1..=10i64 {
        clock.advance(1000);
        let ops: Vec<_> = (0..30)
            .map(|i| {
                (
                    0i8,
                    ["a", "b"][(i % 2) as usize].to_string(),
                    ((n + i) % 20) as i32,
                    format!("n{n}-{i}"),
                )
            })
            .collect();
        let (b, kinds) = batch(&ops);
        writer.write_with_kinds(&b, &kinds).await.unwrap();
        for (_, p, k, v) in &ops {
            model.insert((p.clone(), *k), v.clone());
        }
        for s in writer.commit(n * 2).await.unwrap().snapshot_ids {
            expected.insert(s, model_rows(&model));
        }
        if n % 3 == 0 {
            for s in compact_all(&table, dyn_clock.clone(), &compactor, n * 2 + 1)
                .await
                .unwrap()
            {
                expected.insert(s, model_rows(&model));
            }
        }
    }
    let latest = *expected.keys().last().unwrap();
    let m = Maintenance::new(table.clone()).with_clock(dyn_clock.clone());
    m.create_tag("t2", Some(2), None).await.unwrap();
    let config = ExpireConfig {
        retain_min: 2,
        retain_max: 2,
        time_retained: Duration::ZERO,
        max_deletes: i32::MAX,
        ..m.expire_config()
    };
    let report = m.expire_snapshots(config).await.unwrap();
    assert_eq!(report.expired, Some((1, latest - 1)));
    assert!(report.removed.data.files > 0, "{report:?}");
    assert_eq!(
        table.snapshot_manager().list_ids().await.unwrap(),
        vec![latest - 1, latest]
    );
    for id in [latest - 1, latest] {
        assert_eq!(read_snapshot(&table, id).await.unwrap(), expected[&id]);
    }
    assert_eq!(read_tag(&table, "t2").await.unwrap(), expected[&2]);

    // A stray object; with the clock a day ahead every object is old enough.
    let stray = table.paths().manifest_file("manifest-lost-0");
    table
        .storage()
        .put(&stray, Bytes::from_static(b"lost"))
        .await
        .unwrap();
    clock.advance(2 * 86_400 * 1000);
    let dry = m
        .remove_orphans(Duration::from_secs(86_400), true)
        .await
        .unwrap();
    assert_eq!(
        dry.files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        vec!["manifest/manifest-lost-0"]
    );
    assert!(table.storage().exists(&stray).await.unwrap());
    let done = m
        .remove_orphans(Duration::from_secs(86_400), false)
        .await
        .unwrap();
    assert_eq!(done.removed.files, 1);
    assert!(!table.storage().exists(&stray).await.unwrap());
    for id in [latest - 1, latest] {
        assert_eq!(read_snapshot(&table, id).await.unwrap(), expected[&id]);
    }
    assert_eq!(read_tag(&table, "t2").await.unwrap(), expected[&2]);
}
