//! What a flushed data file and its `DataFileMeta` hold: Paimon's column layout with field
//! ids, exact sizes and counts, keys, stats, sequence ranges; rolling and compression.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use parquet::basic::{Compression, Repetition};
use parquet::file::reader::{FileReader, SerializedFileReader};
use strata_format::data::binary_row::BinaryRow;
use strata_format::data::Datum;
use strata_format::manifest::{DataFileMeta, FileSource};
use strata_format::scan::TableScan;
use strata_format::types::DataType;
use strata_writer::TableWriter;

use super::Fixture;

async fn files(fx: &Fixture) -> Vec<(std::path::PathBuf, DataFileMeta)> {
    let plan = TableScan::new(fx.table.clone()).plan().await.unwrap();
    let mut out = Vec::new();
    for split in plan.splits {
        for f in split.files {
            let path =
                fx.table
                    .paths()
                    .data_file(&split.partition_path, split.bucket, &f.file_name);
            out.push((fx.dir.path().join(path.as_ref()), f));
        }
    }
    out
}

fn decode(bytes: &[u8], types: &[&str]) -> Vec<Option<Datum>> {
    let types: Vec<DataType> = types.iter().map(|t| DataType::parse(t).unwrap()).collect();
    BinaryRow::decode_with_arity(bytes, &types).unwrap()
}

#[tokio::test]
async fn a_flushed_file_and_its_meta() {
    let fx = Fixture::new(
        &[
            ("k", "BIGINT"),
            ("s", "STRING"),
            ("d", "DECIMAL(38, 2)"),
            ("arr", "ARRAY<INT>"),
            ("m", "MAP<STRING, INT>"),
        ],
        &["k"],
        &[],
        &[("bucket", "1")],
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let long = "a string that is longer than sixteen characters";
    let lines: Vec<String> = vec![
        r#"{"k":5,"s":"e","d":-1.50,"arr":[1],"m":{"x":1}}"#.into(),
        r#"{"k":1,"s":"b","d":100.25}"#.into(),
        format!(r#"{{"k":3,"s":"{long}"}}"#),
        r#"{"k":2,"s":"a"}"#.into(),
        r#"{"k":4}"#.into(),
    ];
    writer.write(&fx.jsonl(&lines)).await.unwrap();
    // Deleting key 2 in the same buffer keeps the -D row: it must delete older files' rows.
    writer
        .write_with_kinds(&fx.jsonl(&[r#"{"k":2}"#.into()]), &[3])
        .await
        .unwrap();
    let before = chrono_millis();
    writer.commit(1).await.unwrap();
    let files = files(&fx).await;
    assert_eq!(files.len(), 1);
    let (path, meta) = &files[0];
    assert!(meta.file_name.starts_with("data-") && meta.file_name.ends_with("-0.parquet"));
    assert_eq!(
        meta.file_size as u64,
        std::fs::metadata(path).unwrap().len()
    );
    assert_eq!(meta.row_count, 5);
    assert_eq!(meta.delete_row_count, Some(1));
    assert_eq!((meta.min_sequence_number, meta.max_sequence_number), (0, 5));
    assert_eq!(meta.level, 0);
    assert_eq!(meta.schema_id, 0);
    assert_eq!(meta.file_source, Some(FileSource::Append));
    assert!(meta.creation_time.unwrap() > before - 86_400_000);
    assert_eq!(
        decode(&meta.min_key, &["BIGINT"]),
        vec![Some(Datum::BigInt(1))]
    );
    assert_eq!(
        decode(&meta.max_key, &["BIGINT"]),
        vec![Some(Datum::BigInt(5))]
    );
    assert_eq!(
        decode(&meta.key_stats.min_values, &["BIGINT"]),
        vec![Some(Datum::BigInt(1))]
    );
    assert_eq!(
        decode(&meta.key_stats.max_values, &["BIGINT"]),
        vec![Some(Datum::BigInt(5))]
    );
    assert_eq!(meta.key_stats.null_counts, Some(vec![Some(0)]));
    // Nested columns have no stats, so the stats columns are listed.
    assert_eq!(
        meta.value_stats_cols,
        Some(vec!["k".to_string(), "s".to_string(), "d".to_string()])
    );
    let value_types = ["BIGINT", "STRING", "DECIMAL(38, 2)"];
    // The -D row of key 2 holds nulls, and counts.
    assert_eq!(
        meta.value_stats.null_counts,
        Some(vec![Some(0), Some(2), Some(3)])
    );
    assert_eq!(
        decode(&meta.value_stats.min_values, &value_types),
        vec![
            Some(Datum::BigInt(1)),
            Some(Datum::String(long[..16].to_string())),
            Some(Datum::Decimal(-150))
        ]
    );
    // truncate(16): the max is cut to 16 characters and rounded up, still an upper bound.
    assert_eq!(
        decode(&meta.value_stats.max_values, &value_types),
        vec![
            Some(Datum::BigInt(5)),
            Some(Datum::String("e".into())),
            Some(Datum::Decimal(10025))
        ]
    );

    // The Parquet file: Paimon's columns in order, with field ids, zstd.
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let schema = reader.metadata().file_metadata().schema();
    let got: Vec<(String, i32, Repetition)> = schema
        .get_fields()
        .iter()
        .map(|f| {
            let info = f.get_basic_info();
            (f.name().to_string(), info.id(), info.repetition())
        })
        .collect();
    let want = [
        ("_KEY_k", 1_073_741_823, Repetition::REQUIRED),
        ("_SEQUENCE_NUMBER", i32::MAX - 1, Repetition::REQUIRED),
        ("_VALUE_KIND", i32::MAX - 2, Repetition::REQUIRED),
        ("k", 0, Repetition::REQUIRED),
        ("s", 1, Repetition::OPTIONAL),
        ("d", 2, Repetition::OPTIONAL),
        ("arr", 3, Repetition::OPTIONAL),
        ("m", 4, Repetition::OPTIONAL),
    ];
    let want: Vec<(String, i32, Repetition)> = want
        .iter()
        .map(|(n, i, r)| (n.to_string(), *i, *r))
        .collect();
    assert_eq!(got, want);
    let row_group = reader.metadata().row_group(0);
    assert!(matches!(
        row_group.column(0).compression(),
        Compression::ZSTD(_)
    ));
    assert_eq!(row_group.num_rows(), 5);
}

fn chrono_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn files_roll_at_the_target_size() {
    let fx = Fixture::new(
        &[("k", "BIGINT"), ("s", "STRING")],
        &["k"],
        &[],
        &[
            ("bucket", "2"),
            ("target-file-size", "16 kb"),
            ("file.compression", "snappy"),
        ],
    )
    .await;
    let mut writer = TableWriter::builder(fx.table.clone()).build().unwrap();
    let n = 40_000i64;
    // Descending input: the flush sorts.
    let keys: Vec<i64> = (0..n).rev().collect();
    let batch = RecordBatch::try_from_iter([
        ("k", Arc::new(Int64Array::from(keys.clone())) as ArrayRef),
        (
            "s",
            Arc::new(StringArray::from_iter_values(
                keys.iter().map(|k| format!("value {k:>12}")),
            )),
        ),
    ])
    .unwrap();
    writer.write(&batch).await.unwrap();
    writer.commit(1).await.unwrap();
    let files = files(&fx).await;
    assert!(files.len() > 6, "{} files", files.len());
    assert_eq!(files.iter().map(|f| f.1.row_count).sum::<i64>(), n);
    for bucket in 0..2 {
        let mut ranges: Vec<(i64, i64)> = files
            .iter()
            .filter(|(p, _)| p.parent().unwrap().ends_with(format!("bucket-{bucket}")))
            .map(|(_, f)| {
                let key = |b: &[u8]| match decode(b, &["BIGINT"])[0] {
                    Some(Datum::BigInt(v)) => v,
                    _ => panic!("key"),
                };
                (key(&f.min_key), key(&f.max_key))
            })
            .collect();
        ranges.sort();
        for pair in ranges.windows(2) {
            assert!(
                pair[0].1 < pair[1].0,
                "files of one flush overlap: {pair:?}"
            );
        }
    }
    for (path, meta) in &files {
        let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), meta.row_count);
        assert_eq!(
            reader.metadata().row_group(0).column(0).compression(),
            Compression::SNAPPY
        );
        // Roughly the target: never more than one chunk of rows past it.
        assert!(meta.file_size < 64 * 1024, "{} bytes", meta.file_size);
    }
}
