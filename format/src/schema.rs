//! Table schemas: the `schema/schema-<id>` JSON files ([`TableSchema`]).
//!
//! ```json
//! {"version":3,"id":0,"fields":[{"id":0,"name":"k","type":"BIGINT NOT NULL"}],
//!  "highestFieldId":0,"partitionKeys":[],"primaryKeys":["k"],"options":{"bucket":"2"},
//!  "comment":"...","timeMillis":1700000000000}
//! ```
//!
//! Reading accepts versions 1 to 3 and applies the defaults older Paimon versions implied, as
//! Java's `SchemaSerializer` does: a version-1 schema without `bucket` had 1 bucket, a schema
//! before version 3 without `file.format` wrote ORC. Unknown JSON fields are ignored. Writing
//! ([`TableSchema::to_json`]) always says version 3 (the old defaults are explicit options by
//! then) and pretty-prints like Java's Jackson, so our files look like Paimon's.
//!
//! Options keep the order they were written in (an [`indexmap::IndexMap`]): Paimon does not care about
//! the order, but keeping it makes a read-then-write round trip byte-stable and diffs readable,
//! which a sorted `BTreeMap` would not.
//!
//! [`TableSchema::new_for_create`] builds schema 0 of a new table and validates it the way
//! Paimon's `Schema` and `SchemaValidation` do, so we never write a table Paimon rejects.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::invalid;
use crate::options::{ChangelogProducer, CoreOptions, MergeEngine, OptionMap};
use crate::types::json::to_pretty_json;
use crate::types::{
    assign_field_ids, highest_field_id, DataField, DataType, TypeKind, SYSTEM_FIELD_ID_START,
};

/// The schema file version this build writes.
pub const CURRENT_VERSION: i32 = 3;

/// Prefix of the key columns in primary-key data files.
pub const KEY_FIELD_PREFIX: &str = "_KEY_";
/// `_KEY_<f>` has id `KEY_FIELD_ID_START + id(f)`.
pub const KEY_FIELD_ID_START: i32 = SYSTEM_FIELD_ID_START;
pub const SEQUENCE_NUMBER_FIELD_NAME: &str = "_SEQUENCE_NUMBER";
pub const SEQUENCE_NUMBER_FIELD_ID: i32 = i32::MAX - 1;
pub const VALUE_KIND_FIELD_NAME: &str = "_VALUE_KIND";
pub const VALUE_KIND_FIELD_ID: i32 = i32::MAX - 2;
pub const LEVEL_FIELD_NAME: &str = "_LEVEL";
pub const LEVEL_FIELD_ID: i32 = i32::MAX - 3;
pub const ROW_KIND_FIELD_NAME: &str = "rowkind";
pub const ROW_KIND_FIELD_ID: i32 = i32::MAX - 4;
pub const ROW_ID_FIELD_NAME: &str = "_ROW_ID";
pub const ROW_ID_FIELD_ID: i32 = i32::MAX - 5;
/// Column names a table may not use (Java `SpecialFields.SYSTEM_FIELD_NAMES`).
pub const SYSTEM_FIELD_NAMES: [&str; 5] = [
    SEQUENCE_NUMBER_FIELD_NAME,
    VALUE_KIND_FIELD_NAME,
    LEVEL_FIELD_NAME,
    ROW_KIND_FIELD_NAME,
    ROW_ID_FIELD_NAME,
];

/// One schema file. Fields are public like the JSON they mirror; [`TableSchema::from_json`]
/// and [`TableSchema::new_for_create`] check that the keys name existing columns, and the
/// derived accessors (`primary_key_fields`, ...) skip names that do not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableSchema {
    /// Absent in Paimon 0.7 files, which are version 1.
    #[serde(default = "first_version")]
    pub version: i32,
    pub id: i64,
    pub fields: Vec<DataField>,
    /// Highest field id ever used, including dropped and nested fields.
    pub highest_field_id: i32,
    #[serde(default)]
    pub partition_keys: Vec<String>,
    #[serde(default)]
    pub primary_keys: Vec<String>,
    #[serde(default, deserialize_with = "deserialize_options")]
    pub options: OptionMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default)]
    pub time_millis: i64,
}

fn first_version() -> i32 {
    1
}

/// Option values are strings; numbers and booleans are taken as their text, as Java does.
fn deserialize_options<'de, D: Deserializer<'de>>(d: D) -> Result<OptionMap, D::Error> {
    use serde::de::Error as _;
    let raw = indexmap::IndexMap::<String, Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, b.to_string())),
            _ => Err(D::Error::custom(format!(
                "option '{k}' must be a string, got {v}"
            ))),
        })
        .collect()
}

/// A column for [`TableSchema::new_for_create`]; ids are assigned there.
#[derive(Debug, Clone, PartialEq)]
pub struct NewColumn {
    pub name: String,
    pub data_type: DataType,
    pub description: Option<String>,
}

impl From<(String, DataType, Option<String>)> for NewColumn {
    fn from((name, data_type, description): (String, DataType, Option<String>)) -> Self {
        NewColumn {
            name,
            data_type,
            description,
        }
    }
}

impl From<(&str, DataType)> for NewColumn {
    fn from((name, data_type): (&str, DataType)) -> Self {
        NewColumn {
            name: name.to_string(),
            data_type,
            description: None,
        }
    }
}

impl From<DataField> for NewColumn {
    fn from(f: DataField) -> Self {
        NewColumn {
            name: f.name,
            data_type: f.data_type,
            description: f.description,
        }
    }
}

impl TableSchema {
    /// Decodes a schema file. Errors name what is wrong (bad JSON, unknown type, a key that
    /// names no column, an unsupported version).
    pub fn from_json(bytes: &[u8]) -> Result<TableSchema> {
        let mut schema: TableSchema =
            serde_json::from_slice(bytes).map_err(|e| invalid!("schema JSON is invalid: {e}"))?;
        if schema.version > CURRENT_VERSION {
            return Err(Error::unsupported(format!(
                "schema version {} is newer than this build reads (1 to {CURRENT_VERSION})",
                schema.version
            )));
        }
        if schema.version < 1 {
            return Err(invalid!("schema version {} is not valid", schema.version));
        }
        if schema.version <= 1 && !schema.options.contains_key("bucket") {
            schema.options.insert("bucket".into(), "1".into());
        }
        if schema.version <= 2 && !schema.options.contains_key("file.format") {
            schema.options.insert("file.format".into(), "orc".into());
        }
        schema
            .check_structure()
            .map_err(|e| e.context(format!("schema {}", schema.id)))?;
        Ok(schema)
    }

    /// The schema file text: version 3, pretty-printed as Paimon Java prints it.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(version) = value.get_mut("version") {
            *version = Value::from(CURRENT_VERSION);
        }
        to_pretty_json(&value)
    }

    pub fn with_time_millis(mut self, time_millis: i64) -> Self {
        self.time_millis = time_millis;
        self
    }

    /// The top-level column with this name.
    pub fn field(&self, name: &str) -> Option<&DataField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The top-level column with this id.
    pub fn field_by_id(&self, id: i32) -> Option<&DataField> {
        self.fields.iter().find(|f| f.id == id)
    }

    pub fn field_names(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.name.as_str()).collect()
    }

    fn fields_named(&self, names: &[String]) -> Vec<DataField> {
        names
            .iter()
            .filter_map(|n| self.field(n).cloned())
            .collect()
    }

    pub fn primary_key_fields(&self) -> Vec<DataField> {
        self.fields_named(&self.primary_keys)
    }

    pub fn partition_fields(&self) -> Vec<DataField> {
        self.fields_named(&self.partition_keys)
    }

    /// The primary key without the partition columns: what data files are sorted by and
    /// what `_KEY_` columns hold (Java `trimmedPrimaryKeys`).
    pub fn trimmed_primary_keys(&self) -> Vec<String> {
        self.primary_keys
            .iter()
            .filter(|k| !self.partition_keys.contains(k))
            .cloned()
            .collect()
    }

    pub fn trimmed_primary_key_fields(&self) -> Vec<DataField> {
        self.fields_named(&self.trimmed_primary_keys())
    }

    /// Columns hashed to choose a bucket: option `bucket-key`, else the trimmed primary key.
    pub fn bucket_keys(&self) -> Vec<String> {
        let explicit = explicit_bucket_keys(&self.options);
        if explicit.is_empty() {
            self.trimmed_primary_keys()
        } else {
            explicit
        }
    }

    pub fn bucket_key_fields(&self) -> Vec<DataField> {
        self.fields_named(&self.bucket_keys())
    }

    /// Whether the primary key misses a partition column, so a key can move between
    /// partitions (Java `crossPartitionUpdate`).
    pub fn cross_partition_update(&self) -> bool {
        !self.primary_keys.is_empty()
            && !self.partition_keys.is_empty()
            && !self
                .partition_keys
                .iter()
                .all(|p| self.primary_keys.contains(p))
    }

    /// The columns of a primary-key data file, in order (Java `KeyValue.createKeyValueFields`):
    /// `_KEY_<k>` for each trimmed primary key column (id 1073741823 + id, same type),
    /// `_SEQUENCE_NUMBER BIGINT NOT NULL`, `_VALUE_KIND TINYINT NOT NULL`, then every column.
    pub fn key_value_fields(&self) -> Vec<DataField> {
        let keys = self.trimmed_primary_key_fields();
        let mut out = Vec::with_capacity(keys.len() + 2 + self.fields.len());
        out.extend(keys.into_iter().map(|k| DataField {
            id: KEY_FIELD_ID_START.wrapping_add(k.id),
            name: format!("{KEY_FIELD_PREFIX}{}", k.name),
            data_type: k.data_type,
            description: k.description,
        }));
        out.push(DataField::new(
            SEQUENCE_NUMBER_FIELD_ID,
            SEQUENCE_NUMBER_FIELD_NAME,
            DataType::not_null(TypeKind::BigInt),
        ));
        out.push(DataField::new(
            VALUE_KIND_FIELD_ID,
            VALUE_KIND_FIELD_NAME,
            DataType::not_null(TypeKind::TinyInt),
        ));
        out.extend(self.fields.iter().cloned());
        out
    }

    /// Schema 0 of a new table, validated as Paimon validates `CREATE TABLE`:
    /// - options `primary-key` / `partition` are moved into the key lists (not both ways);
    /// - column names are non-blank, unique, not a system name and not `_KEY_`-prefixed;
    /// - partition and primary keys are unique, existing, non-nested columns, and the primary
    ///   key is not only partition columns; primary key columns become NOT NULL;
    /// - ids are assigned as Paimon does (see [`assign_field_ids`]);
    /// - options parse ([`CoreOptions`]); `bucket` is -1 or ≥ 1 (-2, postpone, is Unsupported);
    ///   `bucket-key` names non-partition columns of the primary key and needs a fixed bucket;
    ///   a primary key without all partition columns needs `bucket` = -1;
    /// - `changelog-producer`, `sequence.field`, `rowkind.field`, `fields.<f>.*`, first-row,
    ///   deletion-vector and snapshot-retention options are consistent with the columns;
    /// - the merge engine's options hold ([`crate::merge::validate`]).
    ///
    /// `timeMillis` is the current time; use [`TableSchema::with_time_millis`] to pin it.
    pub fn new_for_create<C, K, V>(
        fields: impl IntoIterator<Item = C>,
        partition_keys: Vec<String>,
        primary_keys: Vec<String>,
        options: impl IntoIterator<Item = (K, V)>,
        comment: Option<String>,
    ) -> Result<TableSchema>
    where
        C: Into<NewColumn>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut options: OptionMap = options
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let partition_keys = keys_from_option(&mut options, "partition", partition_keys)?;
        let primary_keys = keys_from_option(&mut options, "primary-key", primary_keys)?;
        let columns: Vec<NewColumn> = fields.into_iter().map(Into::into).collect();

        check_column_names(&columns)?;
        check_key_list(&columns, &partition_keys, "partition key")?;
        check_key_list(&columns, &primary_keys, "primary key")?;

        let fields = assign_field_ids(columns.into_iter().map(|c| {
            let not_null = primary_keys.contains(&c.name);
            DataField {
                id: 0,
                name: c.name,
                data_type: if not_null {
                    c.data_type.with_nullable(false)
                } else {
                    c.data_type
                },
                description: c.description,
            }
        }));
        let highest_field_id = highest_field_id(&fields);
        let schema = TableSchema {
            version: CURRENT_VERSION,
            id: 0,
            fields,
            highest_field_id,
            partition_keys,
            primary_keys,
            options,
            comment,
            time_millis: now_millis(),
        };
        schema.check_structure()?;
        schema.check_options()?;
        crate::merge::validate(&schema)?;
        Ok(schema)
    }

    /// Checks that hold for every valid schema file (Java's `TableSchema` constructor checks).
    fn check_structure(&self) -> Result<()> {
        let names = self.field_names();
        for (i, name) in names.iter().enumerate() {
            if names.iter().take(i).any(|n| n == name) {
                return Err(invalid!("column '{name}' appears twice"));
            }
        }
        // Only top-level ids must be unique: columns are found by id. Nested ids may repeat
        // in tables from Paimon versions that numbered each ROW from 0, and Java reads those.
        for (i, f) in self.fields.iter().enumerate() {
            if let Some(g) = self.fields.iter().take(i).find(|g| g.id == f.id) {
                return Err(invalid!(
                    "broken schema: columns '{}' and '{}' have the same field id {}",
                    g.name,
                    f.name,
                    f.id
                ));
            }
        }
        for (keys, what) in [
            (&self.partition_keys, "partition key"),
            (&self.primary_keys, "primary key"),
        ] {
            if let Some(missing) = keys.iter().find(|k| self.field(k).is_none()) {
                return Err(invalid!(
                    "{what} '{missing}' is not a column (columns: {})",
                    names.join(", ")
                ));
            }
        }
        if !self.primary_keys.is_empty() && self.trimmed_primary_keys().is_empty() {
            return Err(invalid!(
                "primary key [{}] must not be only partition columns [{}]: each partition \
                 would hold a single row; add a non-partition column to the primary key",
                self.primary_keys.join(", "),
                self.partition_keys.join(", ")
            ));
        }
        let bucket_keys = explicit_bucket_keys(&self.options);
        for k in &bucket_keys {
            if self.field(k).is_none() {
                return Err(invalid!("bucket-key '{k}' is not a column"));
            }
            if self.partition_keys.contains(k) {
                return Err(invalid!("bucket-key '{k}' must not be a partition column"));
            }
            if !self.primary_keys.is_empty() && !self.primary_keys.contains(k) {
                return Err(invalid!(
                    "bucket-key '{k}' must be part of the primary key [{}]",
                    self.primary_keys.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Option checks of Java's `SchemaValidation`, run when a table is created.
    fn check_options(&self) -> Result<()> {
        let options = CoreOptions::from_map(&self.options)?;
        let has_pk = !self.primary_keys.is_empty();
        let bucket = options.bucket();
        if bucket == -2 {
            return Err(Error::unsupported(
                "bucket = -2 (postpone bucket mode) is not supported by Strata; use a fixed \
                 number of buckets or -1",
            ));
        }
        if bucket == -1 && !options.bucket_key().is_empty() {
            return Err(invalid!(
                "option 'bucket-key' needs a fixed number of buckets; set 'bucket' to N >= 1"
            ));
        }
        if bucket == -1 && !has_pk && options.full_compaction_delta_commits().is_some() {
            return Err(invalid!(
                "option 'full-compaction.delta-commits' needs a primary key or a fixed bucket"
            ));
        }
        if self.cross_partition_update() && bucket != -1 {
            return Err(invalid!(
                "primary key [{}] does not include all partition columns [{}], so rows can \
                 move between partitions; this needs 'bucket' = -1",
                self.primary_keys.join(", "),
                self.partition_keys.join(", ")
            ));
        }
        let producer = options.changelog_producer();
        if !has_pk && producer != ChangelogProducer::None {
            return Err(invalid!(
                "option 'changelog-producer' = '{producer}' needs a primary key"
            ));
        }
        self.check_sequence_fields(&options)?;
        if let Some(f) = options.rowkind_field() {
            if self.field(f).is_none() {
                return Err(invalid!("rowkind.field '{f}' is not a column"));
            }
        }
        let first_row = options.merge_engine() == MergeEngine::FirstRow;
        if first_row
            && !matches!(
                producer,
                ChangelogProducer::None | ChangelogProducer::Lookup
            )
        {
            return Err(invalid!(
                "merge-engine 'first-row' supports changelog-producer 'none' or 'lookup', \
                 got '{producer}'"
            ));
        }
        if options.deletion_vectors_enabled() {
            if producer == ChangelogProducer::FullCompaction {
                return Err(invalid!(
                    "deletion vectors support changelog-producer none, input or lookup, \
                     got 'full-compaction'"
                ));
            }
            if first_row {
                return Err(invalid!(
                    "merge-engine 'first-row' never deletes, so it must not enable deletion vectors"
                ));
            }
        }
        let (min, max) = (
            options.snapshot_num_retained_min(),
            options.snapshot_num_retained_max(),
        );
        if min < 1 {
            return Err(invalid!(
                "snapshot.num-retained.min must be at least 1, got {min}"
            ));
        }
        if min > max {
            return Err(invalid!(
                "snapshot.num-retained.min ({min}) must not exceed snapshot.num-retained.max ({max})"
            ));
        }
        for key in self.options.keys() {
            let Some(rest) = key.strip_prefix("fields.") else {
                continue;
            };
            if rest == "default-aggregate-function" {
                continue;
            }
            // `fields.a,b.sequence-group` names several columns (Java splits at the dot).
            let head = rest.split('.').next().unwrap_or_default();
            let listed = head.contains(',')
                && head.split(',').all(|n| self.field(n).is_some())
                && rest.len() > head.len();
            let known = listed
                || self.fields.iter().any(|f| {
                    rest.strip_prefix(f.name.as_str())
                        .is_some_and(|tail| tail.starts_with('.'))
                });
            if !known {
                return Err(invalid!("option '{key}' names no column of the table"));
            }
        }
        Ok(())
    }

    fn check_sequence_fields(&self, options: &CoreOptions) -> Result<()> {
        let sequence = options.sequence_fields();
        for (i, f) in sequence.iter().enumerate() {
            if self.field(f).is_none() {
                return Err(invalid!("sequence.field '{f}' is not a column"));
            }
            if sequence.iter().take(i).any(|g| g == f) {
                return Err(invalid!("sequence.field '{f}' is listed twice"));
            }
            if options.field_option(f, "aggregate-function").is_some() {
                return Err(invalid!(
                    "sequence.field '{f}' must not have an aggregate function"
                ));
            }
        }
        if !sequence.is_empty() {
            if options.merge_engine() == MergeEngine::FirstRow {
                return Err(invalid!(
                    "merge-engine 'first-row' does not support sequence.field"
                ));
            }
            if self.cross_partition_update() {
                return Err(invalid!(
                    "sequence.field cannot be used when the primary key does not include all \
                     partition columns"
                ));
            }
        }
        Ok(())
    }
}

fn explicit_bucket_keys(options: &OptionMap) -> Vec<String> {
    options
        .get("bucket-key")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Moves option `primary-key` / `partition` into the key list, as Java's `Schema` does.
fn keys_from_option(options: &mut OptionMap, key: &str, keys: Vec<String>) -> Result<Vec<String>> {
    let Some(value) = options.shift_remove(key) else {
        return Ok(keys);
    };
    if !keys.is_empty() {
        return Err(invalid!(
            "keys are given both as a list and as option '{key}'; use one of them"
        ));
    }
    Ok(value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

fn check_column_names(columns: &[NewColumn]) -> Result<()> {
    for (i, c) in columns.iter().enumerate() {
        if c.name.trim().is_empty() {
            return Err(invalid!("column names must not be blank"));
        }
        if columns.iter().take(i).any(|d| d.name == c.name) {
            return Err(invalid!("column '{}' appears twice", c.name));
        }
        if SYSTEM_FIELD_NAMES.contains(&c.name.as_str()) {
            return Err(invalid!(
                "column name '{}' is reserved for a system column ({})",
                c.name,
                SYSTEM_FIELD_NAMES.join(", ")
            ));
        }
        if c.name.starts_with(KEY_FIELD_PREFIX) {
            return Err(invalid!(
                "column name '{}' must not start with '{KEY_FIELD_PREFIX}'",
                c.name
            ));
        }
        check_nested_names(&c.data_type).map_err(|e| e.context(format!("column '{}'", c.name)))?;
    }
    Ok(())
}

fn check_nested_names(data_type: &DataType) -> Result<()> {
    match &data_type.kind {
        TypeKind::Array(element) => check_nested_names(element),
        TypeKind::Map(key, value) => {
            check_nested_names(key)?;
            check_nested_names(value)
        }
        TypeKind::Row(fields) => {
            for (i, f) in fields.iter().enumerate() {
                if f.name.trim().is_empty() {
                    return Err(invalid!("ROW field names must not be blank"));
                }
                if fields.iter().take(i).any(|g| g.name == f.name) {
                    return Err(invalid!("ROW field '{}' appears twice", f.name));
                }
                check_nested_names(&f.data_type)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_key_list(columns: &[NewColumn], keys: &[String], what: &str) -> Result<()> {
    for (i, k) in keys.iter().enumerate() {
        if keys.iter().take(i).any(|j| j == k) {
            return Err(invalid!("{what} '{k}' is listed twice"));
        }
        let Some(column) = columns.iter().find(|c| &c.name == k) else {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            return Err(invalid!(
                "{what} '{k}' is not a column (columns: {})",
                names.join(", ")
            ));
        };
        if column.data_type.is_nested() {
            return Err(invalid!(
                "{what} '{k}' has type {}; nested types cannot be {what}s",
                column.data_type
            ));
        }
    }
    Ok(())
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub mod change;
#[cfg(test)]
mod tests;
