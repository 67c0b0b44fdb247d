//! Planner rules without IO: runs in, unit out.

use std::time::Duration;

use super::*;
use crate::data::binary_row::BinaryRow;
use crate::data::Datum;
use crate::manifest::{DataFileMeta, SimpleStats};
use crate::types::DataType;

fn key_types() -> Vec<DataType> {
    vec![DataType::parse("BIGINT NOT NULL").unwrap()]
}

fn key(v: i64) -> Vec<u8> {
    BinaryRow::encode_with_arity(&[Some(Datum::BigInt(v))], &key_types()).unwrap()
}

/// A file of `size` bytes at `level` holding keys `lo..=hi` written at sequence `seq`.
fn file(name: &str, level: i32, size: i64, keys: (i64, i64), seq: i64) -> DataFileMeta {
    DataFileMeta {
        file_name: name.to_string(),
        file_size: size,
        row_count: 1,
        min_key: key(keys.0),
        max_key: key(keys.1),
        key_stats: SimpleStats::empty(),
        value_stats: SimpleStats::empty(),
        min_sequence_number: seq,
        max_sequence_number: seq,
        schema_id: 0,
        level,
        extra_files: vec![],
        creation_time: None,
        delete_row_count: Some(0),
        embedded_index: None,
        file_source: None,
        value_stats_cols: None,
        external_path: None,
        first_row_id: None,
        write_cols: None,
        write_cols_sequences: None,
    }
}

fn options() -> PlanOptions {
    PlanOptions::from_options(&CoreOptions::from_map([("bucket", "1")]).unwrap()).unwrap()
}

fn run(level: i32, sizes: &[i64]) -> LevelRun {
    LevelRun {
        level,
        files: sizes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                file(
                    &format!("l{level}-{i}"),
                    level,
                    *s,
                    (i as i64 * 10, i as i64 * 10 + 5),
                    0,
                )
            })
            .collect(),
    }
}

fn auto() -> PlanContext {
    PlanContext::default()
}

fn levels_of(unit: &CompactUnit) -> Vec<i32> {
    unit.files.iter().map(|f| f.level).collect()
}

#[test]
fn defaults_follow_paimon() {
    let o = options();
    assert_eq!(o.compaction_trigger, 5);
    assert_eq!(o.stop_trigger, 8);
    assert_eq!(o.num_levels, 6);
    assert_eq!(o.max_level(), 5);
    assert_eq!(o.max_size_amplification_percent, 200);
    assert_eq!(o.size_ratio, 1);
    assert_eq!(o.compaction_file_size, (128 << 20) / 10 * 7);
    assert_eq!(o.optimization_interval, None);
    assert_eq!(o.full_compaction_delta_commits, None);
    assert!(o.stalls(9) && !o.stalls(8));
    assert!(o.needs_compaction(5) && !o.needs_compaction(4));
}

#[test]
fn options_are_checked_with_clear_errors() {
    let bad = |k: &str, v: &str| {
        let o = CoreOptions::from_map([("bucket", "1"), (k, v)]).unwrap();
        PlanOptions::from_options(&o).unwrap_err().to_string()
    };
    assert!(bad("num-levels", "1").contains("'num-levels' must be at least 2"));
    assert!(bad("num-sorted-run.compaction-trigger", "0").contains("compaction-trigger"));
    assert!(bad("compaction.size-ratio", "-1").contains("must not be negative"));
    assert!(bad("full-compaction.delta-commits", "0").contains("delta-commits"));
    let o = CoreOptions::from_map([
        ("bucket", "1"),
        ("num-sorted-run.compaction-trigger", "3"),
        ("compaction.optimization-interval", "2 min"),
        ("full-compaction.delta-commits", "4"),
        ("target-file-size", "10 mb"),
    ])
    .unwrap();
    let p = PlanOptions::from_options(&o).unwrap();
    assert_eq!(
        (p.compaction_trigger, p.stop_trigger, p.num_levels),
        (3, 6, 4)
    );
    assert_eq!(p.optimization_interval, Some(Duration::from_secs(120)));
    assert_eq!(p.full_compaction_delta_commits, Some(4));
    assert_eq!(p.compaction_file_size, (10 << 20) / 10 * 7);
}

#[test]
fn level_runs_put_newest_level0_first_then_levels_ascending() {
    let files = vec![
        file("c", 3, 10, (0, 9), 1),
        file("old0", 0, 10, (0, 9), 5),
        file("a", 1, 10, (0, 4), 2),
        file("new0", 0, 10, (0, 9), 9),
        file("b", 1, 10, (5, 9), 3),
    ];
    let runs = level_runs(&files);
    let shape: Vec<(i32, Vec<&str>)> = runs
        .iter()
        .map(|r| {
            (
                r.level,
                r.files.iter().map(|f| f.file_name.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (0, vec!["new0"]),
            (0, vec!["old0"]),
            (1, vec!["a", "b"]),
            (3, vec!["c"])
        ]
    );
    assert_eq!(sorted_run_count(&files), 4);
    assert_eq!(runs[2].size(), 20);
}

#[test]
fn below_the_trigger_nothing_is_picked() {
    let runs: Vec<LevelRun> = (0..4).map(|_| run(0, &[10])).collect();
    assert_eq!(pick(&runs, &options(), &auto()), None);
}

#[test]
fn size_amplification_compacts_everything_into_the_last_level() {
    // 4 small newer runs (40) against an old run of 10: amplification 400% > 200%.
    let mut runs: Vec<LevelRun> = (0..4).map(|_| run(0, &[10])).collect();
    runs.push(run(5, &[10]));
    let unit = pick(&runs, &options(), &auto()).unwrap();
    assert_eq!(unit.reason, Reason::SizeAmplification);
    assert_eq!(unit.output_level, 5);
    assert_eq!(unit.runs, 5);
    assert!(unit.drop_deletes);
}

#[test]
fn size_ratio_takes_similar_runs_and_outputs_below_the_next_run() {
    // Sizes newest first: 10, 10, 20, 40 then a big old run at level 4 (no amplification).
    let runs = vec![
        run(0, &[10]),
        run(0, &[10]),
        run(0, &[20]),
        run(2, &[40]),
        run(4, &[10_000]),
    ];
    let unit = pick(&runs, &options(), &auto()).unwrap();
    assert_eq!(unit.reason, Reason::SizeRatio);
    assert_eq!(levels_of(&unit), vec![0, 0, 0, 2]);
    assert_eq!(unit.output_level, 3, "one below the first run left out");
    assert!(!unit.drop_deletes, "older data is left at level 4");
}

#[test]
fn size_ratio_stops_at_a_run_larger_than_the_candidates() {
    let runs = vec![
        run(0, &[10]),
        run(0, &[10]),
        run(3, &[100]),
        run(4, &[1_000]),
        run(5, &[100_000]),
    ];
    let unit = pick(&runs, &options(), &auto()).unwrap();
    assert_eq!(unit.reason, Reason::SizeRatio);
    assert_eq!(levels_of(&unit), vec![0, 0]);
    assert_eq!(unit.output_level, 2);
}

#[test]
fn output_never_goes_to_level_zero() {
    // The next run left out is level 0 (or 1): the unit grows to the first non-zero level.
    let runs = vec![
        run(0, &[10]),
        run(0, &[10]),
        run(0, &[1_000]),
        run(1, &[1_000]),
        run(5, &[100_000]),
    ];
    let unit = pick(&runs, &options(), &auto()).unwrap();
    assert_eq!(levels_of(&unit), vec![0, 0, 0, 1]);
    assert_eq!(unit.output_level, 1);
    assert!(!unit.drop_deletes);
}

#[test]
fn extending_over_every_run_outputs_the_last_level() {
    let runs = vec![
        run(0, &[10]),
        run(0, &[10]),
        run(0, &[1_000]),
        run(0, &[1_000]),
        run(0, &[5_000]),
    ];
    let unit = pick(&runs, &options(), &auto()).unwrap();
    assert_eq!(unit.reason, Reason::SizeRatio);
    assert_eq!(unit.runs, 5);
    assert_eq!(unit.output_level, 5);
    assert!(unit.drop_deletes);
}

#[test]
fn run_count_brings_the_runs_down_to_the_trigger() {
    // Growing sizes defeat the size-ratio rule; 7 runs > trigger 5 forces 3 runs together.
    let runs = vec![
        run(0, &[1]),
        run(0, &[10]),
        run(0, &[100]),
        run(1, &[1_000]),
        run(2, &[10_000]),
        run(3, &[100_000]),
        run(5, &[1_000_000]),
    ];
    let unit = pick(&runs, &options(), &auto()).unwrap();
    assert_eq!(unit.reason, Reason::RunCount);
    assert_eq!(levels_of(&unit), vec![0, 0, 0, 1], "extended past level 0");
    assert_eq!(unit.output_level, 1);
    let left = runs.len() - unit.runs + 1;
    assert!(left <= options().compaction_trigger);
}

#[test]
fn a_bucket_at_the_stop_trigger_always_gets_a_unit() {
    // Stop trigger = compaction trigger = 3: three growing runs defeat every other rule.
    let o = PlanOptions {
        compaction_trigger: 3,
        stop_trigger: 3,
        ..options()
    };
    let runs = vec![run(0, &[1]), run(2, &[100]), run(4, &[10_000])];
    let unit = pick(&runs, &o, &auto()).unwrap();
    assert_eq!(unit.reason, Reason::RunCount);
    assert_eq!(levels_of(&unit), vec![0, 2]);
    assert_eq!(unit.output_level, 3);
    // Below the stop trigger the same shape is left alone.
    let o = PlanOptions {
        stop_trigger: 4,
        ..o
    };
    assert_eq!(pick(&runs, &o, &auto()), None);
}

#[test]
fn full_compaction_takes_everything_unless_one_run_is_at_the_last_level() {
    let full = PlanContext {
        full_requested: true,
        ..PlanContext::default()
    };
    let o = options();
    assert_eq!(pick(&[], &o, &full), None);
    assert_eq!(pick(&[run(5, &[10, 10])], &o, &full), None);
    let unit = pick(&[run(2, &[10])], &o, &full).unwrap();
    assert_eq!((unit.output_level, unit.reason), (5, Reason::Requested));
    let unit = pick(&[run(0, &[10]), run(5, &[10])], &o, &full).unwrap();
    assert_eq!(unit.runs, 2);
    assert!(unit.drop_deletes);
}

#[test]
fn a_lone_file_at_its_output_level_is_not_a_unit() {
    let one_level = PlanOptions {
        compaction_trigger: 1,
        ..options()
    };
    assert_eq!(pick(&[run(5, &[10])], &one_level, &auto()), None);
}

#[test]
fn delta_commits_and_interval_trigger_full_compaction() {
    let o = PlanOptions {
        full_compaction_delta_commits: Some(3),
        optimization_interval: Some(Duration::from_secs(60)),
        ..options()
    };
    let runs = vec![run(0, &[10]), run(5, &[1_000])];
    let ctx = |commits: u64, last: Option<i64>, now: i64| PlanContext {
        commits_since_full: commits,
        last_full_millis: last,
        now_millis: now,
        ..PlanContext::default()
    };
    assert_eq!(
        pick(&runs, &o, &ctx(3, Some(0), 1_000)).map(|u| u.reason),
        Some(Reason::DeltaCommits)
    );
    assert_eq!(pick(&runs, &o, &ctx(2, Some(0), 60_000)), None);
    assert_eq!(
        pick(&runs, &o, &ctx(2, Some(0), 60_001)).map(|u| u.reason),
        Some(Reason::OptimizationInterval)
    );
    assert_eq!(
        pick(&runs, &o, &ctx(0, None, 5)).map(|u| u.reason),
        Some(Reason::OptimizationInterval),
        "never compacted: due at once"
    );
    // Nothing to do when the bucket is one run at the last level already.
    assert_eq!(pick(&runs[1..], &o, &ctx(9, None, 5)), None);
}

#[test]
fn due_functions() {
    assert!(!delta_commits_due(None, 100));
    assert!(!delta_commits_due(Some(5), 4));
    assert!(delta_commits_due(Some(5), 5));
    let min = Some(Duration::from_secs(60));
    assert!(!optimization_due(None, None, 0));
    assert!(optimization_due(min, None, 0));
    assert!(!optimization_due(min, Some(1_000), 61_000));
    assert!(optimization_due(min, Some(1_000), 61_001));
    assert!(
        !optimization_due(min, Some(10_000), 0),
        "a clock going back is not due"
    );
}

fn unit_of(files: Vec<DataFileMeta>, output_level: i32) -> CompactUnit {
    CompactUnit {
        output_level,
        runs: files.len(),
        files,
        drop_deletes: output_level == 5,
        reason: Reason::SizeRatio,
    }
}

fn small_files() -> PlanOptions {
    PlanOptions {
        compaction_file_size: 100,
        ..options()
    }
}

#[test]
fn steps_rewrite_overlapping_sections_and_upgrade_large_lone_files() {
    let files = vec![
        file("a", 0, 50, (0, 10), 9),
        file("b", 0, 50, (5, 20), 8),
        file("big", 0, 500, (30, 40), 7),
        file("c", 0, 50, (50, 60), 6),
        file("d", 0, 50, (55, 70), 5),
    ];
    let steps = steps(&unit_of(files, 3), &key_types(), &small_files());
    let names = |s: &Step| match s {
        Step::Rewrite(f) => format!(
            "rewrite {}",
            f.iter()
                .map(|f| f.file_name.as_str())
                .collect::<Vec<_>>()
                .join("+")
        ),
        Step::Upgrade(f) => format!("upgrade {}", f.file_name),
    };
    assert_eq!(
        steps.iter().map(names).collect::<Vec<_>>(),
        vec!["rewrite a+b", "upgrade big", "rewrite c+d"]
    );
}

#[test]
fn small_lone_files_are_rewritten_together_and_one_alone_is_upgraded() {
    let files = vec![file("a", 0, 10, (0, 1), 9), file("b", 1, 10, (5, 6), 1)];
    let s = steps(&unit_of(files.clone(), 3), &key_types(), &small_files());
    assert_eq!(s, vec![Step::Rewrite(files.clone())]);
    let s = steps(
        &unit_of(files[..1].to_vec(), 3),
        &key_types(),
        &small_files(),
    );
    assert_eq!(s, vec![Step::Upgrade(Box::new(files[0].clone()))]);
}

#[test]
fn files_with_retractions_are_rewritten_into_the_last_level_and_others_stay() {
    let mut with_deletes = file("del", 0, 500, (0, 9), 9);
    with_deletes.delete_row_count = Some(3);
    let mut unknown = file("unknown", 0, 500, (20, 29), 8);
    unknown.delete_row_count = None;
    let clean = file("clean", 0, 500, (40, 49), 7);
    let stays = file("stays", 5, 500, (60, 69), 1);
    let files = vec![with_deletes.clone(), unknown.clone(), clean.clone(), stays];
    let s = steps(&unit_of(files.clone(), 5), &key_types(), &small_files());
    assert_eq!(
        s,
        vec![
            Step::Rewrite(vec![with_deletes.clone()]),
            Step::Rewrite(vec![unknown]),
            Step::Upgrade(Box::new(clean)),
        ]
    );
    // Below the last level retractions may move up as they are.
    let s = steps(
        &unit_of(files[..1].to_vec(), 3),
        &key_types(),
        &small_files(),
    );
    assert_eq!(s, vec![Step::Upgrade(Box::new(with_deletes))]);
}

#[test]
fn undecodable_keys_rewrite_everything() {
    let mut bad = file("bad", 0, 500, (0, 9), 9);
    bad.min_key = vec![1, 2];
    let files = vec![bad, file("ok", 0, 500, (20, 29), 1)];
    let s = steps(&unit_of(files.clone(), 3), &key_types(), &small_files());
    assert_eq!(s, vec![Step::Rewrite(files)]);
}

#[test]
fn touching_key_ranges_overlap() {
    let files = vec![
        file("a", 0, 500, (0, 10), 2),
        file("b", 0, 500, (10, 20), 1),
    ];
    let s = steps(&unit_of(files.clone(), 3), &key_types(), &small_files());
    assert_eq!(s, vec![Step::Rewrite(files)]);
}

#[test]
fn lookup_forces_level0_up_and_full_compaction_defaults_to_every_commit() {
    let lookup = PlanOptions::from_options(
        &CoreOptions::from_map([("bucket", "1"), ("changelog-producer", "lookup")]).unwrap(),
    )
    .unwrap();
    assert!(lookup.force_up_level0);
    // One level-0 run is below the trigger, yet goes up: into the level under the next run,
    // or with a level-1 run into level 1.
    let unit = pick(&[run(0, &[10]), run(5, &[1_000])], &lookup, &auto()).unwrap();
    assert_eq!(
        (unit.reason, unit.output_level, unit.runs),
        (Reason::Level0, 4, 1)
    );
    let runs = [run(0, &[10]), run(1, &[1_000]), run(5, &[100_000])];
    let unit = pick(&runs, &lookup, &auto()).unwrap();
    assert_eq!((unit.output_level, unit.runs), (1, 2));
    assert_eq!(
        pick(&[run(3, &[10]), run(5, &[1_000])], &lookup, &auto()),
        None
    );
    assert!(!options().force_up_level0);
    assert_eq!(
        pick(&[run(0, &[10]), run(5, &[1_000])], &options(), &auto()),
        None
    );

    let full = |extra: &[(&str, &str)]| {
        let mut map = vec![("bucket", "1"), ("changelog-producer", "full-compaction")];
        map.extend_from_slice(extra);
        PlanOptions::from_options(&CoreOptions::from_map(map).unwrap()).unwrap()
    };
    assert_eq!(full(&[]).full_compaction_delta_commits, Some(1));
    assert_eq!(
        full(&[("full-compaction.delta-commits", "4")]).full_compaction_delta_commits,
        Some(4)
    );
    let o = full(&[
        ("changelog-producer.compaction-interval", "2 min"),
        ("compaction.optimization-interval", "1 h"),
    ]);
    assert_eq!(o.optimization_interval, Some(Duration::from_secs(120)));
}

#[test]
fn lookup_tables_move_level0_up_below_the_trigger() {
    let lookup = |pairs: &[(&str, &str)]| {
        let mut all = vec![("bucket", "1")];
        all.extend_from_slice(pairs);
        PlanOptions::from_options(&CoreOptions::from_map(all).unwrap()).unwrap()
    };
    assert!(!options().force_up_level0);
    for o in [
        lookup(&[("deletion-vectors.enabled", "true")]),
        lookup(&[("merge-engine", "first-row")]),
        lookup(&[("changelog-producer", "lookup")]),
    ] {
        assert!(o.force_up_level0);
        // One level-0 file over a large last level: into the level just above it.
        let runs = vec![run(0, &[10]), run(5, &[10_000])];
        assert_eq!(pick(&runs, &options(), &auto()), None);
        let unit = pick(&runs, &o, &auto()).unwrap();
        assert_eq!(unit.reason, Reason::Level0);
        assert_eq!((levels_of(&unit), unit.output_level), (vec![0], 4));
        // Level 0 alone goes to the last level; the size-ratio rule pulls small runs in.
        let unit = pick(&runs[..1], &o, &auto()).unwrap();
        assert_eq!(unit.output_level, 5);
        let runs = vec![
            run(0, &[10]),
            run(0, &[10]),
            run(3, &[15]),
            run(5, &[10_000]),
        ];
        let unit = pick(&runs, &o, &auto()).unwrap();
        assert_eq!((levels_of(&unit), unit.output_level), (vec![0, 0, 3], 4));
        // Nothing in level 0: nothing to do below the trigger.
        assert_eq!(pick(&runs[2..], &o, &auto()), None);
    }
}

#[test]
fn lookup_tables_rewrite_level0_files_instead_of_upgrading_them() {
    let o = PlanOptions {
        force_up_level0: true,
        ..small_files()
    };
    let files = vec![
        file("big0", 0, 500, (0, 10), 9),
        file("small0", 0, 10, (20, 30), 8),
        file("big1", 1, 500, (40, 50), 1),
    ];
    let s = steps(&unit_of(files.clone(), 3), &key_types(), &o);
    assert_eq!(
        s,
        vec![
            Step::Rewrite(files[..2].to_vec()),
            Step::Upgrade(Box::new(files[2].clone())),
        ]
    );
}
