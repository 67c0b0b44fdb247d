//! Schema evolution: adding, dropping and renaming columns and widening their types.
//!
//! A change never rewrites data. It produces the next schema file (`schema-<N+1>`), which
//! is published with create-if-not-exists like a snapshot, so two concurrent `ALTER`s
//! cannot both win. Columns keep their field ids across renames and type changes, and a
//! new column takes an id never used before (`highestFieldId + 1`), so every data file is
//! read through the schema it was written with ([`crate::read::file`] resolves columns by
//! id and casts old types to the new ones; a column added later reads as NULL, a dropped
//! one is simply not read).
//!
//! The rules follow Paimon's `SchemaManager`, a little stricter where Strata's readers or
//! other Paimon readers would otherwise see something they cannot handle:
//!
//! | change | allowed when |
//! |---|---|
//! | add column | the name is new, the type is nullable (old files have no value for it) |
//! | drop column | it is not a partition or primary key column, no option names it, and it is not the last column |
//! | rename column | the new name is free and valid, and the column is not a partition or primary key column (their names are part of data-file and directory layout) |
//! | widen type (nullability kept) | the column is not a key column, and every old value is exactly representable: TINYINT → SMALLINT → INT → BIGINT, FLOAT → DOUBLE, DECIMAL(p, s) → DECIMAL(p', s') with s' ≥ s and p' − s' ≥ p − s, CHAR/VARCHAR(n) → VARCHAR(m ≥ n), BINARY/VARBINARY(n) → VARBINARY(m ≥ n); NOT NULL may become nullable, never the reverse |

use crate::error::Result;
use crate::invalid;
use crate::schema::{check_column_names, NewColumn, TableSchema, CURRENT_VERSION};
use crate::types::{DataField, DataType, TypeKind};

/// One schema change.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaChange {
    /// Appends a column.
    AddColumn {
        name: String,
        data_type: DataType,
        description: Option<String>,
    },
    DropColumn {
        name: String,
    },
    RenameColumn {
        from: String,
        to: String,
    },
    /// Changes a column's type to a wider one.
    UpdateColumnType {
        name: String,
        data_type: DataType,
    },
}

impl std::fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaChange::AddColumn {
                name, data_type, ..
            } => write!(f, "add column {name} {data_type}"),
            SchemaChange::DropColumn { name } => write!(f, "drop column {name}"),
            SchemaChange::RenameColumn { from, to } => write!(f, "rename column {from} to {to}"),
            SchemaChange::UpdateColumnType { name, data_type } => {
                write!(f, "alter column {name} type {data_type}")
            }
        }
    }
}

impl TableSchema {
    /// The schema that follows `self` after `changes` (id + 1), or an error naming the
    /// change that is not allowed. `time_millis` is the new schema's time.
    pub fn apply_changes(&self, changes: &[SchemaChange], time_millis: i64) -> Result<TableSchema> {
        let mut next = self.clone();
        next.version = CURRENT_VERSION;
        next.id = self.id + 1;
        next.time_millis = time_millis;
        for change in changes {
            apply(&mut next, change).map_err(|e| e.context(format!("cannot {change}")))?;
        }
        next.check_structure()?;
        Ok(next)
    }

    fn is_key_column(&self, name: &str) -> bool {
        self.partition_keys.iter().any(|k| k == name) || self.primary_keys.iter().any(|k| k == name)
    }

    /// Options whose value names `column` (so dropping it would break them).
    fn options_naming(&self, column: &str) -> Vec<String> {
        let listed = |v: &str| v.split(',').any(|n| n.trim() == column);
        self.options
            .iter()
            .filter(|(k, v)| {
                let by_value = matches!(
                    k.as_str(),
                    "bucket-key"
                        | "sequence.field"
                        | "rowkind.field"
                        | "partial-update.remove-record-on-sequence-group"
                ) && listed(v);
                let by_key = k.strip_prefix("fields.").is_some_and(|rest| {
                    rest.split('.').next().is_some_and(&listed)
                        || (k.ends_with(".sequence-group") && listed(v))
                });
                by_value || by_key
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}

fn apply(schema: &mut TableSchema, change: &SchemaChange) -> Result<()> {
    match change {
        SchemaChange::AddColumn {
            name,
            data_type,
            description,
        } => {
            if schema.field(name).is_some() {
                return Err(invalid!("column '{name}' already exists"));
            }
            check_column_names(&[NewColumn {
                name: name.clone(),
                data_type: data_type.clone(),
                description: None,
            }])?;
            if !data_type.nullable {
                return Err(invalid!(
                    "a new column must be nullable: files written before it have no value for it"
                ));
            }
            let mut last_id = schema.highest_field_id;
            last_id = last_id.saturating_add(1);
            let id = last_id;
            let data_type = data_type.with_reassigned_field_ids(&mut last_id);
            schema.fields.push(DataField {
                id,
                name: name.clone(),
                data_type,
                description: description.clone(),
            });
            schema.highest_field_id = schema.highest_field_id.max(last_id);
        }
        SchemaChange::DropColumn { name } => {
            if schema.field(name).is_none() {
                return Err(not_a_column(schema, name));
            }
            if schema.is_key_column(name) {
                return Err(invalid!(
                    "'{name}' is a partition or primary key column; key columns cannot be dropped"
                ));
            }
            let options = schema.options_naming(name);
            if !options.is_empty() {
                return Err(invalid!(
                    "table options name it ({}); change those options first",
                    options.join(", ")
                ));
            }
            if schema.fields.len() == 1 {
                return Err(invalid!("it is the only column"));
            }
            schema.fields.retain(|f| &f.name != name);
        }
        SchemaChange::RenameColumn { from, to } => {
            if schema.field(from).is_none() {
                return Err(not_a_column(schema, from));
            }
            if schema.field(to).is_some() {
                return Err(invalid!("column '{to}' already exists"));
            }
            if schema.is_key_column(from) {
                return Err(invalid!(
                    "'{from}' is a partition or primary key column; Strata does not rename key \
                     columns (their names are part of data files and partition directories)"
                ));
            }
            let options = schema.options_naming(from);
            if !options.is_empty() {
                return Err(invalid!(
                    "table options name it ({}); change those options first",
                    options.join(", ")
                ));
            }
            let field = schema
                .fields
                .iter()
                .find(|f| &f.name == from)
                .cloned()
                .ok_or_else(|| not_a_column(schema, from))?;
            check_column_names(&[NewColumn {
                name: to.clone(),
                data_type: field.data_type.clone(),
                description: None,
            }])?;
            for f in schema.fields.iter_mut().filter(|f| &f.name == from) {
                f.name = to.clone();
            }
        }
        SchemaChange::UpdateColumnType { name, data_type } => {
            let Some(field) = schema.fields.iter().find(|f| &f.name == name).cloned() else {
                return Err(not_a_column(schema, name));
            };
            if schema.is_key_column(name) {
                return Err(invalid!(
                    "'{name}' is a partition or primary key column; key types cannot change \
                     (files are sorted and bucketed by their bytes)"
                ));
            }
            // A type change keeps the column's nullability.
            let data_type = &data_type.clone().with_nullable(field.data_type.nullable);
            if !is_widening(&field.data_type, data_type) {
                return Err(invalid!(
                    "{} cannot be changed to {}: only widening changes that keep every \
                     existing value are allowed (TINYINT→SMALLINT→INT→BIGINT, FLOAT→DOUBLE, \
                     DECIMAL precision up, VARCHAR/VARBINARY length up, NOT NULL→nullable)",
                    field.data_type,
                    data_type
                ));
            }
            for f in schema.fields.iter_mut().filter(|f| &f.name == name) {
                f.data_type = data_type.clone();
            }
        }
    }
    Ok(())
}

fn not_a_column(schema: &TableSchema, name: &str) -> crate::Error {
    invalid!(
        "'{name}' is not a column (columns: {})",
        schema.field_names().join(", ")
    )
}

/// Whether every value of `from` is exactly a value of `to`.
pub fn is_widening(from: &DataType, to: &DataType) -> bool {
    if from.nullable && !to.nullable {
        return false;
    }
    use TypeKind::*;
    let int_rank = |k: &TypeKind| match k {
        TinyInt => Some(1),
        SmallInt => Some(2),
        Int => Some(3),
        BigInt => Some(4),
        _ => None,
    };
    match (&from.kind, &to.kind) {
        (a, b) if a == b => true,
        (a, b) if int_rank(a).is_some() && int_rank(b).is_some() => int_rank(a) <= int_rank(b),
        (Float, Double) => true,
        (
            Decimal {
                precision: p,
                scale: s,
            },
            Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s2 >= s && (p2 - s2) >= (p - s),
        (Char(n) | VarChar(n), VarChar(m)) => m >= n,
        (Binary(n) | VarBinary(n), VarBinary(m)) => m >= n,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DataType {
        DataType::parse(s).unwrap()
    }

    fn schema() -> TableSchema {
        TableSchema::new_for_create(
            [
                ("p", t("STRING")),
                ("k", t("BIGINT")),
                ("v", t("INT")),
                ("r", t("ROW<x INT, y STRING>")),
            ],
            vec!["p".into()],
            vec!["p".into(), "k".into()],
            [("bucket", "2")],
            None,
        )
        .unwrap()
    }

    #[test]
    fn add_drop_rename_widen() {
        let s = schema();
        assert_eq!(s.highest_field_id, 5);
        let next = s
            .apply_changes(
                &[
                    SchemaChange::AddColumn {
                        name: "w".into(),
                        data_type: t("ROW<a INT>"),
                        description: None,
                    },
                    SchemaChange::RenameColumn {
                        from: "v".into(),
                        to: "value".into(),
                    },
                    SchemaChange::UpdateColumnType {
                        name: "value".into(),
                        data_type: t("BIGINT"),
                    },
                    SchemaChange::DropColumn { name: "r".into() },
                ],
                7,
            )
            .unwrap();
        assert_eq!(next.id, 1);
        assert_eq!(next.time_millis, 7);
        assert_eq!(next.field_names(), vec!["p", "k", "value", "w"]);
        // Renamed and widened: same id. New: a fresh id above every id ever used.
        assert_eq!(next.field("value").unwrap().id, s.field("v").unwrap().id);
        assert_eq!(next.field("w").unwrap().id, 6);
        assert_eq!(next.highest_field_id, 7);
        let back = TableSchema::from_json(next.to_json().as_bytes()).unwrap();
        assert_eq!(back, next);
    }

    #[test]
    fn refused_changes_say_why() {
        let s = schema();
        let err = |c: SchemaChange| s.apply_changes(&[c], 0).unwrap_err().to_string();
        assert!(err(SchemaChange::DropColumn { name: "k".into() }).contains("key"));
        assert!(err(SchemaChange::DropColumn { name: "zz".into() }).contains("not a column"));
        assert!(err(SchemaChange::RenameColumn {
            from: "v".into(),
            to: "k".into()
        })
        .contains("already exists"));
        assert!(err(SchemaChange::RenameColumn {
            from: "p".into(),
            to: "q".into()
        })
        .contains("key"));
        assert!(err(SchemaChange::AddColumn {
            name: "n".into(),
            data_type: t("INT NOT NULL"),
            description: None
        })
        .contains("nullable"));
        assert!(err(SchemaChange::AddColumn {
            name: "_SEQUENCE_NUMBER".into(),
            data_type: t("INT"),
            description: None
        })
        .contains("reserved"));
        assert!(err(SchemaChange::UpdateColumnType {
            name: "v".into(),
            data_type: t("SMALLINT")
        })
        .contains("cannot be changed"));
        assert!(err(SchemaChange::UpdateColumnType {
            name: "k".into(),
            data_type: t("DECIMAL(38, 0)")
        })
        .contains("key"));
    }

    #[test]
    fn widening_rules() {
        for (a, b) in [
            ("INT", "BIGINT"),
            ("TINYINT", "INT"),
            ("FLOAT", "DOUBLE"),
            ("DECIMAL(10, 2)", "DECIMAL(12, 2)"),
            ("DECIMAL(10, 2)", "DECIMAL(13, 3)"),
            ("VARCHAR(10)", "VARCHAR(20)"),
            ("CHAR(3)", "STRING"),
            ("BINARY(4)", "BYTES"),
            ("INT NOT NULL", "INT"),
        ] {
            assert!(is_widening(&t(a), &t(b)), "{a} -> {b}");
        }
        for (a, b) in [
            ("BIGINT", "INT"),
            ("DOUBLE", "FLOAT"),
            ("DECIMAL(10, 2)", "DECIMAL(11, 1)"),
            ("DECIMAL(10, 2)", "DECIMAL(10, 3)"),
            ("VARCHAR(10)", "VARCHAR(5)"),
            ("VARCHAR(10)", "CHAR(10)"),
            ("INT", "INT NOT NULL"),
            ("INT", "STRING"),
            ("STRING", "INT"),
        ] {
            assert!(!is_widening(&t(a), &t(b)), "{a} -> {b}");
        }
    }
}
