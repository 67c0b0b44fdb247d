//! Filter pushdown: which partitions, buckets and files a query must read.
//!
//! Filters are turned into one DataFusion [`PruningPredicate`] over the table's columns and
//! evaluated against what manifests know without opening data files:
//!
//! - **partitions**: a partition's values are the min and max of its partition columns; the
//!   predicate becomes the [`TableScan`] partition filter, so whole manifests and entries
//!   are skipped before any data file is listed;
//! - **keys**: each file's key statistics bound its primary-key columns. Skipping a file
//!   whose keys cannot match is always sound: the filter holds for every version of a key
//!   or for none, so versions in other files of a skipped key are filtered out anyway;
//! - **values**: value statistics describe the stored versions, not the merged row. Under
//!   merge-on-read a skipped file could hide the newest version of a key and let an older,
//!   matching one through. So value statistics skip a file only for engines whose result
//!   is a stored row (deduplicate, first-row) and only when no other file of the bucket
//!   overlaps its key range (all versions of its keys are in it), or skip a whole bucket
//!   when no file of it can match.
//!
//! Filters are never marked exact: DataFusion applies them again to the rows read.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, UInt64Array};
use arrow_schema::{DataType as ArrowType, SchemaRef};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, ScalarValue};
use datafusion::physical_optimizer::pruning::PruningPredicate;
use strata_format::data::binary_row::BinaryRow;
use strata_format::data::Datum;
use strata_format::manifest::{DataFileMeta, SimpleStats};
use strata_format::read::runs::compare_rows;
use strata_format::scan::{PartitionFilter, Split};
use strata_format::schema::TableSchema;
use strata_format::types::{DataType, TypeKind};

use crate::scalar::to_scalar;

/// Statistics of a list of containers (files, or one partition), by column name.
struct Stats {
    containers: usize,
    min: HashMap<String, ArrayRef>,
    max: HashMap<String, ArrayRef>,
    nulls: HashMap<String, ArrayRef>,
    rows: Option<ArrayRef>,
}

impl PruningStatistics for Stats {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.min.get(&column.name).cloned()
    }
    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.max.get(&column.name).cloned()
    }
    fn num_containers(&self) -> usize {
        self.containers
    }
    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        self.nulls.get(&column.name).cloned()
    }
    fn row_counts(&self, _column: &Column) -> Option<ArrayRef> {
        self.rows.clone()
    }
    fn contained(
        &self,
        _column: &Column,
        _values: &std::collections::HashSet<ScalarValue>,
    ) -> Option<BooleanArray> {
        None
    }
}

/// Per-container min, max and null count of one column (None = unknown).
#[derive(Default)]
struct ColumnValues {
    min: Vec<Option<ScalarValue>>,
    max: Vec<Option<ScalarValue>>,
    nulls: Vec<Option<u64>>,
}

impl Stats {
    fn new(containers: usize) -> Self {
        Stats {
            containers,
            min: HashMap::new(),
            max: HashMap::new(),
            nulls: HashMap::new(),
            rows: None,
        }
    }

    /// Adds a column; containers with unknown values get NULL (= unknown to the pruner).
    fn add(&mut self, name: &str, arrow: &ArrowType, values: ColumnValues) {
        let Ok(null) = ScalarValue::try_from(arrow) else {
            return;
        };
        let array = |v: Vec<Option<ScalarValue>>| {
            ScalarValue::iter_to_array(v.into_iter().map(|s| s.unwrap_or_else(|| null.clone())))
                .ok()
        };
        if let (Some(min), Some(max)) = (array(values.min), array(values.max)) {
            self.min.insert(name.to_string(), min);
            self.max.insert(name.to_string(), max);
        }
        let nulls: ArrayRef = Arc::new(UInt64Array::from(values.nulls));
        self.nulls.insert(name.to_string(), nulls);
    }
}

/// The table facts pruning needs: the columns as read (current or time-travelled schema).
#[derive(Clone)]
pub struct Pruner {
    predicate: Arc<PruningPredicate>,
    schema: Arc<TableSchema>,
    arrow: SchemaRef,
    /// Value statistics may skip files (deduplicate and first-row tables).
    values_prune: bool,
}

impl Pruner {
    pub fn new(
        predicate: Arc<PruningPredicate>,
        schema: Arc<TableSchema>,
        arrow: SchemaRef,
        values_prune: bool,
    ) -> Self {
        Pruner {
            predicate,
            schema,
            arrow,
            values_prune,
        }
    }

    fn arrow_type(&self, name: &str) -> Option<ArrowType> {
        self.arrow
            .field_with_name(name)
            .ok()
            .map(|f| f.data_type().clone())
    }

    /// The scan's partition filter: keeps a partition unless the predicate rules it out.
    pub fn partition_filter(&self) -> Option<PartitionFilter> {
        if self.schema.partition_keys.is_empty() {
            return None;
        }
        let this = self.clone();
        Some(Arc::new(move |values: &[Option<Datum>]| {
            let mut stats = Stats::new(1);
            this.add_partition(&mut stats, values, 1);
            this.predicate
                .prune(&stats)
                .map(|keep| keep.first().copied().unwrap_or(true))
                .unwrap_or(true)
        }))
    }

    fn add_partition(&self, stats: &mut Stats, values: &[Option<Datum>], containers: usize) {
        for (field, value) in self.schema.partition_fields().iter().zip(values) {
            let Some(arrow) = self.arrow_type(&field.name) else {
                continue;
            };
            let scalar = to_scalar(value.as_ref(), &field.data_type);
            let nulls = u64::from(value.is_none());
            stats.add(
                &field.name,
                &arrow,
                ColumnValues {
                    min: vec![scalar.clone(); containers],
                    max: vec![scalar; containers],
                    nulls: vec![if value.is_none() { None } else { Some(nulls) }; containers],
                },
            );
        }
    }

    /// Drops the files of a split that cannot hold a matching row (see the module docs);
    /// `None` when none is left. `file_schemas` holds the schema of every file's id.
    pub fn prune_split(
        &self,
        mut split: Split,
        file_schemas: &HashMap<i64, Arc<TableSchema>>,
    ) -> Option<Split> {
        let files = &split.files;
        let n = files.len();
        if n == 0 {
            return None;
        }
        let mut stats = Stats::new(n);
        self.add_partition(&mut stats, &split.partition_values, n);
        self.add_keys(&mut stats, files);
        stats.rows = Some(Arc::new(UInt64Array::from(
            files
                .iter()
                .map(|f| u64::try_from(f.row_count).ok())
                .collect::<Vec<_>>(),
        )));
        let by_keys = self
            .predicate
            .prune(&stats)
            .unwrap_or_else(|_| vec![true; n]);
        let mut keep = by_keys.clone();
        if self.values_prune {
            self.add_values(&mut stats, files, file_schemas);
            let by_values = self
                .predicate
                .prune(&stats)
                .unwrap_or_else(|_| vec![true; n]);
            if by_values.iter().all(|k| !k) {
                return None;
            }
            let ranges = self.key_ranges(files);
            for i in 0..n {
                if !by_values[i] && ranges_alone(&ranges, i) {
                    keep[i] = false;
                }
            }
        }
        let mut i = 0;
        split.files.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        (!split.files.is_empty()).then_some(split)
    }

    fn add_keys(&self, stats: &mut Stats, files: &[DataFileMeta]) {
        let keys = self.schema.trimmed_primary_key_fields();
        let types: Vec<DataType> = keys.iter().map(|f| f.data_type.clone()).collect();
        let decoded: Vec<Option<Decoded>> = files
            .iter()
            .map(|f| decode_stats(&f.key_stats, &types))
            .collect();
        for (i, field) in keys.iter().enumerate() {
            let Some(arrow) = self.arrow_type(&field.name) else {
                continue;
            };
            let mut values = ColumnValues::default();
            for d in &decoded {
                push_column(&mut values, d.as_ref(), i, &field.data_type, &arrow);
            }
            stats.add(&field.name, &arrow, values);
        }
    }

    fn add_values(
        &self,
        stats: &mut Stats,
        files: &[DataFileMeta],
        file_schemas: &HashMap<i64, Arc<TableSchema>>,
    ) {
        let skip: Vec<String> = self
            .schema
            .partition_keys
            .iter()
            .chain(self.schema.trimmed_primary_keys().iter())
            .cloned()
            .collect();
        // Each file's value stats decoded once, with the file's columns (by field id).
        let decoded: Vec<Option<FileValueStats>> = files
            .iter()
            .map(|f| {
                let schema = file_schemas.get(&f.schema_id)?;
                let names: Vec<String> = match &f.value_stats_cols {
                    Some(cols) => cols.clone(),
                    None => schema.fields.iter().map(|c| c.name.clone()).collect(),
                };
                let fields: Vec<_> = names.iter().map(|n| schema.field(n).cloned()).collect();
                let types: Vec<DataType> = fields
                    .iter()
                    .map(|f| {
                        f.as_ref()
                            .map(|f| f.data_type.clone())
                            .unwrap_or_else(|| DataType::new(TypeKind::Boolean))
                    })
                    .collect();
                let (min, max, nulls) = decode_stats(&f.value_stats, &types)?;
                let ids = fields.iter().map(|f| f.as_ref().map(|f| f.id)).collect();
                Some(FileValueStats {
                    ids,
                    types,
                    min,
                    max,
                    nulls,
                })
            })
            .collect();
        for field in &self.schema.fields {
            if skip.contains(&field.name) || !stats_usable(&field.data_type) {
                continue;
            }
            let Some(arrow) = self.arrow_type(&field.name) else {
                continue;
            };
            let mut values = ColumnValues::default();
            for d in &decoded {
                let found = d.as_ref().and_then(|d| {
                    let pos = d.ids.iter().position(|id| *id == Some(field.id))?;
                    Some((d, pos))
                });
                match found {
                    Some((d, pos)) => {
                        let ty = &d.types[pos];
                        let conv = |v: Option<&Option<Datum>>| {
                            v.and_then(|v| v.as_ref())
                                .and_then(|v| to_scalar(Some(v), ty))
                                .and_then(|s| s.cast_to(&arrow).ok())
                        };
                        values.min.push(conv(d.min.get(pos)));
                        values.max.push(conv(d.max.get(pos)));
                        values.nulls.push(
                            d.nulls
                                .get(pos)
                                .copied()
                                .flatten()
                                .and_then(|n| u64::try_from(n).ok()),
                        );
                    }
                    None => {
                        values.min.push(None);
                        values.max.push(None);
                        values.nulls.push(None);
                    }
                }
            }
            stats.add(&field.name, &arrow, values);
        }
    }

    /// Each file's [min key, max key], None when undecodable (then it overlaps everything).
    fn key_ranges(&self, files: &[DataFileMeta]) -> Vec<Option<KeyBounds>> {
        let types: Vec<DataType> = self
            .schema
            .trimmed_primary_key_fields()
            .into_iter()
            .map(|f| f.data_type)
            .collect();
        files
            .iter()
            .map(|f| {
                let min = BinaryRow::decode_with_arity(&f.min_key, &types).ok()?;
                let max = BinaryRow::decode_with_arity(&f.max_key, &types).ok()?;
                Some((min, max))
            })
            .collect()
    }
}

type KeyBounds = (Vec<Option<Datum>>, Vec<Option<Datum>>);

struct FileValueStats {
    ids: Vec<Option<i32>>,
    types: Vec<DataType>,
    min: Vec<Option<Datum>>,
    max: Vec<Option<Datum>>,
    nulls: Vec<Option<i64>>,
}

/// Whether file `i`'s key range overlaps no other file's.
fn ranges_alone(ranges: &[Option<KeyBounds>], i: usize) -> bool {
    let Some(Some((min, max))) = ranges.get(i) else {
        return false;
    };
    ranges.iter().enumerate().all(|(j, other)| {
        if j == i {
            return true;
        }
        match other {
            Some((omin, omax)) => {
                compare_rows(max, omin) == std::cmp::Ordering::Less
                    || compare_rows(omax, min) == std::cmp::Ordering::Less
            }
            None => false,
        }
    })
}

/// Floats are left out: NaN has no place in min/max, and Paimon writers differ on it.
fn stats_usable(ty: &DataType) -> bool {
    !matches!(
        ty.kind,
        TypeKind::Float
            | TypeKind::Double
            | TypeKind::Array(_)
            | TypeKind::Map(..)
            | TypeKind::Row(_)
    )
}

type Decoded = (Vec<Option<Datum>>, Vec<Option<Datum>>, Vec<Option<i64>>);

fn decode_stats(stats: &SimpleStats, types: &[DataType]) -> Option<Decoded> {
    let min = BinaryRow::decode_partial(&stats.min_values, types).ok()?;
    let max = BinaryRow::decode_partial(&stats.max_values, types).ok()?;
    let nulls = stats.null_counts.clone().unwrap_or_default();
    Some((min, max, nulls))
}

fn push_column(
    values: &mut ColumnValues,
    decoded: Option<&Decoded>,
    i: usize,
    ty: &DataType,
    arrow: &ArrowType,
) {
    let conv = |v: Option<&Option<Datum>>| {
        v.and_then(|v| v.as_ref())
            .and_then(|v| to_scalar(Some(v), ty))
            .and_then(|s| s.cast_to(arrow).ok())
    };
    match decoded {
        Some((min, max, nulls)) => {
            values.min.push(conv(min.get(i)));
            values.max.push(conv(max.get(i)));
            values.nulls.push(
                nulls
                    .get(i)
                    .copied()
                    .flatten()
                    .and_then(|n| u64::try_from(n).ok()),
            );
        }
        None => {
            values.min.push(None);
            values.max.push(None);
            values.nulls.push(None);
        }
    }
}
