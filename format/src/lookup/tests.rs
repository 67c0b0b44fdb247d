//! Lookup files built from real data files: every key found at its position, absent keys
//! not found, values decoded; the cache bounded by disk, memory and retention, correct
//! after eviction mid-use, never serving a file built for another data file.

use std::time::Duration;

use arrow_array::StringArray;
use proptest::prelude::*;

use super::*;
use crate::paths::PartitionPath;
use crate::test_table::{self, key_column, rows, write_file, Row, DELETE, INSERT};

fn unbounded() -> CacheLimits {
    CacheLimits {
        max_disk_bytes: None,
        max_memory_bytes: u64::MAX,
        retention: Duration::from_secs(3600),
    }
}

fn encode(spec: &LookupSpec, key: i64) -> Vec<u8> {
    let rows = spec
        .key_encoder()
        .unwrap()
        .encode(&key_column(&[key]))
        .unwrap();
    rows.row(0).as_ref().to_vec()
}

#[tokio::test]
async fn finds_every_key_at_its_position_with_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let table = test_table::table(dir.path(), &[]).await;
    // Even keys only, enough rows for many blocks.
    let mut data: Vec<Row> = rows((0..20_000).step_by(2), 100, "v");
    data[7].2 = DELETE;
    let file = write_file(&table, 1, &data).await;
    let cache = LookupCache::open(dir.path().join("cache"), unbounded()).unwrap();
    let value_field = table.schema().field("v").unwrap().clone();
    let spec = LookupSpec::keys(&table)
        .unwrap()
        .with_values(vec![value_field]);
    let lookup = cache
        .get(&table, &PartitionPath::unpartitioned(), 0, &file, &spec)
        .await
        .unwrap();
    assert_eq!(lookup.len(), 10_000);
    assert!(lookup.disk_bytes() > 20 * BLOCK_BYTES as u64);
    let codec = spec.value_codec().unwrap().unwrap();
    for (position, (k, seq, kind, v)) in data.iter().enumerate() {
        let found = lookup.get(&encode(&spec, *k)).unwrap().unwrap();
        assert_eq!(found.position, position as u64);
        assert_eq!((found.sequence, found.kind), (*seq, *kind));
        let value = found.value.unwrap();
        let decoded = codec.decode(&[value.as_slice()]).unwrap();
        let s = decoded[0].as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(s.value(0), v);
        // Odd keys, and keys beyond both ends, are absent.
        assert_eq!(lookup.get(&encode(&spec, k + 1)).unwrap(), None);
    }
    assert_eq!(lookup.get(&encode(&spec, -5)).unwrap(), None);
    assert_eq!(lookup.get(&encode(&spec, 1_000_000)).unwrap(), None);
}

#[tokio::test]
async fn unsorted_and_repeated_keys_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let table = test_table::table(dir.path(), &[]).await;
    let data: Vec<Row> = vec![
        (9, 1, INSERT, "a".into()),
        (3, 2, INSERT, "b".into()),
        (9, 5, INSERT, "c".into()),
        (-4, 3, INSERT, "d".into()),
    ];
    let file = write_file(&table, 0, &data).await;
    let cache = LookupCache::open(dir.path().join("cache"), unbounded()).unwrap();
    let spec = LookupSpec::keys(&table).unwrap();
    let lookup = cache
        .get(&table, &PartitionPath::unpartitioned(), 0, &file, &spec)
        .await
        .unwrap();
    let all = lookup.get_all(&encode(&spec, 9)).unwrap();
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![0, 2]
    );
    assert_eq!(lookup.get(&encode(&spec, 9)).unwrap().unwrap().sequence, 5);
    assert_eq!(lookup.get(&encode(&spec, -4)).unwrap().unwrap().position, 3);
    assert_eq!(lookup.get(&encode(&spec, 3)).unwrap().unwrap().position, 1);
    assert!(lookup.get(&encode(&spec, 4)).unwrap().is_none());
}

#[tokio::test]
async fn disk_bound_evicts_least_recently_used_and_evicted_files_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let table = test_table::table(dir.path(), &[]).await;
    let a = write_file(&table, 1, &rows(0..3000, 0, "a")).await;
    let b = write_file(&table, 2, &rows(0..3000, 0, "b")).await;
    let spec = LookupSpec::keys(&table).unwrap();
    let p = PartitionPath::unpartitioned();
    // Room for about one file.
    let probe = LookupCache::open(dir.path().join("probe"), unbounded()).unwrap();
    let size = probe
        .get(&table, &p, 0, &a, &spec)
        .await
        .unwrap()
        .disk_bytes();
    let limits = CacheLimits {
        max_disk_bytes: Some(size + size / 2),
        ..unbounded()
    };
    let cache_dir = dir.path().join("cache");
    let cache = LookupCache::open(&cache_dir, limits).unwrap();
    let la = cache.get(&table, &p, 0, &a, &spec).await.unwrap();
    let lb = cache.get(&table, &p, 0, &b, &spec).await.unwrap();
    assert!(cache.disk_bytes() <= size + size / 2);
    assert_eq!(
        std::fs::read_dir(&cache_dir).unwrap().count(),
        1,
        "a was evicted"
    );
    // The evicted file still answers through its open handle.
    assert_eq!(
        la.get(&encode(&spec, 1234)).unwrap().unwrap().position,
        1234
    );
    assert_eq!(lb.get(&encode(&spec, 77)).unwrap().unwrap().position, 77);
    // Asking again rebuilds it, evicting b.
    let la2 = cache.get(&table, &p, 0, &a, &spec).await.unwrap();
    assert!(!Arc::ptr_eq(&la, &la2));
    assert_eq!(
        la2.get(&encode(&spec, 2999)).unwrap().unwrap().position,
        2999
    );
    assert_eq!(std::fs::read_dir(&cache_dir).unwrap().count(), 1);
}

#[tokio::test]
async fn memory_bound_and_retention_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let table = test_table::table(dir.path(), &[]).await;
    let a = write_file(&table, 1, &rows(0..100, 0, "a")).await;
    let b = write_file(&table, 2, &rows(0..100, 0, "b")).await;
    let spec = LookupSpec::keys(&table).unwrap();
    let p = PartitionPath::unpartitioned();
    let cache = LookupCache::open(
        dir.path().join("m"),
        CacheLimits {
            max_memory_bytes: 1,
            ..unbounded()
        },
    )
    .unwrap();
    cache.get(&table, &p, 0, &a, &spec).await.unwrap();
    let lb = cache.get(&table, &p, 0, &b, &spec).await.unwrap();
    // Only the newest file stays open; a stays on disk and reopens without a rebuild.
    assert_eq!(cache.memory_bytes(), lb.memory_bytes());
    assert_eq!(std::fs::read_dir(dir.path().join("m")).unwrap().count(), 2);
    let la = cache.get(&table, &p, 0, &a, &spec).await.unwrap();
    assert_eq!(la.get(&encode(&spec, 5)).unwrap().unwrap().position, 5);

    let cache = LookupCache::open(
        dir.path().join("r"),
        CacheLimits {
            retention: Duration::ZERO,
            ..unbounded()
        },
    )
    .unwrap();
    cache.get(&table, &p, 0, &a, &spec).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    cache.get(&table, &p, 0, &b, &spec).await.unwrap();
    assert_eq!(std::fs::read_dir(dir.path().join("r")).unwrap().count(), 1);
}

#[tokio::test]
async fn a_reopened_cache_never_serves_a_wrong_or_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let table = test_table::table(dir.path(), &[]).await;
    let a = write_file(&table, 1, &rows(0..500, 0, "a")).await;
    let b = write_file(&table, 2, &rows(1000..1500, 0, "b")).await;
    let spec = LookupSpec::keys(&table).unwrap();
    let p = PartitionPath::unpartitioned();
    let cache_dir = dir.path().join("cache");
    let names = {
        let cache = LookupCache::open(&cache_dir, unbounded()).unwrap();
        cache.get(&table, &p, 0, &a, &spec).await.unwrap();
        cache.get(&table, &p, 0, &b, &spec).await.unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&cache_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        names
    };
    // A restarted process finds the files and uses them.
    let cache = LookupCache::open(&cache_dir, unbounded()).unwrap();
    assert_eq!(
        cache.disk_bytes(),
        names
            .iter()
            .map(|n| n.metadata().unwrap().len())
            .sum::<u64>()
    );
    // b's bytes under a's name are detected and a is rebuilt; so is a truncated file.
    let (name_a, name_b) = if names[0].to_string_lossy().contains(&a.file_name) {
        (&names[0], &names[1])
    } else {
        (&names[1], &names[0])
    };
    std::fs::copy(name_b, name_a).unwrap();
    let la = cache.get(&table, &p, 0, &a, &spec).await.unwrap();
    assert_eq!(la.get(&encode(&spec, 42)).unwrap().unwrap().position, 42);
    assert!(la.get(&encode(&spec, 1042)).unwrap().is_none());
    let cache = LookupCache::open(&cache_dir, unbounded()).unwrap();
    let bytes = std::fs::read(name_b).unwrap();
    std::fs::write(name_b, &bytes[..bytes.len() - 3]).unwrap();
    let lb = cache.get(&table, &p, 0, &b, &spec).await.unwrap();
    assert_eq!(lb.get(&encode(&spec, 1499)).unwrap().unwrap().position, 499);
}

proptest! {
    #[test]
    fn garbage_lookup_files_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), key in prop::collection::vec(any::<u8>(), 0..12)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lookup");
        // Half the cases carry a valid header so the footer and index parsers are reached.
        let identity = "id";
        let mut data = b"STRLKUP1".to_vec();
        data.extend_from_slice(&2u32.to_le_bytes());
        data.extend_from_slice(identity.as_bytes());
        if bytes.first().is_some_and(|b| b % 2 == 0) {
            data.extend_from_slice(&bytes);
        } else {
            data = bytes.clone();
        }
        std::fs::write(&path, &data).unwrap();
        if let Ok(f) = LookupFile::open(&path, identity) {
            let _ = f.get_all(&key);
        }
    }
}
