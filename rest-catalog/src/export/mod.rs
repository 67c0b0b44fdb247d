//! Strata tables as Iceberg v2 tables: for a Strata snapshot, Iceberg metadata (metadata
//! JSON, manifest list, manifests, position-delete files) generated under the table's
//! `iceberg-metadata/` directory (see [`crate::paths::ExportPaths`]).
//!
//! A table with the option `metadata.iceberg.format-version` = `3` (Paimon's name for the
//! same choice) is served as an Iceberg v3 table instead: its deletion vectors become v3
//! deletion vectors ([`puffin`]: one Puffin file per snapshot, one `deletion-vector-v1`
//! blob per data file), and the metadata carries v3's row lineage (`next-row-id`, the
//! snapshot's `first-row-id`/`added-rows`, the data manifest's `first_row_id`), numbered
//! from 0 in every snapshot since each generated metadata holds that one snapshot only.
//!
//! What Iceberg readers see of a snapshot:
//!
//! | table | files listed |
//! |---|---|
//! | primary key, no deletion vectors | the highest level only (`num-levels − 1`), as Paimon's own Iceberg compatibility does: rows reach Iceberg readers after a full compaction |
//! | primary key, `deletion-vectors.enabled` | every file of level ≥ 1, with position deletes for the rows their deletion vectors mark: rows reach readers after any compaction out of level 0 |
//! | no primary key (append table) | every file |
//!
//! Those files never hold two versions of a key, so an Iceberg reader that applies the
//! position deletes gets exactly the merged rows of the files Strata itself considers
//! compacted. Snapshot ids are Strata's, sequence numbers equal snapshot ids, field ids are
//! the Parquet field ids ([`schema`]), the partition spec is identity on the partition keys.
//!
//! The generated files are a cache: their names are determined by (snapshot, schema), the
//! content is a pure function of the Strata snapshot, and every file is written with
//! create-if-not-exists, metadata JSON last. Two servers generating the same snapshot at
//! once write identical bytes and either copy wins; a crash leaves files that the next
//! generation reuses. Paimon readers never look at them.

pub mod deletes;
pub mod puffin;
pub mod schema;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Literal, ManifestListWriter,
    ManifestWriterBuilder, Struct, TableMetadata,
};
use serde_json::json;
use strata_format::scan::TableScan;
use strata_format::snapshot::{CommitKind, Snapshot};
use strata_format::table::Table;

use crate::error::{CatalogError, Result};
use crate::paths::{ExportPaths, Warehouse};
use crate::store::CatalogStore;
use deletes::{position_delete_file, DeletionVectors};

/// The Iceberg format version of generated metadata unless the table asks for another.
pub const FORMAT_VERSION: u8 = 2;

/// The table option choosing the Iceberg format version (2 or 3) a Strata table is served as.
pub const FORMAT_VERSION_OPTION: &str = "metadata.iceberg.format-version";

/// The Iceberg format version `table` is served as.
pub fn format_version(table: &Table) -> Result<u8> {
    match table.options().get(FORMAT_VERSION_OPTION).map(str::trim) {
        None => Ok(FORMAT_VERSION),
        Some("2") => Ok(2),
        Some("3") => Ok(3),
        Some(other) => Err(CatalogError::bad_request(format!(
            "table option {FORMAT_VERSION_OPTION} is '{other}': Strata tables are served as Iceberg format version 2 or 3"
        ))),
    }
}

/// Generated metadata of one Strata snapshot.
#[derive(Debug, Clone)]
pub struct Exported {
    pub metadata_location: String,
    pub metadata: Arc<TableMetadata>,
}

/// Which Strata files an Iceberg reader may see.
fn visible(table: &Table, level: i32) -> bool {
    if table.schema().primary_keys.is_empty() {
        return true;
    }
    if table.options().deletion_vectors_enabled() {
        level >= 1
    } else {
        level == table.options().num_levels() - 1
    }
}

/// A stable UUID for a table, from its location: generated metadata must be identical on
/// every server, so nothing random may go into it.
fn table_uuid(location: &str) -> uuid::Uuid {
    let fnv = |seed: u64| {
        location.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let hi = fnv(0xcbf2_9ce4_8422_2325);
    let lo = fnv(0x6c62_272e_07bb_0142);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    uuid::Builder::from_bytes(bytes)
        .with_variant(uuid::Variant::RFC4122)
        .with_version(uuid::Version::Custom)
        .into_uuid()
}

fn internal(what: &str) -> impl Fn(iceberg::Error) -> CatalogError + '_ {
    move |e| CatalogError::internal(format!("{what}: {e}"))
}

/// Writes `bytes` unless the file exists (then its existing, identical content stands).
async fn write_once(
    store: &dyn CatalogStore,
    path: &object_store::path::Path,
    bytes: Bytes,
) -> Result<()> {
    store.write_new(path, bytes).await.map(|_| ())
}

/// Loads or generates the Iceberg metadata of `table` at `snapshot` (`None`: no commits).
pub async fn export(
    table: &Table,
    snapshot: Option<&Snapshot>,
    warehouse: &Warehouse,
    store: &dyn CatalogStore,
    dvs: &dyn DeletionVectors,
) -> Result<Exported> {
    let strata_schema = table.schema();
    let paths = ExportPaths::new(table.paths());
    let snapshot_id = snapshot.map_or(0, |s| s.id);
    let fv = format_version(table)?;
    let meta_path = paths.metadata(snapshot_id, strata_schema.id, fv);
    let metadata_location = warehouse.uri(&meta_path);
    if let Ok(bytes) = store.read(&meta_path).await {
        return Ok(Exported {
            metadata: Arc::new(parse_metadata(&bytes)?),
            metadata_location,
        });
    }
    let ice = schema::convert(strata_schema, fv)?;
    let location = warehouse.uri(table.paths().root());
    let mut snapshots = Vec::new();
    let mut next_row_id = 0u64;
    if let Some(snap) = snapshot {
        let written = write_snapshot(table, snap, fv, &ice, &paths, warehouse, store, dvs).await?;
        let operation = if snap.commit_kind == CommitKind::Append {
            "append"
        } else {
            "overwrite"
        };
        snapshots.push(json!({
            "snapshot-id": snap.id,
            "sequence-number": snap.id,
            "timestamp-ms": snap.time_millis,
            "manifest-list": written.list_uri,
            "summary": {
                "operation": operation,
                "strata.commit-kind": format!("{:?}", snap.commit_kind),
                "strata.schema-id": snap.schema_id.to_string(),
            },
            "schema-id": ice.schema.schema_id(),
        }));
        if fv >= 3 {
            next_row_id = written.data_rows;
            if let Some(s) = snapshots.last_mut().and_then(|s| s.as_object_mut()) {
                s.insert("first-row-id".into(), json!(0));
                s.insert("added-rows".into(), json!(written.data_rows));
            }
        }
    }
    let mut properties = BTreeMap::new();
    properties.insert("strata.table".to_string(), "true".to_string());
    properties.insert(
        "strata.primary-key".to_string(),
        strata_schema.primary_keys.join(","),
    );
    if !ice.omitted.is_empty() {
        properties.insert("strata.omitted-columns".to_string(), ice.omitted.join(","));
    }
    let last_partition_id = ice
        .spec
        .fields()
        .iter()
        .map(|f| f.field_id)
        .max()
        .unwrap_or(999);
    let refs = match snapshot {
        Some(s) => json!({"main": {"snapshot-id": s.id, "type": "branch"}}),
        None => json!({}),
    };
    let snapshot_log: Vec<_> = snapshot
        .map(|s| json!({"snapshot-id": s.id, "timestamp-ms": s.time_millis}))
        .into_iter()
        .collect();
    let mut metadata = json!({
        "format-version": fv,
        "table-uuid": table_uuid(&location),
        "location": location,
        "last-sequence-number": snapshot_id,
        "last-updated-ms": snapshot.map_or(strata_schema.time_millis, |s| s.time_millis),
        "last-column-id": ice.last_column_id,
        "current-schema-id": ice.schema.schema_id(),
        "schemas": [ice.schema.as_ref()],
        "default-spec-id": 0,
        "partition-specs": [&ice.spec],
        "last-partition-id": last_partition_id,
        "default-sort-order-id": 0,
        "sort-orders": [{"order-id": 0, "fields": []}],
        "properties": properties,
        "current-snapshot-id": snapshot.map(|s| s.id),
        "snapshots": snapshots,
        "snapshot-log": snapshot_log,
        "metadata-log": [],
        "refs": refs,
    });
    if fv >= 3 {
        if let Some(m) = metadata.as_object_mut() {
            m.insert("next-row-id".into(), json!(next_row_id));
        }
    }
    let bytes = serde_json::to_vec(&metadata)
        .map_err(|e| CatalogError::internal(format!("metadata JSON: {e}")))?;
    let parsed = parse_metadata(&bytes)?;
    write_once(store, &meta_path, Bytes::from(bytes)).await?;
    Ok(Exported {
        metadata_location,
        metadata: Arc::new(parsed),
    })
}

fn parse_metadata(bytes: &[u8]) -> Result<TableMetadata> {
    serde_json::from_slice(bytes)
        .map_err(|e| CatalogError::internal(format!("generated Iceberg metadata is invalid: {e}")))
}

/// What [`write_snapshot`] wrote.
struct WrittenSnapshot {
    list_uri: String,
    /// Rows of the data files listed (v3's `added-rows`).
    data_rows: u64,
}

/// A data file with deleted rows, waiting for its delete file.
struct PendingDelete {
    data_uri: String,
    partition: Struct,
    positions: Vec<u64>,
}

/// Writes the manifests and manifest list of one snapshot.
#[allow(clippy::too_many_arguments)]
async fn write_snapshot(
    table: &Table,
    snap: &Snapshot,
    fv: u8,
    ice: &schema::IcebergSchema,
    paths: &ExportPaths,
    warehouse: &Warehouse,
    store: &dyn CatalogStore,
    dvs: &dyn DeletionVectors,
) -> Result<WrittenSnapshot> {
    let schema_id = table.schema().id;
    let list_path = paths.manifest_list(snap.id, schema_id, fv);
    let list_uri = warehouse.uri(&list_path);
    let plan = TableScan::new(table.clone())
        .with_snapshot(Some(snap.id))
        .plan()
        .await?;
    let deleted = if table.options().deletion_vectors_enabled() {
        dvs.deleted_positions(table, snap).await?
    } else {
        Default::default()
    };
    let io = FileIO::new_with_memory();
    let data_uri = warehouse.uri(&paths.manifest(snap.id, schema_id, fv, "data"));
    let data_builder = ManifestWriterBuilder::new(
        io.new_output(&data_uri).map_err(internal("manifest"))?,
        Some(snap.id),
        ice.schema.clone(),
        ice.spec.clone(),
    );
    let mut data_writer = if fv >= 3 {
        data_builder.build_v3_data()
    } else {
        data_builder.build_v2_data()
    };
    let deletes_uri = warehouse.uri(&paths.manifest(snap.id, schema_id, fv, "deletes"));
    let delete_builder = ManifestWriterBuilder::new(
        io.new_output(&deletes_uri).map_err(internal("manifest"))?,
        Some(snap.id),
        ice.schema.clone(),
        ice.spec.clone(),
    );
    let mut delete_writer = if fv >= 3 {
        delete_builder.build_v3_deletes()
    } else {
        delete_builder.build_v2_deletes()
    };
    let (mut data_files, mut delete_files, mut data_rows) = (0usize, 0usize, 0u64);
    let mut pending = Vec::new();
    for split in &plan.splits {
        let partition = if ice.spec.fields().is_empty() {
            Struct::empty()
        } else {
            let mut values = Vec::with_capacity(split.partition_values.len());
            for v in &split.partition_values {
                values.push(match v {
                    Some(d) => Some(Literal::Primitive(schema::partition_literal(d)?)),
                    None => None,
                });
            }
            Struct::from_iter(values)
        };
        for file in split.files.iter().filter(|f| visible(table, f.level)) {
            let uri = match &file.external_path {
                Some(p) => p.clone(),
                None => warehouse.uri(&table.paths().data_file(
                    &split.partition_path,
                    split.bucket,
                    &file.file_name,
                )),
            };
            let data_file = DataFileBuilder::default()
                .content(DataContentType::Data)
                .file_path(uri.clone())
                .file_format(DataFileFormat::Parquet)
                .partition(partition.clone())
                .record_count(u64::try_from(file.row_count).unwrap_or(0))
                .file_size_in_bytes(u64::try_from(file.file_size).unwrap_or(0))
                .partition_spec_id(0)
                .build()
                .map_err(|e| CatalogError::internal(format!("data file entry: {e}")))?;
            data_writer
                .add_file(data_file, snap.id)
                .map_err(internal("manifest"))?;
            data_files += 1;
            data_rows += u64::try_from(file.row_count).unwrap_or(0);
            let Some(positions) = deleted.get(&file.file_name).filter(|p| !p.is_empty()) else {
                continue;
            };
            pending.push(PendingDelete {
                data_uri: uri,
                partition: partition.clone(),
                positions: positions.clone(),
            });
        }
    }
    let done = WrittenSnapshot {
        list_uri: list_uri.clone(),
        data_rows,
    };
    // Checked only now: v3 metadata needs the row count even when the files exist.
    if store.exists(&list_path).await? {
        return Ok(done);
    }
    let entries = if fv >= 3 {
        deletion_vector_entries(snap, &pending, paths, warehouse, store).await?
    } else {
        position_delete_entries(snap, &pending, paths, warehouse, store).await?
    };
    for delete_file in entries {
        delete_writer
            .add_file(delete_file, snap.id)
            .map_err(internal("manifest"))?;
        delete_files += 1;
    }
    let mut manifests = Vec::new();
    if data_files > 0 {
        manifests.push(
            data_writer
                .write_manifest_file()
                .await
                .map_err(internal("manifest"))?,
        );
    }
    if delete_files > 0 {
        manifests.push(
            delete_writer
                .write_manifest_file()
                .await
                .map_err(internal("manifest"))?,
        );
    }
    for m in &manifests {
        let bytes = io
            .new_input(&m.manifest_path)
            .map_err(internal("manifest"))?
            .read()
            .await
            .map_err(internal("manifest"))?;
        write_once(store, &warehouse.relative(&m.manifest_path)?, bytes).await?;
    }
    let out = io
        .new_output(&list_uri)
        .map_err(internal("manifest list"))?;
    let list_out = out.writer().await.map_err(internal("manifest list"))?;
    let mut list = if fv >= 3 {
        ManifestListWriter::v3(list_out, snap.id, None, snap.id, Some(0))
    } else {
        ManifestListWriter::v2(list_out, snap.id, None, snap.id)
    };
    list.add_manifests(manifests.into_iter())
        .map_err(internal("manifest list"))?;
    list.close().await.map_err(internal("manifest list"))?;
    let bytes = io
        .new_input(&list_uri)
        .map_err(internal("manifest list"))?
        .read()
        .await
        .map_err(internal("manifest list"))?;
    write_once(store, &list_path, bytes).await?;
    Ok(done)
}

/// v2: one Parquet position-delete file per data file with deleted rows.
async fn position_delete_entries(
    snap: &Snapshot,
    pending: &[PendingDelete],
    paths: &ExportPaths,
    warehouse: &Warehouse,
    store: &dyn CatalogStore,
) -> Result<Vec<DataFile>> {
    let mut entries = Vec::with_capacity(pending.len());
    for (n, p) in pending.iter().enumerate() {
        let bytes = position_delete_file(&p.data_uri, &p.positions)?;
        let delete_path = paths.delete_file(snap.id, n, "parquet");
        let size = bytes.len();
        write_once(store, &delete_path, Bytes::from(bytes)).await?;
        entries.push(
            DataFileBuilder::default()
                .content(DataContentType::PositionDeletes)
                .file_path(warehouse.uri(&delete_path))
                .file_format(DataFileFormat::Parquet)
                .partition(p.partition.clone())
                .record_count(p.positions.len() as u64)
                .file_size_in_bytes(size as u64)
                .partition_spec_id(0)
                .referenced_data_file(Some(p.data_uri.clone()))
                .build()
                .map_err(|e| CatalogError::internal(format!("delete file entry: {e}")))?,
        );
    }
    Ok(entries)
}

/// v3: one Puffin file for the snapshot, one deletion-vector blob per data file.
async fn deletion_vector_entries(
    snap: &Snapshot,
    pending: &[PendingDelete],
    paths: &ExportPaths,
    warehouse: &Warehouse,
    store: &dyn CatalogStore,
) -> Result<Vec<DataFile>> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let mut puffin = puffin::PuffinBuilder::new();
    let mut blobs = Vec::with_capacity(pending.len());
    for p in pending {
        blobs.push(puffin.add_dv(&p.data_uri, &p.positions)?);
    }
    let bytes = puffin.finish()?;
    let size = bytes.len() as u64;
    let puffin_path = paths.delete_file(snap.id, 0, "puffin");
    write_once(store, &puffin_path, Bytes::from(bytes)).await?;
    let puffin_uri = warehouse.uri(&puffin_path);
    let mut entries = Vec::with_capacity(pending.len());
    for (p, blob) in pending.iter().zip(blobs) {
        let as_i64 = |v: u64| {
            i64::try_from(v).map_err(|_| CatalogError::internal("Puffin offset exceeds i64"))
        };
        entries.push(
            DataFileBuilder::default()
                .content(DataContentType::PositionDeletes)
                .file_path(puffin_uri.clone())
                .file_format(DataFileFormat::Puffin)
                .partition(p.partition.clone())
                // The vector's cardinality: positions are distinct (DeletedPositions).
                .record_count(p.positions.len() as u64)
                .file_size_in_bytes(size)
                .partition_spec_id(0)
                .referenced_data_file(Some(p.data_uri.clone()))
                .content_offset(Some(as_i64(blob.offset)?))
                .content_size_in_bytes(Some(as_i64(blob.length)?))
                .build()
                .map_err(|e| CatalogError::internal(format!("deletion vector entry: {e}")))?,
        );
    }
    Ok(entries)
}
