use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::error::ErrorKind;
use crate::types::testing::arb_type;
use crate::types::MAX_LENGTH;

fn t(kind: TypeKind) -> DataType {
    DataType::new(kind)
}

fn from(value: Value) -> Result<DataType> {
    DataType::from_json_value(&value)
}

#[test]
fn atomic_types_are_strings() {
    let ty = DataType::not_null(TypeKind::Decimal {
        precision: 10,
        scale: 2,
    });
    assert_eq!(ty.to_json_value(), json!("DECIMAL(10, 2) NOT NULL"));
    assert_eq!(from(json!("DECIMAL(10, 2) NOT NULL")).unwrap(), ty);
    assert_eq!(
        t(TypeKind::LocalZonedTimestamp(3)).to_json_value(),
        json!("TIMESTAMP(3) WITH LOCAL TIME ZONE")
    );
}

#[test]
fn nested_types_are_objects_in_java_field_order() {
    let row = DataType::not_null(TypeKind::Row(vec![
        DataField::new(7, "x", t(TypeKind::Double)).with_description("east"),
        DataField::new(8, "y", DataType::not_null(TypeKind::Double)),
    ]));
    let map = t(TypeKind::Map(
        Box::new(DataType::not_null(TypeKind::VarChar(MAX_LENGTH))),
        Box::new(row),
    ));
    let ty = DataType::not_null(TypeKind::Array(Box::new(map)));
    let expected = r#"{"type":"ARRAY NOT NULL","element":{"type":"MAP","key":"STRING NOT NULL","value":{"type":"ROW NOT NULL","fields":[{"id":7,"name":"x","type":"DOUBLE","description":"east"},{"id":8,"name":"y","type":"DOUBLE NOT NULL"}]}}}"#;
    assert_eq!(serde_json::to_string(&ty).unwrap(), expected);
    let back: DataType = serde_json::from_str(expected).unwrap();
    assert_eq!(back, ty);
}

#[test]
fn reads_pypaimon_nullable_and_lenient_spellings() {
    let ty = from(json!({"type": "ARRAY", "element": "INT", "nullable": false})).unwrap();
    assert!(!ty.nullable);
    let ty = from(json!({"type": "MAP NOT NULL", "key": "INT", "value": "INT", "nullable": true}))
        .unwrap();
    assert!(!ty.nullable, "NOT NULL in the type name wins");
    let ty = from(json!({"type": "row null", "fields": []})).unwrap();
    assert_eq!(ty, t(TypeKind::Row(vec![])));
    assert_eq!(
        from(json!({"type": "INT NOT NULL"})).unwrap(),
        DataType::not_null(TypeKind::Int)
    );
    assert_eq!(
        from(json!({"type": "INT", "nullable": false})).unwrap(),
        DataType::not_null(TypeKind::Int)
    );
    assert_eq!(
        from(json!("TIMESTAMP_LTZ(6)")).unwrap(),
        t(TypeKind::LocalZonedTimestamp(6))
    );
    let field = DataField::from_json_value(&json!({
        "id": 3, "name": "c", "type": "INT", "description": null, "defaultValue": "1"
    }))
    .unwrap();
    assert_eq!(field, DataField::new(3, "c", t(TypeKind::Int)));
}

#[test]
fn errors_name_the_problem() {
    let cases = [
        (json!(5), "a type must be a string or an object, got 5"),
        (json!({"element": "INT"}), "needs a string \"type\""),
        (
            json!({"type": "ARRAY"}),
            "ARRAY type object has no \"element\"",
        ),
        (
            json!({"type": "MAP", "key": "INT"}),
            "MAP type object has no \"value\"",
        ),
        (
            json!({"type": "ROW"}),
            "ROW type object has no \"fields\" array",
        ),
        (
            json!({"type": "ARRAY", "element": "FOO"}),
            "ARRAY element: unknown type 'FOO'",
        ),
        (
            json!({"type": "ROW", "fields": [{"id": 1, "name": "r", "type": {"type": "ROW", "fields": [{"id": 2, "name": "x", "type": "BAR"}]}}]}),
            "field 'r': field 'x': unknown type 'BAR'",
        ),
        (
            json!({"type": "ROW", "fields": [{"name": "a", "type": "INT"}]}),
            "field 'a' needs an integer \"id\"",
        ),
        (
            json!({"type": "ROW", "fields": [{"id": 4294967296i64, "name": "a", "type": "INT"}]}),
            "fits in 32 bits",
        ),
        (
            json!({"type": "ROW", "fields": [{"id": 1, "type": "INT"}]}),
            "needs a string \"name\"",
        ),
        (
            json!({"type": "ROW", "fields": [{"id": 1, "name": "a"}]}),
            "field 'a' has no \"type\"",
        ),
        (
            json!({"type": "ROW", "fields": [{"id": 1, "name": "a", "type": "INT", "description": 3}]}),
            "non-string description",
        ),
        (
            json!({"type": "ROW", "fields": [{"id": 1, "name": "a", "type": "INT"}, {"id": 2, "name": "a", "type": "INT"}]}),
            "duplicate field name 'a'",
        ),
        (
            json!({"type": "ROW", "fields": [7]}),
            "a field must be an object, got 7",
        ),
    ];
    for (value, expected) in cases {
        let msg = match from(value.clone()) {
            Ok(ty) => panic!("{value} decoded as {ty}"),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains(expected), "{value}: {msg}");
    }
    let e = from(json!({"type": "MULTISET", "element": "INT"})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

#[test]
fn pretty_printer_matches_jackson() {
    let value = json!({
        "version": 3,
        "fields": [{"id": 0, "name": "a", "type": {"type": "ARRAY", "element": "INT"}}, {"id": 1}],
        "keys": ["a", "b"],
        "none": [],
        "options": {},
        "o": {"k": "v\"q"}
    });
    let expected = r#"{
  "version" : 3,
  "fields" : [ {
    "id" : 0,
    "name" : "a",
    "type" : {
      "type" : "ARRAY",
      "element" : "INT"
    }
  }, {
    "id" : 1
  } ],
  "keys" : [ "a", "b" ],
  "none" : [ ],
  "options" : { },
  "o" : {
    "k" : "v\"q"
  }
}"#;
    assert_eq!(to_pretty_json(&value), expected);
    let parsed: Value = serde_json::from_str(&to_pretty_json(&value)).unwrap();
    assert_eq!(parsed, value);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just("INT".to_string()),
            Just("ARRAY".to_string()),
            Just("ROW NOT NULL".to_string()),
            Just("MAP".to_string()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("type".to_string()),
                        Just("element".to_string()),
                        Just("key".to_string()),
                        Just("value".to_string()),
                        Just("fields".to_string()),
                        Just("id".to_string()),
                        Just("name".to_string()),
                        Just("nullable".to_string()),
                        Just("description".to_string()),
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_json_never_panics(value in arb_json()) {
        let _ = DataType::from_json_value(&value);
        let _ = DataField::from_json_value(&value);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        let _ = serde_json::from_slice::<DataType>(&bytes);
        let _ = serde_json::from_slice::<DataField>(&bytes);
    }

    #[test]
    fn generated_types_round_trip_through_json(ty in arb_type()) {
        let text = serde_json::to_string(&ty).unwrap();
        let back: DataType = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, ty);
    }
}
