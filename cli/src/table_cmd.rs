//! `strata table create|show|list|drop`.

use std::collections::BTreeMap;

use clap::Subcommand;
use serde::Deserialize;
use serde_json::json;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::scan::TableScan;
use strata_format::schema::change::SchemaChange;
use strata_format::schema::{NewColumn, TableSchema};
use strata_format::types::DataType;
use strata_format::{Error, Result};

#[derive(Subcommand)]
pub enum TableCommand {
    /// Create a table from a JSON schema file (`bucket` defaults to 1 fixed bucket).
    Create {
        /// DATABASE.TABLE
        table: String,
        /// `{"fields":[{"name":"id","type":"BIGINT NOT NULL"}], "primaryKeys":["id"],
        /// "partitionKeys":[], "options":{"bucket":"4"}}`
        #[arg(long)]
        schema: std::path::PathBuf,
        /// Table option `key=value`, overriding the schema file's `options`.
        #[arg(long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
    /// Show a table: schema, options, latest snapshot, files per bucket and level.
    Show {
        table: String,
        #[arg(long)]
        json: bool,
    },
    /// List the tables of a database.
    List { database: String },
    /// Drop a table and its files.
    Drop { table: String },
    /// Change a table's schema (new schema file; data files are not rewritten).
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(false)))]
    Alter {
        /// DATABASE.TABLE
        table: String,
        /// Add a nullable column: NAME TYPE (a Paimon type string, e.g. 'DECIMAL(12, 2)').
        #[arg(long, num_args = 2, value_names = ["NAME", "TYPE"], group = "change")]
        add_column: Option<Vec<String>>,
        /// Drop a (non-key) column.
        #[arg(long, value_name = "NAME", group = "change")]
        drop_column: Option<String>,
        /// Rename a (non-key) column: OLD NEW.
        #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], group = "change")]
        rename_column: Option<Vec<String>>,
        /// Widen a column's type: NAME TYPE (INT→BIGINT, FLOAT→DOUBLE, DECIMAL precision
        /// up, VARCHAR length up).
        #[arg(long, num_args = 2, value_names = ["NAME", "TYPE"], group = "change")]
        alter_column_type: Option<Vec<String>>,
    },
}

/// The `--schema` file.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SchemaFile {
    fields: Vec<SchemaFileField>,
    #[serde(default)]
    primary_keys: Vec<String>,
    #[serde(default)]
    partition_keys: Vec<String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFileField {
    name: String,
    #[serde(rename = "type")]
    data_type: serde_json::Value,
    #[serde(default)]
    description: Option<String>,
}

pub async fn run(catalog: &Catalog, cmd: TableCommand) -> Result<()> {
    match cmd {
        TableCommand::Create {
            table,
            schema,
            options,
        } => {
            let id = Identifier::parse(&table)?;
            let schema = load_schema_file(&schema, &options)?;
            catalog.create_table(&id, schema).await?;
            println!("created table {id}");
        }
        TableCommand::Show { table, json } => show(catalog, &table, json).await?,
        TableCommand::List { database } => {
            for t in catalog.list_tables(&database).await? {
                println!("{t}");
            }
        }
        TableCommand::Alter {
            table,
            add_column,
            drop_column,
            rename_column,
            alter_column_type,
        } => {
            let id = Identifier::parse(&table)?;
            let pair = |v: Vec<String>| match v.as_slice() {
                [a, b] => Ok((a.clone(), b.clone())),
                _ => Err(Error::data_invalid("expected two values")),
            };
            let change = if let Some(v) = add_column {
                let (name, ty) = pair(v)?;
                SchemaChange::AddColumn {
                    name,
                    data_type: DataType::parse(&ty)?,
                    description: None,
                }
            } else if let Some(name) = drop_column {
                SchemaChange::DropColumn { name }
            } else if let Some(v) = rename_column {
                let (from, to) = pair(v)?;
                SchemaChange::RenameColumn { from, to }
            } else if let Some(v) = alter_column_type {
                let (name, ty) = pair(v)?;
                SchemaChange::UpdateColumnType {
                    name,
                    data_type: DataType::parse(&ty)?,
                }
            } else {
                return Err(Error::data_invalid("table alter needs one change"));
            };
            let table = catalog
                .alter_table(&id, std::slice::from_ref(&change))
                .await?;
            println!(
                "altered table {id}: {change} (schema {})",
                table.schema().id
            );
        }
        TableCommand::Drop { table } => {
            let id = Identifier::parse(&table)?;
            catalog.drop_table(&id).await?;
            println!("dropped table {id}");
        }
    }
    Ok(())
}

fn load_schema_file(path: &std::path::Path, overrides: &[String]) -> Result<TableSchema> {
    let shown = path.display();
    let text = std::fs::read(path)
        .map_err(|e| Error::not_found(format!("cannot read schema file {shown}: {e}")))?;
    let file: SchemaFile = serde_json::from_slice(&text)
        .map_err(|e| Error::data_invalid(format!("schema file {shown}: {e}")))?;
    let mut fields = Vec::with_capacity(file.fields.len());
    for f in file.fields {
        let ty: DataType = serde_json::from_value(f.data_type.clone()).map_err(|e| {
            Error::data_invalid(format!("schema file {shown}: field '{}': {e}", f.name))
        })?;
        fields.push(NewColumn {
            name: f.name,
            data_type: ty,
            description: f.description,
        });
    }
    let mut options = file.options;
    // Paimon's default is dynamic bucketing (-1), which Strata does not write; one fixed
    // bucket is the safe default for a table created without a choice.
    options
        .entry("bucket".to_string())
        .or_insert_with(|| "1".to_string());
    for o in overrides {
        let (k, v) = o.split_once('=').ok_or_else(|| {
            Error::data_invalid(format!("--option '{o}' must be of the form key=value"))
        })?;
        options.insert(k.trim().to_string(), v.trim().to_string());
    }
    TableSchema::new_for_create(
        fields,
        file.partition_keys,
        file.primary_keys,
        options,
        file.comment,
    )
    .map_err(|e| e.context(format!("schema file {shown}")))
}

async fn show(catalog: &Catalog, table: &str, as_json: bool) -> Result<()> {
    let id = Identifier::parse(table)?;
    let table = catalog.load_table(&id).await?;
    let plan = TableScan::new(table.clone()).plan().await?;
    let schema = table.schema();
    let mut buckets = Vec::new();
    for split in &plan.splits {
        let mut levels: BTreeMap<i32, (usize, i64, i64)> = BTreeMap::new();
        for f in &split.files {
            let e = levels.entry(f.level).or_default();
            e.0 += 1;
            e.1 += f.row_count;
            e.2 += f.file_size;
        }
        buckets.push(json!({
            "partition": split.partition_path.as_relative(),
            "bucket": split.bucket,
            "levels": levels.iter().map(|(level, (files, rows, bytes))| json!({
                "level": level, "files": files, "rows": rows, "bytes": bytes
            })).collect::<Vec<_>>(),
        }));
    }
    let fields: Vec<_> = schema
        .fields
        .iter()
        .map(|f| json!({"id": f.id, "name": f.name, "type": f.data_type.to_string()}))
        .collect();
    let snapshot = plan.snapshot.as_ref().map(|s| {
        json!({
            "id": s.id,
            "schemaId": s.schema_id,
            "commitKind": s.commit_kind,
            "timeMillis": s.time_millis,
            "totalRecordCount": s.total_record_count,
        })
    });
    let doc = json!({
        "table": id.to_string(),
        "schemaId": schema.id,
        "fields": fields,
        "primaryKeys": schema.primary_keys,
        "partitionKeys": schema.partition_keys,
        "options": schema.options,
        "latestSnapshot": snapshot,
        "buckets": buckets,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("table {id} (schema {})", schema.id);
    println!("columns:");
    for f in &schema.fields {
        println!("  {} {}", f.name, f.data_type);
    }
    println!("primary keys: {}", schema.primary_keys.join(", "));
    println!("partition keys: {}", schema.partition_keys.join(", "));
    println!("options:");
    for (k, v) in &schema.options {
        println!("  {k} = {v}");
    }
    match &plan.snapshot {
        Some(s) => println!(
            "latest snapshot: {} ({:?}, {} records)",
            s.id,
            s.commit_kind,
            s.total_record_count.unwrap_or_default()
        ),
        None => println!("latest snapshot: none"),
    }
    println!("files:");
    for split in &plan.splits {
        let part = split.partition_path.as_relative();
        let mut levels: BTreeMap<i32, (usize, i64)> = BTreeMap::new();
        for f in &split.files {
            let e = levels.entry(f.level).or_default();
            e.0 += 1;
            e.1 += f.row_count;
        }
        for (level, (files, rows)) in levels {
            println!(
                "  {}bucket-{} level {level}: {files} files, {rows} rows",
                if part.is_empty() {
                    String::new()
                } else {
                    format!("{part}/")
                },
                split.bucket
            );
        }
    }
    Ok(())
}
