//! Random sequences of writes (upserts and deletes), compactions, tags, tag deletions,
//! consumers, expiries, rollbacks and orphan cleanups against a model: after every step
//! every retained snapshot and every tag reads exactly the rows the model recorded for
//! it, and no file a snapshot or tag references is missing; after every orphan cleanup
//! the table directory holds exactly the referenced files (plus the young files of
//! "commits in flight", which must survive).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use strata_format::commit::{Clock, TableCommit};
use strata_format::maintenance::{ExpireConfig, Maintenance};
use strata_writer::TableWriter;

use super::{
    age_all, batch, check_files, compact_all, fixture, list_files, model_rows, read_snapshot,
    read_tag, table_dir, Rows, TestClock,
};

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Steps per seed; `STRATA_MAINTENANCE_SOAK=N` multiplies them.
fn steps() -> usize {
    let soak: usize = std::env::var("STRATA_MAINTENANCE_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    70 * soak.max(1)
}

struct State {
    /// Current rows.
    model: BTreeMap<(String, i32), String>,
    /// Rows of every snapshot that may still exist.
    history: BTreeMap<i64, Rows>,
    /// Tag → (snapshot id, rows).
    tags: BTreeMap<String, (i64, Rows)>,
    next_identifier: i64,
}

async fn run(seed: u64) {
    // The model makes its own compactions; writers must not add COMPACT snapshots.
    let fx = fixture(&[
        ("bucket", "2"),
        ("write-buffer-size", "4 kb"),
        ("target-file-size", "4 kb"),
        ("write-only", "true"),
        ("num-sorted-run.stop-trigger", "1000"),
    ])
    .await;
    let table = fx.table.clone();
    let dir = table_dir(&fx);
    let clock = TestClock::now();
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let maintenance = Maintenance::new(table.clone()).with_clock(dyn_clock.clone());
    let new_writer = || {
        TableWriter::builder(table.clone())
            .clock(dyn_clock.clone())
            .build()
            .unwrap()
    };
    let mut writer = new_writer();
    let compactor = TableCommit::new(table.clone(), "compactor")
        .unwrap()
        .with_clock(dyn_clock.clone());
    let mut rng = Rng(seed);
    let mut st = State {
        model: BTreeMap::new(),
        history: BTreeMap::new(),
        tags: BTreeMap::new(),
        next_identifier: 1,
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tag_counter = 0;
    let mut removed_data = 0;
    let sm = table.snapshot_manager();

    for step in 0..steps() {
        clock.advance(1000 + rng.below(4000) as i64);
        let latest = sm.latest_id().await.unwrap();
        let roll = rng.below(100);
        let action = match roll {
            _ if latest.is_none() => "write",
            0..=39 => "write",
            40..=51 => "compact",
            52..=58 => "tag",
            59..=62 => "delete-tag",
            63..=79 => "expire",
            80..=84 => "rollback",
            85..=90 => "orphans",
            _ => "consumer",
        };
        *counts.entry(action).or_default() += 1;
        let context = format!("seed {seed} step {step} ({action})");
        match action {
            "write" => {
                let n = 5 + rng.below(60) as usize;
                let ops: Vec<_> = (0..n)
                    .map(|_| {
                        let p = ["a", "b"][rng.below(2) as usize].to_string();
                        let k = rng.below(40) as i32;
                        let kind = if rng.below(6) == 0 { 3 } else { 0 };
                        (kind, p, k, format!("v{step}-{}", rng.below(1000)))
                    })
                    .collect();
                let (b, kinds) = batch(&ops);
                writer.write_with_kinds(&b, &kinds).await.unwrap();
                for (kind, p, k, v) in &ops {
                    if *kind == 0 {
                        st.model.insert((p.clone(), *k), v.clone());
                    } else {
                        st.model.remove(&(p.clone(), *k));
                    }
                }
                let id = st.next_identifier;
                st.next_identifier += 1;
                let outcome = writer.commit(id).await.unwrap();
                for s in outcome.snapshot_ids {
                    st.history.insert(s, model_rows(&st.model));
                }
            }
            "compact" => {
                let id = st.next_identifier;
                st.next_identifier += 1;
                for s in compact_all(&table, dyn_clock.clone(), &compactor, id)
                    .await
                    .unwrap()
                {
                    st.history.insert(s, model_rows(&st.model));
                }
            }
            "tag" => {
                // The latest snapshot, or a random retained one.
                let ids = sm.list_ids().await.unwrap();
                let id = ids[rng.below(ids.len() as u64) as usize];
                tag_counter += 1;
                let name = format!("tag-{tag_counter}");
                maintenance.create_tag(&name, Some(id), None).await.unwrap();
                st.tags.insert(name, (id, st.history[&id].clone()));
            }
            "delete-tag" => {
                if let Some(name) = st
                    .tags
                    .keys()
                    .nth(rng.below(st.tags.len() as u64) as usize)
                    .cloned()
                {
                    maintenance.delete_tag(&name).await.unwrap();
                    st.tags.remove(&name);
                }
            }
            "expire" => {
                let retain_min = 1 + rng.below(4) as i32;
                let config = ExpireConfig {
                    retain_min,
                    retain_max: retain_min + rng.below(6) as i32,
                    time_retained: Duration::from_millis(rng.below(3) * 4000),
                    max_deletes: 1 + rng.below(20) as i32,
                    ..maintenance.expire_config()
                };
                let before = sm.list_ids().await.unwrap();
                let consumer = maintenance.consumers().min_next_snapshot().await.unwrap();
                let report = maintenance.expire_snapshots(config).await.unwrap();
                removed_data += report.removed.data.files;
                let after = sm.list_ids().await.unwrap();
                // What went is a prefix of what was; what stays is contiguous, keeps the
                // latest, at least retain-min snapshots, and everything a consumer needs.
                let gone: Vec<i64> = before
                    .iter()
                    .copied()
                    .filter(|i| !after.contains(i))
                    .collect();
                assert_eq!(gone.len() as i64, report.expired_count(), "{context}");
                assert!(
                    gone.iter().all(|g| after.iter().all(|a| g < a)),
                    "{context}"
                );
                assert_eq!(after.last(), before.last(), "{context}");
                assert!(
                    after.len() >= (retain_min as usize).min(before.len()),
                    "{context}"
                );
                assert!(gone.len() <= config.max_deletes as usize, "{context}");
                if let Some(next) = consumer {
                    assert!(
                        gone.iter().all(|g| *g < next),
                        "{context}: consumer at {next}"
                    );
                }
                assert_eq!(
                    after,
                    (after[0]..=*after.last().unwrap()).collect::<Vec<_>>()
                );
                for g in gone {
                    st.history.remove(&g);
                }
            }
            "rollback" => {
                let use_tag = !st.tags.is_empty() && rng.below(2) == 0;
                let target = if use_tag {
                    let name = st
                        .tags
                        .keys()
                        .nth(rng.below(st.tags.len() as u64) as usize)
                        .unwrap()
                        .clone();
                    let (id, rows) = st.tags[&name].clone();
                    maintenance.rollback_to_tag(&name).await.unwrap();
                    // Recreated from the tag when it had expired.
                    st.history.insert(id, rows);
                    id
                } else {
                    let ids = sm.list_ids().await.unwrap();
                    let id = ids[rng.below(ids.len() as u64) as usize];
                    maintenance.rollback_to_snapshot(id).await.unwrap();
                    id
                };
                st.history.retain(|s, _| *s <= target);
                st.tags.retain(|_, (id, _)| *id <= target);
                let ids: BTreeSet<i64> = sm.list_ids().await.unwrap().into_iter().collect();
                st.history.retain(|s, _| ids.contains(s));
                assert_eq!(sm.latest_id().await.unwrap(), Some(target), "{context}");
                st.model = rows_to_model(&st.history[&target]);
                // A new process: the old writer's buffers belong to the abandoned history.
                writer = new_writer();
            }
            "orphans" => {
                // Everything on disk is old; one stray temporary file too, and it must go.
                age_all(&dir, Duration::from_secs(3 * 24 * 3600));
                let stray = dir.join("snapshot/.snapshot-9999.x.tmp");
                std::fs::write(&stray, b"old").unwrap();
                age_one(&stray);
                // Files of a commit in flight: young and unreferenced, they must survive.
                let young = [
                    dir.join("p=a/bucket-0/data-inflight-0.parquet"),
                    dir.join("manifest/manifest-inflight-0"),
                ];
                for y in &young {
                    std::fs::create_dir_all(y.parent().unwrap()).unwrap();
                    std::fs::write(y, b"young").unwrap();
                }
                let report = maintenance
                    .remove_orphans(Duration::from_secs(24 * 3600), false)
                    .await
                    .unwrap();
                assert!(
                    report
                        .files
                        .iter()
                        .any(|f| f.path == "snapshot/.snapshot-9999.x.tmp"),
                    "{context}"
                );
                assert!(!stray.exists(), "{context}");
                for y in &young {
                    assert!(
                        y.exists(),
                        "{context}: young file {} was deleted",
                        y.display()
                    );
                    std::fs::remove_file(y).unwrap();
                }
                check_files(&table, &dir, true, &context).await;
            }
            _ => {
                // A streaming reader pins a retained snapshot, or goes away.
                let consumers = maintenance.consumers();
                if rng.below(2) == 0 {
                    consumers.delete("reader").await.unwrap();
                } else {
                    let ids = sm.list_ids().await.unwrap();
                    let id = ids[rng.below(ids.len() as u64) as usize];
                    consumers.set("reader", id).await.unwrap();
                }
            }
        }
        check_reads(&table, &st, &context).await;
        check_files(&table, &dir, false, &context).await;
    }

    // Finally: everything but the latest snapshot goes, and orphans with it.
    for name in st.tags.keys() {
        maintenance.delete_tag(name).await.unwrap();
    }
    maintenance.consumers().delete("reader").await.unwrap();
    let config = ExpireConfig {
        retain_min: 1,
        retain_max: 1,
        time_retained: Duration::ZERO,
        max_deletes: i32::MAX,
        ..maintenance.expire_config()
    };
    maintenance.expire_snapshots(config).await.unwrap();
    age_all(&dir, Duration::from_secs(3 * 24 * 3600));
    maintenance
        .remove_orphans(Duration::from_secs(3600), false)
        .await
        .unwrap();
    let latest = sm.latest_id().await.unwrap().unwrap();
    assert_eq!(sm.list_ids().await.unwrap(), vec![latest]);
    assert_eq!(
        read_snapshot(&table, latest).await.unwrap(),
        model_rows(&st.model)
    );
    check_files(&table, &dir, true, "final").await;
    eprintln!("seed {seed}: {counts:?}, expiry removed {removed_data} data files");
    // Each kind of step ran, and expiry had data files to remove.
    assert!(
        removed_data > 0,
        "seed {seed}: expiry never removed a data file"
    );
    for action in ["write", "compact", "tag", "expire", "rollback", "orphans"] {
        assert!(
            counts.get(action).copied().unwrap_or(0) > 0,
            "seed {seed}: no {action} step: {counts:?}"
        );
    }
    assert!(!list_files(&dir).is_empty());
}

fn age_one(path: &std::path::Path) {
    let f = std::fs::File::options().append(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3 * 24 * 3600))
        .unwrap();
}

fn rows_to_model(rows: &Rows) -> BTreeMap<(String, i32), String> {
    rows.iter()
        .map(|r| ((r[0].clone(), r[1].parse().unwrap()), r[2].clone()))
        .collect()
}

/// Every snapshot file present reads its recorded rows; every tag reads its rows.
async fn check_reads(table: &strata_format::table::Table, st: &State, context: &str) {
    let ids = table.snapshot_manager().list_ids().await.unwrap();
    let recorded: Vec<i64> = st.history.keys().copied().collect();
    assert_eq!(ids, recorded, "{context}: snapshots on disk vs model");
    for id in ids {
        let got = read_snapshot(table, id)
            .await
            .unwrap_or_else(|e| panic!("{context}: snapshot {id}: {e}"));
        assert_eq!(got, st.history[&id], "{context}: snapshot {id}");
    }
    let names = strata_format::maintenance::TagManager::new(table.clone())
        .names()
        .await
        .unwrap();
    assert_eq!(
        names,
        st.tags.keys().cloned().collect::<Vec<_>>(),
        "{context}: tags"
    );
    for (name, (_, rows)) in &st.tags {
        let got = read_tag(table, name)
            .await
            .unwrap_or_else(|e| panic!("{context}: tag {name}: {e}"));
        assert_eq!(&got, rows, "{context}: tag {name}");
    }
}

#[tokio::test]
async fn random_maintenance_against_a_model_seed_1() {
    run(0x9e37_79b9_7f4a_7c15).await;
}

#[tokio::test]
async fn random_maintenance_against_a_model_seed_2() {
    run(42).await;
}
