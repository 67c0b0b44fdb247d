use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::Array;

use super::super::testing::{
    all_types, decode, decode_batches, decode_bytes_err, decode_err, kv_schema,
};
use super::super::InputFormat::Csv;

#[test]
fn every_type_and_rfc4180_quoting() {
    let header = "row,m,arr,ltz,ts9,ts6,ts3,t,d,bin,s,dec,f64,f32,i64,i32,i16,i8,b,id";
    let rows = [
        // Everything set; quoted fields with commas, doubled quotes and a line break.
        concat!(
            r#""{""x"":1,""y"":""a,b""}","{""k"":2}","[1,2]",2024-01-02T03:04:05Z,"#,
            r#"1970-01-01 00:00:00.000000001,2024-01-02T03:04:05.123456,2024-01-02T03:04:05.678,"#,
            r#"12:34:56.789,2024-02-29,AQID,"say ""hi"",
bye",-12.5,-Infinity,NaN,-9223372036854775808,2147483647,-32768,127,true,1"#
        ),
        // Empty unquoted fields are NULL; "" is the empty string.
        ",,,,,,,,,,\"\",,,,,,,,,2",
        ",,,,,,,,,\"\",x,1e-10,1.5e300,3.25,0,0,0,0,0,3",
    ];
    let input = format!(
        "\u{feff}{header}\r\n{}\r\n\n{}\n{}",
        rows[0], rows[1], rows[2]
    );
    let (batch, kinds) = decode(Csv, &all_types(), &input);
    assert_eq!(kinds, vec![0, 0, 0]);
    let c = |name: &str| batch.column_by_name(name).unwrap().clone();
    assert_eq!(
        c("id").as_primitive::<Int64Type>().values().to_vec(),
        vec![1, 2, 3]
    );
    assert_eq!(c("s").as_string::<i32>().value(0), "say \"hi\",\nbye");
    assert_eq!(c("s").as_string::<i32>().value(1), "");
    assert!(c("s").is_valid(1));
    assert_eq!(
        c("dec").as_primitive::<Decimal128Type>().value(0),
        -125_000_000_000
    );
    assert_eq!(c("dec").as_primitive::<Decimal128Type>().value(2), 1);
    assert_eq!(
        c("f64").as_primitive::<Float64Type>().value(0),
        f64::NEG_INFINITY
    );
    assert!(c("f32").as_primitive::<Float32Type>().value(0).is_nan());
    assert_eq!(c("i64").as_primitive::<Int64Type>().value(0), i64::MIN);
    assert!(c("b").as_boolean().value(0));
    assert!(!c("b").as_boolean().value(2));
    assert_eq!(c("bin").as_binary::<i32>().value(0), &[1, 2, 3]);
    assert_eq!(c("bin").as_binary::<i32>().value(2), b"");
    assert_eq!(
        c("t").as_primitive::<Time32MillisecondType>().value(0),
        45_296_789
    );
    assert_eq!(
        c("ts9").as_primitive::<TimestampNanosecondType>().value(0),
        1
    );
    assert_eq!(
        c("ltz").as_primitive::<TimestampMillisecondType>().value(0),
        1_704_164_645_000
    );
    let row = c("row");
    let y = row.as_struct().column_by_name("y").unwrap();
    assert_eq!(y.as_string::<i32>().value(0), "a,b");
    assert_eq!(c("arr").as_list::<i32>().value(0).len(), 2);
    assert_eq!(c("m").as_map().value(0).len(), 1);
    for name in ["row", "m", "arr", "ltz", "d", "bin", "dec", "b"] {
        assert!(c(name).is_null(1), "{name}");
    }
}

#[test]
fn batches_hold_at_most_batch_rows() {
    let input = "k,v\n1,\n2,\n3,\n4,\n5,\n";
    let schema = kv_schema();
    let (batch, kinds) = decode_batches(Csv, &schema, input.as_bytes(), 2);
    assert_eq!(kinds.len(), 5);
    assert_eq!(
        batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec(),
        vec![1, 2, 3, 4, 5]
    );
}

#[test]
fn errors() {
    let s = kv_schema();
    let cases = [
        (
            "",
            "the CSV input is empty: a header row naming the columns is required",
        ),
        (
            "\n\n",
            "the CSV input is empty: a header row naming the columns is required",
        ),
        (
            "k,v,x\n",
            "line 1: column 'x' in the header is not in the table",
        ),
        (
            "K,v\n",
            "line 1: column 'K' in the header is not in the table",
        ),
        ("k,k,v\n", "line 1: column 'k' appears twice in the header"),
        ("k\n1\n", "line 1: column 'v' is missing from the input"),
        ("\nk,v\n1,\n1,,\n", "line 4: expected 2 fields, found 3"),
        (
            "k,v\nabc,\n",
            "line 2, column 'k': cannot parse 'abc' as BIGINT",
        ),
        (
            "k,v\n1,2024-13-01\n",
            "line 2, column 'v': cannot parse '2024-13-01' as TIMESTAMP(3)",
        ),
        (
            "k,v\n,\n",
            "line 2: column 'k' is NOT NULL but the input has null",
        ),
        (
            "k,v\n\"\",\n",
            "line 2, column 'k': cannot parse '' as BIGINT",
        ),
        (
            "k,v\n1,a\"b\n",
            "line 2: a quote inside an unquoted field (quote the whole field and double the quote)",
        ),
        (
            "k,v\n\"1\"x,\n",
            "line 2: unexpected character after a closing quote",
        ),
        ("k,v\n1,\n2,\"\n\n\n", "line 3: unterminated quoted field"),
    ];
    for (input, expected) in cases {
        assert_eq!(decode_err(Csv, &s, input), expected, "{input:?}");
    }
    assert_eq!(
        decode_bytes_err(Csv, &s, b"k,v\n1,\n\xff,\n"),
        "line 3: invalid UTF-8"
    );
}

#[test]
fn multi_line_records_count_lines() {
    let s = kv_schema();
    // Errors name the physical line a record starts on.
    let input = "k,v\n1,\"2024-01-01\n\"\nx,\n";
    assert_eq!(
        decode_err(Csv, &s, input),
        "line 4, column 'k': cannot parse 'x' as BIGINT"
    );
    // Messages stay on one line: control characters are escaped.
    let input = "k,v\n1,\"2024-01-01\r\nT00:00\"\n";
    assert_eq!(
        decode_err(Csv, &s, input),
        "line 2, column 'v': cannot parse '2024-01-01\\r\\nT00:00' as TIMESTAMP(3)"
    );
}
