//! Every primitive type (and the nested ones) survives write → read, nulls and edge values
//! included, in unpartitioned tables of one and of several buckets.

use strata_writer::TableWriter;

use super::{read_rows, rows, Fixture};

const COLUMNS: &[(&str, &str)] = &[
    ("k", "BIGINT NOT NULL"),
    ("b", "BOOLEAN"),
    ("ti", "TINYINT"),
    ("si", "SMALLINT"),
    ("i", "INT"),
    ("bi", "BIGINT"),
    ("f", "FLOAT"),
    ("d", "DOUBLE"),
    ("dec9", "DECIMAL(9, 3)"),
    ("dec18", "DECIMAL(18, 4)"),
    ("dec38", "DECIMAL(38, 10)"),
    ("c", "CHAR(8)"),
    ("vc", "VARCHAR(32)"),
    ("s", "STRING"),
    ("bin", "BINARY(4)"),
    ("vb", "VARBINARY(16)"),
    ("by", "BYTES"),
    ("dt", "DATE"),
    ("t", "TIME"),
    ("t3", "TIME(3)"),
    ("ts0", "TIMESTAMP(0)"),
    ("ts3", "TIMESTAMP(3)"),
    ("ts6", "TIMESTAMP(6)"),
    ("ts9", "TIMESTAMP(9)"),
    ("ltz3", "TIMESTAMP(3) WITH LOCAL TIME ZONE"),
    ("ltz9", "TIMESTAMP(9) WITH LOCAL TIME ZONE"),
    ("arr", "ARRAY<INT>"),
    ("m", "MAP<STRING, BIGINT>"),
    ("r", "ROW<x INT, y STRING>"),
];

/// Maxima, minima, an all-NULL row, special floats and awkward text.
fn edge_rows() -> Vec<String> {
    vec![
        concat!(
            r#"{"k":1,"b":true,"ti":127,"si":32767,"i":2147483647,"bi":9223372036854775807,"#,
            r#""f":3.4028235e38,"d":1.7976931348623157e308,"dec9":999999.999,"#,
            r#""dec18":99999999999999.9999,"dec38":9999999999999999999999999999.9999999999,"#,
            r#""c":"abcdefgh","vc":"日本語テキスト","s":"emoji 😀🚀 👨‍👩‍👧","bin":"AQIDBA==","#,
            r#""vb":"////////////////////","by":"AA==","dt":"9999-12-31","t":"23:59:59","#,
            r#""t3":"23:59:59.999","ts0":"9999-12-31T23:59:59","ts3":"9999-12-31T23:59:59.999","#,
            r#""ts6":"9999-12-31T23:59:59.999999","ts9":"2262-04-11T23:47:16.854775807","#,
            r#""ltz3":"9999-12-31T23:59:59.999Z","ltz9":"2262-04-11T23:47:16.854775807Z","#,
            r#""arr":[1,null,2147483647],"m":{"a":1,"b":null},"r":{"x":7,"y":"z"}}"#
        )
        .to_string(),
        concat!(
            r#"{"k":-9223372036854775808,"b":false,"ti":-128,"si":-32768,"i":-2147483648,"#,
            r#""bi":-9223372036854775808,"f":-3.4028235e38,"d":"-Infinity","dec9":-999999.999,"#,
            r#""dec18":-99999999999999.9999,"dec38":-9999999999999999999999999999.9999999999,"#,
            r#""c":"","vc":"","s":"","bin":"AAAAAA==","vb":"","by":"","dt":"0001-01-01","#,
            r#""t":"00:00:00","t3":"00:00:00.001","ts0":"0001-01-01T00:00:00","#,
            r#""ts3":"0001-01-01T00:00:00.001","ts6":"1969-12-31T23:59:59.999999","#,
            r#""ts9":"1677-09-21T00:12:43.145224192","ltz3":"1969-12-31T23:59:59.999Z","#,
            r#""ltz9":"1970-01-01T00:00:00.000000001Z","arr":[],"m":{},"r":{"x":null,"y":null}}"#
        )
        .to_string(),
        r#"{"k":0}"#.to_string(),
        concat!(
            r#"{"k":9223372036854775807,"f":"NaN","d":"NaN","s":"ctl:\t\n\r\u0000\u0001 end","#,
            r#""vc":"line\u2028sep","dec38":0.0000000001,"i":0}"#
        )
        .to_string(),
        r#"{"k":2,"f":-0.0,"d":5e-324,"s":"NaN","vc":"null","by":"3q2+7w==","dt":"1970-01-01"}"#
            .to_string(),
        r#"{"k":3,"f":"Infinity","d":-0.0,"ts9":"2024-02-29T12:00:00.000000123"}"#.to_string(),
    ]
}

async fn round_trip(buckets: &str) {
    let fx = Fixture::new(COLUMNS, &["k"], &[], &[("bucket", buckets)]).await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let lines = edge_rows();
    let input = fx.jsonl(&lines);
    writer.write(&input).await.unwrap();
    let outcome = writer.commit(1).await.unwrap();
    assert_eq!(outcome.snapshot_ids, vec![1]);
    assert_eq!(outcome.records, lines.len() as i64);
    assert_eq!(
        read_rows(&fx.table).await,
        rows(std::slice::from_ref(&input))
    );

    // Second commit: change every column of two rows, delete one, keep the rest.
    let updates = vec![
        r#"{"k":1,"s":"updated","ts9":"2000-01-01T00:00:00.000000001","arr":[5]}"#.to_string(),
        r#"{"k":0,"b":true,"dec38":-0.5}"#.to_string(),
    ];
    let update_batch = fx.jsonl(&updates);
    writer.write(&update_batch).await.unwrap();
    let delete = fx.jsonl(&[r#"{"k":3}"#.to_string()]);
    writer.write_with_kinds(&delete, &[3]).await.unwrap();
    assert_eq!(writer.commit(2).await.unwrap().snapshot_ids, vec![2]);

    let mut expected = rows(&[input]);
    let updated = rows(&[update_batch]);
    // Row strings start with the key; replace keys 0 and 1, drop 3.
    expected.retain(|r| !["0", "1", "3"].contains(&r[0].as_str()));
    expected.extend(updated);
    expected.sort();
    assert_eq!(read_rows(&fx.table).await, expected);
}

#[tokio::test]
async fn every_type_round_trips_in_one_bucket() {
    round_trip("1").await;
}

#[tokio::test]
async fn every_type_round_trips_in_several_buckets() {
    round_trip("3").await;
}

#[tokio::test]
async fn composite_keys_of_many_types_sort_and_merge() {
    let columns = [
        ("s", "STRING NOT NULL"),
        ("dec", "DECIMAL(12, 4) NOT NULL"),
        ("ts", "TIMESTAMP(9) NOT NULL"),
        ("by", "BYTES NOT NULL"),
        ("dt", "DATE NOT NULL"),
        ("b", "BOOLEAN NOT NULL"),
        ("i", "INT NOT NULL"),
        ("v", "STRING"),
    ];
    let keys = ["s", "dec", "ts", "by", "dt", "b", "i"];
    let fx = Fixture::new(&columns, &keys, &[], &[("bucket", "2")]).await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let line = |s: &str, dec: &str, ts: &str, by: &str, i: i32, v: &str| {
        format!(
            r#"{{"s":"{s}","dec":{dec},"ts":"{ts}","by":"{by}","dt":"2024-01-01","b":true,"i":{i},"v":"{v}"}}"#
        )
    };
    let first = vec![
        line(
            "a",
            "1.0000",
            "2024-01-01T00:00:00.000000001",
            "AA==",
            1,
            "a1",
        ),
        line(
            "a",
            "1.0000",
            "2024-01-01T00:00:00.000000002",
            "AA==",
            1,
            "a2",
        ),
        line(
            "\\u0000",
            "-99999999.9999",
            "1970-01-01T00:00:00",
            "",
            -1,
            "nul",
        ),
        line(
            "日本",
            "0.0001",
            "1969-12-31T23:59:59.999999999",
            "/w==",
            7,
            "cjk",
        ),
        line(
            "a",
            "1.0000",
            "2024-01-01T00:00:00.000000001",
            "AQ==",
            1,
            "a3",
        ),
    ];
    // The same key three times in one batch: the last version wins inside the buffer.
    let mut batch_lines = first.clone();
    batch_lines.push(line(
        "日本",
        "0.0001",
        "1969-12-31T23:59:59.999999999",
        "/w==",
        7,
        "cjk2",
    ));
    batch_lines.push(line(
        "日本",
        "0.0001",
        "1969-12-31T23:59:59.999999999",
        "/w==",
        7,
        "cjk3",
    ));
    writer.write(&fx.jsonl(&batch_lines)).await.unwrap();
    writer.commit(1).await.unwrap();
    let mut expected_lines = first;
    expected_lines[3] = line(
        "日本",
        "0.0001",
        "1969-12-31T23:59:59.999999999",
        "/w==",
        7,
        "cjk3",
    );
    assert_eq!(
        read_rows(&fx.table).await,
        rows(&[fx.jsonl(&expected_lines)])
    );
}
