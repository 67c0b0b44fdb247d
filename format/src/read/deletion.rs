//! Reads of tables with `deletion-vectors.enabled`, as Paimon reads them: level-0 files are
//! not visible yet (the compaction that moves them up also writes the vectors), and every
//! level ≥ 1 file is read as is, minus the rows its deletion vector marks, with no merge.
//!
//! A level ≥ 1 file may still hold retractions when it was written before deletion vectors
//! were maintained (its `deleteRowCount` is not 0, or unknown). Such splits fall back to
//! the merge read over the same level ≥ 1 files, with vectors applied, which is what
//! Paimon's reader does for splits that are not "raw convertible".

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::deletion::{self, BucketVectors, DeletionVector};
use crate::error::Result;
use crate::manifest::DataFileMeta;
use crate::read::file::{read_value_file, KvLayout};
use crate::read::gather::keep_ranges;
use crate::read::merge::MergeRead;
use crate::scan::Split;
use crate::table::Table;
use crate::types::arrow::to_arrow_field;
use crate::types::DataField;

/// Whether reads of `table` follow the deletion-vector rule.
pub fn uses_deletion_vectors(table: &Table) -> bool {
    table.options().deletion_vectors_enabled()
}

/// The files a deletion-vector read returns rows from: every file above level 0.
pub fn visible_files(split: &Split) -> Vec<DataFileMeta> {
    split
        .files
        .iter()
        .filter(|f| f.level > 0)
        .cloned()
        .collect()
}

/// Whether every visible file is known to hold only inserts, so rows can be read
/// without merging (Paimon's "raw convertible").
fn raw_convertible(files: &[DataFileMeta]) -> bool {
    files.iter().all(|f| f.delete_row_count == Some(0))
}

/// Streams one split of a deletion-vector table with the given output fields.
pub async fn read_split(
    table: &Table,
    split: Split,
    output: Vec<DataField>,
    batch_size: usize,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let files = visible_files(&split);
    if !raw_convertible(&files) {
        let split = Split { files, ..split };
        return MergeRead::new(table.clone(), split, output, batch_size)?
            .into_stream()
            .await;
    }
    let vectors = Arc::new(deletion::load_vectors(table, &split.deletion_files).await?);
    let schema: SchemaRef = Arc::new(Schema::new(
        output.iter().map(to_arrow_field).collect::<Vec<_>>(),
    ));
    let layout = KvLayout::new(output);
    let table = table.clone();
    let partition_path = split.partition_path.clone();
    let bucket = split.bucket;
    Ok(futures::stream::iter(files)
        .then(move |file| {
            let table = table.clone();
            let layout = layout.clone();
            let schema = schema.clone();
            let vectors = vectors.clone();
            let partition_path = partition_path.clone();
            async move {
                let file_schema = table.schema_manager().schema(file.schema_id).await?;
                let path = table
                    .paths()
                    .data_file(&partition_path, bucket, &file.file_name);
                // Deleted rows are dropped as each batch is decoded, while it is hot.
                let stream = read_value_file(
                    table.storage(),
                    &path,
                    file.file_size,
                    &file_schema,
                    &layout,
                    batch_size,
                    vectors.get(&file.file_name).cloned(),
                )
                .await?;
                Ok::<_, crate::Error>(
                    stream
                        .and_then(move |b| futures::future::ready(with_schema(&b, &schema)))
                        .boxed(),
                )
            }
        })
        .try_flatten()
        .boxed())
}

/// The rows of `batch`, whose first row is the file's row `start`, that `dv` keeps.
pub(crate) fn drop_deleted(
    batch: RecordBatch,
    dv: &DeletionVector,
    start: u64,
) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let mut kept = Vec::new();
    let mut from = 0;
    for p in dv.iter_range(start, start + rows as u64) {
        let p = (p - start) as usize;
        if p > from {
            kept.push(from..p);
        }
        from = p + 1;
    }
    if from == 0 {
        return Ok(batch);
    }
    if from < rows {
        kept.push(from..rows);
    }
    keep_ranges(batch, &kept)
}

/// A file batch with the output schema's nullability (relaxed where old files hold nulls).
fn with_schema(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    crate::read::conformed(schema, batch.columns().to_vec(), batch.num_rows())
}

/// Loads the vectors of a split's files (for the merge read's fallback path).
pub async fn split_vectors(table: &Table, split: &Split) -> Result<Option<Arc<BucketVectors>>> {
    if split.deletion_files.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(
        deletion::load_vectors(table, &split.deletion_files).await?,
    )))
}
