//! Table options: [`CoreOptions`], one typed struct parsed from a schema's option map.
//!
//! Names, types and defaults are Paimon 1.4's (`CoreOptions.java`); each option is declared
//! once in the `core_options!` table below with its default spelled the way Paimon spells it,
//! and that default goes through the same parser as user values. [`CoreOptions::DEFINITIONS`]
//! lists them. Options without a typed accessor (`fields.<f>.aggregate-function`,
//! `partial-update.*`, `file-index.*`, ...) stay in the raw map: [`CoreOptions::get`].
//!
//! Values parse as Paimon parses them: integers and booleans trimmed (`true`/`false` in any
//! case), memory sizes like `128 mb`, `64mb`, `1 gb`, `256 kb`, `1024` (bytes), durations like
//! `1 h`, `30 s`, `10 ms`, `1d`, `15 min`, `500` (millis), enums case-insensitively. A bad value
//! is an error naming the option and the value.

use std::time::Duration;

use indexmap::IndexMap;

use crate::error::{Error, Result};
use crate::invalid;

/// An option map in the order its entries were written.
pub type OptionMap = IndexMap<String, String>;

/// How rows with the same primary key combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MergeEngine {
    Deduplicate,
    PartialUpdate,
    Aggregation,
    FirstRow,
}

/// When changelog files are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangelogProducer {
    None,
    Input,
    Lookup,
    FullCompaction,
}

/// How tags are created automatically (`tag.automatic-creation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagCreationMode {
    None,
    /// From each snapshot's commit time.
    ProcessTime,
    /// From each snapshot's watermark.
    Watermark,
    /// After a batch job; Strata treats it like `none` (nothing runs "after the job").
    Batch,
}

/// How long one automatic tag period is (`tag.creation-period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagCreationPeriod {
    Daily,
    Hourly,
    TwoHours,
}

/// How automatic tag names spell their period (`tag.period-formatter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagPeriodFormatter {
    WithDashes,
    WithoutDashes,
    WithoutDashesAndSpaces,
}

/// Order of `sequence.field` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// A data or manifest file format. Unknown names are kept so reads can name them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileFormat {
    Parquet,
    Orc,
    Avro,
    Other(String),
}

macro_rules! string_enum {
    ($ty:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                }
            }

            fn parse(key: &str, value: &str) -> Result<Self> {
                let v = value.trim();
                $(if v.eq_ignore_ascii_case($name) {
                    return Ok($ty::$variant);
                })*
                Err(invalid!(
                    "option '{key}' must be one of {}, got '{value}'",
                    Self::NAMES.join(", ")
                ))
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(MergeEngine {
    Deduplicate = "deduplicate",
    PartialUpdate = "partial-update",
    Aggregation = "aggregation",
    FirstRow = "first-row",
});

string_enum!(ChangelogProducer {
    None = "none",
    Input = "input",
    Lookup = "lookup",
    FullCompaction = "full-compaction",
});

string_enum!(TagCreationMode {
    None = "none",
    ProcessTime = "process-time",
    Watermark = "watermark",
    Batch = "batch",
});

string_enum!(TagCreationPeriod {
    Daily = "daily",
    Hourly = "hourly",
    TwoHours = "two-hours",
});

string_enum!(TagPeriodFormatter {
    WithDashes = "with_dashes",
    WithoutDashes = "without_dashes",
    WithoutDashesAndSpaces = "without_dashes_and_spaces",
});

string_enum!(SortOrder {
    Ascending = "ascending",
    Descending = "descending",
});

impl FileFormat {
    pub fn as_str(&self) -> &str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Orc => "orc",
            FileFormat::Avro => "avro",
            FileFormat::Other(name) => name,
        }
    }

    fn parse(_key: &str, value: &str) -> Result<Self> {
        let v = value.trim().to_ascii_lowercase();
        Ok(match v.as_str() {
            "parquet" => FileFormat::Parquet,
            "orc" => FileFormat::Orc,
            "avro" => FileFormat::Avro,
            _ => FileFormat::Other(v),
        })
    }
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One typed option, for documentation and help output.
#[derive(Debug, Clone, Copy)]
pub struct OptionDefinition {
    pub key: &'static str,
    /// The default as Paimon spells it; `None` when the option is unset by default.
    pub default: Option<&'static str>,
    pub description: &'static str,
}

/// Declares the typed options once: field, key, default (or `None`), parser, doc.
macro_rules! core_options {
    ($( #[doc = $doc:literal] $field:ident: $ty:ty = $key:literal, $default:expr, $parse:ident; )*) => {
        /// Typed table options; see the module docs. Accessors return the value or its default.
        #[derive(Debug, Clone, PartialEq)]
        pub struct CoreOptions {
            raw: OptionMap,
            $($field: $ty,)*
        }

        impl CoreOptions {
            /// Every typed option with its key, default and meaning.
            pub const DEFINITIONS: &'static [OptionDefinition] = &[
                $(OptionDefinition { key: $key, default: $default, description: $doc.trim_ascii() },)*
            ];

            fn parse_typed(raw: OptionMap) -> Result<CoreOptions> {
                $(let $field: $ty = $parse($key, lookup(&raw, $key).or($default))?;)*
                Ok(CoreOptions { raw, $($field,)* })
            }
        }
    };
}

core_options! {
    /// Buckets per partition: N ≥ 1 fixed, -1 dynamic (or unaware for append tables), -2 postpone.
    bucket: i32 = "bucket", Some("-1"), parse_bucket;
    /// Columns hashed to pick a bucket; empty means the trimmed primary key.
    bucket_key: Vec<String> = "bucket-key", None, parse_list;
    /// How rows with the same primary key combine.
    merge_engine: MergeEngine = "merge-engine", Some("deduplicate"), parse_merge_engine;
    /// Columns that order versions of a key before `_SEQUENCE_NUMBER`.
    sequence_fields: Vec<String> = "sequence.field", None, parse_list;
    /// Order of the `sequence.field` values.
    sequence_field_sort_order: SortOrder = "sequence.field.sort-order", Some("ascending"), parse_sort_order;
    /// Column whose value gives each input row's kind (+I, -U, +U, -D).
    rowkind_field: Option<String> = "rowkind.field", None, parse_opt_string;
    /// Drop retractions (-U, -D) at write time.
    ignore_delete: bool = "ignore-delete", Some("false"), parse_bool;
    /// Drop update-before records (-U) at write time.
    ignore_update_before: bool = "ignore-update-before", Some("false"), parse_bool;
    /// Partial-update: a -D removes the whole row.
    partial_update_remove_record_on_delete: bool = "partial-update.remove-record-on-delete", Some("false"), parse_bool;
    /// Aggregation: a -D removes the whole row.
    aggregation_remove_record_on_delete: bool = "aggregation.remove-record-on-delete", Some("false"), parse_bool;
    /// When changelog files are produced.
    changelog_producer: ChangelogProducer = "changelog-producer", Some("none"), parse_changelog_producer;
    /// Keep deletion vectors so reads need not merge level 0.
    deletion_vectors_enabled: bool = "deletion-vectors.enabled", Some("false"), parse_bool;
    /// Use 64-bit roaring bitmaps in deletion vector files.
    deletion_vectors_bitmap64: bool = "deletion-vectors.bitmap64", Some("false"), parse_bool;
    /// Target size of a deletion vector index file.
    deletion_vector_index_file_target_size: u64 = "deletion-vector.index-file.target-size", Some("2 mb"), parse_memory;
    /// Disk for local lookup files; unset means unbounded (Paimon shows "infinite").
    lookup_cache_max_disk_size: Option<u64> = "lookup.cache-max-disk-size", None, parse_opt_memory;
    /// Memory for the in-memory indexes of open lookup files.
    lookup_cache_max_memory_size: u64 = "lookup.cache-max-memory-size", Some("256 mb"), parse_memory;
    /// Lookup files unused for this long are removed.
    lookup_cache_file_retention: Duration = "lookup.cache-file-retention", Some("1 h"), parse_duration_option;
    /// Write data files without the `_KEY_` columns.
    data_file_thin_mode: bool = "data-file.thin-mode", Some("false"), parse_bool;
    /// Data file format.
    file_format: FileFormat = "file.format", Some("parquet"), parse_file_format;
    /// Data file compression codec.
    file_compression: String = "file.compression", Some("zstd"), parse_string;
    /// Zstd level for data files.
    file_compression_zstd_level: i32 = "file.compression.zstd-level", Some("1"), parse_int;
    /// Manifest file format.
    manifest_format: FileFormat = "manifest.format", Some("avro"), parse_file_format;
    /// Manifest compression codec.
    manifest_compression: String = "manifest.compression", Some("zstd"), parse_string;
    /// Target data file size; unset means 128 mb for primary-key tables, 256 mb otherwise.
    target_file_size_option: Option<u64> = "target-file-size", None, parse_opt_memory;
    /// Memory for the write buffer before it is flushed or spilled.
    write_buffer_size: u64 = "write-buffer-size", Some("256 mb"), parse_memory;
    /// Whether the write buffer may spill to disk.
    write_buffer_spillable: bool = "write-buffer-spillable", Some("true"), parse_bool;
    /// Local disk a writer may fill with spilled buffers before it flushes (unset: no limit).
    write_buffer_spill_max_disk_size: Option<u64> = "write-buffer-spill.max-disk-size", None, parse_opt_memory_or_infinite;
    /// Spilled runs of a bucket merged at once; more are merged in rounds first.
    local_sort_max_num_file_handles: usize = "local-sort.max-num-file-handles", Some("128"), parse_fan_in;
    /// Compression of spilled buffers.
    spill_compression: String = "spill-compression", Some("zstd"), parse_string;
    /// Zstd level of spilled buffers.
    spill_compression_zstd_level: i32 = "spill-compression.zstd-level", Some("1"), parse_int;
    /// Writers skip compaction and snapshot expiry.
    write_only: bool = "write-only", Some("false"), parse_bool;
    /// Memory page size.
    page_size: u64 = "page-size", Some("64 kb"), parse_memory;
    /// Statistics kept in file metadata.
    metadata_stats_mode: String = "metadata.stats-mode", Some("truncate(16)"), parse_string;
    /// Sorted runs that trigger a compaction.
    num_sorted_run_compaction_trigger: i32 = "num-sorted-run.compaction-trigger", Some("5"), parse_int;
    /// Sorted runs that stall writes; unset means the compaction trigger + 3.
    num_sorted_run_stop_trigger_option: Option<i32> = "num-sorted-run.stop-trigger", None, parse_opt_int;
    /// LSM levels; unset means the compaction trigger + 1.
    num_levels_option: Option<i32> = "num-levels", None, parse_opt_int;
    /// Size amplification (percent) that triggers a full compaction.
    compaction_max_size_amplification_percent: i32 = "compaction.max-size-amplification-percent", Some("200"), parse_int;
    /// Size ratio tolerance (percent) when picking runs to compact together.
    compaction_size_ratio: i32 = "compaction.size-ratio", Some("1"), parse_int;
    /// Minimum files for an append-table compaction.
    compaction_min_file_num: i32 = "compaction.min.file-num", Some("5"), parse_int;
    /// Force a full compaction every N delta commits.
    full_compaction_delta_commits: Option<i32> = "full-compaction.delta-commits", None, parse_opt_int;
    /// Force a full compaction when this long has passed since the last one.
    compaction_optimization_interval: Option<Duration> = "compaction.optimization-interval", None, parse_opt_duration;
    /// Commit attempts before giving up.
    commit_max_retries: i32 = "commit.max-retries", Some("10"), parse_int;
    /// Shortest wait between commit attempts.
    commit_min_retry_wait: Duration = "commit.min-retry-wait", Some("10 ms"), parse_duration_option;
    /// Longest wait between commit attempts.
    commit_max_retry_wait: Duration = "commit.max-retry-wait", Some("10 s"), parse_duration_option;
    /// Compact on every commit.
    commit_force_compact: bool = "commit.force-compact", Some("false"), parse_bool;
    /// Snapshots younger than this are kept.
    snapshot_time_retained: Duration = "snapshot.time-retained", Some("1 h"), parse_duration_option;
    /// At least this many snapshots are kept.
    snapshot_num_retained_min: i32 = "snapshot.num-retained.min", Some("10"), parse_int;
    /// At most this many snapshots are kept (Paimon shows the default as "infinite").
    snapshot_num_retained_max: i32 = "snapshot.num-retained.max", Some("2147483647"), parse_int;
    /// Most snapshots expired at once.
    snapshot_expire_limit: i32 = "snapshot.expire.limit", Some("50"), parse_int;
    /// Small manifests merged once there are this many.
    manifest_merge_min_count: i32 = "manifest.merge-min-count", Some("30"), parse_int;
    /// Target manifest file size.
    manifest_target_file_size: u64 = "manifest.target-file-size", Some("8 mb"), parse_memory;
    /// Delete-entry size that triggers a full manifest compaction.
    manifest_full_compaction_threshold_size: u64 = "manifest.full-compaction-threshold-size", Some("16 mb"), parse_memory;
    /// Dynamic bucket mode: rows per bucket.
    dynamic_bucket_target_row_num: i64 = "dynamic-bucket.target-row-num", Some("2000000"), parse_long;
    /// Dynamic bucket mode: buckets a partition starts with.
    dynamic_bucket_initial_buckets: Option<i32> = "dynamic-bucket.initial-buckets", None, parse_opt_int;
    /// Dynamic bucket mode: bucket limit per partition, -1 for none.
    dynamic_bucket_max_buckets: i32 = "dynamic-bucket.max-buckets", Some("-1"), parse_int;
    /// Directory name for a null or empty partition value.
    partition_default_name: String = "partition.default-name", Some("__DEFAULT_PARTITION__"), parse_string;
    /// Partition directory values keep Paimon's legacy formatting (`Object.toString` style).
    partition_legacy_name: bool = "partition.legacy-name", Some("true"), parse_bool;
    /// Data file name prefix.
    data_file_prefix: String = "data-file.prefix", Some("data-"), parse_string;
    /// Changelog file name prefix.
    changelog_file_prefix: String = "changelog-file.prefix", Some("changelog-"), parse_string;
    /// At least this many changelogs are kept; unset means `snapshot.num-retained.min`.
    changelog_num_retained_min_option: Option<i32> = "changelog.num-retained.min", None, parse_opt_int;
    /// At most this many changelogs are kept; unset means `snapshot.num-retained.max`.
    changelog_num_retained_max_option: Option<i32> = "changelog.num-retained.max", None, parse_opt_int;
    /// Changelogs younger than this are kept; unset means `snapshot.time-retained`.
    changelog_time_retained_option: Option<Duration> = "changelog.time-retained", None, parse_opt_duration;
    /// Whether and from which time tags are created automatically.
    tag_automatic_creation: TagCreationMode = "tag.automatic-creation", Some("none"), parse_tag_creation_mode;
    /// The period of automatic tags.
    tag_creation_period: TagCreationPeriod = "tag.creation-period", Some("daily"), parse_tag_creation_period;
    /// How long after a period ends its tag is created.
    tag_creation_delay: Duration = "tag.creation-delay", Some("0 ms"), parse_duration_option;
    /// How automatic tag names are spelled.
    tag_period_formatter: TagPeriodFormatter = "tag.period-formatter", Some("with_dashes"), parse_tag_period_formatter;
    /// At most this many automatic tags are kept (oldest deleted first).
    tag_num_retained_max: Option<i32> = "tag.num-retained-max", None, parse_opt_int;
    /// Retention written into automatically created tags.
    tag_default_time_retained: Option<Duration> = "tag.default-time-retained", None, parse_opt_duration;
    /// Consumers not updated for this long are deleted.
    consumer_expiration_time: Option<Duration> = "consumer.expiration-time", None, parse_opt_duration;
    /// Consumers protect only changelogs, not snapshots, from expiry.
    consumer_changelog_only: bool = "consumer.changelog-only", Some("false"), parse_bool;
    /// `lookup` changelog producer: a commit waits for the lookup compaction of its level-0 files.
    lookup_wait: bool = "lookup-wait", Some("true"), parse_bool;
    /// No `-U`/`+U` pair is produced for an update that leaves the row unchanged.
    changelog_producer_row_deduplicate: bool = "changelog-producer.row-deduplicate", Some("false"), parse_bool;
    /// Columns ignored when `changelog-producer.row-deduplicate` compares rows.
    changelog_producer_row_deduplicate_ignore_fields: Vec<String> = "changelog-producer.row-deduplicate-ignore-fields", None, parse_list;
    /// `full-compaction` changelog producer: a full compaction at least this often (0 = unset).
    changelog_producer_compaction_interval: Option<Duration> = "changelog-producer.compaction-interval", None, parse_opt_duration;
    /// Changelog file format; unset means `file.format`.
    changelog_file_format: Option<String> = "changelog-file.format", None, parse_opt_string;
    /// Where a read of changes starts (`latest-full`, `latest`, `from-snapshot`, ...).
    scan_mode: String = "scan.mode", Some("default"), parse_string;
    /// The snapshot `from-snapshot` reads start at.
    scan_snapshot_id: Option<i64> = "scan.snapshot-id", None, parse_opt_long;
    /// The time (epoch millis) `from-timestamp` reads start at.
    scan_timestamp_millis: Option<i64> = "scan.timestamp-millis", None, parse_opt_long;
    /// The streaming reader whose progress is kept in `consumer/consumer-<id>`.
    consumer_id: Option<String> = "consumer-id", None, parse_opt_string;
    /// A reader with a `consumer-id` starts afresh instead of resuming.
    consumer_ignore_progress: bool = "consumer.ignore-progress", Some("false"), parse_bool;
    /// Changes between two snapshots `start,end`: those of snapshots start+1 ..= end.
    incremental_between: Option<String> = "incremental-between", None, parse_opt_string;
    /// What `incremental-between` reads: `auto`, `delta` or `changelog`.
    incremental_between_scan_mode: String = "incremental-between-scan-mode", Some("auto"), parse_string;
}

/// Older spellings Paimon still reads, tried when the main key is absent.
const FALLBACK_KEYS: &[(&str, &[&str])] = &[
    (
        "ignore-delete",
        &[
            "first-row.ignore-delete",
            "deduplicate.ignore-delete",
            "partial-update.ignore-delete",
        ],
    ),
    ("lookup-wait", &["changelog-producer.lookup-wait"]),
];

fn lookup<'a>(raw: &'a OptionMap, key: &str) -> Option<&'a str> {
    if let Some(v) = raw.get(key) {
        return Some(v.as_str());
    }
    let (_, fallbacks) = FALLBACK_KEYS.iter().find(|(k, _)| *k == key)?;
    fallbacks
        .iter()
        .find_map(|k| raw.get(*k))
        .map(String::as_str)
}

impl CoreOptions {
    /// Parses the typed options from a schema's option map; the map is kept as is.
    pub fn from_map<K, V>(map: impl IntoIterator<Item = (K, V)>) -> Result<CoreOptions>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let raw: OptionMap = map
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
            .collect();
        CoreOptions::parse_typed(raw)
    }

    /// The raw value of any option, typed or not.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw.get(key).map(String::as_str)
    }

    /// The whole option map, in its original order.
    pub fn raw(&self) -> &OptionMap {
        &self.raw
    }

    /// Raw options under `prefix` (e.g. `file-index.`), with the prefix removed.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.raw
            .iter()
            .filter_map(move |(k, v)| Some((k.strip_prefix(prefix)?, v.as_str())))
    }

    /// A per-field option `fields.<field>.<suffix>`, e.g. `aggregate-function`.
    pub fn field_option(&self, field: &str, suffix: &str) -> Option<&str> {
        self.get(&format!("fields.{field}.{suffix}"))
    }

    pub fn bucket(&self) -> i32 {
        self.bucket
    }

    pub fn bucket_key(&self) -> &[String] {
        &self.bucket_key
    }

    pub fn merge_engine(&self) -> MergeEngine {
        self.merge_engine
    }

    pub fn sequence_fields(&self) -> &[String] {
        &self.sequence_fields
    }

    pub fn sequence_field_sort_order(&self) -> SortOrder {
        self.sequence_field_sort_order
    }

    pub fn sequence_field_descending(&self) -> bool {
        self.sequence_field_sort_order == SortOrder::Descending
    }

    pub fn rowkind_field(&self) -> Option<&str> {
        self.rowkind_field.as_deref()
    }

    pub fn ignore_delete(&self) -> bool {
        self.ignore_delete
    }

    pub fn ignore_update_before(&self) -> bool {
        self.ignore_update_before
    }

    pub fn partial_update_remove_record_on_delete(&self) -> bool {
        self.partial_update_remove_record_on_delete
    }

    pub fn aggregation_remove_record_on_delete(&self) -> bool {
        self.aggregation_remove_record_on_delete
    }

    pub fn changelog_producer(&self) -> ChangelogProducer {
        self.changelog_producer
    }

    pub fn deletion_vectors_enabled(&self) -> bool {
        self.deletion_vectors_enabled
    }

    pub fn deletion_vectors_bitmap64(&self) -> bool {
        self.deletion_vectors_bitmap64
    }

    pub fn deletion_vector_index_file_target_size(&self) -> u64 {
        self.deletion_vector_index_file_target_size
    }

    /// `lookup.cache-max-disk-size`; `None` is unbounded.
    pub fn lookup_cache_max_disk_size(&self) -> Option<u64> {
        self.lookup_cache_max_disk_size
    }

    pub fn lookup_cache_max_memory_size(&self) -> u64 {
        self.lookup_cache_max_memory_size
    }

    pub fn lookup_cache_file_retention(&self) -> Duration {
        self.lookup_cache_file_retention
    }

    pub fn data_file_thin_mode(&self) -> bool {
        self.data_file_thin_mode
    }

    pub fn file_format(&self) -> &FileFormat {
        &self.file_format
    }

    /// The data file format, or `Unsupported` when Strata cannot write it (only Parquet).
    pub fn file_format_for_write(&self) -> Result<&FileFormat> {
        match &self.file_format {
            FileFormat::Parquet => Ok(&self.file_format),
            other => Err(Error::unsupported(format!(
                "file.format '{other}' cannot be written by Strata; only parquet is supported"
            ))),
        }
    }

    pub fn file_compression(&self) -> &str {
        &self.file_compression
    }

    pub fn file_compression_zstd_level(&self) -> i32 {
        self.file_compression_zstd_level
    }

    pub fn manifest_format(&self) -> &FileFormat {
        &self.manifest_format
    }

    /// The manifest format, or `Unsupported` when Strata cannot write it (only Avro).
    pub fn manifest_format_for_write(&self) -> Result<&FileFormat> {
        match &self.manifest_format {
            FileFormat::Avro => Ok(&self.manifest_format),
            other => Err(Error::unsupported(format!(
                "manifest.format '{other}' cannot be written by Strata; only avro is supported"
            ))),
        }
    }

    pub fn manifest_compression(&self) -> &str {
        &self.manifest_compression
    }

    /// `target-file-size` as set, if set.
    pub fn target_file_size_option(&self) -> Option<u64> {
        self.target_file_size_option
    }

    /// Target data file size: as set, else 128 mb with a primary key and 256 mb without.
    pub fn target_file_size(&self, has_primary_key: bool) -> u64 {
        self.target_file_size_option.unwrap_or(if has_primary_key {
            128 << 20
        } else {
            256 << 20
        })
    }

    pub fn write_buffer_size(&self) -> u64 {
        self.write_buffer_size
    }

    pub fn write_buffer_spillable(&self) -> bool {
        self.write_buffer_spillable
    }

    pub fn write_buffer_spill_max_disk_size(&self) -> Option<u64> {
        self.write_buffer_spill_max_disk_size
    }

    pub fn local_sort_max_num_file_handles(&self) -> usize {
        self.local_sort_max_num_file_handles
    }

    pub fn spill_compression(&self) -> &str {
        &self.spill_compression
    }

    pub fn spill_compression_zstd_level(&self) -> i32 {
        self.spill_compression_zstd_level
    }

    pub fn write_only(&self) -> bool {
        self.write_only
    }

    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    pub fn metadata_stats_mode(&self) -> &str {
        &self.metadata_stats_mode
    }

    pub fn num_sorted_run_compaction_trigger(&self) -> i32 {
        self.num_sorted_run_compaction_trigger
    }

    /// As Java: the option, else trigger + 3, and never below the trigger.
    pub fn num_sorted_run_stop_trigger(&self) -> i32 {
        let trigger = self.num_sorted_run_compaction_trigger;
        let stop = self
            .num_sorted_run_stop_trigger_option
            .unwrap_or(trigger.saturating_add(3));
        stop.max(trigger)
    }

    /// As Java: the option, else trigger + 1 (so compaction never has to output level 0).
    pub fn num_levels(&self) -> i32 {
        self.num_levels_option
            .unwrap_or(self.num_sorted_run_compaction_trigger.saturating_add(1))
    }

    pub fn compaction_max_size_amplification_percent(&self) -> i32 {
        self.compaction_max_size_amplification_percent
    }

    pub fn compaction_size_ratio(&self) -> i32 {
        self.compaction_size_ratio
    }

    pub fn compaction_min_file_num(&self) -> i32 {
        self.compaction_min_file_num
    }

    pub fn full_compaction_delta_commits(&self) -> Option<i32> {
        self.full_compaction_delta_commits
    }

    pub fn compaction_optimization_interval(&self) -> Option<Duration> {
        self.compaction_optimization_interval
    }

    pub fn commit_max_retries(&self) -> i32 {
        self.commit_max_retries
    }

    pub fn commit_min_retry_wait(&self) -> Duration {
        self.commit_min_retry_wait
    }

    pub fn commit_max_retry_wait(&self) -> Duration {
        self.commit_max_retry_wait
    }

    pub fn commit_force_compact(&self) -> bool {
        self.commit_force_compact
    }

    pub fn snapshot_time_retained(&self) -> Duration {
        self.snapshot_time_retained
    }

    pub fn snapshot_num_retained_min(&self) -> i32 {
        self.snapshot_num_retained_min
    }

    pub fn snapshot_num_retained_max(&self) -> i32 {
        self.snapshot_num_retained_max
    }

    pub fn snapshot_expire_limit(&self) -> i32 {
        self.snapshot_expire_limit
    }

    pub fn manifest_merge_min_count(&self) -> i32 {
        self.manifest_merge_min_count
    }

    pub fn manifest_target_file_size(&self) -> u64 {
        self.manifest_target_file_size
    }

    pub fn manifest_full_compaction_threshold_size(&self) -> u64 {
        self.manifest_full_compaction_threshold_size
    }

    pub fn dynamic_bucket_target_row_num(&self) -> i64 {
        self.dynamic_bucket_target_row_num
    }

    pub fn dynamic_bucket_initial_buckets(&self) -> Option<i32> {
        self.dynamic_bucket_initial_buckets
    }

    pub fn dynamic_bucket_max_buckets(&self) -> i32 {
        self.dynamic_bucket_max_buckets
    }

    pub fn partition_default_name(&self) -> &str {
        &self.partition_default_name
    }

    pub fn partition_legacy_name(&self) -> bool {
        self.partition_legacy_name
    }

    pub fn data_file_prefix(&self) -> &str {
        &self.data_file_prefix
    }

    pub fn changelog_file_prefix(&self) -> &str {
        &self.changelog_file_prefix
    }

    /// `changelog.num-retained.min`, else `snapshot.num-retained.min`.
    pub fn changelog_num_retained_min(&self) -> i32 {
        self.changelog_num_retained_min_option
            .unwrap_or(self.snapshot_num_retained_min)
    }

    /// `changelog.num-retained.max`, else `snapshot.num-retained.max`.
    pub fn changelog_num_retained_max(&self) -> i32 {
        self.changelog_num_retained_max_option
            .unwrap_or(self.snapshot_num_retained_max)
    }

    /// `changelog.time-retained`, else `snapshot.time-retained`.
    pub fn changelog_time_retained(&self) -> Duration {
        self.changelog_time_retained_option
            .unwrap_or(self.snapshot_time_retained)
    }

    /// Whether changelogs outlive snapshots (Paimon's `changelogLifecycleDecoupled`): any
    /// changelog retention above the snapshot one.
    pub fn changelog_lifecycle_decoupled(&self) -> bool {
        self.changelog_num_retained_max() > self.snapshot_num_retained_max
            || self.changelog_num_retained_min() > self.snapshot_num_retained_min
            || self.changelog_time_retained() > self.snapshot_time_retained
    }

    pub fn tag_automatic_creation(&self) -> TagCreationMode {
        self.tag_automatic_creation
    }

    pub fn tag_creation_period(&self) -> TagCreationPeriod {
        self.tag_creation_period
    }

    pub fn tag_creation_delay(&self) -> Duration {
        self.tag_creation_delay
    }

    pub fn tag_period_formatter(&self) -> TagPeriodFormatter {
        self.tag_period_formatter
    }

    pub fn tag_num_retained_max(&self) -> Option<i32> {
        self.tag_num_retained_max
    }

    pub fn tag_default_time_retained(&self) -> Option<Duration> {
        self.tag_default_time_retained
    }

    pub fn consumer_expiration_time(&self) -> Option<Duration> {
        self.consumer_expiration_time
    }

    pub fn consumer_changelog_only(&self) -> bool {
        self.consumer_changelog_only
    }

    pub fn lookup_wait(&self) -> bool {
        self.lookup_wait
    }

    pub fn changelog_producer_row_deduplicate(&self) -> bool {
        self.changelog_producer_row_deduplicate
    }

    pub fn changelog_producer_row_deduplicate_ignore_fields(&self) -> &[String] {
        &self.changelog_producer_row_deduplicate_ignore_fields
    }

    /// `changelog-producer.compaction-interval`; zero counts as unset (Paimon's default).
    pub fn changelog_producer_compaction_interval(&self) -> Option<Duration> {
        self.changelog_producer_compaction_interval
            .filter(|d| !d.is_zero())
    }

    pub fn changelog_file_format(&self) -> Option<&str> {
        self.changelog_file_format.as_deref()
    }

    pub fn scan_mode(&self) -> &str {
        &self.scan_mode
    }

    pub fn scan_snapshot_id(&self) -> Option<i64> {
        self.scan_snapshot_id
    }

    pub fn scan_timestamp_millis(&self) -> Option<i64> {
        self.scan_timestamp_millis
    }

    pub fn consumer_id(&self) -> Option<&str> {
        self.consumer_id.as_deref()
    }

    pub fn consumer_ignore_progress(&self) -> bool {
        self.consumer_ignore_progress
    }

    pub fn incremental_between(&self) -> Option<&str> {
        self.incremental_between.as_deref()
    }

    pub fn incremental_between_scan_mode(&self) -> &str {
        &self.incremental_between_scan_mode
    }
}

// ------------------------------------------------------------------------------------------
// Value parsers. Each takes the option key (for the error) and the value or default.
// ------------------------------------------------------------------------------------------

fn required<'a>(key: &str, value: Option<&'a str>) -> Result<&'a str> {
    value.ok_or_else(|| Error::internal(format!("option '{key}' has no value and no default")))
}

fn parse_int(key: &str, value: Option<&str>) -> Result<i32> {
    let v = required(key, value)?;
    v.trim()
        .parse::<i32>()
        .map_err(|_| invalid!("option '{key}' must be an integer, got '{v}'"))
}

fn parse_opt_int(key: &str, value: Option<&str>) -> Result<Option<i32>> {
    value.map(|v| parse_int(key, Some(v))).transpose()
}

fn parse_long(key: &str, value: Option<&str>) -> Result<i64> {
    let v = required(key, value)?;
    v.trim()
        .parse::<i64>()
        .map_err(|_| invalid!("option '{key}' must be an integer, got '{v}'"))
}

fn parse_opt_long(key: &str, value: Option<&str>) -> Result<Option<i64>> {
    value.map(|v| parse_long(key, Some(v))).transpose()
}

fn parse_bucket(key: &str, value: Option<&str>) -> Result<i32> {
    let bucket = parse_int(key, value)?;
    if bucket == 0 || bucket < -2 {
        return Err(invalid!(
            "option '{key}' must be a positive number of buckets, -1 (dynamic) or -2 (postpone), \
             got '{bucket}'"
        ));
    }
    Ok(bucket)
}

/// A merge's fan-in: at least 2, or no merge could make progress.
fn parse_fan_in(key: &str, value: Option<&str>) -> Result<usize> {
    let v = required(key, value)?;
    match v.trim().parse::<usize>() {
        Ok(n) if n >= 2 => Ok(n),
        _ => Err(invalid!(
            "option '{key}' must be an integer of at least 2, got '{v}'"
        )),
    }
}

fn parse_bool(key: &str, value: Option<&str>) -> Result<bool> {
    let v = required(key, value)?;
    match v.trim() {
        t if t.eq_ignore_ascii_case("true") => Ok(true),
        t if t.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid!("option '{key}' must be true or false, got '{v}'")),
    }
}

fn parse_string(key: &str, value: Option<&str>) -> Result<String> {
    required(key, value).map(str::to_string)
}

fn parse_opt_string(_key: &str, value: Option<&str>) -> Result<Option<String>> {
    Ok(value.map(str::to_string))
}

/// A comma-separated list; blanks around names and empty entries are dropped.
fn parse_list(_key: &str, value: Option<&str>) -> Result<Vec<String>> {
    Ok(value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

fn parse_memory(key: &str, value: Option<&str>) -> Result<u64> {
    let v = required(key, value)?;
    parse_memory_size(v).map_err(|why| {
        invalid!("option '{key}' must be a memory size like '128 mb', got '{v}': {why}")
    })
}

fn parse_opt_memory(key: &str, value: Option<&str>) -> Result<Option<u64>> {
    value.map(|v| parse_memory(key, Some(v))).transpose()
}

fn parse_opt_memory_or_infinite(key: &str, value: Option<&str>) -> Result<Option<u64>> {
    match value {
        Some(v) if v.trim().eq_ignore_ascii_case("infinite") => Ok(None),
        other => parse_opt_memory(key, other),
    }
}

fn parse_duration_option(key: &str, value: Option<&str>) -> Result<Duration> {
    let v = required(key, value)?;
    parse_duration(v)
        .map_err(|why| invalid!("option '{key}' must be a duration like '30 s', got '{v}': {why}"))
}

fn parse_opt_duration(key: &str, value: Option<&str>) -> Result<Option<Duration>> {
    value
        .map(|v| parse_duration_option(key, Some(v)))
        .transpose()
}

fn parse_tag_creation_mode(key: &str, value: Option<&str>) -> Result<TagCreationMode> {
    TagCreationMode::parse(key, required(key, value)?)
}

fn parse_tag_creation_period(key: &str, value: Option<&str>) -> Result<TagCreationPeriod> {
    TagCreationPeriod::parse(key, required(key, value)?)
}

fn parse_tag_period_formatter(key: &str, value: Option<&str>) -> Result<TagPeriodFormatter> {
    TagPeriodFormatter::parse(key, required(key, value)?)
}

fn parse_merge_engine(key: &str, value: Option<&str>) -> Result<MergeEngine> {
    MergeEngine::parse(key, required(key, value)?)
}

fn parse_changelog_producer(key: &str, value: Option<&str>) -> Result<ChangelogProducer> {
    ChangelogProducer::parse(key, required(key, value)?)
}

fn parse_sort_order(key: &str, value: Option<&str>) -> Result<SortOrder> {
    SortOrder::parse(key, required(key, value)?)
}

fn parse_file_format(key: &str, value: Option<&str>) -> Result<FileFormat> {
    FileFormat::parse(key, required(key, value)?)
}

/// Splits `"128 mb"` into `(128, "mb")`; the unit is lower-cased, the number must lead.
fn split_number(text: &str) -> std::result::Result<(u64, String), String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("the value is empty".into());
    }
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(digits_end);
    if digits.is_empty() {
        return Err("it does not start with a number".into());
    }
    let number = digits
        .parse::<u64>()
        .map_err(|_| format!("{digits} is too large"))?;
    Ok((number, unit.trim().to_lowercase()))
}

/// Parses a memory size as Paimon's `MemorySize.parse`: a whole number and an optional unit
/// `b`/`bytes`, `k`/`kb`/`kibibytes`, `m`/`mb`/`mebibytes`, `g`/`gb`/`gibibytes`,
/// `t`/`tb`/`tebibytes` (powers of 1024, any case); no unit means bytes.
pub fn parse_memory_size(text: &str) -> std::result::Result<u64, String> {
    let (number, unit) = split_number(text)?;
    let shift = match unit.as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kibibytes" => 10,
        "m" | "mb" | "mebibytes" => 20,
        "g" | "gb" | "gibibytes" => 30,
        "t" | "tb" | "tebibytes" => 40,
        other => return Err(format!("unknown unit '{other}' (use b, kb, mb, gb or tb)")),
    };
    number
        .checked_mul(1u64 << shift)
        .filter(|bytes| *bytes <= i64::MAX as u64)
        .ok_or_else(|| "it does not fit in 64 bits".to_string())
}

/// Parses a duration as Paimon's `TimeUtils.parseDuration`: a whole number and an optional
/// unit `ns`, `µs`/`micro`, `ms`/`milli`, `s`/`sec`, `m`/`min`, `h`/`hour`, `d`/`day` (with
/// their long and plural forms, any case); no unit means milliseconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let (number, unit) = split_number(text)?;
    let too_long = || "it is too long".to_string();
    let secs = |factor: u64| {
        number
            .checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(too_long)
    };
    match unit.as_str() {
        "ns" | "nano" | "nanosecond" | "nanoseconds" => Ok(Duration::from_nanos(number)),
        "µs" | "micro" | "microsecond" | "microseconds" => Ok(Duration::from_micros(number)),
        "" | "ms" | "milli" | "millisecond" | "milliseconds" => Ok(Duration::from_millis(number)),
        "s" | "sec" | "second" | "seconds" => secs(1),
        "m" | "min" | "minute" | "minutes" => secs(60),
        "h" | "hour" | "hours" => secs(3600),
        "d" | "day" | "days" => secs(86_400),
        other => Err(format!("unknown unit '{other}' (use ms, s, min, h or d)")),
    }
}

#[cfg(test)]
mod tests;
