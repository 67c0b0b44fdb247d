//! System tables, `db.t$<name>`, with Paimon's names and columns (Paimon 1.4.2's
//! `org.apache.paimon.table.system`), built from the metadata files at query time.
//!
//! | table | one row per | columns |
//! |---|---|---|
//! | `$snapshots` | snapshot file | snapshot_id, schema_id, commit_user, commit_identifier, commit_kind, commit_time, base_manifest_list, delta_manifest_list, changelog_manifest_list, total_record_count, delta_record_count, changelog_record_count, watermark |
//! | `$schemas` | schema file | schema_id, fields (JSON), partition_keys (JSON), primary_keys (JSON), options (JSON), comment, update_time |
//! | `$options` | option of the latest schema | key, value |
//! | `$files` | live data file of the latest snapshot | partition, bucket, file_path, file_format, schema_id, level, record_count, file_size_in_bytes, min_key, max_key, null_value_counts, min_value_stats, max_value_stats, min_sequence_number, max_sequence_number, creation_time, delete_row_count, file_source |
//! | `$manifests` | manifest of the latest snapshot (base and delta lists) | file_name, file_size, num_added_files, num_deleted_files, schema_id, min_partition_stats, max_partition_stats |
//! | `$tags` | tag | tag_name, snapshot_id, schema_id, commit_time, record_count, create_time, time_retained |
//! | `$consumers` | consumer | consumer_id, next_snapshot_id |
//! | `$partitions` | partition of the latest snapshot | partition, record_count, file_size_in_bytes, file_count, last_update_time |
//! | `$buckets` | bucket of the latest snapshot | partition, bucket, record_count, file_size_in_bytes, file_count, last_update_time |
//!
//! `$audit_log` is not built here: it is a [`crate::provider::StrataTable`] read with row
//! kinds. Times are UTC `TIMESTAMP(3)` (Paimon shows the JVM's local time). Partitions are
//! written `k=v/k2=v2` as in `strata table show`; keys and statistics as Paimon prints
//! them (`[v1, v2]`, `{col=v, …}`). Record counts are stored rows (before merging), as
//! Paimon counts them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType as ArrowType, Field, Schema, TimeUnit};
use strata_format::data::binary_row::BinaryRow;
use strata_format::data::Datum;
use strata_format::maintenance::{ConsumerManager, TagManager};
use strata_format::manifest::{DataFileMeta, SimpleStats};
use strata_format::scan::TableScan;
use strata_format::schema::TableSchema;
use strata_format::table::Table;
use strata_format::types::DataType;
use strata_format::{Error, Result};

use crate::scalar::to_text;

/// The system tables this crate serves (besides `audit_log`).
pub const SYSTEM_TABLES: [&str; 9] = [
    "snapshots",
    "schemas",
    "options",
    "files",
    "manifests",
    "tags",
    "consumers",
    "partitions",
    "buckets",
];

/// One column of a system table being built.
enum Col {
    Str(Vec<Option<String>>),
    I64(Vec<Option<i64>>),
    I32(Vec<Option<i32>>),
    Time(Vec<Option<i64>>),
}

struct Builder {
    fields: Vec<Field>,
    cols: Vec<Col>,
}

impl Builder {
    fn new(spec: &[(&str, char, bool)]) -> Self {
        let mut fields = Vec::new();
        let mut cols = Vec::new();
        for (name, kind, nullable) in spec {
            let (ty, col) = match kind {
                's' => (ArrowType::Utf8, Col::Str(Vec::new())),
                'l' => (ArrowType::Int64, Col::I64(Vec::new())),
                'i' => (ArrowType::Int32, Col::I32(Vec::new())),
                _ => (
                    ArrowType::Timestamp(TimeUnit::Millisecond, None),
                    Col::Time(Vec::new()),
                ),
            };
            fields.push(Field::new(*name, ty, *nullable));
            cols.push(col);
        }
        Builder { fields, cols }
    }

    fn row(&mut self, values: Vec<V>) {
        for (col, v) in self.cols.iter_mut().zip(values) {
            match (col, v) {
                (Col::Str(c), V::S(s)) => c.push(s),
                (Col::I64(c), V::L(x)) => c.push(x),
                (Col::I32(c), V::I(x)) => c.push(x),
                (Col::Time(c), V::T(x)) => c.push(x),
                (Col::Str(c), _) => c.push(None),
                (Col::I64(c), _) | (Col::Time(c), _) => c.push(None),
                (Col::I32(c), _) => c.push(None),
            }
        }
    }

    fn finish(self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .cols
            .into_iter()
            .map(|c| -> ArrayRef {
                match c {
                    Col::Str(v) => Arc::new(StringArray::from(v)),
                    Col::I64(v) => Arc::new(Int64Array::from(v)),
                    Col::I32(v) => Arc::new(Int32Array::from(v)),
                    Col::Time(v) => Arc::new(TimestampMillisecondArray::from(v)),
                }
            })
            .collect();
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(self.fields)),
            arrays,
        )?)
    }
}

/// A cell value.
enum V {
    S(Option<String>),
    L(Option<i64>),
    I(Option<i32>),
    T(Option<i64>),
}

fn s(v: impl Into<String>) -> V {
    V::S(Some(v.into()))
}

/// Builds system table `name` of `table`.
pub async fn build(table: &Table, name: &str) -> Result<RecordBatch> {
    match name {
        "snapshots" => snapshots(table).await,
        "schemas" => schemas(table).await,
        "options" => options(table),
        "files" => files(table).await,
        "manifests" => manifests(table).await,
        "tags" => tags(table).await,
        "consumers" => consumers(table).await,
        "partitions" => partitions(table, false).await,
        "buckets" => partitions(table, true).await,
        other => Err(Error::not_found(format!(
            "system table '{}${other}' does not exist (system tables: {}, audit_log)",
            table.identifier(),
            SYSTEM_TABLES.join(", ")
        ))),
    }
}

async fn snapshots(table: &Table) -> Result<RecordBatch> {
    let mut b = Builder::new(&[
        ("snapshot_id", 'l', false),
        ("schema_id", 'l', false),
        ("commit_user", 's', false),
        ("commit_identifier", 'l', false),
        ("commit_kind", 's', false),
        ("commit_time", 't', false),
        ("base_manifest_list", 's', false),
        ("delta_manifest_list", 's', false),
        ("changelog_manifest_list", 's', true),
        ("total_record_count", 'l', true),
        ("delta_record_count", 'l', true),
        ("changelog_record_count", 'l', true),
        ("watermark", 'l', true),
    ]);
    let sm = table.snapshot_manager();
    for id in sm.list_ids().await? {
        let snap = match sm.snapshot(id).await {
            Ok(s) => s,
            // Expired between the listing and the read.
            Err(e) if e.kind() == strata_format::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        b.row(vec![
            V::L(Some(snap.id)),
            V::L(Some(snap.schema_id)),
            s(snap.commit_user.clone()),
            V::L(Some(snap.commit_identifier)),
            s(commit_kind(&snap.commit_kind)),
            V::T(Some(snap.time_millis)),
            s(snap.base_manifest_list.clone()),
            s(snap.delta_manifest_list.clone()),
            V::S(snap.changelog_manifest_list.clone()),
            V::L(snap.total_record_count),
            V::L(snap.delta_record_count),
            V::L(snap.changelog_record_count),
            V::L(snap.watermark),
        ]);
    }
    b.finish()
}

fn commit_kind(kind: &strata_format::snapshot::CommitKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{kind:?}").to_uppercase())
}

async fn schemas(table: &Table) -> Result<RecordBatch> {
    let mut b = Builder::new(&[
        ("schema_id", 'l', false),
        ("fields", 's', false),
        ("partition_keys", 's', false),
        ("primary_keys", 's', false),
        ("options", 's', false),
        ("comment", 's', true),
        ("update_time", 't', false),
    ]);
    let manager = table.schema_manager();
    for id in manager.list_ids().await? {
        let schema = manager.schema(id).await?;
        let json: serde_json::Value = serde_json::from_str(&schema.to_json())?;
        let text = |key: &str| json.get(key).map(|v| v.to_string()).unwrap_or_default();
        b.row(vec![
            V::L(Some(schema.id)),
            s(text("fields")),
            s(text("partitionKeys")),
            s(text("primaryKeys")),
            s(text("options")),
            V::S(schema.comment.clone()),
            V::T(Some(schema.time_millis)),
        ]);
    }
    b.finish()
}

fn options(table: &Table) -> Result<RecordBatch> {
    let mut b = Builder::new(&[("key", 's', false), ("value", 's', false)]);
    for (k, v) in &table.schema().options {
        b.row(vec![s(k.clone()), s(v.clone())]);
    }
    b.finish()
}

/// `[v1, v2]` of a serialized key row.
fn key_text(bytes: &[u8], types: &[DataType]) -> Option<String> {
    let values = BinaryRow::decode_with_arity(bytes, types).ok()?;
    if values.is_empty() {
        return None;
    }
    let parts: Vec<String> = values
        .iter()
        .zip(types)
        .map(|(v, t)| to_text(v.as_ref(), t))
        .collect();
    Some(format!("[{}]", parts.join(", ")))
}

/// `{col=v, …}` of value statistics (min, max or null counts) over the file's columns.
fn stats_texts(file: &DataFileMeta, schema: &TableSchema) -> (String, String, String) {
    let names: Vec<String> = match &file.value_stats_cols {
        Some(cols) => cols.clone(),
        None => schema.fields.iter().map(|f| f.name.clone()).collect(),
    };
    let types: Vec<DataType> = names
        .iter()
        .map(|n| {
            schema
                .field(n)
                .map(|f| f.data_type.clone())
                .unwrap_or_else(|| DataType::new(strata_format::types::TypeKind::Boolean))
        })
        .collect();
    let stats: &SimpleStats = &file.value_stats;
    let render = |bytes: &[u8]| {
        let values: Vec<Option<Datum>> =
            BinaryRow::decode_partial(bytes, &types).unwrap_or_default();
        let parts: Vec<String> = values
            .iter()
            .zip(&names)
            .zip(&types)
            .map(|((v, n), t)| format!("{n}={}", to_text(v.as_ref(), t)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    };
    let nulls = stats.null_counts.clone().unwrap_or_default();
    let null_parts: Vec<String> = names
        .iter()
        .zip(nulls.iter())
        .map(|(n, c)| match c {
            Some(c) => format!("{n}={c}"),
            None => format!("{n}=null"),
        })
        .collect();
    (
        format!("{{{}}}", null_parts.join(", ")),
        render(&stats.min_values),
        render(&stats.max_values),
    )
}

async fn files(table: &Table) -> Result<RecordBatch> {
    let mut b = Builder::new(&[
        ("partition", 's', true),
        ("bucket", 'i', false),
        ("file_path", 's', false),
        ("file_format", 's', false),
        ("schema_id", 'l', false),
        ("level", 'i', false),
        ("record_count", 'l', false),
        ("file_size_in_bytes", 'l', false),
        ("min_key", 's', true),
        ("max_key", 's', true),
        ("null_value_counts", 's', false),
        ("min_value_stats", 's', false),
        ("max_value_stats", 's', false),
        ("min_sequence_number", 'l', true),
        ("max_sequence_number", 'l', true),
        ("creation_time", 't', true),
        ("delete_row_count", 'l', true),
        ("file_source", 's', true),
    ]);
    let plan = TableScan::new(table.clone()).plan().await?;
    let key_types: Vec<DataType> = table
        .schema()
        .trimmed_primary_key_fields()
        .into_iter()
        .map(|f| f.data_type)
        .collect();
    for split in &plan.splits {
        for f in &split.files {
            let schema = table.schema_manager().schema(f.schema_id).await?;
            let (nulls, min, max) = stats_texts(f, &schema);
            let path = table
                .paths()
                .data_file(&split.partition_path, split.bucket, &f.file_name);
            let format = f
                .file_name
                .rsplit_once('.')
                .map(|(_, ext)| ext.to_string())
                .unwrap_or_default();
            b.row(vec![
                s(split.partition_path.as_relative()),
                V::I(Some(split.bucket)),
                s(f.external_path
                    .clone()
                    .unwrap_or_else(|| table.storage().display(&path))),
                s(format),
                V::L(Some(f.schema_id)),
                V::I(Some(f.level)),
                V::L(Some(f.row_count)),
                V::L(Some(f.file_size)),
                V::S(key_text(&f.min_key, &key_types)),
                V::S(key_text(&f.max_key, &key_types)),
                s(nulls),
                s(min),
                s(max),
                V::L(Some(f.min_sequence_number)),
                V::L(Some(f.max_sequence_number)),
                V::T(f.creation_time),
                V::L(f.delete_row_count),
                V::S(f.file_source.map(|s| {
                    match s {
                        strata_format::manifest::FileSource::Append => "APPEND",
                        strata_format::manifest::FileSource::Compact => "COMPACT",
                    }
                    .to_string()
                })),
            ]);
        }
    }
    b.finish()
}

async fn manifests(table: &Table) -> Result<RecordBatch> {
    let mut b = Builder::new(&[
        ("file_name", 's', false),
        ("file_size", 'l', false),
        ("num_added_files", 'l', false),
        ("num_deleted_files", 'l', false),
        ("schema_id", 'l', false),
        ("min_partition_stats", 's', true),
        ("max_partition_stats", 's', true),
    ]);
    let Some(snapshot) = table.snapshot_manager().latest().await? else {
        return b.finish();
    };
    let types = table.partition_types();
    let partition_text = |bytes: &[u8]| {
        if types.is_empty() {
            return None;
        }
        let values = BinaryRow::decode_partial(bytes, &types).ok()?;
        let parts: Vec<String> = values
            .iter()
            .zip(&types)
            .map(|(v, t)| to_text(v.as_ref(), t))
            .collect();
        Some(format!("{{{}}}", parts.join(", ")))
    };
    for m in TableScan::new(table.clone())
        .manifest_metas(&snapshot)
        .await?
    {
        b.row(vec![
            s(m.file_name.clone()),
            V::L(Some(m.file_size)),
            V::L(Some(m.num_added_files)),
            V::L(Some(m.num_deleted_files)),
            V::L(Some(m.schema_id)),
            V::S(partition_text(&m.partition_stats.min_values)),
            V::S(partition_text(&m.partition_stats.max_values)),
        ]);
    }
    b.finish()
}

async fn tags(table: &Table) -> Result<RecordBatch> {
    let mut b = Builder::new(&[
        ("tag_name", 's', false),
        ("snapshot_id", 'l', false),
        ("schema_id", 'l', false),
        ("commit_time", 't', false),
        ("record_count", 'l', true),
        ("create_time", 't', true),
        ("time_retained", 's', true),
    ]);
    for tag in TagManager::new(table.clone()).list().await? {
        b.row(vec![
            s(tag.name.clone()),
            V::L(Some(tag.snapshot.id)),
            V::L(Some(tag.snapshot.schema_id)),
            V::T(Some(tag.snapshot.time_millis)),
            V::L(tag.snapshot.total_record_count),
            V::T(tag.create_time.map(|t| t.and_utc().timestamp_millis())),
            V::S(tag.time_retained.map(|d| format!("PT{}S", d.as_secs_f64()))),
        ]);
    }
    b.finish()
}

async fn consumers(table: &Table) -> Result<RecordBatch> {
    let mut b = Builder::new(&[
        ("consumer_id", 's', false),
        ("next_snapshot_id", 'l', false),
    ]);
    let mut list = ConsumerManager::new(table.clone()).list().await?;
    list.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, consumer, _) in list {
        b.row(vec![s(id), V::L(Some(consumer.next_snapshot))]);
    }
    b.finish()
}

/// Records, bytes, files and the last file creation time of a partition or bucket.
type Totals = (i64, i64, i64, Option<i64>);

/// `$partitions` (`by_bucket` false) and `$buckets` (true) at the latest snapshot.
async fn partitions(table: &Table, by_bucket: bool) -> Result<RecordBatch> {
    let mut spec = vec![("partition", 's', true)];
    if by_bucket {
        spec.push(("bucket", 'i', false));
    }
    spec.extend([
        ("record_count", 'l', false),
        ("file_size_in_bytes", 'l', false),
        ("file_count", 'l', false),
        ("last_update_time", 't', true),
    ]);
    let mut b = Builder::new(&spec);
    let plan = TableScan::new(table.clone()).plan().await?;
    let mut groups: BTreeMap<(String, i32), Totals> = BTreeMap::new();
    for split in &plan.splits {
        let key = (
            split.partition_path.as_relative(),
            if by_bucket { split.bucket } else { 0 },
        );
        let g = groups.entry(key).or_default();
        for f in &split.files {
            g.0 += f.row_count;
            g.1 += f.file_size;
            g.2 += 1;
            g.3 = g.3.max(f.creation_time);
        }
    }
    for ((partition, bucket), (records, bytes, files, last)) in groups {
        let mut row = vec![s(partition)];
        if by_bucket {
            row.push(V::I(Some(bucket)));
        }
        row.extend([
            V::L(Some(records)),
            V::L(Some(bytes)),
            V::L(Some(files)),
            V::T(last),
        ]);
        b.row(row);
    }
    b.finish()
}
