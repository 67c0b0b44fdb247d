//! `jsonl`: one JSON object per line, keys are column names, values as `strata read`
//! prints them (decimals as numbers or strings, timestamps ISO-8601, binary base64, maps and
//! rows as objects). A missing key is NULL; an unknown key is an error. All rows `+I`.

use super::json::{parse_line, Entries};
use super::{Fault, JsonLine, Rows, INSERT};

pub(crate) struct Jsonl;

impl JsonLine for Jsonl {
    fn decode(&mut self, line: &str, rows: &mut Rows) -> Result<(), Fault> {
        let entries: Entries = parse_line(line)?;
        let mut slots = rows.slots();
        rows.place(&entries, &mut slots, false)?;
        rows.push_json(INSERT, &slots, &[])
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_array::Array;

    use super::super::testing::{all_types, decode, decode_err, kv_schema};
    use super::super::InputFormat::Jsonl;

    #[test]
    fn canonical_values_of_every_type() {
        let input = concat!(
            r#"{"id":1,"b":true,"i8":-128,"i16":32767,"i32":-5,"i64":9223372036854775807,"#,
            r#""f32":1.5,"f64":"NaN","dec":12345678901234567890.1234567890,"s":"héllo\n","#,
            r#""bin":"AQID","d":"2024-02-29","t":"23:59:59.999","ts3":"2024-01-02T03:04:05.678","#,
            r#""ts6":"2024-01-02 03:04:05.123456","ts9":"1970-01-01T00:00:00.000000001Z","#,
            r#""ltz":"2024-01-02T05:04:05+02:00","arr":[1,null,3],"m":{"a":1,"b":null},"#,
            r#""row":{"x":7,"y":"z"}}"#,
            "\n\n   \n",
            r#"{"id":2}"#,
            "\n"
        );
        let (batch, kinds) = decode(Jsonl, &all_types(), input);
        assert_eq!(kinds, vec![0, 0]);
        let c = |name: &str| batch.column_by_name(name).unwrap().clone();
        assert!(c("b").as_boolean().value(0));
        assert_eq!(c("i8").as_primitive::<Int8Type>().value(0), -128);
        assert_eq!(c("i16").as_primitive::<Int16Type>().value(0), 32767);
        assert_eq!(c("i64").as_primitive::<Int64Type>().value(0), i64::MAX);
        assert_eq!(c("f32").as_primitive::<Float32Type>().value(0), 1.5);
        assert!(c("f64").as_primitive::<Float64Type>().value(0).is_nan());
        assert_eq!(
            c("dec").as_primitive::<Decimal128Type>().value(0),
            123_456_789_012_345_678_901_234_567_890
        );
        assert_eq!(c("s").as_string::<i32>().value(0), "héllo\n");
        assert_eq!(c("bin").as_binary::<i32>().value(0), &[1, 2, 3]);
        assert_eq!(c("d").as_primitive::<Date32Type>().value(0), 19782);
        assert_eq!(
            c("t").as_primitive::<Time32MillisecondType>().value(0),
            86_399_999
        );
        assert_eq!(
            c("ts3").as_primitive::<TimestampMillisecondType>().value(0),
            1_704_164_645_678
        );
        assert_eq!(
            c("ts6").as_primitive::<TimestampMicrosecondType>().value(0),
            1_704_164_645_123_456
        );
        assert_eq!(
            c("ts9").as_primitive::<TimestampNanosecondType>().value(0),
            1
        );
        assert_eq!(
            c("ltz").as_primitive::<TimestampMillisecondType>().value(0),
            1_704_164_645_000
        );
        let arr = c("arr");
        let items = arr.as_list::<i32>().value(0);
        assert_eq!(items.len(), 3);
        assert!(items.is_null(1));
        let m = c("m");
        let entries = m.as_map().value(0);
        assert_eq!(entries.column(0).as_string::<i32>().value(1), "b");
        assert!(entries.column(1).is_null(1));
        let row = c("row");
        assert_eq!(
            row.as_struct()
                .column(0)
                .as_primitive::<Int32Type>()
                .value(0),
            7
        );
        // Missing keys are NULL.
        for name in ["b", "dec", "arr", "m", "row", "ltz"] {
            assert!(c(name).is_null(1), "{name}");
        }
    }

    #[test]
    fn decimals_as_strings_and_integers_as_exact_floats() {
        let (batch, _) = decode(Jsonl, &all_types(), r#"{"id":1.0e1,"dec":"-0.5"}"#);
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 10);
        let dec = batch.column_by_name("dec").unwrap();
        assert_eq!(
            dec.as_primitive::<Decimal128Type>().value(0),
            -5_000_000_000
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let s = kv_schema();
        let cases = [
            ("{\"k\":1,\"v\":null}\n{\"k\":1,", "line 2: malformed JSON: EOF while parsing a value at column 7"),
            ("\n\n{\"k\":\"abc\"}", "line 3, column 'k': cannot parse 'abc' as BIGINT"),
            ("{\"k\":1,\"nope\":2}", "line 1: unknown column 'nope'"),
            ("{\"k\":1,\"k\":2}", "line 1: column 'k' appears twice"),
            ("{\"v\":\"x\"}", "line 1: column 'k' is NOT NULL but the input has null"),
            ("{\"k\":null}", "line 1: column 'k' is NOT NULL but the input has null"),
            ("[1,2]", "line 1: expected a JSON object"),
            ("[1,2", "line 1: malformed JSON: EOF while parsing a list at column 4"),
            ("{\"k\":[]}", "line 1, column 'k': cannot parse '[]' as BIGINT"),
            ("{\"k\":1} x", "line 1: malformed JSON: trailing characters at column 9"),
            ("{\"k\":true}", "line 1, column 'k': cannot parse 'true' as BIGINT"),
            ("{\"k\":1,\"v\":5}", "line 1, column 'v': cannot parse '5' as TIMESTAMP(3): expected a string"),
            ("{\"k\":1,\"v\":\"2024-01-01T00:00:00.0001\"}", "line 1, column 'v': cannot parse '2024-01-01T00:00:00.0001' as TIMESTAMP(3): finer than milliseconds"),
            ("{\"k\":1}\n\u{ff}", "line 2: malformed JSON: expected value at column 1"),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_err(Jsonl, &s, input), expected, "{input}");
        }
        let bytes: &[u8] = b"{\"k\":1}\n{\"k\":\xff}\n";
        assert_eq!(
            super::super::testing::decode_bytes_err(Jsonl, &s, bytes),
            "line 2: invalid UTF-8"
        );
    }

    #[test]
    fn nested_errors_name_the_field() {
        let s = all_types();
        let cases = [
            (
                r#"{"id":1,"row":{"x":"q"}}"#,
                "line 1, column 'row.x': cannot parse 'q' as INT",
            ),
            (
                r#"{"id":1,"row":{"w":1}}"#,
                "line 1, column 'row': ROW<x INT, y STRING> has no field 'w'",
            ),
            (
                r#"{"id":1,"row":{"x":1,"x":2}}"#,
                "line 1, column 'row': field 'x' appears twice",
            ),
            (
                r#"{"id":1,"arr":{"a":1}}"#,
                r#"line 1, column 'arr': cannot parse '{"a":1}' as ARRAY<INT>"#,
            ),
            (
                r#"{"id":1,"arr":"[1,"}"#,
                "line 1, column 'arr': cannot parse '[1,' as ARRAY<INT>",
            ),
            (
                r#"{"id":1,"m":{"a":"x"}}"#,
                "line 1, column 'm.value': cannot parse 'x' as INT",
            ),
            (
                r#"{"id":1,"m":[]}"#,
                "line 1, column 'm': cannot parse '[]' as MAP<STRING, INT>",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_err(Jsonl, &s, input), expected, "{input}");
        }
        // JSON that is not a string is kept as its text in a STRING column; nested values
        // may also come as JSON text in a string.
        let (batch, _) = decode(Jsonl, &s, r#"{"id":1,"s":[1, {"a":2}],"arr":"[4,5]"}"#);
        let text = batch
            .column_by_name("s")
            .unwrap()
            .as_string::<i32>()
            .value(0)
            .to_string();
        assert_eq!(text, r#"[1, {"a":2}]"#);
        let arr = batch
            .column_by_name("arr")
            .unwrap()
            .as_list::<i32>()
            .value(0);
        assert_eq!(
            arr.as_primitive::<Int32Type>().values().to_vec(),
            vec![4, 5]
        );
    }
}
