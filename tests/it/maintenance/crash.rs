//! Crashes of `strata expire` and `strata remove-orphans`: the real binary is killed with
//! SIGKILL at random moments and aborted at every named failpoint
//! (`STRATA_FAILPOINTS`). After each crash every retained snapshot and every tag reads
//! exactly its rows; a rerun completes, after which the table holds exactly the files its
//! snapshots and tags reference.
//!
//! The binary is `$STRATA_BIN` (set by scripts/test) or `strata` next to this test
//! binary's directory (`cargo build -p strata-cli` first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_format::catalog::{Catalog, Identifier};
use strata_format::commit::{Clock, TableCommit};
use strata_format::maintenance::Maintenance;
use strata_format::table::Table;
use strata_writer::TableWriter;

use super::{
    age_all, batch, check_files, compact_all, fixture, model_rows, read_snapshot, read_tag, Rows,
    TestClock,
};
use crate::writer::Fixture;

fn strata_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATA_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/it-<hash> → target/debug/strata
    let p = exe.parent().and_then(Path::parent).unwrap().join("strata");
    assert!(
        p.exists(),
        "no strata binary at {}: run `cargo build -p strata-cli` (or scripts/test), or set \
         STRATA_BIN",
        p.display()
    );
    p
}

/// Trials per kind; `STRATA_MAINTENANCE_SOAK=N` multiplies them.
fn random_trials() -> usize {
    let soak: usize = std::env::var("STRATA_MAINTENANCE_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    8 * soak.max(1)
}

/// Copies a directory tree, keeping modification times (orphan cleanup looks at them).
fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if from.is_dir() {
            copy_dir(&from, &to);
        } else {
            std::fs::copy(&from, &to).unwrap();
            let modified = e.metadata().unwrap().modified().unwrap();
            std::fs::File::options()
                .append(true)
                .open(&to)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
    }
}

async fn open(warehouse: &Path) -> Table {
    Catalog::open(warehouse.to_str().unwrap())
        .unwrap()
        .load_table(&Identifier::new("db", "t").unwrap())
        .await
        .unwrap()
}

fn command(warehouse: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(strata_bin());
    c.arg("--warehouse").arg(warehouse).args(args);
    c.env_remove("STRATA_FAILPOINTS")
        .env_remove("STRATA_WAREHOUSE");
    c
}

fn run_ok(warehouse: &Path, args: &[&str]) -> Output {
    let out = command(warehouse, args).output().unwrap();
    assert!(
        out.status.success(),
        "strata {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A table with history worth cleaning: writes that rewrite keys, compactions, two tags.
struct Base {
    fx: Fixture,
    expected: BTreeMap<i64, Rows>,
    tags: BTreeMap<String, Rows>,
}

async fn build(commits: i64) -> Base {
    let fx = fixture(&[
        ("bucket", "2"),
        ("write-buffer-size", "4 kb"),
        ("target-file-size", "4 kb"),
    ])
    .await;
    let table = fx.table.clone();
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
    for n in 1..=commits {
        clock.advance(1000);
        let ops: Vec<_> = (0..60)
            .map(|i| {
                let p = ["a", "b"][(i % 2) as usize].to_string();
                let kind = if (n + i) % 11 == 0 { 3 } else { 0 };
                (kind, p, ((n * 13 + i) % 70) as i32, format!("n{n}-{i}"))
            })
            .collect();
        let (b, kinds) = batch(&ops);
        writer.write_with_kinds(&b, &kinds).await.unwrap();
        for (kind, p, k, v) in &ops {
            if *kind == 0 {
                model.insert((p.clone(), *k), v.clone());
            } else {
                model.remove(&(p.clone(), *k));
            }
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
    let m = Maintenance::new(table.clone()).with_clock(dyn_clock);
    let mut tags = BTreeMap::new();
    for id in [4, 17] {
        let name = format!("t{id}");
        m.create_tag(&name, Some(id), None).await.unwrap();
        tags.insert(name, expected[&id].clone());
    }
    Base { fx, expected, tags }
}

/// Every snapshot at or after `from` that exists reads its rows, as does every tag; the
/// snapshots present are contiguous and end at the latest.
async fn check_reads(warehouse: &Path, base: &Base, from: i64, context: &str) {
    let table = open(warehouse).await;
    let ids = table.snapshot_manager().list_ids().await.unwrap();
    let latest = *base.expected.keys().last().unwrap();
    assert_eq!(ids.last().copied(), Some(latest), "{context}");
    assert_eq!(
        ids,
        (ids[0]..=latest).collect::<Vec<_>>(),
        "{context}: snapshots not contiguous"
    );
    assert!(
        ids[0] <= from,
        "{context}: retained snapshot {} is gone",
        ids[0].max(from)
    );
    for id in ids.into_iter().filter(|i| *i >= from) {
        let got = read_snapshot(&table, id)
            .await
            .unwrap_or_else(|e| panic!("{context}: retained snapshot {id}: {e}"));
        assert_eq!(got, base.expected[&id], "{context}: snapshot {id}");
    }
    for (name, rows) in &base.tags {
        let got = read_tag(&table, name)
            .await
            .unwrap_or_else(|e| panic!("{context}: tag {name}: {e}"));
        assert_eq!(&got, rows, "{context}: tag {name}");
    }
}

struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs `args` killed after `delay`; true when the kill interrupted it.
fn run_killed(warehouse: &Path, args: &[&str], delay: Duration) -> bool {
    let mut child = command(warehouse, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let interrupted = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let status = child.wait().unwrap();
    interrupted && !status.success()
}

fn run_failpoint(warehouse: &Path, args: &[&str], point: &str) {
    let out = command(warehouse, args)
        .env("STRATA_FAILPOINTS", point)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains(&format!("failpoint {point}")),
        "failpoint {point} did not fire: {stderr}"
    );
}

const EXPIRE: &[&str] = &[
    "expire",
    "db.t",
    "--retain-min",
    "3",
    "--retain-max",
    "3",
    "--older-than",
    "0s",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_expiry_leaves_retained_snapshots_readable_and_a_rerun_completes() {
    let base = build(30).await;
    let latest = *base.expected.keys().last().unwrap();
    let end = latest - 2;
    let work = tempfile::tempdir().unwrap();
    let mut trial = 0;
    let mut fresh = || {
        trial += 1;
        let w = work.path().join(format!("w{trial}"));
        copy_dir(base.fx.dir.path(), &w);
        w
    };
    let finish = |w: PathBuf, context: String| {
        let base = &base;
        async move {
            check_reads(&w, base, end, &context).await;
            run_ok(&w, EXPIRE);
            check_reads(&w, base, end, &format!("{context}, rerun")).await;
            let table = open(&w).await;
            let ids = table.snapshot_manager().list_ids().await.unwrap();
            assert_eq!(ids, (end..=latest).collect::<Vec<_>>(), "{context}");
            check_files(
                &table,
                &w.join("db.db/t"),
                true,
                &format!("{context}, rerun"),
            )
            .await;
        }
    };

    // Uninterrupted runs, to learn how long one takes (the fastest of three).
    let mut took = Duration::MAX;
    for i in 0..3 {
        let w = fresh();
        let started = Instant::now();
        run_ok(&w, EXPIRE);
        took = took.min(started.elapsed());
        finish(w, format!("uninterrupted {i}")).await;
    }

    for point in [
        "expire.after-plan",
        "expire.mid-data",
        "expire.after-data",
        "expire.mid-manifests",
        "expire.after-manifests",
        "expire.mid-snapshots",
        "expire.before-earliest-hint",
    ] {
        let w = fresh();
        run_failpoint(&w, EXPIRE, point);
        finish(w, format!("failpoint {point}")).await;
    }

    let mut rng = Rng(7);
    let mut interrupted = 0;
    for i in 0..random_trials() {
        let w = fresh();
        let delay = took.mul_f64(0.1 + 0.8 * rng.unit());
        interrupted += usize::from(run_killed(&w, EXPIRE, delay));
        finish(w, format!("kill {i} after {delay:?}")).await;
    }
    eprintln!("expire takes {took:?}; {interrupted} random kills interrupted it");
    assert!(
        interrupted >= 2,
        "only {interrupted} kills landed inside the run ({took:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_orphan_cleanup_never_touches_live_files_and_a_rerun_completes() {
    let mut base = build(24).await;
    // Orphans: a rollback leaves the files of the snapshots it removed; lost commits and
    // interrupted uploads leave stray files.
    let table = base.fx.table.clone();
    let m = Maintenance::new(table.clone());
    let target = *base.expected.keys().last().unwrap() - 6;
    m.rollback_to_snapshot(target).await.unwrap();
    base.expected.retain(|id, _| *id <= target);
    base.tags
        .retain(|name, _| name.trim_start_matches('t').parse::<i64>().unwrap() <= target);
    let dir = base.fx.dir.path().join("db.db/t");
    std::fs::write(dir.join("manifest/manifest-lost-commit-0"), b"lost").unwrap();
    std::fs::write(
        dir.join("p=a/bucket-1/data-lost-commit-0.parquet#1"),
        b"partial upload",
    )
    .unwrap();
    std::fs::write(dir.join("snapshot/.snapshot-99.tmp"), b"temp").unwrap();
    age_all(&dir, Duration::from_secs(3 * 24 * 3600));
    const ORPHANS: &[&str] = &["remove-orphans", "db.t"];

    let work = tempfile::tempdir().unwrap();
    let mut trial = 0;
    let mut fresh = || {
        trial += 1;
        let w = work.path().join(format!("w{trial}"));
        copy_dir(base.fx.dir.path(), &w);
        // A commit in flight: young files nothing references yet.
        let t = w.join("db.db/t");
        std::fs::write(t.join("manifest/manifest-inflight-0"), b"young").unwrap();
        std::fs::write(t.join("p=b/bucket-0/data-inflight-0.parquet"), b"young").unwrap();
        w
    };
    let first = *base.expected.keys().next().unwrap();
    let finish = |w: PathBuf, context: String| {
        let base = &base;
        async move {
            let t = w.join("db.db/t");
            let table = open(&w).await;
            check_reads(&w, base, first, &context).await;
            check_files(&table, &t, false, &context).await;
            let out = run_ok(&w, ORPHANS);
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                stdout.lines().last().unwrap().starts_with("removed "),
                "{stdout}"
            );
            check_reads(&w, base, first, &format!("{context}, rerun")).await;
            for young in [
                "manifest/manifest-inflight-0",
                "p=b/bucket-0/data-inflight-0.parquet",
            ] {
                assert!(
                    t.join(young).exists(),
                    "{context}: in-flight file {young} deleted"
                );
                std::fs::remove_file(t.join(young)).unwrap();
            }
            assert!(!t.join("snapshot/.snapshot-99.tmp").exists(), "{context}");
            check_files(&table, &t, true, &format!("{context}, rerun")).await;
        }
    };

    // How long a run takes.
    let w = fresh();
    let started = Instant::now();
    run_ok(&w, ORPHANS);
    let took = started.elapsed();

    let w = fresh();
    let dry = run_ok(&w, &["remove-orphans", "db.t", "--dry-run"]);
    let dry = String::from_utf8_lossy(&dry.stdout).to_string();
    assert!(
        dry.contains("orphan manifest/manifest-lost-commit-0 4\n"),
        "{dry}"
    );
    assert!(
        dry.lines().last().unwrap().starts_with("would remove "),
        "{dry}"
    );
    assert!(!dry.contains("inflight"), "{dry}");
    assert!(w.join("db.db/t/manifest/manifest-lost-commit-0").exists());
    finish(w, "dry run, then uninterrupted".into()).await;

    for point in ["orphans.after-plan", "orphans.mid-delete"] {
        let w = fresh();
        run_failpoint(&w, ORPHANS, point);
        finish(w, format!("failpoint {point}")).await;
    }
    let mut rng = Rng(11);
    for i in 0..random_trials() {
        let w = fresh();
        let delay = took.mul_f64(0.2 + 0.8 * rng.unit());
        run_killed(&w, ORPHANS, delay);
        finish(w, format!("kill {i} after {delay:?}")).await;
    }
}
