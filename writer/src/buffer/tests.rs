use arrow::array::{AsArray, Int32Array, StringArray};
use arrow::datatypes::{Int32Type, Int64Type, Int8Type};

use super::*;

/// The sort of a table with `columns` (name, type), primary key `k`.
async fn table_sort(
    columns: &[(&str, &str)],
    options: &[(&str, &str)],
) -> (tempfile::TempDir, Arc<SortMerge>) {
    let dir = tempfile::tempdir().unwrap();
    let table = crate::test_table::table(dir.path(), columns, &["k"], options).await;
    let merge = MergeFunction::from_table(&table).unwrap();
    let sort = SortMerge::new(table.schema(), merge).unwrap();
    (dir, Arc::new(sort))
}

/// (k INT, ts INT, v STRING).
async fn sort_merge(options: &[(&str, &str)]) -> (tempfile::TempDir, Arc<SortMerge>) {
    table_sort(&[("k", "INT"), ("ts", "INT"), ("v", "STRING")], options).await
}

/// One bucket's rows with the pool they are in.
struct Buffered {
    sort: Arc<SortMerge>,
    pool: Pool,
    buffer: Buffer,
}

impl Buffered {
    fn new(sort: &Arc<SortMerge>) -> Self {
        Buffered {
            sort: sort.clone(),
            pool: Pool::default(),
            buffer: Buffer::default(),
        }
    }

    fn push(&mut self, batch: RecordBatch, kinds: &[i8], first_sequence: i64) {
        let rows: Vec<u32> = (0..batch.num_rows() as u32).collect();
        let (arranged, runs) = self.sort.arrange(&batch, kinds, &[&rows]).unwrap();
        let (index, _) = self.pool.push(arranged).unwrap();
        for run in runs {
            self.buffer.push(index, run, first_sequence);
        }
    }
}

/// The bucket sorted and merged, its chunks in one batch.
fn run(sort: &Arc<SortMerge>, b: Buffered) -> Result<Option<RecordBatch>> {
    let drain = sort.drain(b.pool);
    let Some(sorted) = drain.run(b.buffer, false)?.0 else {
        return Ok(None);
    };
    let chunks = sorted.collect::<Result<Vec<_>>>()?;
    Ok(Some(arrow::compute::concat_batches(
        &sort.kv_schema,
        &chunks,
    )?))
}

fn rows(k: Vec<i32>, ts: Vec<i32>, v: Vec<&str>) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("k", Arc::new(Int32Array::from(k)) as ArrayRef),
        ("ts", Arc::new(Int32Array::from(ts))),
        ("v", Arc::new(StringArray::from(v))),
    ])
    .unwrap()
}

/// (key, sequence, kind, v) of each row of a key-value batch.
fn contents(kv: &RecordBatch) -> Vec<(i32, i64, i8, String)> {
    let k = kv.column(0).as_primitive::<Int32Type>();
    let seq = kv.column(1).as_primitive::<Int64Type>();
    let kind = kv.column(2).as_primitive::<Int8Type>();
    let v = kv.column(5).as_string::<i32>();
    (0..kv.num_rows())
        .map(|i| {
            (
                k.value(i),
                seq.value(i),
                kind.value(i),
                v.value(i).to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sorts_by_key_and_keeps_one_version_per_key() {
    let (_dir, sort) = sort_merge(&[("bucket", "1")]).await;
    let mut buffer = Buffered::new(&sort);
    buffer.push(
        rows(vec![3, 1, 2], vec![0; 3], vec!["a", "b", "c"]),
        &[0, 0, 0],
        10,
    );
    buffer.push(
        rows(vec![1, 3, 2], vec![0; 3], vec!["d", "e", "f"]),
        &[2, 3, 1],
        13,
    );
    assert_eq!(buffer.buffer.rows(), 6);
    let kv = run(&sort, buffer).unwrap().unwrap();
    // Key 1 updated, key 3 deleted and key 2 retracted: the retractions are kept.
    assert_eq!(
        contents(&kv),
        vec![
            (1, 13, 2, "d".to_string()),
            (2, 15, 1, "f".to_string()),
            (3, 14, 3, "e".to_string()),
        ]
    );
    assert_eq!(kv.schema().field(0).name(), "_KEY_k");
    assert!(kv.column(0).as_ref() == kv.column(3).as_ref());
}

#[tokio::test]
async fn sequence_field_orders_versions_before_arrival() {
    let (_dir, sort) = sort_merge(&[("bucket", "1"), ("sequence.field", "ts")]).await;
    let mut buffer = Buffered::new(&sort);
    buffer.push(
        rows(
            vec![1, 1, 1, 2, 2],
            vec![5, 9, 7, 1, 1],
            vec!["a", "b", "c", "d", "e"],
        ),
        &[0; 5],
        0,
    );
    let kv = run(&sort, buffer).unwrap().unwrap();
    // Highest ts wins; equal ts falls back to arrival.
    assert_eq!(
        contents(&kv),
        vec![(1, 1, 0, "b".to_string()), (2, 4, 0, "e".to_string())]
    );
    let (_dir, descending) = sort_merge(&[
        ("bucket", "1"),
        ("sequence.field", "ts"),
        ("sequence.field.sort-order", "descending"),
    ])
    .await;
    let mut buffer = Buffered::new(&sort);
    buffer.push(rows(vec![1, 1], vec![5, 9], vec!["a", "b"]), &[0, 0], 0);
    let kv = run(&descending, buffer).unwrap().unwrap();
    assert_eq!(contents(&kv), vec![(1, 0, 0, "a".to_string())]);
}

#[tokio::test]
async fn ignore_delete_drops_keys_with_only_retractions() {
    let (_dir, sort) = sort_merge(&[("bucket", "1"), ("ignore-delete", "true")]).await;
    let mut buffer = Buffered::new(&sort);
    buffer.push(rows(vec![1], vec![0], vec!["a"]), &[3], 0);
    assert!(run(&sort, buffer).unwrap().is_none());
    assert!(run(&sort, Buffered::new(&sort)).unwrap().is_none());
}

/// (key, sequence, kind, v) of a key-value batch of a (k STRING, v INT) table.
fn string_contents(kv: &RecordBatch) -> Vec<(String, i64, i8, Option<i32>)> {
    let k = kv.column(0).as_string::<i32>();
    let seq = kv.column(1).as_primitive::<Int64Type>();
    let kind = kv.column(2).as_primitive::<Int8Type>();
    let v = kv.column(4).as_primitive::<Int32Type>();
    (0..kv.num_rows())
        .map(|i| {
            let value = (!v.is_null(i)).then(|| v.value(i));
            (k.value(i).to_string(), seq.value(i), kind.value(i), value)
        })
        .collect()
}

/// The expected drain of one bucket: key → (sequence, kind, v) of its last version.
type Model = std::collections::BTreeMap<String, (i64, i8, Option<i32>)>;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    /// Two buckets' rows interleaved in one pool of several batches, more rows than a
    /// chunk: each bucket drains to its rows' last version per key, in key order, with its
    /// own sequence numbers, whatever the batch sizes (runs) and key lengths.
    #[test]
    fn buckets_sharing_a_pool_drain_to_the_model(
        rows in proptest::collection::vec((0u32..3000, 0i8..4, proptest::option::of(0i32..100)), 9000..20000),
        batch in 1usize..9000,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (_dir, sort) = runtime.block_on(table_sort(&[("k", "STRING"), ("v", "INT")], &[("bucket", "2")]));
        // Keys share 20 bytes and differ in length; the bucket is the key's parity.
        let key = |n: u32| format!("{}{n}", "k".repeat(20));
        let mut pool = Pool::default();
        let mut buffers = [Buffer::default(), Buffer::default()];
        let first = [100i64, 1_000_000];
        let mut model: [Model; 2] = Default::default();
        for part in rows.chunks(batch) {
            let keys: Vec<String> = part.iter().map(|r| key(r.0)).collect();
            let values: Vec<Option<i32>> = part.iter().map(|r| r.2).collect();
            let kinds: Vec<i8> = part.iter().map(|r| r.1).collect();
            let batch = RecordBatch::try_from_iter([
                ("k", Arc::new(StringArray::from(keys.clone())) as ArrayRef),
                ("v", Arc::new(Int32Array::from(values.clone()))),
            ])
            .unwrap();
            let mine: Vec<Vec<u32>> = (0..2)
                .map(|b| {
                    (0..part.len() as u32)
                        .filter(|i| part[*i as usize].0 as usize % 2 == b)
                        .collect()
                })
                .collect();
            let groups: Vec<&[u32]> = mine.iter().map(|m| m.as_slice()).collect();
            let (arranged, runs) = sort.arrange(&batch, &kinds, &groups).unwrap();
            let (index, _) = pool.push(arranged).unwrap();
            for (b, (buffer, run)) in buffers.iter_mut().zip(runs).enumerate() {
                let next = first[b] + buffer.rows() as i64;
                for (at, &i) in mine[b].iter().enumerate() {
                    let i = i as usize;
                    model[b].insert(keys[i].clone(), (next + at as i64, kinds[i], values[i]));
                }
                buffer.push(index, run, next);
            }
        }
        let drain = sort.drain(pool);
        for (b, buffer) in buffers.into_iter().enumerate() {
            let got = match drain.run(buffer, false).unwrap().0 {
                Some(sorted) => {
                    let chunks = sorted.collect::<Result<Vec<_>>>().unwrap();
                    proptest::prop_assert!(chunks.iter().all(|c| c.num_rows() <= CHUNK_ROWS));
                    let all = arrow::compute::concat_batches(&sort.kv_schema, &chunks).unwrap();
                    string_contents(&all)
                }
                None => Vec::new(),
            };
            let want: Vec<_> = model[b]
                .iter()
                .map(|(k, (seq, kind, v))| (k.clone(), *seq, *kind, *v))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}

/// Partial-update rows computed from several versions come out in key order, each at its
/// place, across chunk boundaries.
#[tokio::test]
async fn computed_rows_keep_their_place_across_chunks() {
    let (_dir, sort) = sort_merge(&[("bucket", "1"), ("merge-engine", "partial-update")]).await;
    let mut buffer = Buffered::new(&sort);
    let mut model: std::collections::BTreeMap<i32, (i32, Option<String>)> = Default::default();
    let mut next = 0i64;
    // Each round 7/8 of a chunk's rows over a key space of 9/8 of a chunk (7 is prime to
    // it): more keys than one chunk holds.
    let chunk = CHUNK_ROWS as i32;
    for round in 0..3 {
        let n = chunk / 8 * 7;
        let keys: Vec<i32> = (0..n)
            .map(|i| (i * 7 + round * 3) % (chunk / 8 * 9))
            .collect();
        let ts: Vec<i32> = (0..n).map(|i| round * 100_000 + i).collect();
        // Every third value is null: partial-update keeps the older one.
        let values: Vec<Option<String>> = (0..n)
            .map(|i| (i % 3 != 0).then(|| format!("r{round}-{i}")))
            .collect();
        for i in 0..n as usize {
            let entry = model.entry(keys[i]).or_insert((0, None));
            entry.0 = ts[i];
            if values[i].is_some() {
                entry.1 = values[i].clone();
            }
        }
        let batch = RecordBatch::try_from_iter([
            ("k", Arc::new(Int32Array::from(keys)) as ArrayRef),
            ("ts", Arc::new(Int32Array::from(ts))),
            ("v", Arc::new(StringArray::from(values))),
        ])
        .unwrap();
        buffer.push(batch, &vec![0; n as usize], next);
        next += i64::from(n);
    }
    let kv = run(&sort, buffer).unwrap().unwrap();
    assert!(kv.num_rows() > CHUNK_ROWS);
    let k = kv.column(0).as_primitive::<Int32Type>();
    let ts = kv.column(4).as_primitive::<Int32Type>();
    let v = kv.column(5).as_string::<i32>();
    let got: Vec<(i32, (i32, Option<String>))> = (0..kv.num_rows())
        .map(|i| {
            let value = (!v.is_null(i)).then(|| v.value(i).to_string());
            (k.value(i), (ts.value(i), value))
        })
        .collect();
    let want: Vec<(i32, (i32, Option<String>))> = model.into_iter().collect();
    assert_eq!(got, want);
}

/// The sort by (prefix, index) packs the index into prefixes that end in 32 zero bits (a
/// BIGINT key's) and sorts pairs otherwise: both order as the pairs would, ties by index,
/// for random input and for sorted runs.
#[test]
fn prefix_sort_orders_by_prefix_then_index() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Few distinct values (many prefixes tie), or BIGINT-like keys: random 64 bits under a
    // marker byte, sorted by buckets of their leading bits.
    let cases: [(u32, u64, usize); 5] = [
        (0, 40, 3000),
        (32, 40, 3000),
        (56, 40, 3000),
        (56, u64::MAX, 3000),
        (56, u64::MAX, 200_000),
    ];
    for (shift, distinct, len) in cases {
        for runs in [false, true] {
            let mut prefixes: Vec<u128> = (0..len)
                .map(|_| {
                    let v = u128::from(next() % distinct) << shift;
                    if distinct == u64::MAX {
                        1 << 120 | v
                    } else {
                        v | u128::from(next() % 2) << 100
                    }
                })
                .collect();
            if runs {
                for chunk in prefixes.chunks_mut(250) {
                    chunk.sort();
                }
            }
            let mut want: Vec<(u128, u32)> = (prefixes.iter().enumerate())
                .map(|(i, p)| (*p, i as u32))
                .collect();
            want.sort();
            let got = sort_by_prefix(prefixes, runs);
            assert_eq!(got, want, "prefixes shifted by {shift}, runs {runs}");
        }
    }
}
