//! Readers of retained snapshots never fail while expiry runs: three reader tasks read
//! every snapshot a consumer protects, a tagged snapshot and the latest snapshot in a
//! loop, while a writer keeps committing (with compactions, so expiry has data files to
//! delete) and an expiry task expires as much as it may, a few snapshots at a time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_format::commit::{Clock, TableCommit};
use strata_format::maintenance::{ExpireConfig, Maintenance};
use strata_format::table::Table;
use strata_writer::TableWriter;

use super::{
    batch, check_files, compact_all, fixture, model_rows, read_snapshot, read_tag, table_dir, Rows,
    TestClock,
};

type Expected = Arc<Mutex<BTreeMap<i64, Rows>>>;

struct Writer {
    table: Table,
    clock: Arc<TestClock>,
    writer: TableWriter,
    compactor: TableCommit,
    model: BTreeMap<(String, i32), String>,
    expected: Expected,
    identifier: i64,
}

impl Writer {
    /// One commit of upserts; every third also a compaction. The expected rows of the
    /// next snapshot are published before it exists (this is the only committer).
    async fn step(&mut self, n: i64) {
        self.clock.advance(1000);
        let ops: Vec<_> = (0..40)
            .map(|i| {
                let p = ["a", "b"][(i % 2) as usize].to_string();
                (0i8, p, ((n * 7 + i) % 50) as i32, format!("c{n}-{i}"))
            })
            .collect();
        let (b, kinds) = batch(&ops);
        self.writer.write_with_kinds(&b, &kinds).await.unwrap();
        for (_, p, k, v) in &ops {
            self.model.insert((p.clone(), *k), v.clone());
        }
        self.publish_next().await;
        self.identifier += 1;
        self.writer.commit(self.identifier).await.unwrap();
        if n % 3 == 0 {
            self.publish_next().await;
            self.identifier += 1;
            let clock: Arc<dyn Clock> = self.clock.clone();
            compact_all(&self.table, clock, &self.compactor, self.identifier)
                .await
                .unwrap();
        }
    }

    async fn publish_next(&self) {
        let next = self
            .table
            .snapshot_manager()
            .latest_id()
            .await
            .unwrap()
            .unwrap_or(0)
            + 1;
        self.expected
            .lock()
            .unwrap()
            .insert(next, model_rows(&self.model));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_of_retained_snapshots_never_fail_while_expiry_runs() {
    let fx = fixture(&[
        ("bucket", "2"),
        ("write-buffer-size", "4 kb"),
        ("target-file-size", "4 kb"),
    ])
    .await;
    let table = fx.table.clone();
    let clock = TestClock::now();
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let expected: Expected = Arc::default();
    let mut w = Writer {
        table: table.clone(),
        clock: clock.clone(),
        writer: TableWriter::builder(table.clone())
            .clock(dyn_clock.clone())
            .build()
            .unwrap(),
        compactor: TableCommit::new(table.clone(), "compactor")
            .unwrap()
            .with_clock(dyn_clock.clone()),
        model: BTreeMap::new(),
        expected: expected.clone(),
        identifier: 0,
    };
    for n in 1..=24 {
        w.step(n).await;
    }
    let sm = table.snapshot_manager();
    let latest = sm.latest_id().await.unwrap().unwrap();
    let m = Maintenance::new(table.clone()).with_clock(dyn_clock.clone());
    // A streaming reader holds the last eight snapshots; a tag holds an old one.
    let protected_from = latest - 7;
    m.consumers().set("reader", protected_from).await.unwrap();
    let tagged = 6;
    m.create_tag("keep", Some(tagged), None).await.unwrap();
    let tag_rows = expected.lock().unwrap()[&tagged].clone();

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for r in 0..3 {
        let (table, expected, stop, reads, tag_rows) = (
            table.clone(),
            expected.clone(),
            stop.clone(),
            reads.clone(),
            tag_rows.clone(),
        );
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let latest = table.snapshot_manager().latest_id().await.unwrap().unwrap();
                for id in (protected_from..=latest).rev().skip(r).step_by(2) {
                    let got = read_snapshot(&table, id)
                        .await
                        .unwrap_or_else(|e| panic!("reader {r}: snapshot {id}: {e}"));
                    let want = expected.lock().unwrap()[&id].clone();
                    assert_eq!(got, want, "reader {r}: snapshot {id}");
                    reads.fetch_add(1, Ordering::SeqCst);
                }
                let got = read_tag(&table, "keep")
                    .await
                    .unwrap_or_else(|e| panic!("reader {r}: tag: {e}"));
                assert_eq!(got, tag_rows, "reader {r}: tag");
                reads.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let expirer = {
        let (m, stop) = (m.clone(), stop.clone());
        tokio::spawn(async move {
            let config = ExpireConfig {
                retain_min: 1,
                retain_max: 1,
                time_retained: Duration::ZERO,
                max_deletes: 2,
                ..m.expire_config()
            };
            let mut expired = 0;
            while !stop.load(Ordering::SeqCst) {
                expired += m.expire_snapshots(config).await.unwrap().expired_count();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            expired
        })
    };
    // The writer keeps committing (the consumer moves nothing: it stays at its snapshot).
    for n in 25..=36 {
        w.step(n).await;
    }
    // Let expiry catch up with everything it may remove.
    let earliest_wanted = protected_from;
    for _ in 0..2400 {
        if sm.earliest_id().await.unwrap() == Some(earliest_wanted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }
    let expired = expirer.await.unwrap();
    let reads = reads.load(Ordering::SeqCst);
    eprintln!("expired {expired} snapshots while readers made {reads} reads");
    assert_eq!(
        sm.list_ids().await.unwrap().first().copied(),
        Some(protected_from)
    );
    assert_eq!(expired, protected_from - 1);
    assert!(reads >= 20, "only {reads} reads");
    assert_eq!(read_tag(&table, "keep").await.unwrap(), tag_rows);
    check_files(&table, &table_dir(&fx), false, "after concurrent expiry").await;
}
