//! Routing rows to (partition, bucket), exactly as Paimon does for fixed-bucket tables: the
//! partition is the BinaryRow of the partition columns, the bucket is
//! `abs(murmur3(BinaryRow of the bucket key) % buckets)` ([`strata_format::data::bucket`]).
//!
//! Both rows are encoded per record into reused [`BinaryRowWriter`]s, so routing allocates
//! only when it meets a new partition.

use std::collections::HashMap;

use arrow::array::{ArrayRef, RecordBatch};
use strata_format::data::binary_row::{
    encode_arrow_row, serialize_with_arity, BinaryRow, BinaryRowWriter,
};
use strata_format::data::bucket::buckets_of_rows;
use strata_format::paths::PartitionPath;
use strata_format::table::Table;
use strata_format::types::DataType;
use strata_format::{invalid, Result};

/// A partition the writer has seen.
#[derive(Debug, Clone)]
pub(crate) struct Partition {
    /// Serialized BinaryRow with the arity prefix, as manifests store it.
    pub bytes: Vec<u8>,
    pub path: PartitionPath,
}

/// The rows of one batch that go to one bucket of one partition, in input order.
#[derive(Debug)]
pub(crate) struct Group {
    pub partition: usize,
    pub bucket: u32,
    pub rows: Vec<u32>,
}

pub(crate) struct Router {
    partition_columns: Vec<usize>,
    partition_types: Vec<DataType>,
    partition_names: Vec<String>,
    bucket_columns: Vec<usize>,
    bucket_types: Vec<DataType>,
    buckets: u32,
    default_name: String,
    legacy_names: bool,
    partition_row: BinaryRowWriter,
    bucket_row: BinaryRowWriter,
    /// Partition BinaryRow bytes (no arity prefix) → index into `partitions`.
    index: HashMap<Vec<u8>, usize>,
    partitions: Vec<Partition>,
}

impl Router {
    /// `buckets` is the table's fixed bucket count (≥ 1).
    pub fn new(table: &Table, buckets: u32) -> Result<Self> {
        let schema = table.schema();
        let position = |name: &str| {
            schema
                .fields
                .iter()
                .position(|f| f.name == name)
                .ok_or_else(|| {
                    invalid!(
                        "column '{name}' of table '{}' not found",
                        table.identifier()
                    )
                })
        };
        let partition_fields = schema.partition_fields();
        let bucket_fields = schema.bucket_key_fields();
        let options = table.options();
        Ok(Router {
            partition_columns: partition_fields
                .iter()
                .map(|f| position(&f.name))
                .collect::<Result<_>>()?,
            partition_types: partition_fields
                .iter()
                .map(|f| f.data_type.clone())
                .collect(),
            partition_names: partition_fields.iter().map(|f| f.name.clone()).collect(),
            bucket_columns: bucket_fields
                .iter()
                .map(|f| position(&f.name))
                .collect::<Result<_>>()?,
            bucket_types: bucket_fields.iter().map(|f| f.data_type.clone()).collect(),
            buckets,
            default_name: options.partition_default_name().to_string(),
            legacy_names: options.partition_legacy_name(),
            partition_row: BinaryRowWriter::new(partition_fields.len()),
            bucket_row: BinaryRowWriter::new(bucket_fields.len()),
            index: HashMap::new(),
            partitions: Vec::new(),
        })
    }

    pub fn partition(&self, index: usize) -> Option<&Partition> {
        self.partitions.get(index)
    }

    /// Splits a batch (in the table's schema) into groups, registering partitions seen for
    /// the first time.
    pub fn route(&mut self, batch: &RecordBatch) -> Result<Vec<Group>> {
        let columns = batch.columns();
        let pick = |indices: &[usize]| -> Vec<ArrayRef> {
            indices
                .iter()
                .filter_map(|i| columns.get(*i).cloned())
                .collect()
        };
        let partition_columns = pick(&self.partition_columns);
        let bucket_columns = pick(&self.bucket_columns);
        let mut groups: Vec<Group> = Vec::new();
        // Group of each bucket of the partition seen last (rows of a batch mostly share
        // one partition); other partitions' groups through the map.
        let mut last_partition: Option<usize> = None;
        let mut by_bucket: Vec<Option<usize>> = vec![None; self.buckets as usize];
        let mut group_of: HashMap<(usize, u32), usize> = HashMap::new();
        let unpartitioned = self.partition_columns.is_empty();
        let buckets = if self.buckets == 1 {
            Vec::new()
        } else {
            buckets_of_rows(
                &bucket_columns,
                &self.bucket_types,
                self.buckets,
                &mut self.bucket_row,
            )
            .map_err(|e| e.context("bucket key"))?
        };
        for row in 0..batch.num_rows() {
            let partition = if unpartitioned && !self.partitions.is_empty() {
                0
            } else {
                self.partition_of(&partition_columns, row)?
            };
            let bucket = buckets.get(row).copied().unwrap_or(0);
            if last_partition != Some(partition) {
                if let Some(p) = last_partition {
                    for (b, g) in by_bucket.iter_mut().enumerate() {
                        if let Some(g) = g.take() {
                            group_of.insert((p, b as u32), g);
                        }
                    }
                }
                for (b, g) in by_bucket.iter_mut().enumerate() {
                    *g = group_of.get(&(partition, b as u32)).copied();
                }
                last_partition = Some(partition);
            }
            let slot = by_bucket
                .get_mut(bucket as usize)
                .ok_or_else(|| invalid!("bucket {bucket} out of range"))?;
            let g = *slot.get_or_insert_with(|| {
                groups.push(Group {
                    partition,
                    bucket,
                    rows: Vec::new(),
                });
                groups.len() - 1
            });
            if let Some(group) = groups.get_mut(g) {
                // Batches are far below 2^32 rows (Arrow offsets are 32-bit).
                group.rows.push(row as u32);
            }
        }
        Ok(groups)
    }

    fn partition_of(&mut self, columns: &[ArrayRef], row: usize) -> Result<usize> {
        encode_arrow_row(columns, &self.partition_types, row, &mut self.partition_row)
            .map_err(|e| e.context(format!("partition of row {row}")))?;
        if let Some(i) = self.index.get(self.partition_row.finish()) {
            return Ok(*i);
        }
        let bytes = self.partition_row.finish().to_vec();
        let values = BinaryRow::decode(&bytes, &self.partition_types)?;
        let names: Vec<(&str, &DataType)> = self
            .partition_names
            .iter()
            .map(String::as_str)
            .zip(&self.partition_types)
            .collect();
        let path = PartitionPath::new(&names, &values, &self.default_name, self.legacy_names)?;
        let i = self.partitions.len();
        self.partitions.push(Partition {
            bytes: serialize_with_arity(&bytes, self.partition_types.len()),
            path,
        });
        self.index.insert(bytes, i);
        Ok(i)
    }
}
