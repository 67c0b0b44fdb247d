use proptest::prelude::*;

use super::*;
use crate::error::ErrorKind;
use crate::types::testing::arb_type;

fn t(kind: TypeKind) -> DataType {
    DataType::new(kind)
}

fn parse(s: &str) -> DataType {
    DataType::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn parse_err(s: &str) -> Error {
    match DataType::parse(s) {
        Ok(ty) => panic!("{s} parsed as {ty}"),
        Err(e) => e,
    }
}

fn row(fields: Vec<(&str, DataType)>) -> TypeKind {
    TypeKind::Row(
        fields
            .into_iter()
            .enumerate()
            .map(|(i, (n, ty))| DataField::new(i as i32, n, ty))
            .collect(),
    )
}

#[test]
fn every_spelling_parses() {
    let cases: Vec<(&str, TypeKind)> = vec![
        ("BOOLEAN", TypeKind::Boolean),
        ("TINYINT", TypeKind::TinyInt),
        ("SMALLINT", TypeKind::SmallInt),
        ("INT", TypeKind::Int),
        ("INTEGER", TypeKind::Int),
        ("BIGINT", TypeKind::BigInt),
        ("FLOAT", TypeKind::Float),
        ("DOUBLE", TypeKind::Double),
        ("DOUBLE PRECISION", TypeKind::Double),
        (
            "DECIMAL",
            TypeKind::Decimal {
                precision: 10,
                scale: 0,
            },
        ),
        (
            "DECIMAL(5)",
            TypeKind::Decimal {
                precision: 5,
                scale: 0,
            },
        ),
        (
            "DECIMAL(10, 2)",
            TypeKind::Decimal {
                precision: 10,
                scale: 2,
            },
        ),
        (
            "DEC(38,38)",
            TypeKind::Decimal {
                precision: 38,
                scale: 38,
            },
        ),
        (
            "NUMERIC(1, 0)",
            TypeKind::Decimal {
                precision: 1,
                scale: 0,
            },
        ),
        ("CHAR", TypeKind::Char(1)),
        ("CHAR(7)", TypeKind::Char(7)),
        ("VARCHAR", TypeKind::VarChar(1)),
        ("VARCHAR(20)", TypeKind::VarChar(20)),
        ("VARCHAR(2147483647)", TypeKind::VarChar(MAX_LENGTH)),
        ("STRING", TypeKind::VarChar(MAX_LENGTH)),
        ("BINARY", TypeKind::Binary(1)),
        ("BINARY(16)", TypeKind::Binary(16)),
        ("VARBINARY", TypeKind::VarBinary(1)),
        ("VARBINARY(9)", TypeKind::VarBinary(9)),
        ("BYTES", TypeKind::VarBinary(MAX_LENGTH)),
        ("DATE", TypeKind::Date),
        ("TIME", TypeKind::Time(0)),
        ("TIME(3)", TypeKind::Time(3)),
        ("TIME(9) WITHOUT TIME ZONE", TypeKind::Time(9)),
        ("TIMESTAMP", TypeKind::Timestamp(6)),
        ("TIMESTAMP(0)", TypeKind::Timestamp(0)),
        ("TIMESTAMP(3) WITHOUT TIME ZONE", TypeKind::Timestamp(3)),
        ("TIMESTAMP WITHOUT TIME ZONE", TypeKind::Timestamp(6)),
        (
            "TIMESTAMP(9) WITH LOCAL TIME ZONE",
            TypeKind::LocalZonedTimestamp(9),
        ),
        (
            "TIMESTAMP WITH LOCAL TIME ZONE",
            TypeKind::LocalZonedTimestamp(6),
        ),
        ("TIMESTAMP_LTZ", TypeKind::LocalZonedTimestamp(6)),
        ("TIMESTAMP_LTZ(3)", TypeKind::LocalZonedTimestamp(3)),
        ("ARRAY<INT>", TypeKind::Array(Box::new(t(TypeKind::Int)))),
        ("INT ARRAY", TypeKind::Array(Box::new(t(TypeKind::Int)))),
        (
            "MAP<STRING, BIGINT>",
            TypeKind::Map(
                Box::new(t(TypeKind::VarChar(MAX_LENGTH))),
                Box::new(t(TypeKind::BigInt)),
            ),
        ),
        (
            "ROW<a INT, `b c` STRING>",
            row(vec![
                ("a", t(TypeKind::Int)),
                ("b c", t(TypeKind::VarChar(MAX_LENGTH))),
            ]),
        ),
        ("ROW(a INT)", row(vec![("a", t(TypeKind::Int))])),
        ("ROW<a: INT>", row(vec![("a", t(TypeKind::Int))])),
        ("ROW<>", TypeKind::Row(vec![])),
    ];
    for (s, kind) in cases {
        assert_eq!(parse(s), t(kind.clone()), "{s}");
        assert_eq!(
            parse(&s.to_lowercase()),
            t(kind.clone()),
            "{s} in lower case"
        );
        assert_eq!(
            parse(&format!("  {s}  NOT NULL ")),
            DataType::not_null(kind.clone())
        );
        assert_eq!(parse(&format!("{s} null")), t(kind));
    }
}

#[test]
fn nested_nullability_and_comments() {
    let ty = parse("ARRAY<INT NOT NULL> NOT NULL");
    assert_eq!(
        ty,
        DataType::not_null(TypeKind::Array(Box::new(DataType::not_null(TypeKind::Int))))
    );
    let ty = parse("ROW<`a``b` INT NOT NULL COMMENT 'it''s', c STRING 'flink style'>");
    let TypeKind::Row(fields) = ty.kind else {
        panic!("not a row")
    };
    assert_eq!(fields[0].name, "a`b");
    assert_eq!(fields[0].description.as_deref(), Some("it's"));
    assert!(!fields[0].data_type.nullable);
    assert_eq!(fields[1].description.as_deref(), Some("flink style"));
    assert_eq!(fields[1].id, 1);
}

#[test]
fn prints_like_paimon_java() {
    let cases = [
        ("DECIMAL(10,2)", "DECIMAL(10, 2)"),
        ("decimal", "DECIMAL(10, 0)"),
        ("string", "STRING"),
        ("varchar(2147483647)", "STRING"),
        ("bytes", "BYTES"),
        ("varbinary(2147483647)", "BYTES"),
        ("VARCHAR(20)", "VARCHAR(20)"),
        ("char", "CHAR(1)"),
        ("binary(3)", "BINARY(3)"),
        ("varbinary(3)", "VARBINARY(3)"),
        ("integer", "INT"),
        ("double precision", "DOUBLE"),
        ("time", "TIME(0)"),
        ("timestamp", "TIMESTAMP(6)"),
        ("TIMESTAMP_LTZ(3)", "TIMESTAMP(3) WITH LOCAL TIME ZONE"),
        ("BIGINT NOT NULL", "BIGINT NOT NULL"),
        ("array<int>", "ARRAY<INT>"),
        (
            "map<string,bigint not null>",
            "MAP<STRING, BIGINT NOT NULL>",
        ),
        (
            "row<a int not null, b string comment 'x'>",
            "ROW<`a` INT NOT NULL, `b` STRING COMMENT 'x'>",
        ),
        (
            "ROW<a ROW<b INT>> NOT NULL",
            "ROW<`a` ROW<`b` INT>> NOT NULL",
        ),
    ];
    for (input, printed) in cases {
        assert_eq!(parse(input).to_string(), printed, "{input}");
    }
}

fn every_type() -> Vec<DataType> {
    let atomic = [
        TypeKind::Boolean,
        TypeKind::TinyInt,
        TypeKind::SmallInt,
        TypeKind::Int,
        TypeKind::BigInt,
        TypeKind::Float,
        TypeKind::Double,
        TypeKind::Decimal {
            precision: 1,
            scale: 0,
        },
        TypeKind::Decimal {
            precision: 38,
            scale: 10,
        },
        TypeKind::Char(1),
        TypeKind::Char(MAX_LENGTH),
        TypeKind::VarChar(1),
        TypeKind::VarChar(MAX_LENGTH),
        TypeKind::Binary(4),
        TypeKind::VarBinary(4),
        TypeKind::VarBinary(MAX_LENGTH),
        TypeKind::Date,
        TypeKind::Time(0),
        TypeKind::Time(9),
        TypeKind::Timestamp(0),
        TypeKind::Timestamp(3),
        TypeKind::Timestamp(9),
        TypeKind::LocalZonedTimestamp(0),
        TypeKind::LocalZonedTimestamp(6),
    ];
    let mut out: Vec<DataType> = atomic.iter().cloned().map(t).collect();
    out.extend(atomic.iter().cloned().map(DataType::not_null));
    out.push(t(TypeKind::Array(Box::new(DataType::not_null(
        TypeKind::Int,
    )))));
    out.push(DataType::not_null(TypeKind::Map(
        Box::new(DataType::not_null(TypeKind::VarChar(MAX_LENGTH))),
        Box::new(t(TypeKind::Array(Box::new(t(TypeKind::Double))))),
    )));
    out.push(t(row(vec![
        ("a", t(TypeKind::Int)),
        ("with space", DataType::not_null(TypeKind::Date)),
        ("nested", t(row(vec![("x", t(TypeKind::Timestamp(3)))]))),
    ])));
    out
}

#[test]
fn every_type_round_trips_through_its_string() {
    for ty in every_type() {
        let text = ty.to_string();
        let back = parse(&text);
        assert_eq!(back, ty, "{text}");
        assert_eq!(back.to_string(), text);
        assert_eq!(text.parse::<DataType>().ok(), Some(ty));
    }
}

#[test]
fn range_errors_quote_the_string() {
    let cases = [
        (
            "DECIMAL(0, 0)",
            "DECIMAL precision must be between 1 and 38, got 0",
        ),
        (
            "DECIMAL(39, 2)",
            "DECIMAL precision must be between 1 and 38, got 39",
        ),
        (
            "DECIMAL(5, 6)",
            "DECIMAL scale must be between 0 and the precision 5, got 6",
        ),
        (
            "TIMESTAMP(10)",
            "TIMESTAMP precision must be between 0 and 9, got 10",
        ),
        (
            "TIMESTAMP_LTZ(12)",
            "TIMESTAMP_LTZ precision must be between 0 and 9, got 12",
        ),
        ("TIME(10)", "TIME precision must be between 0 and 9, got 10"),
        (
            "CHAR(0)",
            "CHAR length must be between 1 and 2147483647, got 0",
        ),
        ("VARCHAR(2147483648)", "VARCHAR length must be between 1"),
        ("DECIMAL(99999999999999999999999)", "is too large"),
    ];
    for (input, expected) in cases {
        let e = parse_err(input);
        assert_eq!(e.kind(), ErrorKind::DataInvalid);
        let msg = e.to_string();
        assert!(msg.contains(expected), "{input}: {msg}");
        assert!(msg.contains(&format!("'{input}'")), "{input}: {msg}");
    }
}

#[test]
fn unknown_and_malformed_types() {
    assert_eq!(parse_err("FOO(3)").to_string(), "unknown type 'FOO(3)'");
    assert_eq!(
        parse_err("ARRAY<FOO>").to_string(),
        "unknown type 'FOO' in 'ARRAY<FOO>'"
    );
    let cases = [
        ("", "empty type string"),
        ("   ", "empty type string"),
        (
            "ARRAY<INT",
            "expected '>' but the type string ended in 'ARRAY<INT'",
        ),
        ("ARRAY INT", "expected '<' but found 'INT'"),
        ("MAP<INT>", "expected ','"),
        (
            "INT INT",
            "unexpected 'INT' at position 4 in type 'INT INT'",
        ),
        ("INT NOT", "expected NULL but the type string ended"),
        ("ROW<a INT, a INT>", "duplicate field name 'a'"),
        ("ROW<`` INT>", "field names must not be blank"),
        ("ROW<a INT COMMENT x>", "expected a quoted comment"),
        ("ROW<a>", "expected a type but found '>'"),
        ("CHAR(x)", "expected a number but found 'x'"),
        ("`INT", "unterminated ` quote"),
        ("(", "expected a type but found '('"),
        ("TIMESTAMP WITH", "expected LOCAL"),
    ];
    for (input, expected) in cases {
        let msg = match DataType::parse(input) {
            Ok(ty) => panic!("{input} parsed as {ty}"),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains(expected), "{input}: {msg}");
    }
}

#[test]
fn paimon_types_strata_lacks_are_unsupported() {
    for s in [
        "VARIANT",
        "BLOB",
        "MULTISET<INT>",
        "VECTOR<FLOAT, 3>",
        "ARRAY<VARIANT>",
    ] {
        assert_eq!(parse_err(s).kind(), ErrorKind::Unsupported, "{s}");
    }
    let e = parse_err("TIMESTAMP(3) WITH TIME ZONE");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("WITH LOCAL TIME ZONE"), "{e}");
}

#[test]
fn hostile_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}INT{}", "ARRAY<".repeat(10_000), ">".repeat(10_000));
    assert!(parse_err(&deep).to_string().contains("nests deeper"));
    let ok = format!("{}INT{}", "ARRAY<".repeat(60), ">".repeat(60));
    assert!(DataType::parse(&ok).is_ok());
}

proptest! {
    #[test]
    fn random_strings_never_panic(s in "\\PC{0,64}") {
        let _ = DataType::parse(&s);
    }

    #[test]
    fn type_like_strings_never_panic(
        s in "[A-Za-z_ ]{0,12}[<>(),:`' 0-9A-Z]{0,24}",
    ) {
        let _ = DataType::parse(&s);
    }

    #[test]
    fn generated_types_round_trip(ty in arb_type()) {
        let text = ty.to_string();
        let back = DataType::parse(&text);
        prop_assert_eq!(back.ok(), Some(ty), "{}", text);
    }
}
