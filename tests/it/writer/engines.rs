//! Partial-update and aggregation tables written through `TableWriter` with small buffers
//! (several flushes per commit, each merging in the buffer), many commits and a reopened
//! writer, read back by Strata's merge-on-read and compared with plain models folded in
//! input order. The merge functions themselves are property-tested in `strata-format`;
//! these tests show that buffer merges, level-0 files and the reader compose into the same
//! result as one fold over every input row.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use strata_format::ErrorKind;
use strata_writer::TableWriter;

use super::{read_rows, Fixture};

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
        self.next() % n
    }

    /// `value()` with probability `1 - p_null/100`, else `None`.
    fn maybe<T>(&mut self, p_null: u64, value: impl FnOnce(&mut Self) -> T) -> Option<T> {
        (self.below(100) >= p_null).then(|| value(self))
    }
}

const SMALL_BUFFERS: [(&str, &str); 3] = [
    ("bucket", "2"),
    ("write-buffer-size", "4 kb"),
    ("target-file-size", "2 kb"),
];

fn options<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    SMALL_BUFFERS
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

fn null() -> String {
    "NULL".to_string()
}

fn show<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(null, |v| v.to_string())
}

/// One input row of the partial-update test: key, then three nullable columns.
type PartialRow = (i32, Option<i64>, Option<String>, Option<i32>);

fn partial_batch(rows: &[PartialRow]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "k",
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
        ),
        (
            "a",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
        ),
        (
            "b",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2.clone()))),
        ),
        (
            "c",
            Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.3))),
        ),
    ])
    .unwrap()
}

/// The last non-null value of each column of a key.
type PartialModel = (Option<i64>, Option<String>, Option<i32>);

/// Upserts of random columns: nulls never overwrite, so every column ends as the last
/// non-null value written for the key.
#[tokio::test]
async fn partial_update_against_a_model() {
    let fx = Fixture::new(
        &[("k", "INT"), ("a", "BIGINT"), ("b", "STRING"), ("c", "INT")],
        &["k"],
        &[],
        &options(&[("merge-engine", "partial-update")]),
    )
    .await;
    let mut rng = Rng(17);
    let mut model: BTreeMap<i32, PartialModel> = BTreeMap::new();
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    for commit in 1..=6i64 {
        if commit == 4 {
            writer = TableWriter::builder(fx.reload().await).build().unwrap();
        }
        for _ in 0..3 {
            let rows: Vec<PartialRow> = (0..20 + rng.below(120))
                .map(|_| {
                    let k = rng.below(40) as i32;
                    let a = rng.maybe(50, |r| r.next() as i64 >> 8);
                    let b = rng.maybe(50, |r| format!("b{}", r.below(1000)));
                    let c = rng.maybe(60, |r| r.below(100) as i32);
                    (k, a, b, c)
                })
                .collect();
            writer.write(&partial_batch(&rows)).await.unwrap();
            for (k, a, b, c) in rows {
                let row = model.entry(k).or_default();
                row.0 = a.or(row.0);
                row.1 = b.or(row.1.take());
                row.2 = c.or(row.2);
            }
        }
        writer.commit(commit).await.unwrap();
        let mut expected: Vec<Vec<String>> = model
            .iter()
            .map(|(k, (a, b, c))| vec![k.to_string(), show(a), show(b), show(c)])
            .collect();
        expected.sort();
        assert_eq!(
            read_rows(&fx.table).await,
            expected,
            "after commit {commit}"
        );
    }
}

/// `-D` with `partial-update.remove-record-on-delete` removes the row. As in Paimon, the
/// delete's values seed the key's row, so a later insert shows them where it is null.
#[tokio::test]
async fn partial_update_remove_record_on_delete() {
    let fx = Fixture::new(
        &[("k", "INT"), ("a", "BIGINT"), ("b", "STRING"), ("c", "INT")],
        &["k"],
        &[],
        &[
            ("bucket", "1"),
            ("merge-engine", "partial-update"),
            ("partial-update.remove-record-on-delete", "true"),
        ],
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let row = |k, a: Option<i64>, b: Option<&str>| (k, a, b.map(String::from), None);
    writer
        .write(&partial_batch(&[
            row(1, Some(1), Some("x")),
            row(2, Some(2), Some("y")),
        ]))
        .await
        .unwrap();
    writer.commit(1).await.unwrap();
    writer
        .write(&partial_batch(&[row(1, None, Some("z"))]))
        .await
        .unwrap();
    writer
        .write_with_kinds(&partial_batch(&[row(2, Some(2), Some("y"))]), &[3])
        .await
        .unwrap();
    writer.commit(2).await.unwrap();
    assert_eq!(
        read_rows(&fx.table).await,
        vec![vec!["1", "1", "z", "NULL"]]
    );
    writer
        .write(&partial_batch(&[row(2, None, Some("again"))]))
        .await
        .unwrap();
    writer.commit(3).await.unwrap();
    assert_eq!(
        read_rows(&fx.table).await,
        vec![vec!["1", "1", "z", "NULL"], vec!["2", "2", "again", "NULL"]]
    );
}

/// Per key: how many rows were written, and the fold of each column.
#[derive(Default)]
struct AggModel {
    rows: usize,
    last_kind: i8,
    total: Option<i64>,
    count: Option<i32>,
    high: Option<i64>,
    note: Option<String>,
}

impl AggModel {
    fn apply(&mut self, kind: i8, total: Option<i64>, high: Option<i64>, note: &Option<String>) {
        self.rows += 1;
        self.last_kind = kind;
        let add = matches!(kind, 0 | 2);
        // sum: add or subtract; a retraction of nothing yet is the negated value.
        if let Some(v) = total {
            self.total = Some(match (self.total, add) {
                (Some(t), true) => t + v,
                (Some(t), false) => t - v,
                (None, true) => v,
                (None, false) => -v,
            });
        }
        let one = if add { 1 } else { -1 };
        self.count = Some(self.count.unwrap_or(0) + one);
        // max with ignore-retract: retractions leave it alone.
        if add {
            self.high = match (self.high, high) {
                (Some(h), Some(v)) => Some(h.max(v)),
                (h, v) => h.or(v),
            };
        }
        // last_value: an insert sets it (null included), a retraction clears it.
        self.note = if add { note.clone() } else { None };
    }

    /// A key written once shows its row only if that row is not a retraction; merged
    /// versions come out as `+I`.
    fn visible(&self) -> bool {
        self.rows > 1 || matches!(self.last_kind, 0 | 2)
    }
}

/// sum, a count kept as a sum of ±1, max with `ignore-retract`, and `last_value`, under
/// random `+I`/`-U`/`+U`/`-D`: the functions whose retractions do not depend on where the
/// buffer flushed (`last_non_null_value` does, in Paimon too: see spec/merge-engines.md).
#[tokio::test]
async fn aggregation_with_retractions_against_a_model() {
    let fx = Fixture::new(
        &[
            ("k", "INT"),
            ("total", "BIGINT"),
            ("cnt", "INT"),
            ("high", "BIGINT"),
            ("note", "STRING"),
        ],
        &["k"],
        &[],
        &options(&[
            ("merge-engine", "aggregation"),
            ("fields.total.aggregate-function", "sum"),
            ("fields.cnt.aggregate-function", "sum"),
            ("fields.high.aggregate-function", "max"),
            ("fields.high.ignore-retract", "true"),
            ("fields.note.aggregate-function", "last_value"),
        ]),
    )
    .await;
    let mut rng = Rng(23);
    let mut model: BTreeMap<i32, AggModel> = BTreeMap::new();
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    for commit in 1..=6i64 {
        if commit == 4 {
            writer = TableWriter::builder(fx.reload().await).build().unwrap();
        }
        for _ in 0..3 {
            let n = 20 + rng.below(120) as usize;
            let mut keys = Vec::with_capacity(n);
            let mut kinds = Vec::with_capacity(n);
            let mut totals = Vec::with_capacity(n);
            let mut highs = Vec::with_capacity(n);
            let mut notes = Vec::with_capacity(n);
            for _ in 0..n {
                let k = rng.below(30) as i32;
                let kind = [0i8, 0, 0, 2, 2, 1, 3][rng.below(7) as usize];
                let total = rng.maybe(10, |r| r.below(1000) as i64 - 300);
                let high = rng.maybe(20, |r| r.below(1_000_000) as i64);
                let note = rng.maybe(40, |r| format!("n{}", r.below(100)));
                model.entry(k).or_default().apply(kind, total, high, &note);
                keys.push(k);
                kinds.push(kind);
                totals.push(total);
                highs.push(high);
                notes.push(note);
            }
            let batch = RecordBatch::try_from_iter([
                ("k", Arc::new(Int32Array::from(keys)) as ArrayRef),
                ("total", Arc::new(Int64Array::from(totals))),
                (
                    "cnt",
                    Arc::new(Int32Array::from(vec![Some(1); n])) as ArrayRef,
                ),
                ("high", Arc::new(Int64Array::from(highs))),
                ("note", Arc::new(StringArray::from(notes))),
            ])
            .unwrap();
            writer.write_with_kinds(&batch, &kinds).await.unwrap();
        }
        writer.commit(commit).await.unwrap();
        let expected: Vec<Vec<String>> = model
            .iter()
            .filter(|(_, m)| m.visible())
            .map(|(k, m)| {
                vec![
                    k.to_string(),
                    show(&m.total),
                    show(&m.count),
                    show(&m.high),
                    show(&m.note),
                ]
            })
            .collect();
        let mut expected = expected;
        expected.sort();
        assert_eq!(
            read_rows(&fx.table).await,
            expected,
            "after commit {commit}"
        );
    }
}

fn amounts(keys: &[i32], amounts: &[i64]) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("k", Arc::new(Int32Array::from(keys.to_vec())) as ArrayRef),
        ("amount", Arc::new(Int64Array::from(amounts.to_vec()))),
    ])
    .unwrap()
}

/// The changes of a deduplicate table, fed to a `sum` table, keep the sum right: an update
/// 10 → 30 arrives as `+I 10`, `-U 10`, `+U 30` and sums to 30 (not 40); a delete then
/// gives 0, or no row with `aggregation.remove-record-on-delete`. Each change is written
/// and committed on its own, so the retraction meets the earlier value in another file.
#[tokio::test]
async fn retractions_from_a_deduplicate_table_keep_a_sum_right() {
    for remove_on_delete in [false, true] {
        let mut opts = vec![
            ("bucket", "1"),
            ("merge-engine", "aggregation"),
            ("fields.amount.aggregate-function", "sum"),
        ];
        if remove_on_delete {
            opts.push(("aggregation.remove-record-on-delete", "true"));
        }
        let fx = Fixture::new(&[("k", "INT"), ("amount", "BIGINT")], &["k"], &[], &opts).await;
        let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
        let changes: [(i8, i64); 3] = [(0, 10), (1, 10), (2, 30)];
        for (i, (kind, amount)) in changes.iter().enumerate() {
            writer
                .write_with_kinds(&amounts(&[1], &[*amount]), &[*kind])
                .await
                .unwrap();
            writer.commit(i as i64 + 1).await.unwrap();
        }
        assert_eq!(read_rows(&fx.table).await, vec![vec!["1", "30"]]);

        // The same changes in one buffer merge to the same sum.
        writer
            .write_with_kinds(&amounts(&[2, 2, 2], &[10, 10, 30]), &[0, 1, 2])
            .await
            .unwrap();
        writer.commit(4).await.unwrap();
        assert_eq!(
            read_rows(&fx.table).await,
            vec![vec!["1", "30"], vec!["2", "30"]]
        );

        writer
            .write_with_kinds(&amounts(&[1], &[30]), &[3])
            .await
            .unwrap();
        writer.commit(5).await.unwrap();
        let expected = if remove_on_delete {
            vec![vec!["2", "30"]]
        } else {
            vec![vec!["1", "0"], vec!["2", "30"]]
        };
        assert_eq!(
            read_rows(&fx.table).await,
            expected,
            "remove-record-on-delete = {remove_on_delete}"
        );
    }
}

/// Retractions an engine can never apply are refused at `write`, before anything is
/// buffered, with the reason and the option that would allow them.
#[tokio::test]
async fn retractions_an_engine_cannot_merge_are_refused_at_write() {
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("merge-engine", "partial-update")],
            "partial-update.remove-record-on-delete",
        ),
        (
            &[
                ("merge-engine", "aggregation"),
                ("fields.amount.aggregate-function", "max"),
            ],
            "amount (max)",
        ),
        (&[("merge-engine", "first-row")], "ignore-delete"),
    ];
    for (extra, needle) in cases {
        let mut opts = vec![("bucket", "1")];
        opts.extend_from_slice(extra);
        let fx = Fixture::new(&[("k", "INT"), ("amount", "BIGINT")], &["k"], &[], &opts).await;
        let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
        writer.write(&amounts(&[1], &[5])).await.unwrap();
        let err = writer
            .write_with_kinds(&amounts(&[1, 2], &[5, 6]), &[0, 3])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{extra:?}");
        assert!(err.to_string().contains(needle), "{extra:?}: {err}");
        assert!(err.to_string().contains("1 -U/-D rows"), "{err}");
        // The refused batch left nothing behind; the earlier row commits.
        assert_eq!(writer.buffered_rows(), 1);
        writer.commit(1).await.unwrap();
        assert_eq!(read_rows(&fx.table).await, vec![vec!["1", "5"]]);
    }
    // With ignore-update-before a -U is dropped, so a max table takes +I/-U/+U.
    let fx = Fixture::new(
        &[("k", "INT"), ("amount", "BIGINT")],
        &["k"],
        &[],
        &[
            ("bucket", "1"),
            ("merge-engine", "aggregation"),
            ("fields.amount.aggregate-function", "max"),
            ("ignore-update-before", "true"),
        ],
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    writer
        .write_with_kinds(&amounts(&[1, 1, 1], &[10, 10, 7]), &[0, 1, 2])
        .await
        .unwrap();
    writer.commit(1).await.unwrap();
    assert_eq!(read_rows(&fx.table).await, vec![vec!["1", "10"]]);
}
