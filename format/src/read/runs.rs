//! Grouping a bucket's files into sorted runs: each level-0 file is a run of its own; the
//! files of one higher level do not overlap and are read one after another as one run.
//! Merging then keeps one open file per run, so memory grows with the number of runs,
//! not with the number of files.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::data::binary_row::BinaryRow;
use crate::data::Datum;
use crate::manifest::DataFileMeta;
use crate::types::DataType;

/// Files in read order; keys ascend across and within them.
pub type SortedRun = Vec<DataFileMeta>;

/// Splits `files` into sorted runs. `key_types` are the trimmed primary key's types, used
/// to order a level's files by min key. A level whose keys cannot be decoded, or whose
/// files overlap (not a valid LSM level), falls back to one run per file, which is
/// still correct.
pub fn sorted_runs(files: Vec<DataFileMeta>, key_types: &[DataType]) -> Vec<SortedRun> {
    let mut runs: Vec<SortedRun> = Vec::new();
    let mut levels: BTreeMap<i32, Vec<DataFileMeta>> = BTreeMap::new();
    for f in files {
        if f.level <= 0 {
            runs.push(vec![f]);
        } else {
            levels.entry(f.level).or_default().push(f);
        }
    }
    for (_, level_files) in levels {
        match order_level(&level_files, key_types) {
            Some(order) => runs.push(order.into_iter().map(|i| level_files[i].clone()).collect()),
            None => runs.extend(level_files.into_iter().map(|f| vec![f])),
        }
    }
    runs
}

fn order_level(files: &[DataFileMeta], key_types: &[DataType]) -> Option<Vec<usize>> {
    let mut keyed = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let min = BinaryRow::decode_with_arity(&f.min_key, key_types).ok()?;
        let max = BinaryRow::decode_with_arity(&f.max_key, key_types).ok()?;
        keyed.push((min, max, i));
    }
    keyed.sort_by(|a, b| compare_rows(&a.0, &b.0));
    for pair in keyed.windows(2) {
        if compare_rows(&pair[0].1, &pair[1].0) != Ordering::Less {
            return None;
        }
    }
    Some(keyed.into_iter().map(|(_, _, i)| i).collect())
}

/// Lexicographic order of key rows; nulls first (keys are never null in valid files).
pub fn compare_rows(a: &[Option<Datum>], b: &[Option<Datum>]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => compare_datum(x, y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Order of two values of the same type, as Paimon's key comparator orders them.
pub fn compare_datum(a: &Datum, b: &Datum) -> Ordering {
    a.cmp_same_type(b).unwrap_or(Ordering::Equal)
}
