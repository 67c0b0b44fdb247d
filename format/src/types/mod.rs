//! Paimon's logical data types: the enum, type strings (`parse`), and the Arrow mapping (`arrow`).
//!
//! Type strings follow Paimon's SQL spelling (`DECIMAL(10, 2)`, `TIMESTAMP(6) NOT NULL`);
//! nested types appear in schema JSON as objects (see `schema.rs`).

pub mod arrow;
pub mod parse;

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
    Decimal { precision: u8, scale: u8 },
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
