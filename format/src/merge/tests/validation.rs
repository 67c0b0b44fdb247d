//! Option combinations Paimon rejects at table creation, with their error text.

use super::aggregation::AGG;
use super::*;

// ---------------------------------------------------------------- validation

#[test]
fn rejected_option_combinations_name_the_problem() {
    let kv = [("k", "INT"), ("v", "INT")];
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            kv.to_vec(),
            vec![("merge-engine", "first-row"), ("sequence.field", "v")],
            "'first-row' does not support sequence.field",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.v.aggregate-function", "median")],
            "unknown aggregate function 'median' for column 'v'",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.default-aggregate-function", "avg")],
            "unknown aggregate function 'avg' in 'fields.default-aggregate-function'",
        ),
        (
            vec![("k", "INT"), ("v", "STRING")],
            vec![AGG, ("fields.v.aggregate-function", "sum")],
            "'sum' of column 'v' needs a numeric type, but the column is STRING",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.v.aggregate-function", "bool_or")],
            "'bool_or' of column 'v' needs BOOLEAN",
        ),
        (
            vec![("k", "INT"), ("v", "VARCHAR(10)")],
            vec![AGG, ("fields.v.aggregate-function", "listagg")],
            "needs STRING (unbounded VARCHAR)",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.v.aggregate-function", "collect")],
            "needs an ARRAY type",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.v.aggregate-function", "merge_map")],
            "needs a MAP type",
        ),
        (
            vec![("k", "INT"), ("v", "ARRAY<INT>")],
            vec![AGG, ("fields.v.aggregate-function", "nested_update")],
            "needs ARRAY<ROW<...>>",
        ),
        (
            vec![("k", "INT"), ("v", "ARRAY<INT>")],
            vec![AGG, ("fields.v.aggregate-function", "max")],
            "needs a comparable (non-nested) type",
        ),
        (
            vec![("k", "INT"), ("v", "ARRAY<ROW<id INT>>")],
            vec![
                AGG,
                ("fields.v.aggregate-function", "nested_update"),
                ("fields.v.nested-key", "nope"),
            ],
            "names 'nope', which is not a field",
        ),
        (
            kv.to_vec(),
            vec![AGG, ("fields.v.aggregate-function", "rbm32")],
            "needs VARBINARY / BYTES",
        ),
        (
            vec![("k", "INT"), ("v", "BIGINT")],
            vec![AGG, ("fields.v.aggregate-function", "rbm64")],
            "aggregate function 'rbm64' of column 'v' needs VARBINARY / BYTES, but the column is BIGINT",
        ),
        (
            vec![("k", "INT"), ("v", "STRING")],
            vec![AGG, ("fields.v.aggregate-function", "hll_sketch")],
            "aggregate function 'hll_sketch' of column 'v' needs VARBINARY / BYTES, but the column is STRING",
        ),
        (
            vec![("k", "INT"), ("v", "INT")],
            vec![AGG, ("fields.v.aggregate-function", "theta_sketch")],
            "aggregate function 'theta_sketch' of column 'v' needs VARBINARY / BYTES, but the column is INT",
        ),
        (
            kv.to_vec(),
            vec![
                AGG,
                ("aggregation.remove-record-on-delete", "true"),
                ("fields.v.ignore-retract", "true"),
            ],
            "'aggregation.remove-record-on-delete' and 'fields.v.ignore-retract' conflict",
        ),
        (
            vec![("k", "INT"), ("v", "STRING")],
            vec![
                AGG,
                ("fields.v.distinct", "yes"),
                ("fields.v.aggregate-function", "listagg"),
            ],
            "'fields.v.distinct' must be true or false",
        ),
        (
            kv.to_vec(),
            vec![
                AGG,
                ("sequence.field", "v"),
                ("fields.v.aggregate-function", "sum"),
            ],
            "must not have an aggregate function",
        ),
        (
            kv.to_vec(),
            vec![PU, ("fields.v.aggregate-function", "sum")],
            "column 'v' has aggregate function 'sum' but is in no sequence group",
        ),
        (
            kv.to_vec(),
            vec![PU, ("fields.default-aggregate-function", "max")],
            "column 'v' has aggregate function 'max' but is in no sequence group",
        ),
        (
            kv.to_vec(),
            vec![
                PU,
                ("ignore-delete", "true"),
                ("partial-update.remove-record-on-delete", "true"),
            ],
            "'ignore-delete' and 'partial-update.remove-record-on-delete' conflict",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT")],
            vec![
                PU,
                ("fields.g.sequence-group", "v"),
                ("partial-update.remove-record-on-delete", "true"),
            ],
            "conflicts with sequence groups",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT")],
            vec![
                PU,
                ("fields.g.sequence-group", "v"),
                ("partial-update.remove-record-on-sequence-group", "v"),
            ],
            "names 'v', which is not the sequence field of a sequence group",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT")],
            vec![
                PU,
                ("fields.g.sequence-group", "v"),
                ("ignore-delete", "true"),
                ("partial-update.remove-record-on-sequence-group", "g"),
            ],
            "'ignore-delete' and 'partial-update.remove-record-on-sequence-group' conflict",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT")],
            vec![PU, ("fields.g.sequence-group", "k")],
            "primary key column 'k' cannot be in a sequence group",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT"), ("h", "INT")],
            vec![
                PU,
                ("fields.g.sequence-group", "v"),
                ("fields.h.sequence-group", "v"),
            ],
            "column 'v' is in more than one sequence group",
        ),
        (
            vec![("k", "INT"), ("v", "INT"), ("g", "INT")],
            vec![PU, ("fields.g.sequence-group", "v,nope")],
            "option 'fields.g.sequence-group' names 'nope', which is not a column",
        ),
    ];
    for (cols, opts, want) in cases {
        let err = create_error(&cols, &["k"], &opts);
        assert!(err.contains(want), "{opts:?}: got '{err}', want '{want}'");
    }
}

#[test]
fn accepted_merge_options_create_tables() {
    let cols = [
        ("k", "INT"),
        ("a", "INT"),
        ("b", "STRING"),
        ("s1", "INT"),
        ("s2", "BIGINT"),
    ];
    for opts in [
        vec![
            PU,
            ("fields.s1,s2.sequence-group", "a,b"),
            ("fields.a.aggregate-function", "sum"),
        ],
        vec![PU, ("fields.b.aggregate-function", "last_non_null_value")],
        vec![
            AGG,
            ("fields.a.aggregate-function", "product"),
            ("fields.b.aggregate-function", "listagg"),
        ],
        vec![("merge-engine", "first-row"), ("ignore-delete", "true")],
        vec![
            ("sequence.field", "s1,s2"),
            ("sequence.field.sort-order", "descending"),
        ],
    ] {
        schema(&cols, &["k"], &opts).unwrap_or_else(|e| panic!("{opts:?}: {e}"));
    }
}
