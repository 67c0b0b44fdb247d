//! `canal-json`: one Canal flat message per line (`{"data":[…],"old":[…],"type":…,
//! "isDdl":…}`), as Canal's Kafka/RocketMQ output and TiCDC's canal-json protocol write it.
//!
//! `INSERT` is `+I` per `data` row; `UPDATE` is, per `data` row, `-U` of the previous values
//! (the matching `old` entry, which holds only the changed columns, over the new row) then
//! `+U` of the new row; `DELETE` is `-D` per `data` row. DDL messages (`isDdl: true`) are
//! skipped; any other `type` is an error.
//!
//! Canal writes every value as a string (or null); they are parsed per column type like CSV
//! fields. JSON numbers and booleans are accepted too. Binary columns must be base64 (Canal
//! itself writes raw ISO-8859-1 text for BLOBs, which cannot be told apart from text).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{object_of, parse_line};
use super::{Fault, JsonLine, Rows, DELETE, INSERT, UPDATE_AFTER, UPDATE_BEFORE};

pub(crate) struct Canal;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    data: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    old: Option<Vec<&'a RawValue>>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(rename = "isDdl", default)]
    is_ddl: Option<bool>,
}

impl JsonLine for Canal {
    fn decode(&mut self, line: &str, rows: &mut Rows) -> Result<(), Fault> {
        let message: Message = parse_line(line)?;
        if message.is_ddl == Some(true) {
            return Ok(());
        }
        let kind = message
            .kind
            .ok_or_else(|| Fault::line("the Canal message has no 'type'"))?;
        let (first, second) = match kind.as_str() {
            "INSERT" => (INSERT, None),
            "UPDATE" => (UPDATE_BEFORE, Some(UPDATE_AFTER)),
            "DELETE" => (DELETE, None),
            other => return Err(Fault::line(format!("unknown Canal type '{other}'"))),
        };
        let data = message
            .data
            .ok_or_else(|| Fault::line(format!("the Canal {kind} message has no 'data'")))?;
        let old = match (second, message.old) {
            (Some(_), Some(old)) if old.len() == data.len() => old,
            (Some(_), _) => {
                return Err(Fault::line(
                    "the Canal UPDATE message needs one 'old' entry per 'data' row",
                ))
            }
            (None, _) => Vec::new(),
        };
        for (i, row) in data.iter().enumerate() {
            let entries = object_of(row, "a 'data' entry")?;
            let mut slots = rows.slots();
            rows.place(&entries, &mut slots, false)?;
            let Some(after_kind) = second else {
                rows.push_json(first, &slots, &[])?;
                continue;
            };
            let after = slots.clone();
            if let Some(previous) = old.get(i) {
                rows.place(&object_of(previous, "an 'old' entry")?, &mut slots, true)?;
            }
            rows.push_json(first, &slots, &[])?;
            rows.push_json(after_kind, &after, &[])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_array::Array;
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;

    use super::super::testing::{decode, decode_batches, decode_err};
    use super::super::InputFormat::CanalJson;

    fn products() -> arrow_schema::SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("description", DataType::Utf8, true),
            Field::new("weight", DataType::Decimal128(10, 2), true),
            Field::new(
                "updated",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
        ]))
    }

    /// The shape of Canal's documented flat messages (products of the Debezium tutorial).
    const SAMPLE: &str = concat!(
        r#"{"data":[{"id":"111","name":"scooter","description":"Big 2-wheel scooter","weight":"5.18","updated":"2020-05-13 12:39:20"}],"database":"inventory","es":1589373560000,"id":9,"isDdl":false,"mysqlType":{"id":"INTEGER","name":"VARCHAR(255)","description":"VARCHAR(512)","weight":"DECIMAL(10,2)","updated":"DATETIME"},"old":null,"pkNames":["id"],"sql":"","sqlType":{"id":4,"name":12,"description":12,"weight":3,"updated":93},"table":"products","ts":1589373560798,"type":"INSERT"}"#,
        "\n",
        r#"{"data":[{"id":"111","name":"scooter","description":"Big 2-wheel scooter","weight":"5.15","updated":"2020-05-13 12:40:00"}],"database":"inventory","es":1589373561000,"id":10,"isDdl":false,"mysqlType":{"id":"INTEGER"},"old":[{"weight":"5.18","updated":"2020-05-13 12:39:20"}],"pkNames":["id"],"sql":"","table":"products","ts":1589373561798,"type":"UPDATE"}"#,
        "\n",
        r#"{"data":null,"database":"inventory","es":1589373562000,"id":11,"isDdl":true,"mysqlType":null,"old":null,"pkNames":null,"sql":"ALTER TABLE products ADD COLUMN c INT","sqlType":null,"table":"products","ts":1589373562798,"type":"ALTER"}"#,
        "\n",
        r#"{"data":[{"id":"111","name":"scooter","description":null,"weight":"5.15","updated":"2020-05-13 12:40:00"},{"id":"112","name":"car","description":"4-wheel","weight":null,"updated":null}],"database":"inventory","es":1589373563000,"id":12,"isDdl":false,"old":null,"pkNames":["id"],"table":"products","ts":1589373563798,"type":"DELETE"}"#,
        "\n",
    );

    #[test]
    fn insert_update_ddl_delete() {
        let (batch, kinds) = decode(CanalJson, &products(), SAMPLE);
        assert_eq!(kinds, vec![0, 1, 2, 3, 3]);
        let id = batch.column(0).as_primitive::<Int32Type>();
        assert_eq!(id.values().to_vec(), vec![111, 111, 111, 111, 112]);
        let weight = batch.column(3).as_primitive::<Decimal128Type>();
        // -U carries the old weight merged over the new row; +U the new one.
        assert_eq!(weight.value(1), 518);
        assert_eq!(weight.value(2), 515);
        assert!(weight.is_null(4));
        let updated = batch.column(4).as_primitive::<TimestampMillisecondType>();
        assert_eq!(updated.value(1), 1_589_373_560_000);
        assert_eq!(updated.value(2), 1_589_373_600_000);
        let name = batch.column(1).as_string::<i32>();
        assert_eq!(name.value(1), "scooter");
        assert!(batch.column(2).is_null(3));
    }

    #[test]
    fn one_message_may_fill_several_batches() {
        let rows: Vec<String> = (0..5)
            .map(|i| format!(r#"{{"id":"{i}","name":"n{i}"}}"#))
            .collect();
        let line = format!(
            r#"{{"data":[{}],"type":"UPDATE","old":[{{}},{{}},{{}},{{}},{{}}]}}"#,
            rows.join(",")
        );
        let (batch, kinds) = decode_batches(CanalJson, &products(), line.as_bytes(), 3);
        assert_eq!(kinds, vec![1, 2, 1, 2, 1, 2, 1, 2, 1, 2]);
        assert_eq!(batch.num_rows(), 10);
    }

    #[test]
    fn errors() {
        let s = products();
        let cases = [
            (r#"{"data":[{"id":"1"}],"type":"TRUNCATE","isDdl":false}"#, "line 1: unknown Canal type 'TRUNCATE'"),
            (r#"{"data":[{"id":"1"}]}"#, "line 1: the Canal message has no 'type'"),
            (r#"{"type":"INSERT"}"#, "line 1: the Canal INSERT message has no 'data'"),
            (r#"{"data":[{"id":"1"}],"type":"UPDATE","old":null}"#, "line 1: the Canal UPDATE message needs one 'old' entry per 'data' row"),
            (r#"{"data":[{"id":"1"}],"type":"UPDATE","old":[]}"#, "line 1: the Canal UPDATE message needs one 'old' entry per 'data' row"),
            (r#"{"data":[{"id":"1"}],"type":"UPDATE","old":[{"nope":"1"}]}"#, "line 1: unknown column 'nope'"),
            (r#"{"data":[1],"type":"INSERT"}"#, "line 1: a 'data' entry is not a JSON object"),
            (r#"{"data":[{"id":"x1"}],"type":"INSERT"}"#, "line 1, column 'id': cannot parse 'x1' as INT"),
            (r#"{"data":[{"id":"1","weight":"1.234"}],"type":"INSERT"}"#, "line 1, column 'weight': cannot parse '1.234' as DECIMAL(10, 2): more than 2 fraction digits"),
            (r#"{"data":[{"id":null}],"type":"DELETE"}"#, "line 1: column 'id' is NOT NULL but the input has null"),
            (r#"{"data":{"id":"1"},"type":"INSERT"}"#, "line 1: unexpected JSON: invalid type: map, expected a sequence"),
            (r#"{"data":[{"id":"1"}],"type":"INSERT","isDdl":"no"}"#, "line 1: unexpected JSON: invalid type: string \"no\", expected a boolean"),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_err(CanalJson, &s, input), expected, "{input}");
        }
    }
}
