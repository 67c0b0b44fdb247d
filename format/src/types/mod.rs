//! Paimon's logical data types: the enum, type strings ([`parse`]), schema JSON ([`json`]) and
//! the Arrow mapping ([`arrow`]).
//!
//! Type strings follow Paimon's SQL spelling (`DECIMAL(10, 2)`, `TIMESTAMP(6) NOT NULL`);
//! nested types appear in schema JSON as objects (see [`json`]).

pub mod arrow;
pub mod json;
pub mod parse;
#[cfg(test)]
pub(crate) mod testing;

/// A logical type together with its nullability.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataType {
    pub kind: TypeKind,
    pub nullable: bool,
}

/// The logical type without nullability.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeKind {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    /// DECIMAL(precision, scale): precision 1..=38, scale 0..=precision.
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// CHAR(n)
    Char(u32),
    /// VARCHAR(n); STRING is VARCHAR(2147483647).
    VarChar(u32),
    /// BINARY(n)
    Binary(u32),
    /// VARBINARY(n); BYTES is VARBINARY(2147483647).
    VarBinary(u32),
    Date,
    /// TIME(p), stored as milliseconds of the day.
    Time(u8),
    /// TIMESTAMP(p) without time zone, p in 0..=9.
    Timestamp(u8),
    /// TIMESTAMP(p) WITH LOCAL TIME ZONE, p in 0..=9.
    LocalZonedTimestamp(u8),
    Array(Box<DataType>),
    Map(Box<DataType>, Box<DataType>),
    Row(Vec<DataField>),
}

/// A named, id'd field of a row type or table schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataField {
    pub id: i32,
    pub name: String,
    pub data_type: DataType,
    pub description: Option<String>,
}

/// Length Paimon uses for STRING (VARCHAR) and BYTES (VARBINARY).
pub const MAX_LENGTH: u32 = i32::MAX as u32;

impl DataType {
    pub fn new(kind: TypeKind) -> Self {
        DataType {
            kind,
            nullable: true,
        }
    }

    pub fn not_null(kind: TypeKind) -> Self {
        DataType {
            kind,
            nullable: false,
        }
    }

    pub fn with_nullable(mut self, nullable: bool) -> Self {
        self.nullable = nullable;
        self
    }

    /// Fixed-width types that fit the 8-byte slot of a BinaryRow without a variable part.
    pub fn is_fixed_length(&self) -> bool {
        match &self.kind {
            TypeKind::Boolean
            | TypeKind::TinyInt
            | TypeKind::SmallInt
            | TypeKind::Int
            | TypeKind::BigInt
            | TypeKind::Float
            | TypeKind::Double
            | TypeKind::Date
            | TypeKind::Time(_) => true,
            TypeKind::Decimal { precision, .. } => *precision <= 18,
            TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p) => *p <= 3,
            _ => false,
        }
    }
}

impl DataField {
    pub fn new(id: i32, name: impl Into<String>, data_type: DataType) -> Self {
        DataField {
            id,
            name: name.into(),
            data_type,
            description: None,
        }
    }
}

impl DataType {
    /// ARRAY, MAP and ROW: the types that cannot be keys or partition columns.
    pub fn is_nested(&self) -> bool {
        matches!(
            self.kind,
            TypeKind::Array(_) | TypeKind::Map(_, _) | TypeKind::Row(_)
        )
    }

    /// Adds the ids of all ROW fields nested in this type, depth first.
    pub fn collect_field_ids(&self, out: &mut Vec<i32>) {
        match &self.kind {
            TypeKind::Array(element) => element.collect_field_ids(out),
            TypeKind::Map(key, value) => {
                key.collect_field_ids(out);
                value.collect_field_ids(out);
            }
            TypeKind::Row(fields) => {
                for f in fields {
                    out.push(f.id);
                    f.data_type.collect_field_ids(out);
                }
            }
            _ => {}
        }
    }

    /// A copy whose nested ROW fields take fresh ids from `last_id`, as Paimon's
    /// `ReassignFieldId`: depth first, a field's children before the field itself.
    pub fn with_reassigned_field_ids(&self, last_id: &mut i32) -> DataType {
        let kind = match &self.kind {
            TypeKind::Array(element) => {
                TypeKind::Array(Box::new(element.with_reassigned_field_ids(last_id)))
            }
            TypeKind::Map(key, value) => {
                let key = key.with_reassigned_field_ids(last_id);
                let value = value.with_reassigned_field_ids(last_id);
                TypeKind::Map(Box::new(key), Box::new(value))
            }
            TypeKind::Row(fields) => TypeKind::Row(
                fields
                    .iter()
                    .map(|f| {
                        let data_type = f.data_type.with_reassigned_field_ids(last_id);
                        *last_id = last_id.saturating_add(1);
                        DataField {
                            id: *last_id,
                            name: f.name.clone(),
                            data_type,
                            description: f.description.clone(),
                        }
                    })
                    .collect(),
            ),
            other => other.clone(),
        };
        DataType {
            kind,
            nullable: self.nullable,
        }
    }
}

impl DataField {
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// Gives columns ids the way Paimon does when a table is created (Java `Schema.Builder`,
/// pypaimon `to_paimon_schema`): each top-level column takes the next id, then the ROW fields
/// nested in it take the following ids (see [`DataType::with_reassigned_field_ids`]).
/// So `a INT, r ROW<x INT, y ROW<z INT>>, b INT` gets a=0, r=1, x=2, z=3, y=4, b=5.
pub fn assign_field_ids(columns: impl IntoIterator<Item = DataField>) -> Vec<DataField> {
    let mut last_id = -1i32;
    columns
        .into_iter()
        .map(|c| {
            last_id = last_id.saturating_add(1);
            let id = last_id;
            let data_type = c.data_type.with_reassigned_field_ids(&mut last_id);
            DataField {
                id,
                name: c.name,
                data_type,
                description: c.description,
            }
        })
        .collect()
}

/// The highest id among `fields` and their nested ROW fields, or -1 when there are none.
/// System ids (at or above 1073741823) are skipped, as in Java `RowType.currentHighestFieldId`.
pub fn highest_field_id(fields: &[DataField]) -> i32 {
    let mut ids = Vec::new();
    for f in fields {
        ids.push(f.id);
        f.data_type.collect_field_ids(&mut ids);
    }
    ids.into_iter()
        .filter(|id| *id < SYSTEM_FIELD_ID_START)
        .max()
        .unwrap_or(-1)
}

/// Field ids at or above this are reserved for system columns (`Integer.MAX_VALUE / 2`).
pub const SYSTEM_FIELD_ID_START: i32 = i32::MAX / 2;
