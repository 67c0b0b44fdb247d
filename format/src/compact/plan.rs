//! Choosing what to compact in one bucket: pure functions from the bucket's sorted runs and
//! the table's options to a [`CompactUnit`], with no IO, so every rule is unit-tested.
//!
//! The rules are universal compaction as Paimon applies it (after RocksDB's universal
//! style). Runs are ordered newest first: every level-0 file is a run of its own (newest =
//! largest `max_sequence_number` first), then one run per non-empty level 1, 2, …; the last
//! run holds the oldest data. Given the runs, in this order of precedence:
//!
//! 1. **Size amplification.** With at least `num-sorted-run.compaction-trigger` runs, when
//!    the runs other than the last add up to more than
//!    `compaction.max-size-amplification-percent` of the last one, everything is compacted
//!    into the last level.
//! 2. **Size ratio.** With at least the trigger's runs, starting from the newest run, the next
//!    run joins while it is no larger than the candidates so far plus
//!    `compaction.size-ratio` percent; two or more candidates make a unit.
//! 3. **Run count.** With more runs than the trigger, the newest `runs − trigger + 1` runs are
//!    taken (and more by the size-ratio rule), so the count drops to the trigger. A bucket at
//!    `num-sorted-run.stop-trigger` always gets a unit (the newest two runs at least), even
//!    when the stop trigger equals the compaction trigger, so stalled writers can go on.
//!
//! A unit always takes a prefix of the runs (the newest data). Its output level is the level
//! of the first run left out minus one, or the last level (`num-levels − 1`) when nothing is
//! left out; output never goes to level 0: a unit that would is extended over the remaining
//! level-0 runs up to the first non-zero level, which becomes the output level. Retractions
//! (`-U`/`-D`) may be dropped only when nothing older is left outside the unit, which for a
//! prefix means the unit holds every run.
//!
//! Full compaction (requested, every `full-compaction.delta-commits` commits, or when
//! `compaction.optimization-interval` has passed since the last one) takes every run into
//! the last level, unless the bucket is already one run there.
//!
//! **Level 0 up.** Tables whose batch reads skip level 0 (deletion vectors, `first-row`)
//! or whose changelog comes from lookups move level 0 up whenever it holds files, even
//! below the trigger (Paimon's `ForceUpLevel0Compaction`): when the rules above pick
//! nothing, every level-0 run is taken (extended by the size-ratio rule) into the level
//! below the first run left out. Such tables also never upgrade a level-0 file without
//! rewriting it: its keys must be looked up in the higher levels ([`super::lookup`]).
//!
//! Within a unit, [`steps`] decides which files are rewritten and which only change level:
//! files are grouped into sections of overlapping key ranges; a file alone in its section
//! and at least `compaction file size` (70% of `target-file-size`) large is moved to the
//! output level without rewriting ("upgraded"), unless it holds retractions and the output
//! is the last level, where retractions must go. Everything else is merged, in key order.

use std::cmp::Ordering;
use std::time::Duration;

use crate::data::binary_row::BinaryRow;
use crate::data::Datum;
use crate::error::Result;
use crate::invalid;
use crate::manifest::DataFileMeta;
use crate::options::{ChangelogProducer, CoreOptions, MergeEngine};
use crate::read::runs::compare_rows;
use crate::types::DataType;

/// One sorted run of a bucket: a single level-0 file, or all files of one level ≥ 1.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelRun {
    pub level: i32,
    pub files: Vec<DataFileMeta>,
}

impl LevelRun {
    /// Bytes on storage.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.file_size.max(0) as u64).sum()
    }
}

/// The runs of a bucket's live files, newest first (see the module docs).
pub fn level_runs(files: &[DataFileMeta]) -> Vec<LevelRun> {
    let mut level0: Vec<&DataFileMeta> = files.iter().filter(|f| f.level <= 0).collect();
    level0.sort_by(|a, b| {
        b.max_sequence_number
            .cmp(&a.max_sequence_number)
            .then(b.min_sequence_number.cmp(&a.min_sequence_number))
            .then(a.file_name.cmp(&b.file_name))
    });
    let mut runs: Vec<LevelRun> = level0
        .into_iter()
        .map(|f| LevelRun {
            level: 0,
            files: vec![f.clone()],
        })
        .collect();
    let mut higher: Vec<&DataFileMeta> = files.iter().filter(|f| f.level > 0).collect();
    higher.sort_by_key(|f| f.level);
    for f in higher {
        match runs.last_mut() {
            Some(run) if run.level == f.level => run.files.push(f.clone()),
            _ => runs.push(LevelRun {
                level: f.level,
                files: vec![f.clone()],
            }),
        }
    }
    runs
}

/// The number of sorted runs among `files`: each level-0 file, plus each non-empty level.
pub fn sorted_run_count<'a>(files: impl IntoIterator<Item = &'a DataFileMeta>) -> usize {
    let mut level0 = 0;
    let mut levels: Vec<i32> = Vec::new();
    for f in files {
        if f.level <= 0 {
            level0 += 1;
        } else if !levels.contains(&f.level) {
            levels.push(f.level);
        }
    }
    level0 + levels.len()
}

/// The options planning reads, resolved and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// `num-sorted-run.compaction-trigger`.
    pub compaction_trigger: usize,
    /// `num-sorted-run.stop-trigger`: more runs than this stall writers.
    pub stop_trigger: usize,
    /// `num-levels`; the last level is `num_levels - 1`.
    pub num_levels: i32,
    /// `compaction.max-size-amplification-percent`.
    pub max_size_amplification_percent: u64,
    /// `compaction.size-ratio` (percent).
    pub size_ratio: u64,
    /// Files at least this large are moved up a level rather than rewritten (70% of
    /// `target-file-size`, as Paimon).
    pub compaction_file_size: u64,
    /// `compaction.optimization-interval`.
    pub optimization_interval: Option<Duration>,
    /// `full-compaction.delta-commits` (1 when unset with `changelog-producer` =
    /// `full-compaction`, so each commit's changes appear with it).
    pub full_compaction_delta_commits: Option<u64>,
    /// Level-0 files are compacted up whenever present and always rewritten (see the
    /// module docs): deletion vectors, `first-row`, or `changelog-producer` = `lookup`.
    pub force_up_level0: bool,
}

impl PlanOptions {
    pub fn from_options(options: &CoreOptions) -> Result<PlanOptions> {
        let positive = |key: &str, v: i32| {
            usize::try_from(v)
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| invalid!("option '{key}' must be at least 1, got {v}"))
        };
        let compaction_trigger = positive(
            "num-sorted-run.compaction-trigger",
            options.num_sorted_run_compaction_trigger(),
        )?;
        let stop_trigger = positive(
            "num-sorted-run.stop-trigger",
            options.num_sorted_run_stop_trigger(),
        )?;
        let num_levels = options.num_levels();
        if num_levels < 2 {
            return Err(invalid!(
                "option 'num-levels' must be at least 2 (level 0 and one level to compact \
                 into), got {num_levels}"
            ));
        }
        let non_negative = |key: &str, v: i32| {
            u64::try_from(v).map_err(|_| invalid!("option '{key}' must not be negative, got {v}"))
        };
        let full_producer = options.changelog_producer() == ChangelogProducer::FullCompaction;
        let delta_commits = match options.full_compaction_delta_commits() {
            None if full_producer => Some(1),
            None => None,
            Some(n) => Some(u64::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                invalid!("option 'full-compaction.delta-commits' must be at least 1, got {n}")
            })?),
        };
        Ok(PlanOptions {
            compaction_trigger,
            stop_trigger,
            num_levels,
            max_size_amplification_percent: non_negative(
                "compaction.max-size-amplification-percent",
                options.compaction_max_size_amplification_percent(),
            )?,
            size_ratio: non_negative("compaction.size-ratio", options.compaction_size_ratio())?,
            compaction_file_size: options.target_file_size(true) / 10 * 7,
            optimization_interval: shortest(
                options.compaction_optimization_interval(),
                options
                    .changelog_producer_compaction_interval()
                    .filter(|d| full_producer && !d.is_zero()),
            ),
            full_compaction_delta_commits: delta_commits,
            force_up_level0: forces_up_level0(options),
        })
    }

    pub fn max_level(&self) -> i32 {
        self.num_levels - 1
    }

    /// Whether a bucket with this many runs has reached the compaction trigger.
    pub fn needs_compaction(&self, runs: usize) -> bool {
        runs >= self.compaction_trigger
    }

    /// Whether a bucket with this many runs must not take more before it is compacted.
    pub fn stalls(&self, runs: usize) -> bool {
        runs > self.stop_trigger
    }
}

/// Whether a table's level 0 must go up at every chance: its batch reads skip level 0
/// (deletion vectors, `first-row`, as Paimon's `batchScanSkipLevel0`) or its changelog is
/// produced by lookups. Paimon's `needLookup` tables, with `lookup-compact` = `radical`.
pub fn forces_up_level0(options: &CoreOptions) -> bool {
    options.deletion_vectors_enabled()
        || options.merge_engine() == MergeEngine::FirstRow
        || options.changelog_producer() == ChangelogProducer::Lookup
}

/// Why a unit was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A full compaction was asked for (`strata compact --full`, a forced compaction).
    Requested,
    /// `full-compaction.delta-commits` commits since the last full compaction.
    DeltaCommits,
    /// `compaction.optimization-interval` passed since the last full compaction.
    OptimizationInterval,
    SizeAmplification,
    SizeRatio,
    RunCount,
    /// Level 0 moved up on a table that forces it (see the module docs).
    Level0,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Requested => "requested",
            Reason::DeltaCommits => "delta-commits",
            Reason::OptimizationInterval => "optimization-interval",
            Reason::SizeAmplification => "size-amplification",
            Reason::SizeRatio => "size-ratio",
            Reason::RunCount => "run-count",
            Reason::Level0 => "level0",
        }
    }

    /// Whether the unit takes every run into the last level.
    pub fn is_full(self) -> bool {
        matches!(
            self,
            Reason::Requested
                | Reason::DeltaCommits
                | Reason::OptimizationInterval
                | Reason::SizeAmplification
        )
    }
}

/// What to compact: a prefix of the runs, merged into `output_level`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactUnit {
    pub output_level: i32,
    /// The input files, newest run first.
    pub files: Vec<DataFileMeta>,
    /// How many runs the files come from.
    pub runs: usize,
    /// Retractions may be dropped: no older data is left outside the unit.
    pub drop_deletes: bool,
    pub reason: Reason,
}

/// What the caller knows beyond the runs: whether a full compaction is asked for, and the
/// inputs of the time- and commit-based full compaction rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanContext {
    pub full_requested: bool,
    /// Now, from the caller's clock (epoch millis).
    pub now_millis: i64,
    /// When this bucket was last fully compacted, if known.
    pub last_full_millis: Option<i64>,
    /// Commits that added files to this bucket since its last full compaction.
    pub commits_since_full: u64,
}

/// Picks the unit to compact next, or `None` when the bucket needs nothing.
pub fn pick(
    runs: &[LevelRun],
    options: &PlanOptions,
    context: &PlanContext,
) -> Option<CompactUnit> {
    let full_reason = if context.full_requested {
        Some(Reason::Requested)
    } else if delta_commits_due(
        options.full_compaction_delta_commits,
        context.commits_since_full,
    ) {
        Some(Reason::DeltaCommits)
    } else if optimization_due(
        options.optimization_interval,
        context.last_full_millis,
        context.now_millis,
    ) {
        Some(Reason::OptimizationInterval)
    } else {
        None
    };
    if let Some(reason) = full_reason {
        if let Some(unit) = pick_full(runs, options, reason) {
            return Some(unit);
        }
        if reason == Reason::Requested {
            return None;
        }
    }
    pick_universal(runs, options).or_else(|| {
        if options.force_up_level0 {
            pick_level0(runs, options)
        } else {
            None
        }
    })
}

/// Every level-0 run (and more by the size-ratio rule) into the level below the first run
/// left out; `None` without level-0 files.
pub fn pick_level0(runs: &[LevelRun], options: &PlanOptions) -> Option<CompactUnit> {
    let count = runs.iter().take_while(|r| r.level == 0).count();
    if count == 0 {
        return None;
    }
    let mut size: u128 = runs.iter().take(count).map(|r| u128::from(r.size())).sum();
    let mut count = count;
    for next in runs.iter().skip(count) {
        let next_size = u128::from(next.size());
        if size * (100 + u128::from(options.size_ratio)) < next_size * 100 {
            break;
        }
        size += next_size;
        count += 1;
    }
    Some(output_unit(runs, count, options, Reason::Level0))
}

/// Every run into the last level; `None` when there is nothing or one run there already.
pub fn pick_full(runs: &[LevelRun], options: &PlanOptions, reason: Reason) -> Option<CompactUnit> {
    match runs {
        [] => None,
        [only] if only.level == options.max_level() => None,
        _ => Some(unit(runs, runs.len(), options.max_level(), reason)),
    }
}

/// The universal rules alone (size amplification, size ratio, run count).
pub fn pick_universal(runs: &[LevelRun], options: &PlanOptions) -> Option<CompactUnit> {
    if runs.len() < options.compaction_trigger {
        return None;
    }
    let picked = pick_size_amplification(runs, options)
        .or_else(|| pick_size_ratio(runs, options, 1, Reason::SizeRatio))
        .or_else(|| {
            (runs.len() > options.compaction_trigger).then(|| {
                let count = runs.len() - options.compaction_trigger + 1;
                pick_size_ratio(runs, options, count, Reason::RunCount)
            })?
        })
        .or_else(|| {
            (runs.len() >= options.stop_trigger).then(|| {
                let count = (runs.len() + 2).saturating_sub(options.stop_trigger).max(2);
                pick_size_ratio(runs, options, count, Reason::RunCount)
            })?
        })?;
    // A lone file already at its output level is not worth a compaction.
    match picked.files.as_slice() {
        [] => None,
        [only] if only.level == picked.output_level => None,
        _ => Some(picked),
    }
}

fn pick_size_amplification(runs: &[LevelRun], options: &PlanOptions) -> Option<CompactUnit> {
    let (last, newer) = runs.split_last()?;
    let newer: u128 = newer.iter().map(|r| u128::from(r.size())).sum();
    let last = u128::from(last.size());
    (newer * 100 > u128::from(options.max_size_amplification_percent) * last).then(|| {
        unit(
            runs,
            runs.len(),
            options.max_level(),
            Reason::SizeAmplification,
        )
    })
}

/// Takes `count` runs, then more while each next run is at most the candidates' size plus
/// `size-ratio` percent; a unit needs two runs or more.
fn pick_size_ratio(
    runs: &[LevelRun],
    options: &PlanOptions,
    mut count: usize,
    reason: Reason,
) -> Option<CompactUnit> {
    let mut size: u128 = runs.iter().take(count).map(|r| u128::from(r.size())).sum();
    for next in runs.iter().skip(count) {
        let next_size = u128::from(next.size());
        if size * (100 + u128::from(options.size_ratio)) < next_size * 100 {
            break;
        }
        size += next_size;
        count += 1;
    }
    (count > 1).then(|| output_unit(runs, count, options, reason))
}

/// The unit of the newest `count` runs, with the output level rules of the module docs.
fn output_unit(
    runs: &[LevelRun],
    mut count: usize,
    options: &PlanOptions,
    reason: Reason,
) -> CompactUnit {
    let mut output = match runs.get(count) {
        None => options.max_level(),
        Some(next) => (next.level - 1).max(0),
    };
    if output == 0 {
        while let Some(next) = runs.get(count) {
            count += 1;
            if next.level != 0 {
                output = next.level;
                break;
            }
        }
    }
    if count >= runs.len() {
        output = options.max_level();
    }
    unit(runs, count, output, reason)
}

fn unit(runs: &[LevelRun], count: usize, output_level: i32, reason: Reason) -> CompactUnit {
    let taken = &runs[..count.min(runs.len())];
    let highest = runs.iter().map(|r| r.level).max().unwrap_or(0);
    CompactUnit {
        output_level,
        files: taken.iter().flat_map(|r| r.files.iter().cloned()).collect(),
        runs: taken.len(),
        drop_deletes: output_level > 0 && output_level >= highest && taken.len() == runs.len(),
        reason,
    }
}

/// `full-compaction.delta-commits`: due once that many commits touched the bucket.
pub fn delta_commits_due(every: Option<u64>, commits_since_full: u64) -> bool {
    every.is_some_and(|n| commits_since_full >= n)
}

/// `compaction.optimization-interval`: due when the interval has passed since the last full
/// compaction, or when none is known.
pub fn optimization_due(
    interval: Option<Duration>,
    last_full_millis: Option<i64>,
    now_millis: i64,
) -> bool {
    let Some(interval) = interval else {
        return false;
    };
    match last_full_millis {
        None => true,
        Some(last) => {
            let interval = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
            now_millis.saturating_sub(last) > interval
        }
    }
}

/// One piece of work inside a unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Merge these files into new files at the output level.
    Rewrite(Vec<DataFileMeta>),
    /// Move this file to the output level as it is.
    Upgrade(Box<DataFileMeta>),
}

/// Splits a unit into rewrites and upgrades (see the module docs), in key order. Files
/// already at the output level and alone in their section stay where they are (no step).
/// When keys cannot be decoded everything is rewritten, which is always correct.
pub fn steps(unit: &CompactUnit, key_types: &[DataType], options: &PlanOptions) -> Vec<Step> {
    let Some(sections) = sections(&unit.files, key_types) else {
        return vec![Step::Rewrite(unit.files.clone())];
    };
    let mut out = Vec::new();
    let mut pending: Vec<Vec<DataFileMeta>> = Vec::new();
    for section in sections {
        match section.as_slice() {
            [file]
                if file.file_size.max(0) as u64 >= options.compaction_file_size
                    && !(options.force_up_level0 && file.level == 0) =>
            {
                flush(&mut pending, &mut out, unit, options);
                upgrade(file, &mut out, unit, options);
            }
            _ => pending.push(section),
        }
    }
    flush(&mut pending, &mut out, unit, options);
    out
}

fn flush(
    pending: &mut Vec<Vec<DataFileMeta>>,
    out: &mut Vec<Step>,
    unit: &CompactUnit,
    options: &PlanOptions,
) {
    match pending.as_slice() {
        [] => {}
        // One small file alone: rewriting it gains nothing (except from level 0 of tables
        // that look its keys up).
        [section] if section.len() == 1 && !(options.force_up_level0 && section[0].level == 0) => {
            for f in section {
                upgrade(f, out, unit, options);
            }
        }
        _ => out.push(Step::Rewrite(pending.iter().flatten().cloned().collect())),
    }
    pending.clear();
}

fn upgrade(file: &DataFileMeta, out: &mut Vec<Step>, unit: &CompactUnit, options: &PlanOptions) {
    if file.level == unit.output_level {
        return;
    }
    let may_hold_retractions = file.delete_row_count != Some(0);
    if unit.output_level == options.max_level() && may_hold_retractions {
        // The last level holds no retractions: rewrite the file to drop them.
        out.push(Step::Rewrite(vec![file.clone()]));
    } else {
        out.push(Step::Upgrade(Box::new(file.clone())));
    }
}

/// Groups files into sections whose key ranges overlap, in key order; `None` when a key
/// does not decode.
fn sections(files: &[DataFileMeta], key_types: &[DataType]) -> Option<Vec<Vec<DataFileMeta>>> {
    type Keyed<'a> = (Vec<Option<Datum>>, Vec<Option<Datum>>, &'a DataFileMeta);
    let mut keyed: Vec<Keyed> = Vec::with_capacity(files.len());
    for f in files {
        let min = BinaryRow::decode_with_arity(&f.min_key, key_types).ok()?;
        let max = BinaryRow::decode_with_arity(&f.max_key, key_types).ok()?;
        keyed.push((min, max, f));
    }
    keyed.sort_by(|a, b| compare_rows(&a.0, &b.0).then_with(|| compare_rows(&a.1, &b.1)));
    let mut out: Vec<Vec<DataFileMeta>> = Vec::new();
    let mut bound: Option<Vec<Option<Datum>>> = None;
    for (min, max, f) in keyed {
        let starts_new = bound
            .as_ref()
            .is_none_or(|b| compare_rows(&min, b) == Ordering::Greater);
        if starts_new {
            out.push(vec![f.clone()]);
            bound = Some(max);
        } else {
            if let Some(section) = out.last_mut() {
                section.push(f.clone());
            }
            if bound
                .as_ref()
                .is_some_and(|b| compare_rows(&max, b) == Ordering::Greater)
            {
                bound = Some(max);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

/// The shorter of two optional intervals.
fn shortest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
