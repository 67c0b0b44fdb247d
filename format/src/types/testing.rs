//! Test helpers for types: a proptest strategy for arbitrary types.

use proptest::prelude::*;

use super::{DataField, DataType, TypeKind, MAX_LENGTH};

/// Any type; ROW fields get positional ids (as parsed type strings do) and non-empty descriptions.
pub(crate) fn arb_type() -> impl Strategy<Value = DataType> {
    let leaf = prop_oneof![
        Just(TypeKind::Boolean),
        Just(TypeKind::Int),
        Just(TypeKind::BigInt),
        Just(TypeKind::Double),
        (1u8..=38)
            .prop_flat_map(|p| (Just(p), 0..=p))
            .prop_map(|(precision, scale)| TypeKind::Decimal { precision, scale }),
        (1u32..=MAX_LENGTH).prop_map(TypeKind::VarChar),
        (1u32..100).prop_map(TypeKind::Char),
        (1u32..=MAX_LENGTH).prop_map(TypeKind::VarBinary),
        (0u8..=9).prop_map(TypeKind::Time),
        (0u8..=9).prop_map(TypeKind::Timestamp),
        (0u8..=9).prop_map(TypeKind::LocalZonedTimestamp),
    ];
    let leaf = (leaf, any::<bool>()).prop_map(|(k, n)| DataType::new(k).with_nullable(n));
    leaf.prop_recursive(4, 24, 4, |inner| {
        let kind = prop_oneof![
            inner.clone().prop_map(|e| TypeKind::Array(Box::new(e))),
            (inner.clone(), inner.clone())
                .prop_map(|(k, v)| TypeKind::Map(Box::new(k), Box::new(v))),
            prop::collection::vec(
                (inner, "[a-z_`' ]{1,6}", prop::option::of("[a-z' ]{1,5}")),
                0..4
            )
            .prop_map(|fs| {
                let mut seen = Vec::new();
                let mut fields = Vec::new();
                for (ty, name, description) in fs {
                    if name.trim().is_empty() || seen.contains(&name) {
                        continue;
                    }
                    seen.push(name.clone());
                    let id = fields.len() as i32;
                    fields.push(DataField {
                        id,
                        name,
                        data_type: ty,
                        description: description.filter(|d: &String| !d.is_empty()),
                    });
                }
                TypeKind::Row(fields)
            }),
        ];
        (kind, any::<bool>()).prop_map(|(k, n)| DataType::new(k).with_nullable(n))
    })
}
