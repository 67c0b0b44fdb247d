//! A small primary-key table (`k BIGINT`, `v STRING`, one bucket) on a local warehouse,
//! and data files written into it with [`DataFileWriter`], for unit tests.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, Int8Array, RecordBatch, StringArray};

use crate::catalog::{Catalog, Identifier};
use crate::commit::SystemClock;
use crate::manifest::{DataFileMeta, FileSource};
use crate::paths::PartitionPath;
use crate::schema::TableSchema;
use crate::table::Table;
use crate::types::arrow::to_arrow_schema;
use crate::types::DataType;
use crate::write::{DataFileWriter, FileTarget};

pub const INSERT: i8 = 0;
pub const DELETE: i8 = 3;

/// One row: key, sequence number, row kind, value.
pub type Row = (i64, i64, i8, String);

pub async fn table(dir: &std::path::Path, options: &[(&str, &str)]) -> Table {
    let mut opts = options.to_vec();
    if !options.iter().any(|(k, _)| *k == "bucket") {
        opts.push(("bucket", "1"));
    }
    let columns = [("k", "BIGINT"), ("v", "VARCHAR(100)")];
    table_of(dir, &columns, &["k"], &opts).await
}

/// Table `db.t` in a warehouse at `dir`: `columns` (name, type), primary key `keys`.
pub async fn table_of(
    dir: &std::path::Path,
    columns: &[(&str, &str)],
    keys: &[&str],
    options: &[(&str, &str)],
) -> Table {
    let catalog = Catalog::open(dir.to_str().unwrap()).unwrap();
    catalog.create_database("db", true).await.unwrap();
    let schema = TableSchema::new_for_create(
        columns
            .iter()
            .map(|(name, t)| (*name, DataType::parse(t).unwrap())),
        vec![],
        keys.iter().map(|k| k.to_string()).collect(),
        options.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        None,
    )
    .unwrap();
    catalog
        .create_table(&Identifier::new("db", "t").unwrap(), schema)
        .await
        .unwrap()
}

/// Rows in data file layout: `_KEY_k, _SEQUENCE_NUMBER, _VALUE_KIND, k, v`.
pub fn kv(table: &Table, rows: &[Row]) -> RecordBatch {
    let schema = to_arrow_schema(&table.schema().key_value_fields());
    let keys: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0)));
    let columns: Vec<ArrayRef> = vec![
        keys.clone(),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2))),
        keys,
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.3.clone()),
        )),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

/// Writes `rows` (in the given order) as one data file of bucket 0 at `level`.
pub async fn write_file(table: &Table, level: i32, rows: &[Row]) -> DataFileMeta {
    let mut writer = DataFileWriter::new(table, Arc::new(SystemClock)).unwrap();
    let partition = PartitionPath::unpartitioned();
    let target = FileTarget {
        partition: &partition,
        bucket: 0,
        level,
        source: if level == 0 {
            FileSource::Append
        } else {
            FileSource::Compact
        },
    };
    let mut files = writer.write(target, &kv(table, rows)).await.unwrap();
    assert_eq!(files.len(), 1);
    files.remove(0).meta
}

/// `(k, seq0 + k, INSERT, "<tag><k>")` for each key.
pub fn rows(keys: impl IntoIterator<Item = i64>, seq0: i64, tag: &str) -> Vec<Row> {
    keys.into_iter()
        .map(|k| (k, seq0 + k, INSERT, format!("{tag}{k}")))
        .collect()
}

/// The trimmed primary key column of `keys`, as the lookup key encoder takes it.
pub fn key_column(keys: &[i64]) -> Vec<ArrayRef> {
    vec![Arc::new(Int64Array::from(keys.to_vec()))]
}
