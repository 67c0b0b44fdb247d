//! Storage used falls to what the retained snapshots need, measured in bytes: a table
//! whose keys are rewritten over and over (and compacted) grows with every commit; after
//! expiry and orphan cleanup the bytes on disk equal the bytes the one retained snapshot
//! references, and are a small fraction of what was there.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use strata_format::commit::{Clock, TableCommit};
use strata_format::maintenance::{ExpireConfig, Maintenance};
use strata_writer::TableWriter;

use super::{
    age_all, batch, bytes, compact_all, fixture, list_files, model_rows, read_snapshot, referenced,
    table_dir, TestClock,
};

#[tokio::test]
async fn storage_falls_to_what_retained_snapshots_need() {
    let fx = fixture(&[
        ("bucket", "2"),
        ("write-buffer-size", "16 kb"),
        ("target-file-size", "16 kb"),
    ])
    .await;
    let table = fx.table.clone();
    let dir = table_dir(&fx);
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
    for round in 1..=30i64 {
        clock.advance(1000);
        // Every round rewrites the same 300 keys with new values.
        let ops: Vec<_> = (0..300)
            .map(|i| {
                let p = ["a", "b"][i % 2].to_string();
                (
                    0i8,
                    p,
                    (i / 2) as i32,
                    format!("round {round} value {i} {}", "x".repeat(40)),
                )
            })
            .collect();
        let (b, kinds) = batch(&ops);
        writer.write_with_kinds(&b, &kinds).await.unwrap();
        for (_, p, k, v) in &ops {
            model.insert((p.clone(), *k), v.clone());
        }
        writer.commit(round * 2).await.unwrap();
        if round % 4 == 0 {
            compact_all(&table, dyn_clock.clone(), &compactor, round * 2 + 1)
                .await
                .unwrap();
        }
    }
    // Before any maintenance, everything on disk is referenced by some snapshot.
    let before = list_files(&dir);
    assert_eq!(before, referenced(&table, &dir).await);

    let m = Maintenance::new(table.clone()).with_clock(dyn_clock.clone());
    let config = ExpireConfig {
        retain_min: 1,
        retain_max: 1,
        time_retained: Duration::ZERO,
        max_deletes: i32::MAX,
        ..m.expire_config()
    };
    let report = m.expire_snapshots(config).await.unwrap();
    age_all(&dir, Duration::from_secs(2 * 24 * 3600));
    let orphans = m
        .remove_orphans(Duration::from_secs(24 * 3600), false)
        .await
        .unwrap();
    assert_eq!(
        orphans.removed.files, 0,
        "expiry left orphans: {:?}",
        orphans.files
    );

    let after = list_files(&dir);
    let needed = referenced(&table, &dir).await;
    assert_eq!(after, needed);
    let (before_bytes, after_bytes) = (bytes(&before), bytes(&after));
    eprintln!(
        "bytes before {before_bytes}, after {after_bytes}, removed {} (report: {:?})",
        before_bytes - after_bytes,
        report.removed.total()
    );
    // The report counts exactly what left the data and manifest directories.
    let r = report.removed;
    assert_eq!(
        r.data.bytes + r.manifest.bytes + r.index.bytes + r.changelog.bytes,
        before_bytes - after_bytes
    );
    assert!(
        after_bytes * 5 < before_bytes,
        "only {before_bytes} -> {after_bytes} bytes"
    );
    let latest = table.snapshot_manager().latest_id().await.unwrap().unwrap();
    assert_eq!(
        read_snapshot(&table, latest).await.unwrap(),
        model_rows(&model)
    );
}
