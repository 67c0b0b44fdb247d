//! `maxwell-json`: one Maxwell event per line (`{"database","table","type","data","old",…}`).
//!
//! `insert` and `bootstrap-insert` are `+I` of `data`; `update` is `-U` of the previous row
//! (`old`, which holds only the changed columns, over `data`) then `+U` of `data`; `delete`
//! is `-D` of `data`. `bootstrap-start` and `bootstrap-complete` are skipped; any other type
//! (DDL events such as `table-create`) is an error.
//!
//! Values are Maxwell's JSON: numbers (decimals exact), strings for temporal types
//! (`2016-10-21 05:33:37.523000`), base64 for binary, JSON for JSON columns. The input is
//! expected to hold one table's events: `database` and `table` are not checked.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{object_of, parse_line};
use super::{Fault, JsonLine, Rows, DELETE, INSERT, UPDATE_AFTER, UPDATE_BEFORE};

pub(crate) struct Maxwell;

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    old: Option<&'a RawValue>,
}

impl JsonLine for Maxwell {
    fn decode(&mut self, line: &str, rows: &mut Rows) -> Result<(), Fault> {
        let event: Event = parse_line(line)?;
        let kind = event
            .kind
            .ok_or_else(|| Fault::line("the Maxwell event has no 'type'"))?;
        let row_kind = match kind.as_str() {
            "insert" | "bootstrap-insert" => INSERT,
            "update" => UPDATE_AFTER,
            "delete" => DELETE,
            "bootstrap-start" | "bootstrap-complete" => return Ok(()),
            other => return Err(Fault::line(format!("unknown Maxwell type '{other}'"))),
        };
        let data = event
            .data
            .ok_or_else(|| Fault::line(format!("the Maxwell {kind} event has no 'data'")))?;
        let mut slots = rows.slots();
        rows.place(&object_of(data, "'data'")?, &mut slots, false)?;
        if row_kind == UPDATE_AFTER {
            let mut before = slots.clone();
            if let Some(old) = event.old {
                rows.place(&object_of(old, "'old'")?, &mut before, true)?;
            }
            rows.push_json(UPDATE_BEFORE, &before, &[])?;
        }
        rows.push_json(row_kind, &slots, &[])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_array::Array;
    use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

    use super::super::testing::{decode, decode_err};
    use super::super::InputFormat::MaxwellJson;

    /// `test.e` of Maxwell's data format page: id int, m double, c timestamp(6), comment.
    fn table_e() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("m", DataType::Float64, true),
            Field::new("c", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("comment", DataType::Utf8, true),
        ]))
    }

    const SAMPLE: &str = concat!(
        r#"{"database":"test","table":"e","type":"insert","ts":1477053217,"xid":23396,"commit":true,"position":"master.000006:800911","server_id":23042,"thread_id":108,"primary_key":[1,"2016-10-21 05:33:37.523000"],"primary_key_columns":["id","c"],"data":{"id":1,"m":4.2341,"c":"2016-10-21 05:33:37.523000","comment":"I am a creature of light."}}"#,
        "\n",
        r#"{"database":"test","table":"e","type":"update","ts":1477053234,"xid":23400,"commit":true,"data":{"id":1,"m":5.444,"c":"2016-10-21 05:33:54.631000","comment":"I am a creature of light."},"old":{"m":4.2341,"c":"2016-10-21 05:33:37.523000"}}"#,
        "\n",
        r#"{"database":"test","table":"e","type":"bootstrap-start","ts":1477053240,"data":{}}"#,
        "\n",
        r#"{"database":"test","table":"e","type":"bootstrap-insert","ts":1477053241,"data":{"id":2,"m":null,"c":null,"comment":"boot"}}"#,
        "\n",
        r#"{"database":"test","table":"e","type":"bootstrap-complete","ts":1477053242,"data":{}}"#,
        "\n",
        r#"{"database":"test","table":"e","type":"delete","ts":1477053244,"xid":23401,"commit":true,"data":{"id":1,"m":5.444,"c":"2016-10-21 05:33:54.631000","comment":"I am a creature of light."}}"#,
        "\n",
    );

    #[test]
    fn documented_events() {
        let (batch, kinds) = decode(MaxwellJson, &table_e(), SAMPLE);
        assert_eq!(kinds, vec![0, 1, 2, 0, 3]);
        let id = batch.column(0).as_primitive::<Int32Type>();
        assert_eq!(id.values().to_vec(), vec![1, 1, 1, 2, 1]);
        let m = batch.column(1).as_primitive::<Float64Type>();
        assert_eq!((m.value(1), m.value(2)), (4.2341, 5.444));
        assert!(m.is_null(3));
        let c = batch.column(2).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(c.value(0), 1_477_028_017_523_000);
        assert_eq!(c.value(1), 1_477_028_017_523_000);
        assert_eq!(c.value(2), 1_477_028_034_631_000);
        // Columns not in `old` keep their new value in the -U row.
        assert_eq!(
            batch.column(3).as_string::<i32>().value(1),
            "I am a creature of light."
        );
    }

    #[test]
    fn errors() {
        let s = table_e();
        let cases = [
            (
                r#"{"type":"table-create","database":"test","table":"e","def":{}}"#,
                "line 1: unknown Maxwell type 'table-create'",
            ),
            (
                r#"{"database":"test","data":{"id":1}}"#,
                "line 1: the Maxwell event has no 'type'",
            ),
            (
                r#"{"type":"insert"}"#,
                "line 1: the Maxwell insert event has no 'data'",
            ),
            (
                r#"{"type":"insert","data":[1]}"#,
                "line 1: 'data' is not a JSON object",
            ),
            (
                r#"[{"type":"insert","data":{"id":1}}]"#,
                "line 1: expected a JSON object",
            ),
            (
                r#"{"type":"update","data":{"id":1},"old":"x"}"#,
                "line 1: 'old' is not a JSON object",
            ),
            (
                r#"{"type":"update","data":{"id":1},"old":{"zz":1}}"#,
                "line 1: unknown column 'zz'",
            ),
            (
                r#"{"type":"insert","data":{"id":1.5}}"#,
                "line 1, column 'id': cannot parse '1.5' as INT",
            ),
            (
                r#"{"type":"insert","data":{"id":1,"c":"2016-10-21"}} {"#,
                "line 1: malformed JSON: trailing characters at column 52",
            ),
            (
                r#"{"type":"delete","data":{"m":1}}"#,
                "line 1: column 'id' is NOT NULL but the input has null",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_err(MaxwellJson, &s, input), expected, "{input}");
        }
    }
}
