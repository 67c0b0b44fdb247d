//! Compaction end to end: random commits against a `BTreeMap` model per merge engine,
//! compactions (automatic and full) between them, and reads compared with the model after
//! each; compactions racing writers.

mod daemon;
mod dv;
mod engines;
mod maintain;
mod race;
mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, Int8Array, RecordBatch};
use strata_format::commit::{CommitMessage, TableCommit};
use strata_format::data::binary_row::BinaryRow;
use strata_format::manifest::{DataFileMeta, FileSource};
use strata_format::paths::PartitionPath;
use strata_format::scan::TableScan;
use strata_format::table::Table;
use strata_format::types::arrow::to_arrow_schema;
use strata_format::write::{DataFileWriter, FileTarget};

pub use crate::writer::{read_rows, Fixture};

/// xorshift64*: deterministic and dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Every live file of the table at the latest snapshot.
pub async fn live_files(table: &Table) -> Vec<DataFileMeta> {
    TableScan::new(table.clone())
        .plan()
        .await
        .unwrap()
        .splits
        .into_iter()
        .flat_map(|s| s.files)
        .collect()
}

/// Writes level-0 files straight through `format::write` and commits them, for engines the
/// writer does not take yet: one bucket, unpartitioned, one version per key per commit.
pub struct KvCommitter {
    table: Table,
    commit: TableCommit,
    files: DataFileWriter,
    next_sequence: i64,
    next_identifier: i64,
}

impl KvCommitter {
    pub fn new(table: &Table) -> KvCommitter {
        KvCommitter {
            table: table.clone(),
            commit: TableCommit::new(table.clone(), "kv-committer").unwrap(),
            files: DataFileWriter::new(table, Arc::new(strata_format::commit::SystemClock))
                .unwrap(),
            next_sequence: 0,
            next_identifier: 1,
        }
    }

    /// Commits one level-0 file: `rows` maps each key to (row kind, value columns as
    /// one-row arrays in schema order after the key).
    pub async fn commit(&mut self, rows: BTreeMap<i64, (i8, Vec<ArrayRef>)>) {
        let schema = self.table.schema().clone();
        let n = rows.len();
        let keys = Int64Array::from_iter_values(rows.keys().copied());
        let seq = Int64Array::from_iter_values(self.next_sequence..self.next_sequence + n as i64);
        self.next_sequence += n as i64;
        let kinds = Int8Array::from_iter_values(rows.values().map(|r| r.0));
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(keys.clone()),
            Arc::new(seq),
            Arc::new(kinds),
            Arc::new(keys),
        ];
        for c in 0..schema.fields.len() - 1 {
            let parts: Vec<&dyn arrow_array::Array> =
                rows.values().map(|r| r.1[c].as_ref()).collect();
            columns.push(arrow::compute::concat(&parts).unwrap());
        }
        let kv =
            RecordBatch::try_new(to_arrow_schema(&schema.key_value_fields()), columns).unwrap();
        let partition = PartitionPath::unpartitioned();
        let target = FileTarget {
            partition: &partition,
            bucket: 0,
            level: 0,
            source: FileSource::Append,
        };
        let written = self.files.write(target, &kv).await.unwrap();
        let message = CommitMessage {
            partition: BinaryRow::encode_with_arity(&[], &[]).unwrap(),
            bucket: 0,
            total_buckets: 1,
            new_files: written.into_iter().map(|w| w.meta).collect(),
            ..CommitMessage::default()
        };
        self.commit
            .commit(self.next_identifier, vec![message])
            .await
            .unwrap();
        self.next_identifier += 1;
    }
}
