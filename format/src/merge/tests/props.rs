//! Model-based property tests: random operation sequences for one key, merged by the engine
//! at once and in random runs (the write buffer's flushes, then a read), against a plain
//! model that folds the operations in sequence order the way Paimon's Java classes do.
//!
//! Operations go through the writer's filter first ([`MergeFunction::accepts`]), as they
//! would in a table. Run-splitting is only checked for the configurations the module docs
//! call associative; everything else is checked as one merge.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, ListArray, RecordBatch, StringArray};
use proptest::prelude::*;

use super::aggregation::AGG;
use super::*;

/// A test cell: BIGINT, STRING or ARRAY<BIGINT>.
#[derive(Debug, Clone, PartialEq)]
enum V {
    I(i64),
    S(String),
    L(Vec<Option<i64>>),
}

type Row = Vec<Option<V>>;
type Op = (RowKind, Row);
/// `None`: the key is gone; otherwise the kind and the value columns.
type Out = Option<(RowKind, Row)>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Long,
    Str,
    List,
}

fn array(ty: Ty, cells: &[Option<V>]) -> ArrayRef {
    match ty {
        Ty::Long => Arc::new(Int64Array::from(
            cells
                .iter()
                .map(|c| match c {
                    Some(V::I(v)) => Some(*v),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )),
        Ty::Str => Arc::new(StringArray::from(
            cells
                .iter()
                .map(|c| match c {
                    Some(V::S(v)) => Some(v.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )),
        Ty::List => Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
            cells.iter().map(|c| match c {
                Some(V::L(v)) => Some(v.clone()),
                _ => None,
            }),
        )),
    }
}

fn cell(a: &ArrayRef) -> Option<V> {
    if a.is_null(0) {
        return None;
    }
    if let Some(x) = a.as_primitive_opt::<Int64Type>() {
        return Some(V::I(x.value(0)));
    }
    if let Some(x) = a.as_string_opt::<i32>() {
        return Some(V::S(x.value(0).to_string()));
    }
    let list = a.as_list::<i32>().value(0);
    let x = list.as_primitive::<Int64Type>();
    Some(V::L(
        (0..x.len())
            .map(|i| x.is_valid(i).then(|| x.value(i)))
            .collect(),
    ))
}

/// One merge of `ops` (sequence = position) through the public API.
fn merge_ops(mf: &MergeFunction, tys: &[Ty], ops: &[Op]) -> Result<Out> {
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int32Array::from(vec![1; ops.len()]))];
    for (c, ty) in tys.iter().enumerate() {
        let cells: Vec<Option<V>> = ops.iter().map(|o| o.1[c].clone()).collect();
        columns.push(array(*ty, &cells));
    }
    let batch = RecordBatch::try_from_iter(
        columns
            .into_iter()
            .enumerate()
            .map(|(i, c)| (format!("c{i}"), c)),
    )
    .expect("batch");
    let versions: Vec<KeyVersion> = ops
        .iter()
        .enumerate()
        .map(|(i, o)| KeyVersion {
            sequence: i as i64,
            user_sequence: None,
            kind: o.0,
        })
        .collect();
    let rows: Vec<(usize, usize)> = (0..ops.len()).map(|i| (0, i)).collect();
    let cols: Vec<Option<usize>> = (0..=tys.len()).map(Some).collect();
    let batches = [batch];
    let input = MergeInput::new(&versions, &rows, &batches, &cols)?;
    let result = mf.merge(&input)?;
    let Some(kind) = result.kind(&input) else {
        return Ok(None);
    };
    let out = result.to_columns(&input).expect("columns");
    Ok(Some((kind, out[1..].iter().map(cell).collect())))
}

/// Merges each run, then the runs' results (a write buffer's flushes, then a read).
fn merge_in_runs(mf: &MergeFunction, tys: &[Ty], ops: &[Op], cuts: &[usize]) -> Result<Out> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (ops.len() + 1)).collect();
    bounds.extend([0, ops.len()]);
    bounds.sort_unstable();
    bounds.dedup();
    let mut flushed = Vec::new();
    for w in bounds.windows(2) {
        if let Some(r) = merge_ops(mf, tys, &ops[w[0]..w[1]])? {
            flushed.push(r);
        }
    }
    merge_ops(mf, tys, &flushed)
}

/// What a reader shows.
fn visible(out: Out) -> Option<Row> {
    out.filter(|o| o.0.is_add()).map(|o| o.1)
}

fn long(v: &Option<V>) -> Option<i64> {
    match v {
        Some(V::I(x)) => Some(*x),
        _ => None,
    }
}

fn l(v: Option<i64>) -> Option<V> {
    v.map(V::I)
}

// ------------------------------------------------------------------------------- models

/// Java `ReducerMergeFunctionWrapper`: one version passes unchanged.
fn reduce(
    ops: &[Op],
    fold: impl FnOnce(&[Op]) -> std::result::Result<Out, String>,
) -> std::result::Result<Out, String> {
    match ops.len() {
        0 => Ok(None),
        1 => Ok(Some(ops[0].clone())),
        _ => fold(ops),
    }
}

fn model_dedup(ops: &[Op], ignore_delete: bool) -> std::result::Result<Out, String> {
    reduce(ops, |ops| {
        Ok(ops
            .iter()
            .rev()
            .find(|o| !ignore_delete || o.0.is_add())
            .cloned())
    })
}

fn model_first_row(ops: &[Op]) -> std::result::Result<Out, String> {
    reduce(ops, |ops| {
        if ops.iter().any(|o| !o.0.is_add()) {
            return Err("retraction".into());
        }
        Ok(ops.first().cloned())
    })
}

/// Partial-update without groups over `a, b`.
fn model_partial(ops: &[Op], remove_on_delete: bool) -> std::result::Result<Out, String> {
    reduce(ops, |ops| {
        let mut row: Row = vec![None; 2];
        let (mut filled, mut meet_insert, mut delete) = (false, false, false);
        for (kind, r) in ops {
            delete = false;
            if !kind.is_add() {
                if !filled {
                    row = r.clone();
                    filled = true;
                }
                if !remove_on_delete {
                    return Err("retraction".into());
                }
                if *kind == D {
                    delete = true;
                    row = r.clone();
                }
                continue;
            }
            for (slot, v) in row.iter_mut().zip(r) {
                if v.is_some() {
                    *slot = v.clone();
                }
            }
            meet_insert = true;
            filled = true;
        }
        Ok(Some((if delete || !meet_insert { D } else { I }, row)))
    })
}

/// Partial-update with `fields.g.sequence-group = a,b` over `a, b, g, c` (inserts).
fn model_groups(ops: &[Op]) -> std::result::Result<Out, String> {
    reduce(ops, |ops| {
        let mut row: Row = vec![None; 4];
        for (_, r) in ops {
            if r[2].is_some() && long(&r[2]) >= long(&row[2]) {
                row[..3].clone_from_slice(&r[..3]);
            }
            if r[3].is_some() {
                row[3] = r[3].clone();
            }
        }
        Ok(Some((I, row)))
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum F {
    Sum,
    Product,
    Max,
    Min,
    Last,
    LastNonNull,
    First,
    FirstNonNull,
    ListAgg,
    ListAggDistinct,
    Collect,
    CollectDistinct,
}

impl F {
    fn name(self) -> &'static str {
        match self {
            F::Sum => "sum",
            F::Product => "product",
            F::Max => "max",
            F::Min => "min",
            F::Last => "last_value",
            F::LastNonNull => "last_non_null_value",
            F::First => "first_value",
            F::FirstNonNull => "first_non_null_value",
            F::ListAgg | F::ListAggDistinct => "listagg",
            F::Collect | F::CollectDistinct => "collect",
        }
    }

    fn ty(self) -> Ty {
        match self {
            F::ListAgg | F::ListAggDistinct => Ty::Str,
            F::Collect | F::CollectDistinct => Ty::List,
            _ => Ty::Long,
        }
    }
}

const ALL: [F; 12] = [
    F::Sum,
    F::Product,
    F::Max,
    F::Min,
    F::Last,
    F::LastNonNull,
    F::First,
    F::FirstNonNull,
    F::ListAgg,
    F::ListAggDistinct,
    F::Collect,
    F::CollectDistinct,
];

fn agg(f: F, acc: Option<V>, v: Option<V>, seen: &mut bool) -> Option<V> {
    match f {
        F::Last => return v,
        F::LastNonNull => return v.or(acc),
        F::First if !*seen => {
            *seen = true;
            return v;
        }
        F::First => return acc,
        F::FirstNonNull if !*seen && v.is_some() => {
            *seen = true;
            return v;
        }
        F::FirstNonNull => return acc,
        // A null or blank input never counts; a null or blank accumulator takes the input.
        F::ListAgg | F::ListAggDistinct => {
            let blank = |x: &Option<V>| match x {
                Some(V::S(s)) => s.trim().is_empty(),
                _ => true,
            };
            if blank(&v) {
                return acc;
            }
            if blank(&acc) {
                return v;
            }
        }
        // Java returns null when both sides are null, even with distinct.
        F::CollectDistinct if acc.is_none() && v.is_none() => return None,
        F::CollectDistinct => {
            let mut all: Vec<Option<i64>> = Vec::new();
            for x in [acc, v].into_iter().flatten() {
                if let V::L(items) = x {
                    all.extend(items);
                }
            }
            let mut out: Vec<Option<i64>> = Vec::new();
            for x in all {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
            return Some(V::L(out));
        }
        _ => {}
    }
    let (Some(a), Some(b)) = (acc.clone(), v.clone()) else {
        return acc.or(v);
    };
    Some(match (f, a, b) {
        (F::Sum, V::I(a), V::I(b)) => V::I(a.wrapping_add(b)),
        (F::Product, V::I(a), V::I(b)) => V::I(a.wrapping_mul(b)),
        (F::Max, V::I(a), V::I(b)) => V::I(a.max(b)),
        (F::Min, V::I(a), V::I(b)) => V::I(a.min(b)),
        (F::ListAgg, V::S(a), V::S(b)) => V::S(format!("{a},{b}")),
        (F::ListAggDistinct, V::S(a), V::S(b)) => {
            let mut seen: Vec<String> = a.split(',').map(str::to_string).collect();
            let mut out = a.clone();
            for t in b.split(',') {
                if !t.trim().is_empty() && !seen.iter().any(|s| s == t) {
                    seen.push(t.to_string());
                    out = format!("{out},{t}");
                }
            }
            V::S(out)
        }
        (F::Collect, V::L(mut a), V::L(b)) => {
            a.extend(b);
            V::L(a)
        }
        _ => unreachable!("model types"),
    })
}

fn retract(f: F, acc: Option<V>, v: Option<V>) -> std::result::Result<Option<V>, String> {
    Ok(match f {
        F::Last => None,
        F::LastNonNull => {
            if v.is_some() {
                None
            } else {
                acc
            }
        }
        F::Sum => match (long(&acc), long(&v)) {
            (_, None) => acc,
            (None, Some(b)) => l(Some(b.wrapping_neg())),
            (Some(a), Some(b)) => l(Some(a.wrapping_sub(b))),
        },
        F::Product => match (long(&acc), long(&v)) {
            (Some(a), Some(b)) => l(Some(a.wrapping_div(b))),
            _ => acc,
        },
        F::Collect | F::CollectDistinct => match (acc, v) {
            (Some(V::L(a)), Some(V::L(b))) => {
                let mut pending = b;
                let mut out = Vec::new();
                for x in a {
                    match pending.iter().position(|p| *p == x) {
                        Some(i) => {
                            pending.remove(i);
                        }
                        None => out.push(x),
                    }
                }
                Some(V::L(out))
            }
            (acc, _) => acc,
        },
        _ => return Err("cannot retract".into()),
    })
}

fn model_agg(
    f: F,
    ignore_retract: bool,
    remove: bool,
    ops: &[Op],
) -> std::result::Result<Out, String> {
    reduce(ops, |ops| {
        let (mut acc, mut seen, mut delete) = (None, false, false);
        for (kind, r) in ops {
            delete = remove && *kind == D;
            if delete {
                acc = r[0].clone();
            } else if kind.is_add() {
                acc = agg(f, acc, r[0].clone(), &mut seen);
            } else if !ignore_retract {
                acc = retract(f, acc, r[0].clone())?;
            }
        }
        Ok(Some((if delete { D } else { I }, vec![acc])))
    })
}

// ------------------------------------------------------------------------- strategies

fn kind(retractions: bool) -> BoxedStrategy<RowKind> {
    if retractions {
        prop_oneof![4 => Just(I), 2 => Just(UA), 1 => Just(UB), 1 => Just(D)].boxed()
    } else {
        prop_oneof![Just(I), Just(UA)].boxed()
    }
}

fn value(ty: Ty) -> BoxedStrategy<Option<V>> {
    let v = match ty {
        // Non-zero so product retractions never divide by zero.
        Ty::Long => prop_oneof![-3i64..0, 1i64..6].prop_map(V::I).boxed(),
        Ty::Str => prop::sample::select(vec!["", " ", "a", "b", "a,b", "c, ,a"])
            .prop_map(|s| V::S(s.to_string()))
            .boxed(),
        Ty::List => prop::collection::vec(prop::option::weighted(0.9, 0i64..4), 0..3)
            .prop_map(V::L)
            .boxed(),
    };
    prop::option::weighted(0.8, v).boxed()
}

fn ops(tys: Vec<Ty>, retractions: bool) -> impl Strategy<Value = Vec<Op>> {
    let row = tys.into_iter().map(value).collect::<Vec<_>>();
    prop::collection::vec((kind(retractions), row), 1..9)
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..10, 0..4)
}

fn filtered(mf: &MergeFunction, ops: Vec<Op>) -> Vec<Op> {
    ops.into_iter().filter(|o| mf.accepts(o.0)).collect()
}

/// Checks one merge against the model (errors included) and, if `split`, the run-wise merge.
fn check(
    mf: &MergeFunction,
    tys: &[Ty],
    ops: &[Op],
    cuts: &[usize],
    model: std::result::Result<Out, String>,
    split: bool,
) -> std::result::Result<(), TestCaseError> {
    let got = merge_ops(mf, tys, ops);
    match (&got, &model) {
        (Err(_), Err(_)) => return Ok(()),
        (Ok(g), Ok(m)) => prop_assert_eq!(visible(g.clone()), visible(m.clone()), "one merge"),
        _ => prop_assert!(false, "engine {:?} vs model {:?}", got.map(|_| ()), model),
    }
    if split {
        let runs =
            merge_in_runs(mf, tys, ops, cuts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            visible(runs),
            visible(model.unwrap_or(None)),
            "merged in runs {:?}",
            cuts
        );
    }
    Ok(())
}

fn kv() -> Vec<(&'static str, &'static str)> {
    vec![("k", "INT"), ("a", "BIGINT"), ("b", "BIGINT")]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn deduplicate_matches_the_model(ops in ops(vec![Ty::Long, Ty::Long], true), cuts in cuts(), ignore in any::<bool>()) {
        let opts = [("ignore-delete", if ignore { "true" } else { "false" })];
        let mf = engine(&kv(), &["k"], &opts);
        let ops = filtered(&mf, ops);
        check(&mf, &[Ty::Long, Ty::Long], &ops, &cuts, model_dedup(&ops, ignore), true)?;
    }

    #[test]
    fn first_row_matches_the_model(ops in ops(vec![Ty::Long, Ty::Long], true), cuts in cuts(), ignore in any::<bool>()) {
        let mut opts = vec![("merge-engine", "first-row")];
        if ignore {
            opts.push(("ignore-delete", "true"));
        }
        let mf = engine(&kv(), &["k"], &opts);
        let ops = filtered(&mf, ops);
        check(&mf, &[Ty::Long, Ty::Long], &ops, &cuts, model_first_row(&ops), ignore)?;
    }

    #[test]
    fn partial_update_matches_the_model(ops in ops(vec![Ty::Long, Ty::Long], true), cuts in cuts(), mode in 0..3u8) {
        let opts: Vec<(&str, &str)> = match mode {
            0 => vec![PU],
            1 => vec![PU, ("ignore-delete", "true")],
            _ => vec![PU, ("partial-update.remove-record-on-delete", "true")],
        };
        let mf = engine(&kv(), &["k"], &opts);
        let ops = filtered(&mf, ops);
        let no_retractions = ops.iter().all(|o| o.0.is_add());
        check(&mf, &[Ty::Long, Ty::Long], &ops, &cuts, model_partial(&ops, mode == 2), no_retractions)?;
    }

    #[test]
    fn partial_update_sequence_group_matches_the_model(ops in ops(vec![Ty::Long; 4], false), cuts in cuts()) {
        let cols = [("k", "INT"), ("a", "BIGINT"), ("b", "BIGINT"), ("g", "BIGINT"), ("c", "BIGINT")];
        let mf = engine(&cols, &["k"], &[PU, ("fields.g.sequence-group", "a,b")]);
        check(&mf, &[Ty::Long; 4], &ops, &cuts, model_groups(&ops), true)?;
    }

    #[test]
    fn aggregate_functions_match_the_model(
        f in prop::sample::select(ALL.to_vec()),
        seed_ops in ops(vec![Ty::Long], true),
        strs in prop::collection::vec(value(Ty::Str), 9),
        lists in prop::collection::vec(value(Ty::List), 9),
        cuts in cuts(),
        retractions in any::<bool>(),
        ignore_retract in any::<bool>(),
        remove in any::<bool>(),
    ) {
        // One kind sequence; the values follow the function's type.
        let ops: Vec<Op> = seed_ops
            .into_iter()
            .enumerate()
            .filter(|(_, o)| retractions || o.0.is_add())
            .map(|(i, (k, r))| {
                let v = match f.ty() {
                    Ty::Long => r[0].clone(),
                    Ty::Str => strs[i].clone(),
                    Ty::List => lists[i].clone(),
                };
                (k, vec![v])
            })
            .collect();
        let ty = match f.ty() { Ty::Long => "BIGINT", Ty::Str => "STRING", Ty::List => "ARRAY<BIGINT>" };
        let ignore_retract = ignore_retract && !remove;
        let mut opts = vec![AGG, ("fields.v.aggregate-function", f.name())];
        if matches!(f, F::ListAggDistinct | F::CollectDistinct) {
            opts.push(("fields.v.distinct", "true"));
        }
        if ignore_retract {
            opts.push(("fields.v.ignore-retract", "true"));
        }
        if remove {
            opts.push(("aggregation.remove-record-on-delete", "true"));
        }
        let mf = engine(&[("k", "INT"), ("v", ty)], &["k"], &opts);
        let retracts = ops.iter().any(|o| !o.0.is_add());
        // A flush of only ignored retractions leaves a +I of nulls, which last_value and
        // first_value take as a value (see the named case below).
        let associative = !retracts
            || (!remove
                && if ignore_retract {
                    !matches!(f, F::Last | F::First)
                } else {
                    matches!(f, F::Sum | F::Last)
                });
        let model = model_agg(f, ignore_retract, remove, &ops);
        check(&mf, &[f.ty()], &ops, &cuts, model, associative)?;
    }
}

// Named cases: the run-splitting limits the module docs state, pinned to Paimon's values.

#[test]
fn product_retraction_of_a_flushed_value_keeps_the_accumulator() {
    let mf = engine(
        &[("k", "INT"), ("v", "BIGINT")],
        &["k"],
        &[AGG, ("fields.v.aggregate-function", "product")],
    );
    let ops: Vec<Op> = vec![
        (I, vec![l(Some(2))]),
        (UB, vec![l(Some(2))]),
        (UA, vec![l(Some(4))]),
    ];
    let once = merge_ops(&mf, &[Ty::Long], &ops).unwrap();
    assert_eq!(visible(once), Some(vec![l(Some(4))]), "2 / 2 * 4");
    // The -U meets nothing in its own flush, so it is lost: 2 * 4.
    let runs = merge_in_runs(&mf, &[Ty::Long], &ops, &[1]).unwrap();
    assert_eq!(visible(runs), Some(vec![l(Some(8))]));
    // sum keeps the negation instead, so the split does not matter.
    let sum = engine(
        &[("k", "INT"), ("v", "BIGINT")],
        &["k"],
        &[AGG, ("fields.v.aggregate-function", "sum")],
    );
    let runs = merge_in_runs(&sum, &[Ty::Long], &ops, &[1]).unwrap();
    assert_eq!(visible(runs), Some(vec![l(Some(4))]));
}

#[test]
fn partial_update_first_retraction_seeds_the_row_even_when_ignored() {
    // Paimon's initRow: legacy files may hold retractions despite ignore-delete.
    let mf = engine(&kv(), &["k"], &[PU, ("ignore-delete", "true")]);
    let ops: Vec<Op> = vec![
        (D, vec![l(Some(1)), l(Some(2))]),
        (I, vec![None, l(Some(3))]),
    ];
    let got = merge_ops(&mf, &[Ty::Long, Ty::Long], &ops).unwrap();
    assert_eq!(visible(got), Some(vec![l(Some(1)), l(Some(3))]));
    // Writers drop the retraction first, so new tables never see this.
    assert!(filtered(&mf, ops).iter().all(|o| o.0.is_add()));
}

/// Shrunk from `aggregate_functions_match_the_model` (the model was wrong here).
#[test]
fn collect_distinct_of_two_nulls_is_null() {
    let mf = engine(
        &[("k", "INT"), ("v", "ARRAY<BIGINT>")],
        &["k"],
        &[
            AGG,
            ("fields.v.aggregate-function", "collect"),
            ("fields.v.distinct", "true"),
        ],
    );
    let ops: Vec<Op> = vec![(I, vec![None]), (I, vec![None])];
    let got = merge_ops(&mf, &[Ty::List], &ops).unwrap();
    assert_eq!(visible(got), Some(vec![None]));
    let one = vec![
        (I, vec![None]),
        (I, vec![Some(V::L(vec![Some(1), Some(1)]))]),
    ];
    let got = merge_ops(&mf, &[Ty::List], &one).unwrap();
    assert_eq!(
        visible(got),
        Some(vec![Some(V::L(vec![Some(1)]))]),
        "a lone side is de-duplicated"
    );
}

/// Shrunk from `aggregate_functions_match_the_model`: ignored retractions still flush.
#[test]
fn last_value_ignoring_retractions_depends_on_flushes() {
    let mf = engine(
        &[("k", "INT"), ("v", "BIGINT")],
        &["k"],
        &[
            AGG,
            ("fields.v.aggregate-function", "last_value"),
            ("fields.v.ignore-retract", "true"),
        ],
    );
    let ops: Vec<Op> = vec![(I, vec![l(Some(-2))]), (UB, vec![None]), (UB, vec![None])];
    let once = merge_ops(&mf, &[Ty::Long], &ops).unwrap();
    assert_eq!(visible(once), Some(vec![l(Some(-2))]));
    // The flush of the two -U is a +I with a null v, and last_value takes the null.
    let runs = merge_in_runs(&mf, &[Ty::Long], &ops, &[1]).unwrap();
    assert_eq!(visible(runs), Some(vec![None]));
}
