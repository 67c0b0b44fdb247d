use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::error::ErrorKind;
use crate::types::MAX_LENGTH;

const PYPAIMON_ALL: &[u8] = include_bytes!("../../testdata/schema/pypaimon-all-types.json");
const PYPAIMON_NESTED: &[u8] =
    include_bytes!("../../testdata/schema/pypaimon-nested-not-null.json");
const JAVA_V3: &str = include_str!("../../testdata/schema/java-v3-nested.json");
const JAVA_V2: &[u8] = include_bytes!("../../testdata/schema/java-v2.json");
const JAVA_V1: &[u8] = include_bytes!("../../testdata/schema/java-v1-no-version.json");

fn ty(s: &str) -> DataType {
    DataType::parse(s).unwrap()
}

fn type_of(schema: &TableSchema, name: &str) -> String {
    schema.field(name).unwrap().data_type.to_string()
}

#[test]
fn reads_pypaimon_schema_with_every_type() {
    let s = TableSchema::from_json(PYPAIMON_ALL).unwrap();
    assert_eq!((s.version, s.id, s.highest_field_id), (3, 0, 25));
    assert_eq!(s.partition_keys, ["dt"]);
    assert_eq!(s.primary_keys, ["k", "dt"]);
    assert_eq!(s.comment.as_deref(), Some("golden"));
    assert_eq!(s.options.get("bucket").map(String::as_str), Some("2"));
    let expected = [
        ("k", "BIGINT NOT NULL"),
        ("dt", "STRING NOT NULL"),
        ("dec", "DECIMAL(10, 2)"),
        ("bin", "BYTES"),
        ("fbin", "BINARY(16)"),
        ("tm", "TIME(0)"),
        ("ts0", "TIMESTAMP(0)"),
        ("ts9", "TIMESTAMP(9)"),
        ("ltz", "TIMESTAMP(6) WITH LOCAL TIME ZONE"),
        ("arr", "ARRAY<INT>"),
        ("m", "MAP<STRING NOT NULL, BIGINT>"),
        ("r", "ROW<`x` INT, `y` ROW<`z` STRING>>"),
        ("arr_r", "ARRAY<ROW<`p` INT>>"),
    ];
    for (name, printed) in expected {
        assert_eq!(type_of(&s, name), printed, "{name}");
    }
    // Nested ids as pypaimon assigned them: children before their parent.
    let TypeKind::Row(r) = &s.field("r").unwrap().data_type.kind else {
        panic!()
    };
    assert_eq!((r[0].id, r[1].id), (21, 23));
    assert_eq!(s.field_by_id(24).map(|f| f.name.as_str()), Some("arr_r"));
    assert_eq!(s.trimmed_primary_keys(), ["k"]);
    assert_eq!(s.bucket_keys(), ["k"]);
}

/// The column list pypaimon wrote into this table's data file, in order.
#[test]
fn key_value_fields_match_the_pypaimon_data_file() {
    let s = TableSchema::from_json(PYPAIMON_ALL).unwrap();
    let kv = s.key_value_fields();
    let names: Vec<&str> = kv.iter().map(|f| f.name.as_str()).collect();
    let mut expected = vec!["_KEY_k", "_SEQUENCE_NUMBER", "_VALUE_KIND"];
    expected.extend(s.field_names());
    assert_eq!(names, expected);
    assert_eq!(kv[0].id, 1_073_741_823);
    assert_eq!(kv[0].data_type, DataType::not_null(TypeKind::BigInt));
    assert_eq!(
        (kv[1].id, kv[1].data_type.to_string().as_str()),
        (2_147_483_646, "BIGINT NOT NULL")
    );
    assert_eq!(
        (kv[2].id, kv[2].data_type.to_string().as_str()),
        (2_147_483_645, "TINYINT NOT NULL")
    );
}

/// Creating the same table ourselves gives the ids and nullability pypaimon chose.
#[test]
fn new_for_create_assigns_ids_like_pypaimon() {
    let golden = TableSchema::from_json(PYPAIMON_ALL).unwrap();
    let columns = golden.fields.iter().cloned().map(|mut f| {
        f.data_type.nullable = f.name != "k"; // dt must be forced NOT NULL as a primary key
        f
    });
    let created = TableSchema::new_for_create(
        columns,
        golden.partition_keys.clone(),
        golden.primary_keys.clone(),
        golden.options.clone(),
        golden.comment.clone(),
    )
    .unwrap();
    assert_eq!(created.fields, golden.fields);
    assert_eq!(created.highest_field_id, golden.highest_field_id);
    assert_eq!((created.version, created.id), (3, 0));
    assert!(created.time_millis > 0);
}

#[test]
fn reads_pypaimon_nullable_flags_and_descriptions() {
    let s = TableSchema::from_json(PYPAIMON_NESTED).unwrap();
    assert_eq!(type_of(&s, "tags"), "ARRAY<STRING NOT NULL> NOT NULL");
    assert_eq!(
        type_of(&s, "attrs"),
        "MAP<STRING NOT NULL, DOUBLE NOT NULL>"
    );
    assert_eq!(
        type_of(&s, "pt"),
        "ROW<`x` BIGINT NOT NULL, `when` TIMESTAMP(3) WITH LOCAL TIME ZONE> NOT NULL"
    );
    assert_eq!(type_of(&s, "matrix"), "ARRAY<ARRAY<SMALLINT>>");
    assert_eq!(
        s.field("id").unwrap().description.as_deref(),
        Some("the key")
    );
    assert_eq!(s.comment, None);
    let keys: Vec<&str> = s.options.keys().map(String::as_str).collect();
    assert_eq!(keys, ["bucket", "merge-engine", "write-buffer-size"]);
    let again = TableSchema::from_json(s.to_json().as_bytes()).unwrap();
    assert_eq!(again, s);
}

#[test]
fn java_file_round_trips_byte_for_byte() {
    let s = TableSchema::from_json(JAVA_V3.as_bytes()).unwrap();
    assert_eq!(s.to_json(), JAVA_V3);
    assert_eq!(s.highest_field_id, 9, "kept even above the live fields");
    assert_eq!(type_of(&s, "tags"), "ARRAY<VARCHAR(20)> NOT NULL");
    assert_eq!(
        s.field("k").unwrap().description.as_deref(),
        Some("the key")
    );
    assert_eq!(s.trimmed_primary_keys(), ["k"]);
    assert_eq!(s.partition_fields()[0].name, "dt");
    assert_eq!(s.primary_key_fields().len(), 2);
}

#[test]
fn old_versions_get_the_defaults_they_implied() {
    let v2 = TableSchema::from_json(JAVA_V2).unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(
        v2.options.get("file.format").map(String::as_str),
        Some("orc")
    );
    assert_eq!(v2.options.get("bucket").map(String::as_str), Some("2"));
    assert_eq!(v2.comment.as_deref(), Some(""));
    let json = v2.to_json();
    assert!(json.starts_with("{\n  \"version\" : 3,"), "{json}");
    assert!(json.contains("\"file.format\" : \"orc\""));
    assert!(json.contains("\"comment\" : \"\""));

    let v1 = TableSchema::from_json(JAVA_V1).unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.options.get("bucket").map(String::as_str), Some("1"));
    assert_eq!(
        v1.options.get("file.format").map(String::as_str),
        Some("orc")
    );
    assert_eq!(type_of(&v1, "amount"), "DECIMAL(12, 3)");
    assert_eq!(
        TableSchema::from_json(v1.to_json().as_bytes())
            .unwrap()
            .options,
        v1.options
    );
}

/// Every `invalid/<case>.json` fails with an error containing `invalid/<case>.err`.
#[test]
fn invalid_schema_files_fail_with_clear_errors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/schema/invalid");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let expected = std::fs::read_to_string(path.with_extension("err"))
            .unwrap_or_else(|_| panic!("{} has no .err file", path.display()));
        let bytes = std::fs::read(&path).unwrap();
        let msg = match TableSchema::from_json(&bytes) {
            Ok(s) => panic!("{} loaded: {s:?}", path.display()),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains(expected.trim()), "{}: {msg}", path.display());
        cases += 1;
    }
    assert!(cases >= 10);
}

fn columns() -> Vec<(String, DataType, Option<String>)> {
    vec![
        ("dt".into(), ty("STRING"), None),
        ("k".into(), ty("BIGINT"), Some("key".into())),
        ("v".into(), ty("ROW<a INT, b ARRAY<ROW<c INT>>>"), None),
        ("w".into(), ty("DOUBLE"), None),
    ]
}

fn create(partition: &[&str], pk: &[&str], options: &[(&str, &str)]) -> Result<TableSchema> {
    TableSchema::new_for_create(
        columns(),
        partition.iter().map(|s| s.to_string()).collect(),
        pk.iter().map(|s| s.to_string()).collect(),
        options.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        None,
    )
}

fn create_err(partition: &[&str], pk: &[&str], options: &[(&str, &str)]) -> Error {
    match create(partition, pk, options) {
        Ok(s) => panic!("created {}", s.to_json()),
        Err(e) => e,
    }
}

#[test]
fn new_for_create_assigns_nested_ids_and_forces_key_not_null() {
    let s = create(&["dt"], &["dt", "k"], &[("bucket", "2")])
        .unwrap()
        .with_time_millis(7);
    assert_eq!(s.time_millis, 7);
    let ids: Vec<i32> = s.fields.iter().map(|f| f.id).collect();
    // v=2, then a=3, c=4, b=5 (children first), then w=6.
    assert_eq!(ids, vec![0, 1, 2, 6]);
    let TypeKind::Row(v) = &s.field("v").unwrap().data_type.kind else {
        panic!()
    };
    assert_eq!((v[0].id, v[1].id), (3, 5));
    assert_eq!(s.highest_field_id, 6);
    assert_eq!(type_of(&s, "dt"), "STRING NOT NULL");
    assert_eq!(type_of(&s, "k"), "BIGINT NOT NULL");
    assert_eq!(type_of(&s, "w"), "DOUBLE");
    assert_eq!(s.field("k").unwrap().description.as_deref(), Some("key"));
    assert_eq!(TableSchema::from_json(s.to_json().as_bytes()).unwrap(), s);
}

#[test]
fn new_for_create_takes_keys_from_options() {
    let s = create(
        &[],
        &[],
        &[
            ("primary-key", "dt, k"),
            ("partition", "dt"),
            ("bucket", "1"),
        ],
    )
    .unwrap();
    assert_eq!(s.primary_keys, ["dt", "k"]);
    assert_eq!(s.partition_keys, ["dt"]);
    assert!(!s.options.contains_key("primary-key"));
    let e = create_err(&[], &["k"], &[("primary-key", "k")]);
    assert!(e.to_string().contains("option 'primary-key'"), "{e}");
    // The CLI passes a BTreeMap.
    let options: BTreeMap<String, String> = [("bucket".to_string(), "3".to_string())].into();
    let s = TableSchema::new_for_create(
        columns(),
        vec![],
        vec!["k".into()],
        options,
        Some("c".into()),
    )
    .unwrap();
    assert_eq!(s.comment.as_deref(), Some("c"));
}

#[test]
fn new_for_create_rejects_what_paimon_rejects() {
    // (partition keys, primary keys, options, expected error)
    type Case<'a> = (
        &'a [&'a str],
        &'a [&'a str],
        Vec<(&'a str, &'a str)>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            &["x"],
            &[],
            vec![],
            "partition key 'x' is not a column (columns: dt, k, v, w)",
        ),
        (
            &["dt", "dt"],
            &[],
            vec![],
            "partition key 'dt' is listed twice",
        ),
        (&[], &["k", "k"], vec![], "primary key 'k' is listed twice"),
        (&[], &["nope"], vec![], "primary key 'nope' is not a column"),
        (&[], &["v"], vec![], "primary key 'v' has type ROW<"),
        (&["v"], &[], vec![], "nested types cannot be partition keys"),
        (
            &["dt"],
            &["dt"],
            vec![],
            "must not be only partition columns",
        ),
        (
            &[],
            &["k"],
            vec![("bucket", "0")],
            "option 'bucket' must be a positive number",
        ),
        (
            &[],
            &["k"],
            vec![("bucket", "two")],
            "option 'bucket' must be an integer, got 'two'",
        ),
        (
            &[],
            &["k"],
            vec![("bucket-key", "k")],
            "'bucket-key' needs a fixed number of buckets",
        ),
        (
            &[],
            &["k"],
            vec![("bucket", "2"), ("bucket-key", "w")],
            "bucket-key 'w' must be part of the primary key",
        ),
        (
            &["dt"],
            &["dt", "k"],
            vec![("bucket", "2"), ("bucket-key", "dt")],
            "must not be a partition column",
        ),
        (
            &[],
            &[],
            vec![("bucket", "2"), ("bucket-key", "zz")],
            "bucket-key 'zz' is not a column",
        ),
        (
            &["dt"],
            &["k"],
            vec![("bucket", "2")],
            "this needs 'bucket' = -1",
        ),
        (
            &[],
            &[],
            vec![("changelog-producer", "input")],
            "'changelog-producer' = 'input' needs a primary key",
        ),
        (
            &[],
            &["k"],
            vec![("sequence.field", "zz")],
            "sequence.field 'zz' is not a column",
        ),
        (
            &[],
            &["k"],
            vec![("sequence.field", "w,w")],
            "sequence.field 'w' is listed twice",
        ),
        (
            &[],
            &["k"],
            vec![
                ("sequence.field", "w"),
                ("fields.w.aggregate-function", "sum"),
            ],
            "must not have an aggregate function",
        ),
        (
            &[],
            &["k"],
            vec![("sequence.field", "w"), ("merge-engine", "first-row")],
            "does not support sequence.field",
        ),
        (
            &["dt"],
            &["k"],
            vec![("sequence.field", "w")],
            "sequence.field cannot be used",
        ),
        (
            &[],
            &["k"],
            vec![("rowkind.field", "op")],
            "rowkind.field 'op' is not a column",
        ),
        (
            &[],
            &["k"],
            vec![
                ("merge-engine", "first-row"),
                ("changelog-producer", "input"),
            ],
            "supports changelog-producer 'none' or 'lookup'",
        ),
        (
            &[],
            &["k"],
            vec![
                ("deletion-vectors.enabled", "true"),
                ("changelog-producer", "full-compaction"),
            ],
            "deletion vectors support changelog-producer",
        ),
        (
            &[],
            &["k"],
            vec![
                ("deletion-vectors.enabled", "true"),
                ("merge-engine", "first-row"),
            ],
            "must not enable deletion vectors",
        ),
        (
            &[],
            &["k"],
            vec![("snapshot.num-retained.min", "0")],
            "must be at least 1",
        ),
        (
            &[],
            &["k"],
            vec![
                ("snapshot.num-retained.min", "5"),
                ("snapshot.num-retained.max", "4"),
            ],
            "must not exceed",
        ),
        (
            &[],
            &["k"],
            vec![("fields.zz.aggregate-function", "sum")],
            "option 'fields.zz.aggregate-function' names no column",
        ),
        (
            &[],
            &[],
            vec![("full-compaction.delta-commits", "3")],
            "'full-compaction.delta-commits' needs",
        ),
        (
            &[],
            &["k"],
            vec![("merge-engine", "merge")],
            "option 'merge-engine' must be one of",
        ),
    ];
    for (partition, pk, options, expected) in cases {
        let e = create_err(partition, pk, &options);
        assert_eq!(e.kind(), ErrorKind::DataInvalid, "{expected}");
        assert!(e.to_string().contains(expected), "{expected}: {e}");
    }
    let e = create_err(&[], &["k"], &[("bucket", "-2")]);
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    // Options that are fine.
    create(
        &[],
        &["k"],
        &[
            ("fields.v.ignore-retract", "true"),
            ("fields.default-aggregate-function", "last_value"),
        ],
    )
    .unwrap();
    create(&["dt"], &["k"], &[]).unwrap();
    create(&[], &[], &[("bucket", "3")]).unwrap();
}

#[test]
fn new_for_create_checks_column_names() {
    let bad: Vec<(Vec<(&str, DataType)>, &str)> = vec![
        (
            vec![("a", ty("INT")), ("a", ty("INT"))],
            "column 'a' appears twice",
        ),
        (vec![(" ", ty("INT"))], "column names must not be blank"),
        (
            vec![("_SEQUENCE_NUMBER", ty("INT"))],
            "is reserved for a system column",
        ),
        (
            vec![("rowkind", ty("INT"))],
            "is reserved for a system column",
        ),
        (vec![("_KEY_a", ty("INT"))], "must not start with '_KEY_'"),
        (
            vec![(
                "r",
                DataType::new(TypeKind::Row(vec![
                    DataField::new(0, "x", ty("INT")),
                    DataField::new(1, "x", ty("INT")),
                ])),
            )],
            "column 'r': ROW field 'x' appears twice",
        ),
    ];
    for (cols, expected) in bad {
        let e =
            TableSchema::new_for_create(cols, vec![], vec![], Vec::<(String, String)>::new(), None)
                .unwrap_err();
        assert!(e.to_string().contains(expected), "{expected}: {e}");
    }
}

#[test]
fn bucket_keys_and_cross_partition_update() {
    let s = create(&["dt"], &["dt", "k"], &[("bucket", "2")]).unwrap();
    assert_eq!(s.bucket_keys(), ["k"]);
    assert!(!s.cross_partition_update());
    let s = create(&[], &["k", "w"], &[("bucket", "2"), ("bucket-key", "w")]).unwrap();
    assert_eq!(s.bucket_keys(), ["w"]);
    assert_eq!(s.bucket_key_fields()[0].name, "w");
    let s = create(&["dt"], &["k"], &[]).unwrap();
    assert!(s.cross_partition_update());
    let s = create(&[], &[], &[]).unwrap();
    assert!(s.bucket_keys().is_empty());
    assert!(s.key_value_fields().len() == s.fields.len() + 2);
}

#[test]
fn accessors_find_columns() {
    let s = create(&["dt"], &["dt", "k"], &[("bucket", "1")]).unwrap();
    assert_eq!(s.field("w").map(|f| f.id), Some(6));
    assert_eq!(
        s.field("a"),
        None,
        "nested fields are not top-level columns"
    );
    assert_eq!(s.field_by_id(1).map(|f| f.name.as_str()), Some("k"));
    assert_eq!(s.field_by_id(3), None);
    assert_eq!(s.field_names(), ["dt", "k", "v", "w"]);
    assert_eq!(s.trimmed_primary_key_fields()[0].name, "k");
    let kv = s.key_value_fields();
    assert_eq!(kv[0].name, "_KEY_k");
    assert_eq!(kv[0].id, KEY_FIELD_ID_START + 1);
    assert_eq!(kv[0].data_type.to_string(), "BIGINT NOT NULL");
    assert_eq!(kv.len(), 3 + 4);
    assert_eq!(
        s.field("dt").unwrap().data_type,
        DataType::not_null(TypeKind::VarChar(MAX_LENGTH))
    );
}

#[test]
fn lenient_json_details() {
    // Unknown fields are ignored; option values may be JSON numbers or booleans.
    let json = br#"{"version":3,"id":2,"fields":[{"id":0,"name":"k","type":"INT NOT NULL"}],
        "highestFieldId":0,"partitionKeys":[],"primaryKeys":["k"],
        "options":{"bucket":4,"write-only":true},"futureField":{"x":1},"timeMillis":5}"#;
    let s = TableSchema::from_json(json).unwrap();
    assert_eq!(s.options.get("bucket").map(String::as_str), Some("4"));
    assert_eq!(
        s.options.get("write-only").map(String::as_str),
        Some("true")
    );
    assert_eq!(s.id, 2);
    // Old Paimon numbered each ROW from 0; nested ids may repeat top-level ones.
    let json = br#"{"version":3,"id":0,"fields":[{"id":0,"name":"a","type":"INT"},
        {"id":1,"name":"r","type":{"type":"ROW","fields":[{"id":0,"name":"f0","type":"INT"}]}}],
        "highestFieldId":1,"options":{}}"#;
    assert_eq!(TableSchema::from_json(json).unwrap().fields.len(), 2);
    let json = br#"{"version":0,"id":0,"fields":[],"highestFieldId":-1}"#;
    assert!(TableSchema::from_json(json)
        .unwrap_err()
        .to_string()
        .contains("version 0"));
    let e = TableSchema::from_json(b"not json").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DataInvalid);
    assert!(
        e.to_string()
            .starts_with("schema JSON is invalid: expected"),
        "{e}"
    );
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = TableSchema::from_json(&bytes);
    }

    #[test]
    fn damaged_golden_files_never_panic(cut in 0usize..3000, flip in 0usize..3000, byte in any::<u8>()) {
        for golden in [PYPAIMON_ALL, JAVA_V3.as_bytes(), PYPAIMON_NESTED] {
            let mut bytes = golden.to_vec();
            if let Some(b) = bytes.get_mut(flip % golden.len()) {
                *b = byte;
            }
            let _ = TableSchema::from_json(&bytes);
            let _ = TableSchema::from_json(golden.get(..cut % golden.len()).unwrap_or(golden));
        }
    }
}
