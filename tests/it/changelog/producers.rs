//! Each changelog producer under random CDC workloads: replaying the changes of snapshots
//! onto an empty model gives the table at every snapshot the changelog has covered, and a
//! downstream `sum(v) group by g` kept from the changes alone equals the table's.

use strata_format::compact::Compactor;
use strata_format::manifest::FileSource;
use strata_format::merge::RowKind;
use strata_format::scan::TableScan;
use strata_format::snapshot::CommitKind;
use strata_writer::TableWriter;

use super::*;

/// Writes `commits` random commits (compacting now and then), then checks every snapshot:
/// the full phase of the first snapshot plus the changes after it, replayed, equals the
/// full phase of each later snapshot, and equals the table itself at `complete` ones.
async fn check_workload(
    fx: &Fixture,
    seed: u64,
    commits: i64,
    cdc_updates: bool,
    strict: bool,
) -> Vec<i64> {
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let compactor = Compactor::new(fx.table.clone(), "test-compactor").unwrap();
    let mut work = Workload::new(seed, cdc_updates);
    let mut commit_ends = Vec::new();
    for c in 1..=commits {
        let n = 1 + work.rng.below(12) as usize;
        let ops = work.ops(n);
        let ids = write_commit(&mut writer, &ops, c).await;
        commit_ends.extend(ids.last().copied());
        match work.rng.below(8) {
            0 => {
                compactor.compact_table(true).await.unwrap();
            }
            1 => {
                compactor.compact_table(false).await.unwrap();
            }
            _ => {}
        }
        commit_ends.push(latest(&fx.table).await);
    }
    commit_ends.dedup();
    let table = fx.reload().await;
    let last = latest(&table).await;
    let per_snapshot = changes_between(&table, 0, last).await;
    let mut replay = if strict {
        Replay::strict()
    } else {
        Replay::default()
    };
    for s in 1..=last {
        if let Some(changes) = per_snapshot.get(&s) {
            replay.apply(changes);
        }
        let covered = full_rows(&table, s).await;
        assert_eq!(
            replay.rows, covered,
            "seed {seed}: replay after snapshot {s}"
        );
        if commit_ends.contains(&s) {
            let whole = table_at(&table, s).await;
            assert_eq!(replay.rows, whole, "seed {seed}: table at snapshot {s}");
            if strict {
                assert_eq!(
                    replay.sums,
                    sums(&whole),
                    "seed {seed}: sums at snapshot {s}"
                );
            }
        }
    }
    assert_eq!(replay.rows, work.source, "seed {seed}: the source");
    commit_ends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_records_raw_input_not_merged_rows() {
    let fx = fixture(&[("changelog-producer", "input")]).await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let row = |v| (Some(1), Some(v));
    let ops = [
        (RowKind::Insert, 7, row(1)),
        (RowKind::UpdateBefore, 7, row(1)),
        (RowKind::UpdateAfter, 7, row(2)),
        (RowKind::Insert, 7, row(3)),
    ];
    // Three writes to key 7 (one as a -U/+U pair), one commit.
    let ids = write_commit(&mut writer, &ops, 1).await;
    assert_eq!(ids, vec![1]);
    let table = fx.reload().await;
    let snapshot = table.snapshot_manager().snapshot(1).await.unwrap();
    assert_eq!(snapshot.changelog_record_count, Some(4));
    assert!(snapshot.changelog_manifest_list.is_some());
    let changes = changes_between(&table, 0, 1).await;
    assert_eq!(changes[&1], ops.to_vec());
    assert_eq!(table_at(&table, 1).await, BTreeMap::from([(7, row(3))]));

    // The changelog files sit beside the data files, named and described as Paimon's.
    let splits = ChangeReader::new(table.clone())
        .change_splits(&snapshot)
        .await
        .unwrap();
    let files: Vec<_> = splits.iter().flat_map(|s| &s.files).collect();
    assert!(!files.is_empty());
    for f in &files {
        assert!(f.file_name.starts_with("changelog-"), "{}", f.file_name);
        assert_eq!(f.level, 0);
        assert_eq!(f.file_source, Some(FileSource::Append));
        let path =
            table
                .paths()
                .data_file(&splits[0].partition_path, splits[0].bucket, &f.file_name);
        assert!(table.storage().exists(&path).await.unwrap());
    }
    // The data file holds the merged row only.
    let data = TableScan::new(table.clone()).plan().await.unwrap();
    let data_rows: i64 = data.splits.iter().map(|s| s.row_count()).sum();
    assert_eq!(data_rows, 1);

    // A second commit writing the same key three times more: three more changelog rows.
    let ops2 = [
        (RowKind::UpdateBefore, 7, row(3)),
        (RowKind::UpdateAfter, 7, row(4)),
        (RowKind::Delete, 7, row(4)),
        (RowKind::Insert, 7, row(5)),
    ];
    write_commit(&mut writer, &ops2, 2).await;
    let table = fx.reload().await;
    assert_eq!(changes_between(&table, 1, 2).await[&2], ops2.to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_changelog_replays_to_every_snapshot() {
    for seed in [1, 2, 3] {
        let buffer = if seed == 2 { "2 kb" } else { "64 mb" };
        let fx = fixture(&[
            ("changelog-producer", "input"),
            ("num-sorted-run.compaction-trigger", "3"),
            ("write-buffer-size", buffer),
        ])
        .await;
        check_workload(&fx, seed, 30, true, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_delta_replays_as_upserts() {
    for seed in [4, 5] {
        let fx = fixture(&[("num-sorted-run.compaction-trigger", "3")]).await;
        check_workload(&fx, seed, 30, seed == 5, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_delta_has_no_before_images_and_skips_compactions() {
    let fx = fixture(&[]).await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let row = |v| (Some(1), Some(v));
    write_commit(&mut writer, &[(RowKind::Insert, 1, row(10))], 1).await;
    // An update written as an upsert, and one as -U/+U merged within the flush.
    write_commit(&mut writer, &[(RowKind::Insert, 1, row(20))], 2).await;
    write_commit(
        &mut writer,
        &[
            (RowKind::UpdateBefore, 1, row(20)),
            (RowKind::UpdateAfter, 1, row(30)),
        ],
        3,
    )
    .await;
    Compactor::new(fx.table.clone(), "c")
        .unwrap()
        .compact_table(true)
        .await
        .unwrap();
    let table = fx.reload().await;
    assert_eq!(latest(&table).await, 4);
    let kind = table
        .snapshot_manager()
        .snapshot(4)
        .await
        .unwrap()
        .commit_kind;
    assert_eq!(kind, CommitKind::Compact);
    let changes = changes_between(&table, 0, 4).await;
    // The delta holds what each flush stored: the new value only, no -U.
    assert_eq!(changes[&2], vec![(RowKind::Insert, 1, row(20))]);
    assert_eq!(changes[&3], vec![(RowKind::UpdateAfter, 1, row(30))]);
    assert!(
        !changes.contains_key(&4),
        "a COMPACT snapshot has no delta changes"
    );
    // A sum kept from the delta is wrong after updates: the documented limitation.
    let mut replay = Replay::default();
    for c in changes.values() {
        for change in c {
            *replay.sums.entry(change.2 .0).or_default() += change.2 .1.unwrap();
        }
    }
    assert_ne!(replay.sums, sums(&table_at(&table, 4).await));
}

/// Whether the changelog covers every live file at `snapshot` (then its full phase is the
/// whole table): `lookup` covers levels above 0, `full-compaction` the last level.
async fn covers_everything(table: &Table, snapshot: i64, last_level_only: bool) -> bool {
    let plan = TableScan::new(table.clone())
        .with_snapshot(Some(snapshot))
        .plan()
        .await
        .unwrap();
    let last = table.options().num_levels() - 1;
    plan.splits.iter().flat_map(|s| &s.files).all(|f| {
        if last_level_only {
            f.level == last
        } else {
            f.level > 0
        }
    })
}

/// A compaction producer (`lookup` or `full-compaction`) under random CDC: the writer
/// compacts after each commit, a separate compactor now and then. Replaying the changes
/// (strictly: every retraction retracts the current row, every `+I` is new) gives each
/// snapshot's full phase, and after every commit (the writer's compaction included) the
/// whole table, whose `sum(v) group by g` equals the one kept from the changes.
async fn check_compacting(fx: &Fixture, seed: u64, commits: i64, cdc: bool, source: bool) {
    let last_level_only = fx.table.options().changelog_producer()
        == strata_format::options::ChangelogProducer::FullCompaction;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let compactor = Compactor::new(fx.table.clone(), "test-compactor").unwrap();
    let mut work = Workload::new(seed, cdc);
    let mut after_commit = Vec::new();
    for c in 1..=commits {
        let n = 1 + work.rng.below(12) as usize;
        let ops = work.ops(n);
        write_commit(&mut writer, &ops, c).await;
        after_commit.push(latest(&fx.table).await);
        match work.rng.below(8) {
            0 => {
                compactor.compact_table(true).await.unwrap();
            }
            1 => {
                compactor.compact_table(false).await.unwrap();
            }
            _ => {}
        }
    }
    let table = fx.reload().await;
    let last = latest(&table).await;
    let per_snapshot = changes_between(&table, 0, last).await;
    let mut replay = Replay::strict();
    let mut compact_changelogs = 0;
    for s in 1..=last {
        let snapshot = table.snapshot_manager().snapshot(s).await.unwrap();
        if let Some(changes) = per_snapshot.get(&s) {
            assert_eq!(
                snapshot.commit_kind,
                CommitKind::Compact,
                "seed {seed}: only compactions produce changes (snapshot {s})"
            );
            compact_changelogs += 1;
            replay.apply(changes);
        }
        assert_eq!(
            replay.rows,
            full_rows(&table, s).await,
            "seed {seed}: replay after snapshot {s}"
        );
        if after_commit.contains(&s) {
            assert!(
                covers_everything(&table, s, last_level_only).await,
                "seed {seed}: the writer's compaction left uncovered files at snapshot {s}"
            );
            let whole = table_at(&table, s).await;
            assert_eq!(replay.rows, whole, "seed {seed}: table at snapshot {s}");
            assert_eq!(replay.sums, sums(&whole), "seed {seed}: sums at {s}");
        }
    }
    assert!(
        compact_changelogs > commits / 2,
        "seed {seed}: {compact_changelogs} changelogs"
    );
    if source {
        assert_eq!(replay.rows, work.source, "seed {seed}: the source");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_changelog_replays_to_every_snapshot() {
    for (seed, cdc) in [(11, true), (12, false), (13, true)] {
        let buffer = if seed == 13 { "2 kb" } else { "64 mb" };
        let fx = fixture(&[
            ("changelog-producer", "lookup"),
            ("num-sorted-run.compaction-trigger", "3"),
            ("write-buffer-size", buffer),
        ])
        .await;
        check_compacting(&fx, seed, 25, cdc, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_compaction_changelog_replays_to_every_snapshot() {
    for (seed, cdc) in [(21, true), (22, false)] {
        let fx = fixture(&[
            ("changelog-producer", "full-compaction"),
            ("num-sorted-run.compaction-trigger", "3"),
        ])
        .await;
        check_compacting(&fx, seed, 25, cdc, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_changelogs_of_partial_update_and_aggregation_tables() {
    for producer in ["lookup", "full-compaction"] {
        // Upserts with null values keep the old value; -D removes the row.
        let fx = fixture(&[
            ("changelog-producer", producer),
            ("merge-engine", "partial-update"),
            ("partial-update.remove-record-on-delete", "true"),
        ])
        .await;
        check_compacting(&fx, 31, 20, false, false).await;
        // -U/-D subtract from the sum; the row stays.
        let fx = fixture(&[
            ("changelog-producer", producer),
            ("merge-engine", "aggregation"),
            ("fields.v.aggregate-function", "sum"),
        ])
        .await;
        check_compacting(&fx, 32, 20, true, false).await;
    }
}

/// The changes of the snapshots after `from`, sorted by key within each snapshot.
async fn changes_after(table: &Table, from: i64) -> Vec<(i64, Vec<Change>)> {
    let last = latest(table).await;
    changes_between(table, from, last)
        .await
        .into_iter()
        .map(|(s, mut c)| {
            c.sort_by_key(|c| (c.1, c.0.as_byte()));
            (s, c)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_deduplicate_drops_unchanged_updates() {
    let row = |g, v| (Some(g), Some(v));
    for producer in ["lookup", "full-compaction"] {
        for (dedup, ignore) in [("false", ""), ("true", ""), ("true", "v")] {
            // One bucket: the untouched key 3 is in the compacted bucket.
            let mut options = vec![
                ("bucket", "1"),
                ("changelog-producer", producer),
                ("changelog-producer.row-deduplicate", dedup),
            ];
            if !ignore.is_empty() {
                options.push(("changelog-producer.row-deduplicate-ignore-fields", ignore));
            }
            let fx = fixture(&options).await;
            let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
            // Key 3 is not written again: it never appears after the first commit.
            let first = [
                (RowKind::Insert, 1, row(1, 10)),
                (RowKind::Insert, 2, row(1, 5)),
                (RowKind::Insert, 3, row(2, 7)),
            ];
            write_commit(&mut writer, &first, 1).await;
            let after_first = latest(&fx.table).await;
            // Key 1 rewritten unchanged, key 2 with a new v only.
            let second = [
                (RowKind::Insert, 1, row(1, 10)),
                (RowKind::Insert, 2, row(1, 6)),
            ];
            write_commit(&mut writer, &second, 2).await;
            let table = fx.reload().await;
            let got: Vec<Change> = changes_after(&table, after_first)
                .await
                .into_iter()
                .flat_map(|(_, c)| c)
                .collect();
            let key2 = vec![
                (RowKind::UpdateBefore, 2, row(1, 5)),
                (RowKind::UpdateAfter, 2, row(1, 6)),
            ];
            let want = match (dedup, ignore) {
                ("false", _) => [
                    vec![
                        (RowKind::UpdateBefore, 1, row(1, 10)),
                        (RowKind::UpdateAfter, 1, row(1, 10)),
                    ],
                    key2,
                ]
                .concat(),
                (_, "") => key2,
                _ => vec![],
            };
            assert_eq!(
                got, want,
                "{producer}, row-deduplicate {dedup}, ignore '{ignore}'"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_wait_false_defers_the_changelog_to_the_next_commit() {
    let fx = fixture(&[("changelog-producer", "lookup"), ("lookup-wait", "false")]).await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let row = |v| (Some(1), Some(v));
    write_commit(&mut writer, &[(RowKind::Insert, 1, row(10))], 1).await;
    let table = fx.reload().await;
    assert_eq!(
        latest(&table).await,
        1,
        "no compaction right after the commit"
    );
    assert!(changes_after(&table, 0).await.is_empty());
    write_commit(&mut writer, &[(RowKind::Insert, 1, row(20))], 2).await;
    let table = fx.reload().await;
    let kinds = |s| {
        let table = table.clone();
        async move {
            let snapshot = table.snapshot_manager().snapshot(s).await.unwrap();
            snapshot.commit_kind
        }
    };
    // The second commit first compacts the first one's level 0: its changelog, then data.
    assert_eq!(latest(&table).await, 3);
    assert_eq!(kinds(2).await, CommitKind::Compact);
    assert_eq!(kinds(3).await, CommitKind::Append);
    assert_eq!(
        changes_after(&table, 0).await,
        vec![(2, vec![(RowKind::Insert, 1, row(10))])]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_compaction_changelog_is_paced_by_delta_commits_and_the_interval() {
    let row = |v| (Some(1), Some(v));
    let fx = fixture(&[
        ("bucket", "1"),
        ("changelog-producer", "full-compaction"),
        ("full-compaction.delta-commits", "3"),
    ])
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    write_commit(&mut writer, &[(RowKind::Insert, 1, row(10))], 1).await;
    write_commit(&mut writer, &[(RowKind::Insert, 1, row(20))], 2).await;
    let table = fx.reload().await;
    assert!(
        changes_after(&table, 0).await.is_empty(),
        "no full compaction yet"
    );
    write_commit(&mut writer, &[(RowKind::Insert, 2, row(5))], 3).await;
    let table = fx.reload().await;
    // The third commit's full compaction: both keys, each once, with their last values.
    let changes = changes_after(&table, 0).await;
    assert_eq!(
        changes,
        vec![(
            4,
            vec![(RowKind::Insert, 1, row(20)), (RowKind::Insert, 2, row(5))]
        )]
    );
    write_commit(&mut writer, &[(RowKind::Insert, 1, row(30))], 4).await;
    write_commit(&mut writer, &[(RowKind::Insert, 1, row(40))], 5).await;
    assert!(changes_after(&fx.reload().await, 4).await.is_empty());

    // changelog-producer.compaction-interval: a full compaction whenever that long has
    // passed since the last one, here at every commit, though delta-commits is far off.
    let fx = fixture(&[
        ("bucket", "1"),
        ("changelog-producer", "full-compaction"),
        ("full-compaction.delta-commits", "100"),
        ("changelog-producer.compaction-interval", "1 ms"),
    ])
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    for (c, v) in [(1, 10), (2, 20)] {
        write_commit(&mut writer, &[(RowKind::Insert, 1, row(v))], c).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let got: Vec<Vec<Change>> = changes_after(&fx.reload().await, 0)
        .await
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    assert_eq!(
        got,
        vec![
            vec![(RowKind::Insert, 1, row(10))],
            vec![
                (RowKind::UpdateBefore, 1, row(10)),
                (RowKind::UpdateAfter, 1, row(20))
            ]
        ]
    );
}

/// Compaction changelogs are not produced for deletion-vector tables yet: writers and
/// compactors refuse `lookup` with a clear error instead of a wrong changelog (Paimon's
/// table validation already refuses `full-compaction` with deletion vectors).
#[tokio::test]
async fn deletion_vector_tables_refuse_compaction_changelogs() {
    let fx = fixture(&[
        ("bucket", "1"),
        ("deletion-vectors.enabled", "true"),
        ("changelog-producer", "lookup"),
    ])
    .await;
    let err = Compactor::new(fx.table.clone(), "c")
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("deletion-vectors.enabled") && text.contains("'lookup'"),
        "{text}"
    );
    let err = TableWriter::builder(fx.table.clone())
        .build()
        .err()
        .expect("refused");
    assert!(err.to_string().contains("compaction changelogs"), "{err}");
}
