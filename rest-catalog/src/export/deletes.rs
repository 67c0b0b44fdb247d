//! Deleted rows of Strata tables with deletion vectors, as Iceberg position-delete files.
//!
//! A Strata table with `deletion-vectors.enabled` marks superseded rows of level ≥ 1 files
//! in deletion vectors instead of rewriting the files. Iceberg readers learn about them from
//! position-delete files: Parquet files of `(file_path, pos)` rows with Iceberg's reserved
//! field ids, one per data file that has deletions, in that data file's partition.
//!
//! Where the positions come from is behind [`DeletionVectors`]; the default,
//! [`StrataDeletionVectors`], reads the snapshot's vectors with
//! `strata_format::deletion::snapshot_deletions`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType as ArrowType, Field, Schema};
use async_trait::async_trait;
use parquet::arrow::{ArrowWriter, PARQUET_FIELD_ID_META_KEY};
use strata_format::snapshot::Snapshot;
use strata_format::table::Table;

use crate::error::{CatalogError, Result};

/// Iceberg's reserved field id of `file_path` in position-delete files.
pub const DELETE_FILE_PATH_ID: i32 = 2_147_483_546;
/// Iceberg's reserved field id of `pos` in position-delete files.
pub const DELETE_POS_ID: i32 = 2_147_483_545;

/// Deleted row positions per data file name, ascending and without duplicates.
pub type DeletedPositions = BTreeMap<String, Vec<u64>>;

/// The deletion vectors of a table at a snapshot.
#[async_trait]
pub trait DeletionVectors: Send + Sync + 'static {
    /// Deleted positions of every data file of `snapshot` that has a deletion vector,
    /// keyed by data file name.
    async fn deleted_positions(
        &self,
        table: &Table,
        snapshot: &Snapshot,
    ) -> Result<DeletedPositions>;
}

/// The deletion vectors Strata (or Paimon) wrote into the snapshot's index files.
#[derive(Debug, Default, Clone, Copy)]
pub struct StrataDeletionVectors;

#[async_trait]
impl DeletionVectors for StrataDeletionVectors {
    async fn deleted_positions(
        &self,
        table: &Table,
        snapshot: &Snapshot,
    ) -> Result<DeletedPositions> {
        let mut out = DeletedPositions::new();
        for file in strata_format::deletion::snapshot_deletions(table, snapshot).await? {
            let positions = out.entry(file.data_file).or_default();
            positions.extend(file.vector.iter());
            positions.sort_unstable();
            positions.dedup();
        }
        Ok(out)
    }
}

/// A shared deletion-vector source.
pub type SharedDeletionVectors = Arc<dyn DeletionVectors>;

/// A position-delete Parquet file for the given deleted positions of one data file.
pub fn position_delete_file(data_file_uri: &str, positions: &[u64]) -> Result<Vec<u8>> {
    let field = |name: &str, ty: ArrowType, id: i32| {
        Field::new(name, ty, false).with_metadata(
            [(PARQUET_FIELD_ID_META_KEY.to_string(), id.to_string())]
                .into_iter()
                .collect(),
        )
    };
    let schema = Arc::new(Schema::new(vec![
        field("file_path", ArrowType::Utf8, DELETE_FILE_PATH_ID),
        field("pos", ArrowType::Int64, DELETE_POS_ID),
    ]));
    let mut sorted: Vec<i64> = positions
        .iter()
        .map(|p| i64::try_from(*p))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| CatalogError::internal("a deleted position exceeds i64"))?;
    sorted.sort_unstable();
    sorted.dedup();
    let paths: ArrayRef = Arc::new(StringArray::from(vec![data_file_uri; sorted.len()]));
    let pos: ArrayRef = Arc::new(Int64Array::from(sorted));
    let batch = RecordBatch::try_new(schema.clone(), vec![paths, pos])
        .map_err(|e| CatalogError::internal(format!("position deletes: {e}")))?;
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, None)
        .map_err(|e| CatalogError::internal(format!("position deletes: {e}")))?;
    writer
        .write(&batch)
        .map_err(|e| CatalogError::internal(format!("position deletes: {e}")))?;
    writer
        .into_inner()
        .map_err(|e| CatalogError::internal(format!("position deletes: {e}")))
}
