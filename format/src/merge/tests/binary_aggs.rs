//! `rbm64`, `hll_sketch` and `theta_sketch`: Paimon's bytes (vectors produced by Java
//! RoaringBitmap and Java DataSketches running Paimon's union code), the engine's handling
//! of nulls, single versions and retractions, bad input, and model-based property tests
//! over random flush boundaries.

use std::collections::BTreeSet;

use arrow_array::BinaryArray;
use datasketches::hll::{HllSketch, HllType};
use datasketches::theta::ThetaSketchBuilder;
use proptest::prelude::*;

use super::aggregation::AGG;
use super::*;
use crate::merge::{bitmap64, sketches};

/// `kind \t acc \t input \t Paimon's result`, hex: Paimon's `FieldRoaringBitmap64Agg`,
/// `FieldHllSketchAgg` and `FieldThetaSketchAgg` code run on Java RoaringBitmap 0.9.45 and
/// DataSketches 3.3.0 (the jars Spark 3.5 ships; their formats and these code paths are those
/// of RoaringBitmap 1.2.1 and DataSketches 4.2.0 that Paimon 1.4 uses). Random bitmaps, some
/// with removals, cover every tree node and container kind; sketches of every HLL type and
/// mode, mixed `lgK`, and compact Theta sketches ordered and not.
const JAVA_VECTORS: &str = include_str!("data/paimon_binary_aggs.tsv");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn unions_reproduce_paimon_bytes() {
    let mut seen = std::collections::BTreeMap::new();
    for line in JAVA_VECTORS.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (acc, input, want) = (unhex(f[1]), unhex(f[2]), unhex(f[3]));
        let got = match f[0] {
            "rbm64" => bitmap64::union(&acc, &input),
            "hll" => sketches::hll_union(&acc, &input),
            "theta" => sketches::theta_union(&acc, &input),
            other => panic!("unknown vector kind {other}"),
        }
        .unwrap_or_else(|e| panic!("{}: {e}", f[0]));
        assert!(got == want, "{} union of {} and {}", f[0], f[1], f[2]);
        *seen.entry(f[0]).or_insert(0) += 1;
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [("hll", 32), ("rbm64", 42), ("theta", 31)]
    );
}

/// Java `Roaring64Bitmap.bitmapOf(v).serialize()`: one leaf, one array container.
fn rbm_singleton(v: u64) -> Vec<u8> {
    let mut b = vec![1];
    b.extend_from_slice(&1i64.to_le_bytes());
    b.extend_from_slice(&[4, 0, 0, 0]);
    b.extend_from_slice(&(v >> 16).to_be_bytes()[2..]);
    b.extend_from_slice(&0i64.to_le_bytes());
    b.extend_from_slice(&1i32.to_le_bytes());
    b.extend_from_slice(&[0xFE, 1, 0, 0, 0, 1, 2, 1, 0, 0, 0]);
    b.extend_from_slice(&(v as u16).to_le_bytes());
    b.extend_from_slice(&1i64.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b
}

fn rbm_of(values: &[u64]) -> Vec<u8> {
    values.iter().fold(vec![0], |acc, &v| {
        bitmap64::union(&acc, &rbm_singleton(v)).expect("union")
    })
}

fn hll_of(lg_k: u8, values: impl IntoIterator<Item = u64>) -> Vec<u8> {
    let mut s = HllSketch::new(lg_k, HllType::Hll8).expect("sketch");
    values.into_iter().for_each(|v| s.update(v));
    s.serialize()
}

fn theta_of(values: impl IntoIterator<Item = u64>) -> Vec<u8> {
    let mut s = ThetaSketchBuilder::default().build().expect("sketch");
    values.into_iter().for_each(|v| s.update(v));
    s.compact(true).serialize()
}

fn hll_estimate(b: &[u8]) -> f64 {
    HllSketch::deserialize(b).expect("hll").estimate()
}

fn theta_estimate(b: &[u8]) -> f64 {
    datasketches::theta::CompactThetaSketch::deserialize(b)
        .expect("theta")
        .estimate()
}

fn bytes(v: &[Option<&[u8]>]) -> ArrayRef {
    Arc::new(BinaryArray::from_opt_vec(v.to_vec()))
}

/// Merges one key's BYTES versions with `func` and returns the value as hex.
fn agg_bytes(
    func: &str,
    extra: &[(&str, &str)],
    values: &[Option<&[u8]>],
    kinds: &[RowKind],
) -> Result<String> {
    let mut opts = vec![AGG, ("fields.v.aggregate-function", func)];
    opts.extend_from_slice(extra);
    let mf = engine(&[("k", "INT"), ("v", "BYTES")], &["k"], &opts);
    let got = merge(&mf, vec![keys(values.len()), bytes(values)], kinds)?;
    Ok(got.map(|r| r.1[1].clone()).unwrap_or_else(|| "gone".into()))
}

#[test]
fn engine_unions_skip_nulls_and_pass_single_versions_through() {
    let (a, b) = (rbm_of(&[1, 1 << 40]), rbm_of(&[2, 1 << 40, u64::MAX]));
    let got = agg_bytes("rbm64", &[], &[None, Some(&a), None, Some(&b)], &[I; 4]).unwrap();
    assert_eq!(
        bitmap64::values(&unhex(&got)).unwrap(),
        [1, 2, 1 << 40, u64::MAX]
    );
    assert_eq!(got, hex(&bitmap64::union(&a, &b).unwrap()));

    let (h1, h2) = (hll_of(12, 0..100), hll_of(12, 50..300));
    let got = agg_bytes("hll_sketch", &[], &[Some(&h1), None, Some(&h2)], &[I; 3]).unwrap();
    assert!((hll_estimate(&unhex(&got)) - 300.0).abs() < 6.0, "{got}");

    let (t1, t2) = (theta_of(0..100), theta_of(50..300));
    let got = agg_bytes("theta_sketch", &[], &[Some(&t1), Some(&t2), None], &[I; 3]).unwrap();
    assert_eq!(theta_estimate(&unhex(&got)), 300.0);

    for func in ["rbm64", "hll_sketch", "theta_sketch"] {
        // One version is never decoded: Paimon passes it through unchanged.
        let got = agg_bytes(func, &[], &[Some(b"not a sketch")], &[I]).unwrap();
        assert_eq!(got, hex(b"not a sketch"), "{func}");
        let got = agg_bytes(func, &[], &[None, None], &[I, I]).unwrap();
        assert_eq!(got, "null", "{func}");
        // A null beside one value keeps the value's bytes as they are.
        let got = agg_bytes(func, &[], &[None, Some(b"raw")], &[I, I]).unwrap();
        assert_eq!(got, hex(b"raw"), "{func}");
    }
}

#[test]
fn retractions_fail_unless_ignored() {
    let (a, b) = (rbm_of(&[1]), rbm_of(&[2]));
    let vals = [Some(a.as_slice()), Some(b.as_slice()), Some(a.as_slice())];
    for func in ["rbm64", "hll_sketch", "theta_sketch"] {
        let err = agg_bytes(func, &[], &vals, &[I, UB, UA]).unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "aggregate function '{func}' of column 'v' does not support retraction"
            )),
            "{err}"
        );
        let mf = engine(
            &[("k", "INT"), ("v", "BYTES")],
            &["k"],
            &[AGG, ("fields.v.aggregate-function", func)],
        );
        let msg = mf.retraction_error().expect("writers reject -U/-D");
        assert!(msg.contains(&format!("v ({func})")), "{msg}");
    }
    let ignore = [("fields.v.ignore-retract", "true")];
    let got = agg_bytes("rbm64", &ignore, &vals, &[I, UB, UA]).unwrap();
    assert_eq!(bitmap64::values(&unhex(&got)).unwrap(), [1]);
}

type Union = fn(&[u8], &[u8]) -> Result<Vec<u8>>;

#[test]
fn bad_bytes_fail_with_a_clear_error() {
    let cases: [(&str, Vec<u8>, Union); 3] = [
        ("rbm64", rbm_of(&[1, 70_000, 1 << 33]), bitmap64::union),
        ("hll_sketch", hll_of(10, 0..2000), sketches::hll_union),
        ("theta_sketch", theta_of(0..5000), sketches::theta_union),
    ];
    for (func, good, union) in cases {
        assert!(union(&good, &good).is_ok());
        let err = agg_bytes(func, &[], &[Some(&good), Some(b"junk")], &[I, I]).unwrap_err();
        assert!(
            err.to_string().contains(&format!("{func} value is not a")),
            "{err}"
        );
        // Every truncation and some bit flips: errors, never panics.
        for cut in 0..good.len() {
            let _ = union(&good[..cut], &good);
            let _ = union(&good, &good[..cut]);
        }
        for i in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[i] ^= 0x5a;
            let _ = union(&bad, &good);
        }
    }
}

#[test]
fn rbm64_unions_values_across_the_whole_key_space() {
    let a: Vec<u64> = (0..2000)
        .map(|i| i * 3)
        .chain([u64::MAX, 1 << 63])
        .collect();
    let b: Vec<u64> = (0..3000)
        .map(|i| i * 7)
        .chain((0..40).map(|i| (i as u64) << 50))
        .collect();
    let got = bitmap64::union(&rbm_of(&a), &rbm_of(&b)).unwrap();
    let want: BTreeSet<u64> = a.iter().chain(&b).copied().collect();
    assert_eq!(
        bitmap64::values(&got).unwrap(),
        want.into_iter().collect::<Vec<_>>()
    );
}

/// Merges each run's versions, then the runs' results (flushes, then a read).
fn merge_runs(func: &str, values: &[Vec<u8>], cuts: &[usize]) -> Vec<u8> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (values.len() + 1)).collect();
    bounds.extend([0, values.len()]);
    bounds.sort_unstable();
    bounds.dedup();
    let run = |vals: Vec<&[u8]>| -> Vec<u8> {
        let opt: Vec<Option<&[u8]>> = vals.into_iter().map(Some).collect();
        unhex(&agg_bytes(func, &[], &opt, &vec![I; opt.len()]).unwrap())
    };
    let flushed: Vec<Vec<u8>> = bounds
        .windows(2)
        .map(|w| run(values[w[0]..w[1]].iter().map(Vec::as_slice).collect()))
        .collect();
    run(flushed.iter().map(Vec::as_slice).collect())
}

/// Values clustered so that many share high keys and tree prefixes.
fn value_sets() -> impl Strategy<Value = Vec<Vec<u64>>> {
    let value = (0u64..4, 0u64..300, any::<u16>())
        .prop_map(|(top, mid, low)| (top << 45) | (mid << 16) | u64::from(low));
    prop::collection::vec(prop::collection::vec(value, 0..40), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn rbm64_matches_a_set_union_model(sets in value_sets(), cuts in prop::collection::vec(0usize..8, 0..3)) {
        let values: Vec<Vec<u8>> = sets.iter().map(|s| rbm_of(s)).collect();
        let model: BTreeSet<u64> = sets.iter().flatten().copied().collect();
        let once = merge_runs("rbm64", &values, &[]);
        let runs = merge_runs("rbm64", &values, &cuts);
        prop_assert_eq!(bitmap64::values(&once).unwrap(), model.iter().copied().collect::<Vec<_>>());
        prop_assert_eq!(bitmap64::values(&runs).unwrap(), model.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn sketches_estimate_the_distinct_count_over_any_flushes(
        ranges in prop::collection::vec((0u64..20_000, 0u64..3_000), 1..5),
        cuts in prop::collection::vec(0usize..6, 0..3),
    ) {
        let sets: Vec<Vec<u64>> = ranges.iter().map(|&(s, n)| (s..s + n).collect()).collect();
        let exact = sets.iter().flatten().collect::<BTreeSet<_>>().len() as f64;
        let hll: Vec<Vec<u8>> = sets.iter().map(|s| hll_of(12, s.iter().copied())).collect();
        let theta: Vec<Vec<u8>> = sets.iter().map(|s| theta_of(s.iter().copied())).collect();
        // lgK 12: relative standard error about 1.6%; 4 sigma plus a little for tiny counts.
        let hll_bound = exact * 0.065 + 2.0;
        for b in [merge_runs("hll_sketch", &hll, &[]), merge_runs("hll_sketch", &hll, &cuts)] {
            let e = hll_estimate(&b);
            prop_assert!((e - exact).abs() <= hll_bound, "hll {} vs {}", e, exact);
        }
        // Theta with k = 4096 is exact below k, within 4 sigma (about 6%) above.
        let once = merge_runs("theta_sketch", &theta, &[]);
        let runs = merge_runs("theta_sketch", &theta, &cuts);
        for b in [&once, &runs] {
            let e = theta_estimate(b);
            if exact < 4096.0 {
                prop_assert_eq!(e, exact);
            } else {
                prop_assert!((e - exact).abs() <= exact * 0.07, "theta {} vs {}", e, exact);
            }
        }
        if exact < 4096.0 {
            // Exact mode: the union is the set of hashes, whatever the flushes.
            prop_assert_eq!(once, runs);
        }
    }
}
