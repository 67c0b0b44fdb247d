use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::*;
use crate::error::ErrorKind;

fn opts(pairs: &[(&str, &str)]) -> Result<CoreOptions> {
    CoreOptions::from_map(pairs.iter().copied())
}

fn err(pairs: &[(&str, &str)]) -> String {
    match opts(pairs) {
        Ok(o) => panic!("{pairs:?} parsed: {o:?}"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::DataInvalid);
            e.to_string()
        }
    }
}

const MB: u64 = 1 << 20;

#[test]
fn defaults_match_paimon() {
    let o = opts(&[]).unwrap();
    assert_eq!(o.bucket(), -1);
    assert!(o.bucket_key().is_empty());
    assert_eq!(o.merge_engine(), MergeEngine::Deduplicate);
    assert!(o.sequence_fields().is_empty());
    assert_eq!(o.sequence_field_sort_order(), SortOrder::Ascending);
    assert!(!o.sequence_field_descending());
    assert_eq!(o.rowkind_field(), None);
    assert!(!o.ignore_delete());
    assert_eq!(o.changelog_producer(), ChangelogProducer::None);
    assert!(!o.deletion_vectors_enabled());
    assert_eq!(o.file_format(), &FileFormat::Parquet);
    assert_eq!(o.file_compression(), "zstd");
    assert_eq!(o.file_compression_zstd_level(), 1);
    assert_eq!(o.manifest_format(), &FileFormat::Avro);
    assert_eq!(o.manifest_compression(), "zstd");
    assert_eq!(o.target_file_size_option(), None);
    assert_eq!(o.target_file_size(true), 128 * MB);
    assert_eq!(o.target_file_size(false), 256 * MB);
    assert_eq!(o.write_buffer_size(), 256 * MB);
    assert!(o.write_buffer_spillable());
    assert_eq!(o.local_sort_max_num_file_handles(), 128);
    assert!(!o.write_only());
    assert_eq!(o.page_size(), 64 * 1024);
    assert_eq!(o.num_sorted_run_compaction_trigger(), 5);
    assert_eq!(o.num_sorted_run_stop_trigger(), 8);
    assert_eq!(o.num_levels(), 6);
    assert_eq!(o.compaction_max_size_amplification_percent(), 200);
    assert_eq!(o.compaction_size_ratio(), 1);
    assert_eq!(o.full_compaction_delta_commits(), None);
    assert_eq!(o.commit_max_retries(), 10);
    assert_eq!(o.commit_min_retry_wait(), Duration::from_millis(10));
    assert_eq!(o.commit_max_retry_wait(), Duration::from_secs(10));
    assert_eq!(o.snapshot_time_retained(), Duration::from_secs(3600));
    assert_eq!(o.snapshot_num_retained_min(), 10);
    assert_eq!(o.snapshot_num_retained_max(), i32::MAX);
    assert_eq!(o.snapshot_expire_limit(), 50);
    assert_eq!(o.manifest_merge_min_count(), 30);
    assert_eq!(o.manifest_target_file_size(), 8 * MB);
    assert_eq!(o.manifest_full_compaction_threshold_size(), 16 * MB);
    assert_eq!(o.partition_default_name(), "__DEFAULT_PARTITION__");
    assert!(o.partition_legacy_name());
    assert_eq!(o.data_file_prefix(), "data-");
    assert_eq!(o.changelog_file_prefix(), "changelog-");
    assert_eq!(o.deletion_vector_index_file_target_size(), 2 * MB);
    assert_eq!(o.metadata_stats_mode(), "truncate(16)");
}

#[test]
fn definitions_list_every_option_once_with_a_parsable_default() {
    let defs = CoreOptions::DEFINITIONS;
    assert!(defs.len() >= 45);
    for (i, d) in defs.iter().enumerate() {
        assert!(!d.description.is_empty(), "{}", d.key);
        assert!(
            defs.iter().take(i).all(|e| e.key != d.key),
            "{} twice",
            d.key
        );
        // Setting an option to its documented default changes nothing.
        if let Some(default) = d.default {
            let mut explicit = opts(&[(d.key, default)]).unwrap();
            let implicit = opts(&[]).unwrap();
            explicit.raw = implicit.raw.clone();
            assert_eq!(explicit, implicit, "{}", d.key);
        }
    }
}

#[test]
fn typed_values_parse() {
    let o = opts(&[
        ("bucket", " 4 "),
        ("bucket-key", "a, b,,c "),
        ("merge-engine", "Partial-Update"),
        ("sequence.field", "ts,seq"),
        ("sequence.field.sort-order", "DESCENDING"),
        ("rowkind.field", "op"),
        ("ignore-delete", "TRUE"),
        ("changelog-producer", "full-compaction"),
        ("deletion-vectors.enabled", "true"),
        ("file.format", "ORC"),
        ("file.compression", "lz4"),
        ("file.compression.zstd-level", "3"),
        ("target-file-size", "64mb"),
        ("write-buffer-size", "1 gb"),
        ("page-size", "256 kb"),
        ("num-sorted-run.compaction-trigger", "10"),
        ("num-sorted-run.stop-trigger", "4"),
        ("num-levels", "3"),
        ("full-compaction.delta-commits", "20"),
        ("commit.min-retry-wait", "30 s"),
        ("commit.max-retry-wait", "15 min"),
        ("snapshot.time-retained", "1d"),
        ("dynamic-bucket.target-row-num", "5000000000"),
        ("fields.a.aggregate-function", "sum"),
        ("file-index.bloom-filter.columns", "a"),
    ])
    .unwrap();
    assert_eq!(o.bucket(), 4);
    assert_eq!(o.bucket_key(), ["a", "b", "c"]);
    assert_eq!(o.merge_engine(), MergeEngine::PartialUpdate);
    assert_eq!(o.sequence_fields(), ["ts", "seq"]);
    assert!(o.sequence_field_descending());
    assert_eq!(o.rowkind_field(), Some("op"));
    assert!(o.ignore_delete());
    assert_eq!(o.changelog_producer(), ChangelogProducer::FullCompaction);
    assert!(o.deletion_vectors_enabled());
    assert_eq!(o.file_format(), &FileFormat::Orc);
    assert_eq!(o.file_compression(), "lz4");
    assert_eq!(o.file_compression_zstd_level(), 3);
    assert_eq!(o.target_file_size(true), 64 * MB);
    assert_eq!(o.write_buffer_size(), 1 << 30);
    assert_eq!(o.page_size(), 256 * 1024);
    // The stop trigger never falls below the compaction trigger.
    assert_eq!(o.num_sorted_run_stop_trigger(), 10);
    assert_eq!(o.num_levels(), 3);
    assert_eq!(o.full_compaction_delta_commits(), Some(20));
    assert_eq!(o.commit_min_retry_wait(), Duration::from_secs(30));
    assert_eq!(o.commit_max_retry_wait(), Duration::from_secs(900));
    assert_eq!(o.snapshot_time_retained(), Duration::from_secs(86_400));
    assert_eq!(o.dynamic_bucket_target_row_num(), 5_000_000_000);
    assert_eq!(o.field_option("a", "aggregate-function"), Some("sum"));
    assert_eq!(o.get("file-index.bloom-filter.columns"), Some("a"));
    let idx: Vec<_> = o.with_prefix("file-index.").collect();
    assert_eq!(idx, vec![("bloom-filter.columns", "a")]);
    let e = o.file_format_for_write().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("file.format 'orc'"), "{e}");
    assert!(opts(&[]).unwrap().file_format_for_write().is_ok());
    assert!(opts(&[]).unwrap().manifest_format_for_write().is_ok());
    assert!(opts(&[("manifest.format", "orc")])
        .unwrap()
        .manifest_format_for_write()
        .is_err());
}

#[test]
fn any_map_type_works_and_order_is_kept() {
    let btree: BTreeMap<String, String> = [("bucket".to_string(), "2".to_string())].into();
    assert_eq!(CoreOptions::from_map(&btree).unwrap().bucket(), 2);
    let hash: HashMap<&str, &str> = [("bucket", "3")].into();
    assert_eq!(CoreOptions::from_map(hash).unwrap().bucket(), 3);
    let o = opts(&[("z", "1"), ("a", "2"), ("m", "3")]).unwrap();
    let keys: Vec<&String> = o.raw().keys().collect();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[test]
fn ignore_delete_reads_legacy_keys() {
    for key in [
        "first-row.ignore-delete",
        "deduplicate.ignore-delete",
        "partial-update.ignore-delete",
    ] {
        assert!(opts(&[(key, "true")]).unwrap().ignore_delete(), "{key}");
    }
    assert!(!opts(&[
        ("ignore-delete", "false"),
        ("deduplicate.ignore-delete", "true")
    ])
    .unwrap()
    .ignore_delete());
}

#[test]
fn bad_values_name_option_and_value() {
    assert_eq!(
        err(&[("bucket", "x")]),
        "option 'bucket' must be an integer, got 'x'"
    );
    assert!(err(&[("bucket", "0")]).contains("option 'bucket' must be a positive number"));
    assert!(err(&[("bucket", "-3")]).contains("got '-3'"));
    assert_eq!(opts(&[("bucket", "-2")]).unwrap().bucket(), -2);
    assert_eq!(
        err(&[("commit.max-retries", "2147483648")]),
        "option 'commit.max-retries' must be an integer, got '2147483648'"
    );
    for fan_in in ["1", "-2", "many"] {
        assert_eq!(
            err(&[("local-sort.max-num-file-handles", fan_in)]),
            format!(
                "option 'local-sort.max-num-file-handles' must be an integer of at least 2, \
                 got '{fan_in}'"
            )
        );
    }
    assert_eq!(
        err(&[("write-only", "yes")]),
        "option 'write-only' must be true or false, got 'yes'"
    );
    assert_eq!(
        err(&[("merge-engine", "upsert")]),
        "option 'merge-engine' must be one of deduplicate, partial-update, aggregation, \
         first-row, got 'upsert'"
    );
    assert!(err(&[("changelog-producer", "always")]).contains("none, input, lookup"));
    assert!(err(&[("sequence.field.sort-order", "up")]).contains("ascending, descending"));
    let e = err(&[("write-buffer-size", "12 xb")]);
    assert!(
        e.starts_with(
            "option 'write-buffer-size' must be a memory size like '128 mb', got '12 xb'"
        ),
        "{e}"
    );
    assert!(e.contains("unknown unit 'xb'"), "{e}");
    let e = err(&[("snapshot.time-retained", "soon")]);
    assert!(
        e.starts_with("option 'snapshot.time-retained' must be a duration like '30 s', got 'soon'"),
        "{e}"
    );
    assert!(err(&[("target-file-size", "")]).contains("the value is empty"));
}

#[test]
fn memory_sizes() {
    let ok = [
        ("0", 0),
        ("1024", 1024),
        (" 7 ", 7),
        ("10b", 10),
        ("10 bytes", 10),
        ("256 kb", 256 << 10),
        ("1k", 1 << 10),
        ("2 kibibytes", 2 << 10),
        ("128 mb", 128 << 20),
        ("64mb", 64 << 20),
        ("3 M", 3 << 20),
        ("5 mebibytes", 5 << 20),
        ("1 gb", 1 << 30),
        ("2G", 2 << 30),
        ("1 gibibytes", 1 << 30),
        ("1 tb", 1 << 40),
        ("4 t", 4 << 40),
        ("1 tebibytes", 1 << 40),
    ];
    for (text, bytes) in ok {
        assert_eq!(parse_memory_size(text), Ok(bytes), "{text}");
    }
    let bad = [
        ("", "empty"),
        ("mb", "does not start with a number"),
        ("-1 mb", "does not start with a number"),
        ("1.5 gb", "unknown unit '.5 gb'"),
        ("12 pb", "unknown unit 'pb'"),
        ("99999999999999999999", "too large"),
        ("9000000 tb", "does not fit in 64 bits"),
        ("8589934592 gb", "does not fit in 64 bits"),
    ];
    for (text, why) in bad {
        let e = parse_memory_size(text).unwrap_err();
        assert!(e.contains(why), "{text}: {e}");
    }
}

#[test]
fn durations() {
    let ok = [
        ("250", Duration::from_millis(250)),
        ("10 ms", Duration::from_millis(10)),
        ("10 milli", Duration::from_millis(10)),
        ("3 milliseconds", Duration::from_millis(3)),
        ("5 ns", Duration::from_nanos(5)),
        ("5 nanoseconds", Duration::from_nanos(5)),
        ("7 µs", Duration::from_micros(7)),
        ("7 micro", Duration::from_micros(7)),
        ("30 s", Duration::from_secs(30)),
        ("30s", Duration::from_secs(30)),
        ("1 sec", Duration::from_secs(1)),
        ("2 seconds", Duration::from_secs(2)),
        ("15 min", Duration::from_secs(900)),
        ("2 m", Duration::from_secs(120)),
        ("1 minute", Duration::from_secs(60)),
        ("1 h", Duration::from_secs(3600)),
        ("2 hours", Duration::from_secs(7200)),
        ("1d", Duration::from_secs(86_400)),
        ("3 DAYS", Duration::from_secs(3 * 86_400)),
    ];
    for (text, d) in ok {
        assert_eq!(parse_duration(text), Ok(d), "{text}");
    }
    let bad = [
        ("", "empty"),
        ("h", "does not start with a number"),
        ("1 week", "unknown unit 'week'"),
        ("1.5 h", "unknown unit '.5 h'"),
        ("18446744073709551615 d", "too long"),
    ];
    for (text, why) in bad {
        let e = parse_duration(text).unwrap_err();
        assert!(e.contains(why), "{text}: {e}");
    }
}

proptest! {
    #[test]
    fn random_values_never_panic(key_index in 0usize..64, value in "\\PC{0,24}") {
        let defs = CoreOptions::DEFINITIONS;
        let key = defs.get(key_index % defs.len()).map(|d| d.key).unwrap_or("bucket");
        let _ = opts(&[(key, value.as_str())]);
        let _ = parse_memory_size(&value);
        let _ = parse_duration(&value);
    }

    #[test]
    fn memory_sizes_round_trip(n in 0u64..1_000_000, unit in 0usize..5) {
        let (name, shift) = [("b", 0), ("kb", 10), ("mb", 20), ("gb", 30), ("tb", 40)][unit];
        prop_assert_eq!(parse_memory_size(&format!("{n} {name}")), Ok(n << shift));
    }
}
