//! The streaming merge gives the same rows whatever its batch size: tiny batches force
//! many arena compactions and batch boundaries inside groups of one key.

use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow_array::RecordBatch;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::read::TableRead;
use strata_tests::python;

pub fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default();
    let mut out = Vec::new();
    for b in batches {
        // Zone names need chrono-tz to display; the instants are what is compared.
        let columns: Vec<_> = b
            .columns()
            .iter()
            .map(|c| without_zone(c.clone()))
            .collect();
        let formatters: Vec<_> = columns
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..b.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out
}

fn without_zone(array: arrow_array::ArrayRef) -> arrow_array::ArrayRef {
    match array.data_type() {
        arrow_schema::DataType::Timestamp(unit, Some(_)) => {
            let data = array
                .to_data()
                .into_builder()
                .data_type(arrow_schema::DataType::Timestamp(*unit, None))
                .build()
                .unwrap();
            arrow_array::make_array(data)
        }
        _ => array,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_size_does_not_change_the_merged_rows() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse");
    let out = dir.path().join("expected");
    python::run_script(
        "paimon_gen.py",
        &[
            "--warehouse",
            warehouse.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--case",
            "many_files_b2",
            "types_b1",
        ],
    );
    let catalog = Catalog::open(warehouse.to_str().unwrap()).unwrap();
    for name in ["many_files_b2", "types_b1"] {
        let table = catalog
            .load_table(&Identifier::new("conf", name).unwrap())
            .await
            .unwrap();
        let ordered = |batch_size| {
            TableRead::new(table.clone())
                .with_batch_size(batch_size)
                .with_key_order(true)
        };
        let reference = rows(&ordered(8192).read_all(None).await.unwrap());
        assert!(reference.len() > 100, "{name}: {} rows", reference.len());
        for batch_size in [1, 7, 100] {
            // Key-ordered: the same rows in the same order.
            let batches = ordered(batch_size).read_all(None).await.unwrap();
            assert!(batches.iter().all(|b| b.num_rows() <= batch_size));
            assert_eq!(
                rows(&batches),
                reference,
                "{name} with batch size {batch_size}"
            );
            // By selection: the same rows, in run order.
            let batches = TableRead::new(table.clone())
                .with_batch_size(batch_size)
                .read_all(None)
                .await
                .unwrap();
            assert!(batches.iter().all(|b| b.num_rows() <= batch_size));
            let mut selected = rows(&batches);
            selected.sort();
            let mut sorted = reference.clone();
            sorted.sort();
            assert_eq!(selected, sorted, "{name} selected, batch size {batch_size}");
        }
    }
}
