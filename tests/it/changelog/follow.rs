//! Followers: start modes, stopping and resuming with a consumer id (every change once),
//! and consumers holding back expiry.

use std::time::Duration;

use futures::TryStreamExt;
use strata_format::changes::{ChangeFollower, StartMode};
use strata_format::compact::Compactor;
use strata_format::maintenance::{ConsumerManager, Maintenance};
use strata_format::options::CoreOptions;
use strata_format::ErrorKind;
use strata_writer::TableWriter;

use super::*;

/// Everything a follower hands out now: (snapshot, full?, changes) per snapshot.
async fn drain(follower: &mut ChangeFollower) -> Vec<(i64, bool, Vec<Change>)> {
    let mut out = Vec::new();
    while let Some(s) = follower.next().await.unwrap() {
        let batches: Vec<_> = s.batches.try_collect().await.unwrap();
        out.push((s.snapshot_id, s.full, changes_of(&batches)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_restarted_with_a_consumer_sees_every_change_once() {
    for (seed, producer) in [
        (11, "input"),
        (12, "input"),
        (13, "lookup"),
        (14, "full-compaction"),
    ] {
        let fx = fixture(&[
            ("changelog-producer", producer),
            ("num-sorted-run.compaction-trigger", "3"),
        ])
        .await;
        let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
        let compactor = Compactor::new(fx.table.clone(), "c").unwrap();
        let mut work = Workload::new(seed, true);
        // Started before the first write.
        let new_follower = |table: Table| async move {
            ChangeFollower::new(ChangeReader::new(table), StartMode::EarliestFull)
                .with_consumer("downstream", false)
                .await
                .unwrap()
        };
        let mut follower = new_follower(fx.table.clone()).await;
        assert!(follower.next().await.unwrap().is_none());
        // The empty table resolved the start: changes from snapshot 1, recorded.
        follower.checkpoint().await.unwrap();
        let consumers = ConsumerManager::new(fx.table.clone());
        assert_eq!(
            consumers
                .get("downstream")
                .await
                .unwrap()
                .unwrap()
                .next_snapshot,
            1
        );
        let mut seen: Vec<(i64, bool, Vec<Change>)> = Vec::new();
        let mut replay = Replay::strict();
        for c in 1..=25 {
            let n = 1 + work.rng.below(8) as usize;
            let ops = work.ops(n);
            write_commit(&mut writer, &ops, c).await;
            if work.rng.below(4) == 0 {
                compactor
                    .compact_table(work.rng.below(2) == 0)
                    .await
                    .unwrap();
            }
            match work.rng.below(5) {
                // Stop without recording the last snapshot read: it comes again.
                0 => {
                    let unrecorded = drain(&mut follower).await;
                    drop(unrecorded);
                    follower = new_follower(fx.reload().await).await;
                }
                // Stop cleanly (checkpointed), restart.
                1 => {
                    for s in drain(&mut follower).await {
                        replay.apply(&s.2);
                        seen.push(s);
                    }
                    follower.checkpoint().await.unwrap();
                    follower = new_follower(fx.reload().await).await;
                }
                _ => {
                    for s in drain(&mut follower).await {
                        replay.apply(&s.2);
                        seen.push(s);
                    }
                    follower.checkpoint().await.unwrap();
                }
            }
        }
        for s in drain(&mut follower).await {
            replay.apply(&s.2);
            seen.push(s);
        }
        follower.checkpoint().await.unwrap();
        let table = fx.reload().await;
        let last = latest(&table).await;
        // Every snapshot with changes exactly once, in order; the first one (snapshot 1,
        // committed after the follower started) as changes, not as a full phase.
        let expected: Vec<(i64, bool, Vec<Change>)> = changes_between(&table, 0, last)
            .await
            .into_iter()
            .map(|(id, c)| (id, false, c))
            .collect();
        assert_eq!(seen, expected, "seed {seed}, {producer}");
        assert_eq!(replay.rows, table_at(&table, last).await);
        assert_eq!(replay.sums, sums(&work.source));
        let consumer = ConsumerManager::new(table.clone())
            .get("downstream")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(consumer.next_snapshot, last + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_modes() {
    let fx = fixture(&[("changelog-producer", "input")]).await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let row = |v| (Some(0), Some(v));
    let mut times = Vec::new();
    for c in 1..=4i64 {
        write_commit(&mut writer, &[(RowKind::Insert, c, row(c))], c).await;
        times.push(
            fx.table
                .snapshot_manager()
                .snapshot(c)
                .await
                .unwrap()
                .time_millis,
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let table = fx.reload().await;
    let ids = |got: Vec<(i64, bool, Vec<Change>)>| -> Vec<(i64, bool)> {
        got.into_iter().map(|(id, full, _)| (id, full)).collect()
    };
    let follow = |start| ChangeFollower::new(ChangeReader::new(table.clone()), start);

    let mut f = follow(StartMode::LatestFull);
    let got = drain(&mut f).await;
    assert_eq!(ids(got.clone()), vec![(4, true)]);
    assert_eq!(got[0].2.len(), 4, "the full phase holds every row as +I");

    assert!(drain(&mut follow(StartMode::Latest)).await.is_empty());
    assert_eq!(
        ids(drain(&mut follow(StartMode::EarliestFull)).await),
        vec![(1, true), (2, false), (3, false), (4, false)]
    );
    assert_eq!(
        ids(drain(&mut follow(StartMode::FromSnapshot(3))).await),
        vec![(3, false), (4, false)]
    );
    assert_eq!(
        ids(drain(&mut follow(StartMode::FromSnapshotFull(2))).await),
        vec![(2, true), (3, false), (4, false)]
    );
    assert_eq!(
        ids(drain(&mut follow(StartMode::FromTimestamp(times[2]))).await),
        vec![(3, false), (4, false)]
    );
    let mut bounded = follow(StartMode::FromSnapshot(1)).with_end(Some(2));
    assert_eq!(ids(drain(&mut bounded).await), vec![(1, false), (2, false)]);
    assert!(bounded.is_done());

    // The same through options, as Paimon spells them.
    let options =
        CoreOptions::from_map([("scan.mode", "from-snapshot"), ("scan.snapshot-id", "4")]).unwrap();
    let mut f = ChangeFollower::from_options(ChangeReader::new(table.clone()), &options)
        .await
        .unwrap();
    assert_eq!(ids(drain(&mut f).await), vec![(4, false)]);
    let bad = CoreOptions::from_map([("scan.mode", "from-snapshot")]).unwrap();
    let err = StartMode::from_options(&bad).unwrap_err();
    assert!(err.to_string().contains("scan.snapshot-id"), "{err}");

    // incremental-between: snapshots 2..=3, and a range outside the snapshots is refused.
    let reader = ChangeReader::new(table.clone());
    let rows: Vec<_> = reader
        .incremental_between("1,3")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        changes_of(&rows),
        vec![(RowKind::Insert, 2, row(2)), (RowKind::Insert, 3, row(3))]
    );
    let err = reader.between(2, 9).await.err().unwrap();
    assert!(err.to_string().contains("1..=4"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_holds_back_expiry_and_a_lost_position_is_an_error() {
    let fx = fixture(&[
        ("changelog-producer", "input"),
        ("snapshot.num-retained.min", "1"),
        ("snapshot.num-retained.max", "2"),
        ("snapshot.time-retained", "1 ms"),
    ])
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let row = |v| (Some(0), Some(v));
    for c in 1..=3i64 {
        write_commit(&mut writer, &[(RowKind::Insert, c, row(c))], c).await;
    }
    let mut f = ChangeFollower::new(
        ChangeReader::new(fx.table.clone()),
        StartMode::FromSnapshot(1),
    )
    .with_consumer("slow", false)
    .await
    .unwrap();
    let first = f.next().await.unwrap().unwrap();
    assert_eq!(first.snapshot_id, 1);
    f.checkpoint().await.unwrap(); // nextSnapshot = 2
    for c in 4..=6i64 {
        write_commit(&mut writer, &[(RowKind::Insert, c, row(c))], c).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let m = Maintenance::new(fx.reload().await);
    m.expire_snapshots(m.expire_config()).await.unwrap();
    let earliest = fx.table.snapshot_manager().earliest_id().await.unwrap();
    assert_eq!(earliest, Some(2), "the consumer keeps snapshot 2 and later");
    let mut resumed =
        ChangeFollower::new(ChangeReader::new(fx.reload().await), StartMode::LatestFull)
            .with_consumer("slow", false)
            .await
            .unwrap();
    let got: Vec<i64> = drain(&mut resumed).await.iter().map(|s| s.0).collect();
    assert_eq!(got, vec![2, 3, 4, 5, 6]);
    resumed.checkpoint().await.unwrap();

    // Once the consumer moved on expiry goes on; a consumer left behind then fails clearly.
    m.expire_snapshots(m.expire_config()).await.unwrap();
    let earliest = fx.table.snapshot_manager().earliest_id().await.unwrap();
    assert_eq!(earliest, Some(latest(&fx.table).await));
    ConsumerManager::new(fx.table.clone())
        .set("behind", 3)
        .await
        .unwrap();
    let mut lost = ChangeFollower::new(ChangeReader::new(fx.reload().await), StartMode::Latest)
        .with_consumer("behind", false)
        .await
        .unwrap();
    let err = lost.next().await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("snapshot 3"), "{err}");
    assert!(err.to_string().contains("has expired"), "{err}");
}

/// A follower resumed from its consumer while commits land: a snapshot committed between
/// its "does snapshot N exist" and "what is the latest" reads is read, not taken for an
/// expired one. Each poll resumes a fresh follower, the case `strata changes --follow
/// --consumer-id` is in right after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_follower_racing_commits_reads_every_snapshot() {
    let fx = fixture(&[("changelog-producer", "input")]).await;
    ConsumerManager::new(fx.table.clone())
        .set("racer", 1)
        .await
        .unwrap();
    const COMMITS: i64 = 40;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let commits = tokio::spawn(async move {
        for c in 1..=COMMITS {
            write_commit(&mut writer, &[(RowKind::Insert, c, (Some(0), Some(c)))], c).await;
        }
    });
    // The keys in the order the followers handed them out: one per commit.
    let mut keys = Vec::new();
    loop {
        let finished = commits.is_finished();
        let mut follower =
            ChangeFollower::new(ChangeReader::new(fx.table.clone()), StartMode::Latest)
                .with_consumer("racer", false)
                .await
                .unwrap();
        match follower.next().await {
            Ok(Some(s)) => {
                let batches: Vec<_> = s.batches.try_collect().await.unwrap();
                keys.extend(changes_of(&batches).iter().map(|c| c.1));
                follower.checkpoint().await.unwrap();
            }
            Ok(None) if finished => break,
            Ok(None) => tokio::task::yield_now().await,
            Err(e) => panic!("after keys {keys:?}: {e}"),
        }
    }
    commits.await.unwrap();
    assert_eq!(keys, (1..=COMMITS).collect::<Vec<_>>());
}
