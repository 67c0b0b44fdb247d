use arrow::array::{AsArray, Int32Array, StringArray};
use arrow::datatypes::{Int32Type, Int64Type, Int8Type};
use strata_format::catalog::{Catalog, Identifier};
use strata_format::types::DataType;

use super::*;

async fn sort_merge(options: &[(&str, &str)]) -> (tempfile::TempDir, SortMerge) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(dir.path().to_str().unwrap()).unwrap();
    catalog.create_database("db", false).await.unwrap();
    let schema = TableSchema::new_for_create(
        [
            ("k", DataType::parse("INT").unwrap()),
            ("ts", DataType::parse("INT").unwrap()),
            ("v", DataType::parse("STRING").unwrap()),
        ],
        vec![],
        vec!["k".to_string()],
        options.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        None,
    )
    .unwrap();
    let table = catalog
        .create_table(&Identifier::new("db", "t").unwrap(), schema)
        .await
        .unwrap();
    let merge = MergeFunction::from_table(&table).unwrap();
    let sort = SortMerge::new(table.schema(), merge).unwrap();
    (dir, sort)
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
    let mut buffer = Buffer::default();
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
    assert_eq!(buffer.rows(), 6);
    let kv = sort.run(buffer.take()).unwrap().unwrap();
    assert!(buffer.is_empty() && buffer.bytes() == 0);
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
    let mut buffer = Buffer::default();
    buffer.push(
        rows(
            vec![1, 1, 1, 2, 2],
            vec![5, 9, 7, 1, 1],
            vec!["a", "b", "c", "d", "e"],
        ),
        &[0; 5],
        0,
    );
    let kv = sort.run(buffer).unwrap().unwrap();
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
    let mut buffer = Buffer::default();
    buffer.push(rows(vec![1, 1], vec![5, 9], vec!["a", "b"]), &[0, 0], 0);
    let kv = descending.run(buffer).unwrap().unwrap();
    assert_eq!(contents(&kv), vec![(1, 0, 0, "a".to_string())]);
}

#[tokio::test]
async fn ignore_delete_drops_keys_with_only_retractions() {
    let (_dir, sort) = sort_merge(&[("bucket", "1"), ("ignore-delete", "true")]).await;
    let mut buffer = Buffer::default();
    buffer.push(rows(vec![1], vec![0], vec!["a"]), &[3], 0);
    assert!(sort.run(buffer).unwrap().is_none());
    assert!(sort.run(Buffer::default()).unwrap().is_none());
}
