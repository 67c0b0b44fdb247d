//! `strata-writer` end to end: write → commit → read back with Strata's reader.

mod buckets;
mod engines;
mod files;
mod model;
mod selection;
mod types;
mod validation;

use std::io::Cursor;

use arrow::datatypes::DataType as ArrowType;
use arrow::util::display::array_value_to_string;
use arrow_array::{ArrayRef, RecordBatch};
use strata_format::catalog::{Catalog, Identifier};
use strata_format::read::TableRead;
use strata_format::schema::TableSchema;
use strata_format::table::Table;
use strata_format::types::DataType;
use strata_writer::input::{open_input, Input, InputFormat};

/// A table in a fresh warehouse; the directory lives as long as the fixture.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub catalog: Catalog,
    pub table: Table,
}

impl Fixture {
    /// `db.t` with `(name, Paimon type)` columns.
    pub async fn new(
        columns: &[(&str, &str)],
        primary_keys: &[&str],
        partition_keys: &[&str],
        options: &[(&str, &str)],
    ) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap()).unwrap();
        catalog.create_database("db", true).await.unwrap();
        let fields: Vec<(&str, DataType)> = columns
            .iter()
            .map(|(n, t)| (*n, DataType::parse(t).unwrap()))
            .collect();
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let schema = TableSchema::new_for_create(
            fields,
            strings(partition_keys),
            strings(primary_keys),
            options.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            None,
        )
        .unwrap();
        let id = Identifier::new("db", "t").unwrap();
        let table = catalog.create_table(&id, schema).await.unwrap();
        Fixture {
            dir,
            catalog,
            table,
        }
    }

    /// The table as a new process would open it.
    pub async fn reload(&self) -> Table {
        self.catalog
            .load_table(&Identifier::new("db", "t").unwrap())
            .await
            .unwrap()
    }

    /// Rows decoded from JSON lines (the `jsonl` input format) in the table's schema.
    pub fn jsonl(&self, lines: &[String]) -> RecordBatch {
        decode(&self.table, InputFormat::Jsonl, &lines.join("\n"))
    }
}

/// One batch of `text` decoded as `format` into the table's schema.
pub fn decode(table: &Table, format: InputFormat, text: &str) -> RecordBatch {
    let schema = strata_format::types::arrow::to_arrow_schema(&table.schema().fields);
    let input = Input::Reader(Box::new(Cursor::new(text.to_string())));
    let batches: Vec<RecordBatch> = open_input(format, input, schema.clone(), 1 << 20)
        .unwrap()
        .map(|b| b.unwrap().batch)
        .collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// Every row of the batches as display strings, sorted.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = batches
        .iter()
        .flat_map(|b| {
            let columns: Vec<ArrayRef> = b.columns().iter().map(without_zone).collect();
            (0..b.num_rows()).map(move |r| {
                columns
                    .iter()
                    .map(|c| {
                        if c.is_null(r) {
                            "NULL".to_string()
                        } else {
                            array_value_to_string(c, r).unwrap()
                        }
                    })
                    .collect()
            })
        })
        .collect();
    out.sort();
    out
}

/// Zoned timestamps as plain ones (same epoch values): displaying "UTC" needs chrono-tz.
fn without_zone(column: &ArrayRef) -> ArrayRef {
    match column.data_type() {
        ArrowType::Timestamp(unit, Some(_)) => {
            arrow::compute::cast(column, &ArrowType::Timestamp(*unit, None)).unwrap()
        }
        _ => column.clone(),
    }
}

/// The merged rows of the latest snapshot, sorted.
pub async fn read_rows(table: &Table) -> Vec<Vec<String>> {
    rows(&TableRead::new(table.clone()).read_all(None).await.unwrap())
}
