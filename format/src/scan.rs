//! Planning a read: snapshot → manifest lists → manifests → live files, grouped into one
//! [`Split`] per (partition, bucket). Partitions are pruned first by the manifest list's
//! partition statistics, then per entry.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use crate::data::binary_row::BinaryRow;
use crate::data::Datum;
use crate::deletion::{self, DeletionFile};
use crate::error::{Error, Result};
use crate::manifest::{self, DataFileMeta, ManifestEntry, ManifestFileMeta};
use crate::paths::PartitionPath;
use crate::read::runs::compare_rows;
use crate::snapshot::Snapshot;
use crate::table::Table;
use crate::types::DataType;

/// Manifests read at once.
const MANIFEST_CONCURRENCY: usize = 8;

/// Decides from a partition's values whether to read it.
pub type PartitionFilter = Arc<dyn Fn(&[Option<Datum>]) -> bool + Send + Sync>;

/// The live files of one bucket of one partition at one snapshot.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// Serialized partition BinaryRow, as manifests store it.
    pub partition: Vec<u8>,
    pub partition_values: Vec<Option<Datum>>,
    pub partition_path: PartitionPath,
    pub bucket: i32,
    pub total_buckets: i32,
    pub files: Vec<DataFileMeta>,
    /// Where the deletion vectors of `files` live, by data file name (files without
    /// deletions have no entry).
    pub deletion_files: BTreeMap<String, DeletionFile>,
}

impl Split {
    pub fn row_count(&self) -> i64 {
        self.files.iter().map(|f| f.row_count).sum()
    }
}

/// What a scan found: the snapshot (none for a table without commits) and its splits,
/// ordered by partition bytes and bucket.
#[derive(Debug, Clone)]
pub struct Plan {
    pub snapshot: Option<Snapshot>,
    pub splits: Vec<Split>,
}

/// Builds a plan for a table.
#[derive(Clone)]
pub struct TableScan {
    table: Table,
    snapshot_id: Option<i64>,
    partition_filter: Option<PartitionFilter>,
    /// Exact serialized partitions to keep (commits check only what they touch).
    partitions: Option<Arc<HashSet<Vec<u8>>>>,
    /// Inclusive bounds on the trimmed primary key; files outside are skipped.
    key_range: Option<Arc<KeyRange>>,
}

/// Inclusive bounds on the trimmed primary key (`None` = unbounded). Pruning is by file:
/// a file whose `[minKey, maxKey]` misses the range is skipped, so a read returns every
/// row in the range and possibly some outside it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyRange {
    pub lower: Option<Vec<Option<Datum>>>,
    pub upper: Option<Vec<Option<Datum>>>,
}

impl TableScan {
    pub fn new(table: Table) -> Self {
        TableScan {
            table,
            snapshot_id: None,
            partition_filter: None,
            partitions: None,
            key_range: None,
        }
    }

    /// Skips files that cannot hold keys within `range`.
    pub fn with_key_range(mut self, range: KeyRange) -> Self {
        self.key_range = Some(Arc::new(range));
        self
    }

    /// Keeps only entries of these serialized partitions.
    pub fn with_partitions(mut self, partitions: HashSet<Vec<u8>>) -> Self {
        self.partitions = Some(Arc::new(partitions));
        self
    }

    /// The base and delta manifests of a snapshot, in order.
    pub async fn manifest_metas(&self, snapshot: &Snapshot) -> Result<Vec<ManifestFileMeta>> {
        let mut metas = self
            .read_manifest_list(&snapshot.base_manifest_list)
            .await?;
        metas.extend(
            self.read_manifest_list(&snapshot.delta_manifest_list)
                .await?,
        );
        Ok(metas)
    }

    /// Time travel: plan the given snapshot instead of the latest.
    pub fn with_snapshot(mut self, snapshot_id: Option<i64>) -> Self {
        self.snapshot_id = snapshot_id;
        self
    }

    pub fn with_partition_filter(mut self, filter: PartitionFilter) -> Self {
        self.partition_filter = Some(filter);
        self
    }

    pub async fn plan(&self) -> Result<Plan> {
        let sm = self.table.snapshot_manager();
        let snapshot = match self.snapshot_id {
            Some(id) => Some(sm.snapshot(id).await?),
            None => sm.latest().await?,
        };
        match snapshot {
            Some(snapshot) => self.plan_snapshot(snapshot).await,
            None => Ok(Plan {
                snapshot: None,
                splits: Vec::new(),
            }),
        }
    }

    /// Plans a given snapshot object, e.g. one read from a tag whose snapshot file has
    /// expired.
    pub async fn plan_snapshot(&self, snapshot: Snapshot) -> Result<Plan> {
        let entries = self.live_entries(&snapshot).await?;
        let mut splits = self.group(entries)?;
        // Vectors apply wherever they exist, also if the option was switched off later.
        if snapshot.index_manifest.is_some() {
            self.attach_deletion_files(&snapshot, &mut splits).await?;
        }
        Ok(Plan {
            snapshot: Some(snapshot),
            splits,
        })
    }

    /// The incremental plan of snapshots `from + 1 ..= to`: the files that their APPEND
    /// commits added (compactions only rewrite rows, so they add nothing new), grouped per
    /// partition and bucket. Reading it merges those files among themselves: each key's
    /// latest version written in the range, without the rows before `from`. The plan's
    /// snapshot is `to`.
    pub async fn plan_delta(&self, from: i64, to: i64) -> Result<Plan> {
        if from >= to {
            return Err(Error::data_invalid(format!(
                "incremental range {from},{to} is empty: the end must be greater than the start"
            )));
        }
        let sm = self.table.snapshot_manager();
        let partition_types = self.table.partition_types();
        let end = sm.snapshot(to).await?;
        let mut entries = Vec::new();
        for id in (from + 1)..=to {
            let snapshot = if id == to {
                end.clone()
            } else {
                sm.snapshot(id).await?
            };
            if snapshot.commit_kind != crate::snapshot::CommitKind::Append {
                continue;
            }
            let metas = self
                .read_manifest_list(&snapshot.delta_manifest_list)
                .await?;
            for m in metas {
                if !self.manifest_may_match(&m, &partition_types) {
                    continue;
                }
                for e in self.read_manifest(&m.file_name).await? {
                    if e.kind == manifest::FileKind::Add
                        && e.bucket >= 0
                        && self.entry_matches(&e, &partition_types)?
                        && self.key_range_matches(&e)
                    {
                        entries.push(e);
                    }
                }
            }
        }
        let splits = self.group(entries)?;
        Ok(Plan {
            snapshot: Some(end),
            splits,
        })
    }

    /// All live (ADD) entries of a snapshot after pruning, in manifest order.
    pub async fn live_entries(&self, snapshot: &Snapshot) -> Result<Vec<ManifestEntry>> {
        let metas = self.manifest_metas(snapshot).await?;
        let partition_types = self.table.partition_types();
        let metas: Vec<ManifestFileMeta> = metas
            .into_iter()
            .filter(|m| self.manifest_may_match(m, &partition_types))
            .collect();
        let per_manifest: Vec<Vec<ManifestEntry>> = futures::stream::iter(metas)
            .map(|m| {
                let scan = self.clone();
                async move { scan.read_manifest(&m.file_name).await }
            })
            .buffered(MANIFEST_CONCURRENCY)
            .try_collect()
            .await?;
        let mut entries = Vec::new();
        for list in per_manifest {
            for e in list {
                // Postpone-bucket files (bucket -2) are invisible to batch reads, as in Paimon.
                if e.bucket < 0 {
                    continue;
                }
                if self.entry_matches(&e, &partition_types)? && self.key_range_matches(&e) {
                    entries.push(e);
                }
            }
        }
        // Like Paimon's reader, a DELETE without its ADD is ignored here; commits reject it.
        manifest::live_entries(entries, manifest::UnmatchedDeletes::Ignore)
    }

    /// Every entry (ADD and DELETE, not merged) of the manifests one manifest list names,
    /// after partition pruning, in manifest order: a snapshot's delta or changelog.
    pub async fn list_entries(&self, manifest_list: &str) -> Result<Vec<ManifestEntry>> {
        let partition_types = self.table.partition_types();
        let metas: Vec<ManifestFileMeta> = self
            .read_manifest_list(manifest_list)
            .await?
            .into_iter()
            .filter(|m| self.manifest_may_match(m, &partition_types))
            .collect();
        let per_manifest: Vec<Vec<ManifestEntry>> = futures::stream::iter(metas)
            .map(|m| {
                let scan = self.clone();
                async move { scan.read_manifest(&m.file_name).await }
            })
            .buffered(MANIFEST_CONCURRENCY)
            .try_collect()
            .await?;
        let mut entries = Vec::new();
        for e in per_manifest.into_iter().flatten() {
            if e.bucket >= 0 && self.entry_matches(&e, &partition_types)? {
                entries.push(e);
            }
        }
        Ok(entries)
    }

    /// Groups entries' files into one split per (partition, bucket), files in entry order.
    pub fn group_entries(&self, entries: Vec<ManifestEntry>) -> Result<Vec<Split>> {
        self.group(entries)
    }

    /// Records where each split file's deletion vector lives (one index manifest read).
    async fn attach_deletion_files(&self, snapshot: &Snapshot, splits: &mut [Split]) -> Result<()> {
        let entries = deletion::index_entries(&self.table, snapshot).await?;
        let by_bucket = deletion::dv_index_files(&entries);
        for split in splits {
            let Some(index_files) = by_bucket.get(&(split.partition.clone(), split.bucket)) else {
                continue;
            };
            let names: HashSet<&str> = split.files.iter().map(|f| f.file_name.as_str()).collect();
            split.deletion_files = deletion::deletion_files(index_files)?
                .into_iter()
                .filter(|(name, _)| names.contains(name.as_str()))
                .collect();
        }
        Ok(())
    }

    async fn read_manifest_list(&self, name: &str) -> Result<Vec<ManifestFileMeta>> {
        let path = self.table.paths().manifest_file(name);
        let bytes = self.table.storage().get(&path).await?;
        manifest::read_manifest_list(&bytes).map_err(|e| {
            e.context(format!(
                "manifest list {}",
                self.table.storage().display(&path)
            ))
        })
    }

    async fn read_manifest(&self, name: &str) -> Result<Vec<ManifestEntry>> {
        let path = self.table.paths().manifest_file(name);
        let bytes = self.table.storage().get(&path).await?;
        manifest::read_manifest_entries(&bytes)
            .map_err(|e| e.context(format!("manifest {}", self.table.storage().display(&path))))
    }

    /// Manifest-level pruning: skip a manifest whose partitions are all of a single value
    /// the filter rejects. Conservative: anything undecodable is read.
    fn manifest_may_match(&self, meta: &ManifestFileMeta, partition_types: &[DataType]) -> bool {
        let Some(filter) = &self.partition_filter else {
            return true;
        };
        if partition_types.is_empty() {
            return true;
        }
        let stats = &meta.partition_stats;
        match (
            BinaryRow::decode_with_arity(&stats.min_values, partition_types),
            BinaryRow::decode_with_arity(&stats.max_values, partition_types),
        ) {
            (Ok(min), Ok(max)) if min == max && min.len() == partition_types.len() => filter(&min),
            _ => true,
        }
    }

    /// Whether a file's key range meets the requested one; undecodable keys are kept.
    fn key_range_matches(&self, entry: &ManifestEntry) -> bool {
        let Some(range) = &self.key_range else {
            return true;
        };
        let types: Vec<DataType> = self
            .table
            .schema()
            .trimmed_primary_key_fields()
            .into_iter()
            .map(|f| f.data_type)
            .collect();
        let (Ok(min), Ok(max)) = (
            BinaryRow::decode_with_arity(&entry.file.min_key, &types),
            BinaryRow::decode_with_arity(&entry.file.max_key, &types),
        ) else {
            return true;
        };
        let below = range
            .lower
            .as_ref()
            .is_some_and(|lo| compare_rows(&max, lo) == std::cmp::Ordering::Less);
        let above = range
            .upper
            .as_ref()
            .is_some_and(|hi| compare_rows(&min, hi) == std::cmp::Ordering::Greater);
        !below && !above
    }

    fn entry_matches(&self, entry: &ManifestEntry, partition_types: &[DataType]) -> Result<bool> {
        if let Some(set) = &self.partitions {
            if !set.contains(&entry.partition) {
                return Ok(false);
            }
        }
        let Some(filter) = &self.partition_filter else {
            return Ok(true);
        };
        let values = BinaryRow::decode_with_arity(&entry.partition, partition_types)?;
        Ok(filter(&values))
    }

    fn group(&self, entries: Vec<ManifestEntry>) -> Result<Vec<Split>> {
        let schema = self.table.schema();
        let partition_fields = schema.partition_fields();
        let partition_types: Vec<DataType> = partition_fields
            .iter()
            .map(|f| f.data_type.clone())
            .collect();
        let names: Vec<(&str, &DataType)> = partition_fields
            .iter()
            .map(|f| (f.name.as_str(), &f.data_type))
            .collect();
        let default_name = self.table.options().partition_default_name();
        let legacy = self.table.options().partition_legacy_name();
        let mut groups: BTreeMap<(Vec<u8>, i32), Split> = BTreeMap::new();
        for e in entries {
            let key = (e.partition.clone(), e.bucket);
            if let Some(split) = groups.get_mut(&key) {
                if split.total_buckets != e.total_buckets {
                    return Err(Error::data_invalid(format!(
                        "partition {} has files written with {} and {} buckets",
                        split.partition_path.as_relative(),
                        split.total_buckets,
                        e.total_buckets
                    )));
                }
                split.files.push(e.file);
                continue;
            }
            let values = BinaryRow::decode_with_arity(&e.partition, &partition_types)
                .map_err(|err| err.context("partition of a manifest entry"))?;
            let partition_path = PartitionPath::new(&names, &values, default_name, legacy)?;
            groups.insert(
                key,
                Split {
                    partition: e.partition,
                    partition_values: values,
                    partition_path,
                    bucket: e.bucket,
                    total_buckets: e.total_buckets,
                    files: vec![e.file],
                    deletion_files: BTreeMap::new(),
                },
            );
        }
        Ok(groups.into_values().collect())
    }
}
