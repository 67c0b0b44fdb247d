//! A Strata (Paimon) schema as an Iceberg schema and identity partition spec.
//!
//! Iceberg readers find Parquet columns by field id, so every Iceberg id here is the id
//! Strata writes into its Parquet files: the Paimon field id for columns and ROW fields, and
//! Paimon's derived ids (`strata_format::types::arrow::array_element_id`, `map_key_id`) for
//! list elements and map keys/values. Strata's system columns (`_KEY_*`, `_SEQUENCE_NUMBER`,
//! `_VALUE_KIND`) have ids that the Iceberg schema does not name, so readers skip them.

use std::sync::Arc;

use iceberg::spec::{
    ListType, MapType, NestedField, NestedFieldRef, PartitionSpec, PrimitiveLiteral, PrimitiveType,
    Schema, StructType, Transform, Type,
};
use strata_format::data::Datum;
use strata_format::schema::TableSchema;
use strata_format::types::arrow::{array_element_id, map_key_id};
use strata_format::types::{DataField, DataType, TypeKind};

use crate::error::{CatalogError, Result};

/// The Iceberg view of a Strata schema.
pub struct IcebergSchema {
    pub schema: Arc<Schema>,
    pub spec: PartitionSpec,
    /// Highest field id used (Iceberg's `last-column-id`).
    pub last_column_id: i32,
    /// Columns left out because Iceberg (at this format version) has no faithful type.
    pub omitted: Vec<String>,
}

/// Converts a table schema. `format_version` 3 adds nanosecond timestamps.
pub fn convert(schema: &TableSchema, format_version: u8) -> Result<IcebergSchema> {
    let mut last = 0;
    let mut fields = Vec::new();
    let mut omitted = Vec::new();
    for f in &schema.fields {
        match field(f, f.id, 0, format_version, &mut last) {
            Some(nf) => fields.push(nf),
            None => omitted.push(f.name.clone()),
        }
    }
    let keys: Vec<i32> = schema
        .trimmed_primary_key_fields()
        .iter()
        .chain(schema.partition_fields().iter())
        .filter(|k| fields.iter().any(|f| f.id == k.id && f.required))
        .map(|k| k.id)
        .collect();
    // Identifier fields are the full primary key (partition keys included), if all are present.
    let all_keys = schema.primary_key_fields();
    let identifier: Vec<i32> =
        if !all_keys.is_empty() && all_keys.iter().all(|k| keys.contains(&k.id)) {
            all_keys.iter().map(|k| k.id).collect()
        } else {
            Vec::new()
        };
    let iceberg = Schema::builder()
        .with_schema_id(i32::try_from(schema.id).unwrap_or(0))
        .with_identifier_field_ids(identifier)
        .with_fields(fields)
        .build()
        .map_err(|e| CatalogError::internal(format!("Iceberg schema of a Strata table: {e}")))?;
    let iceberg = Arc::new(iceberg);
    let mut spec = PartitionSpec::builder(iceberg.clone()).with_spec_id(0);
    for p in schema.partition_fields() {
        if omitted.contains(&p.name) {
            return Err(CatalogError::unsupported(format!(
                "partition key '{}' has a type Iceberg cannot read",
                p.name
            )));
        }
        spec = spec
            .add_partition_field(&p.name, &p.name, Transform::Identity)
            .map_err(|e| CatalogError::internal(format!("partition spec: {e}")))?;
    }
    let spec = spec
        .build()
        .map_err(|e| CatalogError::internal(format!("partition spec: {e}")))?;
    Ok(IcebergSchema {
        schema: iceberg,
        spec,
        // Dropped columns keep their ids reserved, as in Paimon's highestFieldId.
        last_column_id: last.max(schema.highest_field_id),
        omitted,
    })
}

fn field(
    f: &DataField,
    column_id: i32,
    depth: i32,
    fv: u8,
    last: &mut i32,
) -> Option<NestedFieldRef> {
    *last = (*last).max(f.id);
    let ty = iceberg_type(&f.data_type, column_id, depth, fv, last)?;
    Some(Arc::new(NestedField::new(
        f.id,
        &f.name,
        ty,
        !f.data_type.nullable,
    )))
}

fn iceberg_type(t: &DataType, column_id: i32, depth: i32, fv: u8, last: &mut i32) -> Option<Type> {
    let p = |p: PrimitiveType| Some(Type::Primitive(p));
    match &t.kind {
        TypeKind::Boolean => p(PrimitiveType::Boolean),
        TypeKind::TinyInt | TypeKind::SmallInt | TypeKind::Int => p(PrimitiveType::Int),
        TypeKind::BigInt => p(PrimitiveType::Long),
        TypeKind::Float => p(PrimitiveType::Float),
        TypeKind::Double => p(PrimitiveType::Double),
        TypeKind::Decimal { precision, scale } => p(PrimitiveType::Decimal {
            precision: u32::from(*precision),
            scale: u32::from(*scale),
        }),
        TypeKind::Char(_) | TypeKind::VarChar(_) => p(PrimitiveType::String),
        TypeKind::Binary(_) | TypeKind::VarBinary(_) => p(PrimitiveType::Binary),
        TypeKind::Date => p(PrimitiveType::Date),
        // Paimon keeps TIME as milliseconds; Iceberg readers expect microseconds.
        TypeKind::Time(_) => None,
        TypeKind::Timestamp(precision) => match precision {
            0..=6 => p(PrimitiveType::Timestamp),
            _ if fv >= 3 => p(PrimitiveType::TimestampNs),
            _ => None,
        },
        TypeKind::LocalZonedTimestamp(precision) => match precision {
            0..=6 => p(PrimitiveType::Timestamptz),
            _ if fv >= 3 => p(PrimitiveType::TimestamptzNs),
            _ => None,
        },
        TypeKind::Array(element) => {
            let depth = depth + 1;
            let id = array_element_id(column_id, depth);
            *last = (*last).max(id);
            let inner = iceberg_type(element, column_id, depth, fv, last)?;
            Some(Type::List(ListType::new(Arc::new(
                NestedField::list_element(id, inner, !element.nullable),
            ))))
        }
        TypeKind::Map(key, value) => {
            let depth = depth + 1;
            let key_id = map_key_id(column_id, depth);
            let value_id = array_element_id(column_id, depth);
            *last = (*last).max(key_id).max(value_id);
            let k = iceberg_type(key, column_id, depth, fv, last)?;
            let v = iceberg_type(value, column_id, depth, fv, last)?;
            Some(Type::Map(MapType::new(
                Arc::new(NestedField::map_key_element(key_id, k)),
                Arc::new(NestedField::map_value_element(value_id, v, !value.nullable)),
            )))
        }
        TypeKind::Row(fields) => {
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                out.push(field(f, f.id, 0, fv, last)?);
            }
            Some(Type::Struct(StructType::new(out)))
        }
    }
}

/// A partition value as an Iceberg literal of the column's Iceberg type.
pub fn partition_literal(value: &Datum) -> Result<PrimitiveLiteral> {
    Ok(match value {
        Datum::Boolean(b) => PrimitiveLiteral::Boolean(*b),
        Datum::TinyInt(v) => PrimitiveLiteral::Int(i32::from(*v)),
        Datum::SmallInt(v) => PrimitiveLiteral::Int(i32::from(*v)),
        Datum::Int(v) | Datum::Date(v) => PrimitiveLiteral::Int(*v),
        Datum::BigInt(v) => PrimitiveLiteral::Long(*v),
        Datum::Float(v) => PrimitiveLiteral::Float((*v).into()),
        Datum::Double(v) => PrimitiveLiteral::Double((*v).into()),
        Datum::Decimal(v) => PrimitiveLiteral::Int128(*v),
        Datum::String(s) => PrimitiveLiteral::String(s.clone()),
        Datum::Binary(b) => PrimitiveLiteral::Binary(b.clone()),
        Datum::Timestamp {
            millis,
            nanos_of_milli,
        } => PrimitiveLiteral::Long(
            millis
                .saturating_mul(1000)
                .saturating_add(i64::from(*nanos_of_milli / 1000)),
        ),
        Datum::Time(_) => {
            return Err(CatalogError::unsupported(
                "TIME partition keys have no Iceberg form",
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col<'a>(name: &'a str, ty: &str) -> (&'a str, DataType) {
        (name, DataType::parse(ty).unwrap())
    }

    #[test]
    fn ids_are_the_parquet_ids() {
        let schema = TableSchema::new_for_create(
            vec![
                col("id", "BIGINT NOT NULL"),
                col("dt", "STRING NOT NULL"),
                col("tags", "ARRAY<STRING>"),
                col("t", "TIME"),
            ],
            vec!["dt".to_string()],
            vec!["id".to_string(), "dt".to_string()],
            Vec::<(String, String)>::new(),
            None,
        )
        .unwrap();
        let ice = convert(&schema, 2).unwrap();
        let s = &ice.schema;
        assert_eq!(s.field_by_name("id").unwrap().id, 0);
        assert_eq!(s.field_by_name("dt").unwrap().id, 1);
        let Type::List(list) = s.field_by_name("tags").unwrap().field_type.as_ref() else {
            panic!("not a list");
        };
        assert_eq!(list.element_field.id, array_element_id(2, 1));
        assert!(s.field_by_name("t").is_none());
        assert_eq!(ice.omitted, vec!["t".to_string()]);
        assert_eq!(ice.spec.fields().len(), 1);
        assert_eq!(ice.spec.fields()[0].source_id, 1);
        assert!(ice.last_column_id >= array_element_id(2, 1));
        let mut ids: Vec<i32> = s.identifier_field_ids().collect();
        ids.sort();
        assert_eq!(ids, vec![0, 1]);
    }
}
