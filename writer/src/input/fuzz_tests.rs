//! No input makes a decoder panic: random bytes, and random JSON shaped like each format.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::testing::{all_types, drain, kv_schema};
use super::InputFormat;

const NAMES: [&str; 8] = ["id", "dec", "ts6", "arr", "m", "row", "k", "zz"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[0-9eE+.:TZ -]{0,24}".prop_map(Value::String),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(&NAMES[..]), inner), 0..4).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn row() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(&NAMES[..]), value()), 0..6)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// A line of `format` around random rows and a random kind.
fn event(format: InputFormat) -> impl Strategy<Value = String> {
    let kinds: &'static [&'static str] = match format {
        InputFormat::DebeziumJson => &["c", "r", "u", "d", "t", "x"],
        InputFormat::CanalJson => &["INSERT", "UPDATE", "DELETE", "ALTER"],
        InputFormat::MaxwellJson => &["insert", "update", "delete", "bootstrap-start", "x"],
        _ => &[""],
    };
    (prop::sample::select(kinds), row(), row(), any::<bool>()).prop_map(move |(kind, a, b, flag)| {
        let line = match format {
            InputFormat::DebeziumJson if flag => json!({"schema": {"type": "struct", "fields": [
                {"field": "after", "fields": [{"field": "dec", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "3"}},
                                              {"field": "ts6", "name": "io.debezium.time.NanoTimestamp"}]}]},
                "payload": {"op": kind, "before": a, "after": b}}),
            InputFormat::DebeziumJson => json!({"op": kind, "before": a, "after": b}),
            InputFormat::CanalJson => json!({"type": kind, "isDdl": flag, "data": [b.clone(), a.clone()], "old": [a, b]}),
            InputFormat::MaxwellJson => json!({"type": kind, "data": b, "old": a}),
            _ => a,
        };
        line.to_string()
    })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for format in InputFormat::ALL {
            drain(format, &all_types(), &bytes);
            drain(format, &kv_schema(), &bytes);
        }
        let mut parquet = b"PAR1".to_vec();
        parquet.extend(&bytes);
        parquet.extend(b"PAR1");
        drain(InputFormat::Parquet, &kv_schema(), &parquet);
    }

    #[test]
    fn random_text_lines_never_panic(lines in prop::collection::vec("[a-z0-9,\"\r\n{}:\\[\\] .-]{0,40}", 0..8)) {
        let text = lines.join("\n");
        for format in InputFormat::ALL {
            drain(format, &all_types(), text.as_bytes());
        }
        drain(InputFormat::Csv, &kv_schema(), format!("k,v\n{text}").as_bytes());
    }

    #[test]
    fn random_events_never_panic(
        jsonl in prop::collection::vec(event(InputFormat::Jsonl), 1..6),
        debezium in prop::collection::vec(event(InputFormat::DebeziumJson), 1..6),
        canal in prop::collection::vec(event(InputFormat::CanalJson), 1..6),
        maxwell in prop::collection::vec(event(InputFormat::MaxwellJson), 1..6),
    ) {
        for (format, lines) in [
            (InputFormat::Jsonl, jsonl),
            (InputFormat::DebeziumJson, debezium),
            (InputFormat::CanalJson, canal),
            (InputFormat::MaxwellJson, maxwell),
        ] {
            drain(format, &all_types(), lines.join("\n").as_bytes());
        }
    }
}

/// A small valid Parquet file of `all_types`, to corrupt.
fn parquet_file() -> Vec<u8> {
    use parquet::arrow::ArrowWriter;
    let lines: Vec<String> = (0..20)
        .map(|i| format!(r#"{{"id":{i},"dec":"{i}.5","s":"s{i}","arr":[{i},null],"m":{{"k":{i}}},"row":{{"x":{i}}}}}"#))
        .collect();
    let (batch, _) = super::testing::decode(InputFormat::Jsonl, &all_types(), &lines.join("\n"));
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

proptest! {
    #[test]
    fn corrupted_parquet_never_panics(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut file = parquet_file();
        for (at, byte) in flips {
            let i = at.index(file.len());
            file[i] = byte;
        }
        drain(InputFormat::Parquet, &all_types(), &file);
    }
}
