//! Strata's ingest writer. Policy only: routing, buffering and file rolling live here;
//! paths, codecs, merge engines and commit come from `strata_format`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> strata_format::Result<()> {
//! use std::sync::Arc;
//!
//! use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
//! use strata_format::catalog::{Catalog, Identifier};
//! use strata_format::read::TableRead;
//! use strata_format::schema::TableSchema;
//! use strata_format::types::DataType;
//! use strata_writer::TableWriter;
//!
//! let dir = tempfile::tempdir()?;
//! let catalog = Catalog::open(&dir.path().to_string_lossy())?;
//! catalog.create_database("shop", false).await?;
//! let columns = [("id", DataType::parse("BIGINT")?), ("name", DataType::parse("STRING")?)];
//! let schema =
//!     TableSchema::new_for_create(columns, vec![], vec!["id".into()], [("bucket", "2")], None)?;
//! let table = catalog.create_table(&Identifier::parse("shop.users")?, schema).await?;
//!
//! let mut writer = TableWriter::builder(table.clone()).build()?;
//! let batch = RecordBatch::try_from_iter([
//!     ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
//!     ("name", Arc::new(StringArray::from(vec!["ann", "bob"])) as ArrayRef),
//! ])?;
//! writer.write(&batch).await?; // upserts (+I)
//! writer.write_with_kinds(&batch.slice(1, 1), &[3]).await?; // -D of id 2
//! let outcome = writer.commit(1).await?;
//! assert_eq!(outcome.snapshot_ids, vec![1]);
//!
//! let batches = TableRead::new(table).read_all(None).await?;
//! assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
//! # Ok(())
//! # }
//! ```

mod buffer;
mod compact;
mod conform;
#[doc(hidden)] // Public for the `gather_runs` example only: not a stable API.
pub mod gather;
pub mod input;
mod route;
mod spill;
mod table_writer;
#[cfg(test)]
mod test_table;

pub use conform::{PRIMARY_KEY_NULLABLE, ROW_KIND_COLUMN};
pub use table_writer::{CommitOutcome, TableWriter, TableWriterBuilder};
