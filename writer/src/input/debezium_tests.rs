use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::Array;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::super::testing::{decode, decode_err};
use super::super::InputFormat::DebeziumJson;

/// Postgres `inventory.customers`, extended with the types Debezium encodes specially.
fn customers() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("first_name", DataType::Utf8, false),
        Field::new("email", DataType::Utf8, true),
        Field::new("birth", DataType::Date32, true),
        Field::new("balance", DataType::Decimal128(10, 2), true),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("score", DataType::Decimal128(12, 3), true),
    ]))
}

/// The row struct of the Kafka Connect schema the JSON converter writes for `customers`
/// (`balance_scale` lets a test lie about the scale).
fn row_schema(field: &str, balance_scale: &str) -> String {
    format!(
        concat!(
            r#"{{"type":"struct","fields":["#,
            r#"{{"type":"int32","optional":false,"default":0,"field":"id"}},"#,
            r#"{{"type":"string","optional":false,"field":"first_name"}},"#,
            r#"{{"type":"string","optional":true,"field":"email"}},"#,
            r#"{{"type":"int32","optional":true,"name":"io.debezium.time.Date","version":1,"field":"birth"}},"#,
            r#"{{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"#,
            r#""parameters":{{"scale":"{scale}","connect.decimal.precision":"10"}},"field":"balance"}},"#,
            r#"{{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1,"field":"created_at"}},"#,
            r#"{{"type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","version":1,"field":"updated_at"}},"#,
            r#"{{"type":"struct","fields":[{{"type":"int32","optional":false,"field":"scale"}},"#,
            r#"{{"type":"bytes","optional":false,"field":"value"}}],"optional":true,"#,
            r#""name":"io.debezium.data.VariableScaleDecimal","version":1,"field":"score"}}"#,
            r#"],"optional":true,"name":"dbserver1.inventory.customers.Value","field":"{field}"}}"#
        ),
        scale = balance_scale,
        field = field
    )
}

fn envelope_schema(balance_scale: &str) -> String {
    format!(
        concat!(
            r#"{{"type":"struct","fields":[{},{},"#,
            r#"{{"type":"struct","fields":[{{"type":"string","optional":false,"field":"version"}},"#,
            r#"{{"type":"string","optional":false,"field":"connector"}},{{"type":"int64","optional":true,"field":"lsn"}}],"#,
            r#""optional":false,"name":"io.debezium.connector.postgresql.Source","field":"source"}},"#,
            r#"{{"type":"string","optional":false,"field":"op"}},{{"type":"int64","optional":true,"field":"ts_ms"}}],"#,
            r#""optional":false,"name":"dbserver1.inventory.customers.Envelope","version":1}}"#
        ),
        row_schema("before", balance_scale),
        row_schema("after", balance_scale)
    )
}

const SALLY: &str = r#"{"id":1001,"first_name":"Sally","email":"sally@example.com","birth":7441,"balance":"MDk=","created_at":1601213844058468,"updated_at":"2020-09-27T13:37:24.058468Z","score":{"scale":3,"value":"AeJA"}}"#;
const SALLY_2: &str = r#"{"id":1001,"first_name":"Sally","email":null,"birth":null,"balance":"/gw=","created_at":1601213844058468,"updated_at":"2020-09-27T15:37:24+02:00","score":null}"#;
const SOURCE: &str = r#"{"version":"2.7.0.Final","connector":"postgresql","name":"dbserver1","ts_ms":1601213844000,"snapshot":"false","db":"postgres","sequence":"[null,\"34037768\"]","schema":"inventory","table":"customers","txId":780,"lsn":34037768,"xmin":null}"#;

fn wrapped(before: &str, after: &str, op: &str) -> String {
    format!(
        r#"{{"schema":{},"payload":{{"before":{before},"after":{after},"source":{SOURCE},"op":"{op}","ts_ms":1601213844598,"transaction":null}}}}"#,
        envelope_schema("2")
    )
}

#[test]
fn postgres_with_schema_wrapper() {
    let input = [
        wrapped("null", SALLY, "r"),
        wrapped(SALLY, SALLY_2, "u"),
        // REPLICA IDENTITY DEFAULT: no before image.
        wrapped("null", SALLY, "u"),
        wrapped(SALLY, "null", "d"),
        // The tombstone that follows a delete, printed by a console consumer.
        "null".into(),
        r#"{"schema":null,"payload":null}"#.into(),
    ]
    .join("\n");
    let (batch, kinds) = decode(DebeziumJson, &customers(), &input);
    assert_eq!(kinds, vec![0, 1, 2, 2, 3]);
    let c = |name: &str| batch.column_by_name(name).unwrap().clone();
    assert_eq!(
        c("id").as_primitive::<Int32Type>().values().to_vec(),
        vec![1001; 5]
    );
    assert_eq!(c("birth").as_primitive::<Date32Type>().value(0), 7441);
    assert!(c("birth").is_null(2));
    let balance = c("balance");
    let balance = balance.as_primitive::<Decimal128Type>();
    assert_eq!(
        (balance.value(0), balance.value(1), balance.value(2)),
        (12345, 12345, -500)
    );
    assert_eq!(
        c("created_at")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_601_213_844_058_468
    );
    let updated = c("updated_at");
    let updated = updated.as_primitive::<TimestampMicrosecondType>();
    assert_eq!(updated.value(0), 1_601_213_844_058_468);
    assert_eq!(updated.value(2), 1_601_213_844_000_000);
    assert_eq!(
        c("score").as_primitive::<Decimal128Type>().value(0),
        123_456
    );
    assert!(c("email").is_null(2));
}

/// MySQL `inventory.orders` with `value.converter.schemas.enable=false`,
/// `decimal.handling.mode=string`.
fn orders() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_number", DataType::Int32, false),
        Field::new("order_date", DataType::Date32, true),
        Field::new("purchaser", DataType::Int32, true),
        Field::new("quantity", DataType::Int16, true),
        Field::new("price", DataType::Decimal128(10, 2), true),
        Field::new(
            "placed",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("at_time", DataType::Time32(TimeUnit::Millisecond), true),
        Field::new(
            "modified",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
    ]))
}

const MYSQL: &str = concat!(
    r#"{"before":null,"after":{"order_number":10001,"order_date":16816,"purchaser":1001,"quantity":1,"price":"19.99","placed":1614834367890,"at_time":45296000000,"modified":"2018-06-20T13:37:03Z"},"source":{"version":"2.7.0.Final","connector":"mysql","name":"dbserver1","ts_ms":0,"snapshot":"true","db":"inventory","table":"orders","server_id":0,"gtid":null,"file":"mysql-bin.000003","pos":154,"row":0,"thread":null,"query":null},"op":"r","ts_ms":1486500577691,"transaction":null}"#,
    "\n",
    r#"{"before":{"order_number":10001,"order_date":16816,"purchaser":1001,"quantity":1,"price":"19.99","placed":1614834367890,"at_time":45296000000,"modified":"2018-06-20T13:37:03Z"},"after":{"order_number":10001,"order_date":16816,"purchaser":1001,"quantity":3,"price":"59.97","placed":1614834367890,"at_time":45296000000,"modified":"2018-06-20T13:38:00Z"},"source":{"version":"2.7.0.Final","connector":"mysql","name":"dbserver1","ts_ms":1486500590000,"snapshot":"false","db":"inventory","table":"orders","server_id":223344,"gtid":null,"file":"mysql-bin.000003","pos":484,"row":0,"thread":7,"query":null},"op":"u","ts_ms":1486500590123,"transaction":null}"#,
    "\n",
    r#"{"before":{"order_number":10001,"order_date":16816,"purchaser":1001,"quantity":3,"price":"59.97","placed":1614834367890,"at_time":null,"modified":"2018-06-20T13:38:00Z"},"after":null,"source":{"version":"2.7.0.Final","connector":"mysql","name":"dbserver1","ts_ms":1486500600000,"snapshot":"false","db":"inventory","table":"orders","server_id":223344,"gtid":null,"file":"mysql-bin.000003","pos":805,"row":0,"thread":7,"query":null},"op":"d","ts_ms":1486500600123,"transaction":null}"#,
    "\n",
);

#[test]
fn mysql_without_schema() {
    let (batch, kinds) = decode(DebeziumJson, &orders(), MYSQL);
    assert_eq!(kinds, vec![0, 1, 2, 3]);
    let c = |name: &str| batch.column_by_name(name).unwrap().clone();
    assert_eq!(c("order_date").as_primitive::<Date32Type>().value(0), 16816);
    assert_eq!(
        c("quantity").as_primitive::<Int16Type>().values().to_vec(),
        vec![1, 1, 3, 3]
    );
    let price = c("price");
    assert_eq!(
        price.as_primitive::<Decimal128Type>().values().to_vec(),
        vec![1999, 1999, 5997, 5997]
    );
    assert_eq!(
        c("placed")
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        1_614_834_367_890
    );
    // TIME without a schema: microseconds (Debezium's MicroTime).
    assert_eq!(
        c("at_time")
            .as_primitive::<Time32MillisecondType>()
            .value(0),
        45_296_000
    );
    assert!(c("at_time").is_null(3));
    let modified = c("modified");
    let modified = modified.as_primitive::<TimestampMillisecondType>();
    assert_eq!(modified.value(0), 1_529_501_823_000);
    assert_eq!(modified.value(2), 1_529_501_880_000);
}

#[test]
fn errors() {
    let s = orders();
    let cases = [
        (r#"{"before":null,"after":{"order_number":1},"op":"t"}"#, "line 1: unknown Debezium op 't'"),
        (r#"{"op":"m","ts_ms":1}"#, "line 1: unknown Debezium op 'm'"),
        (r#"{"before":null,"after":null,"op":"c"}"#, "line 1: Debezium op 'c' has no 'after' row"),
        (r#"{"before":{"order_number":1},"op":"u"}"#, "line 1: Debezium op 'u' has no 'after' row"),
        (r#"{"before":null,"after":null,"op":"d"}"#, "line 1: Debezium op 'd' has no 'before' row"),
        (r#"{"before":null,"after":{"order_number":1}}"#, "line 1: the Debezium event has no 'op'"),
        (r#"{"schema":{},"payload":[1]}"#, "line 1: the Debezium payload is not a JSON object"),
        (r#"{"after":[1],"op":"c"}"#, "line 1: 'after' is not a JSON object"),
        (r#"{"after":{"order_number":1,"bogus":1},"op":"c"}"#, "line 1: unknown column 'bogus'"),
        (r#"{"after":{"order_number":1},"op":"c""#, "line 1: malformed JSON: EOF while parsing an object at column 36"),
        (r#"{"after":{"order_number":1,"placed":"x"},"op":"c"}"#, "line 1, column 'placed': cannot parse 'x' as TIMESTAMP(3)"),
        (r#"{"after":{"order_number":1,"at_time":1500},"op":"c"}"#, "line 1, column 'at_time': cannot parse '1500' as TIME: finer than milliseconds"),
        (r#"{"after":{"order_number":1,"at_time":86400000000},"op":"c"}"#, "line 1, column 'at_time': cannot parse '86400000000' as TIME: out of range"),
        (r#"{"after":{"order_number":1,"order_date":1.5},"op":"c"}"#, "line 1, column 'order_date': cannot parse '1.5' as DATE"),
        (r#"{"after":{"order_number":1,"price":"AAA="},"op":"c"}"#, "line 1, column 'price': cannot parse 'AAA=' as DECIMAL(10, 2)"),
        (r#"{"after":{"order_number":null},"op":"r"}"#, "line 1: column 'order_number' is NOT NULL but the input has null"),
        (r#"{"schema":5,"payload":{"after":{"order_number":1},"op":"c"}}"#, "line 1: unreadable Debezium schema: unexpected JSON: invalid type: integer `5`, expected struct ConnectSchema"),
        (r#"{"schema":{"type":"struct","fields":[]},"payload":{"after":{"order_number":1},"op":"c"}}"#, "line 1: the Debezium schema has no 'after' or 'before' struct"),
    ];
    for (input, expected) in cases {
        assert_eq!(decode_err(DebeziumJson, &s, input), expected, "{input}");
    }
}

#[test]
fn schema_encodings_are_followed() {
    let s = customers();
    // The schema says the bytes are at scale 4: 12.3456 does not fit DECIMAL(10, 2).
    let line = wrapped("null", SALLY, "c").replace(r#""scale":"2""#, r#""scale":"4""#);
    let line = line.replace("MDk=", "AeJA");
    assert_eq!(
        decode_err(DebeziumJson, &s, &line),
        "line 1, column 'balance': cannot parse 'AeJA' as DECIMAL(10, 2): more than 2 fraction digits"
    );
    // A plain int64 column (no semantic name) is not an epoch for a TIMESTAMP.
    let line = wrapped("null", SALLY, "c").replace("io.debezium.time.MicroTimestamp", "x");
    assert_eq!(
        decode_err(DebeziumJson, &s, &line),
        "line 1, column 'created_at': cannot parse '1601213844058468' as TIMESTAMP(6): expected a string"
    );
    // A later line with another schema is decoded with that schema.
    let first = wrapped("null", SALLY, "c");
    let second = wrapped("null", &SALLY.replace("MDk=", "EtZE"), "c")
        .replace(r#""scale":"2""#, r#""scale":"4""#);
    let (batch, kinds) = decode(DebeziumJson, &s, &format!("{first}\n{second}\n"));
    assert_eq!(kinds, vec![0, 0]);
    let balance = batch.column_by_name("balance").unwrap();
    assert_eq!(
        balance.as_primitive::<Decimal128Type>().values().to_vec(),
        vec![12345, 12345]
    );
}
