//! The same assertions against a local S3-compatible server: commits race through
//! `If-None-Match: *`, and reads of a Paimon warehouse equal the local reads. With the
//! client's conditional PUT turned off (a store that lacks it), direct commits are refused
//! and commits race through the catalog, the warehouse's sole committer.

use bytes::Bytes;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::read::TableRead;
use strata_format::storage::Storage;
use strata_rest_catalog::{CatalogService, ServerConfig};
use strata_tests::python;
use strata_tests::s3::MotoServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_committers_on_s3() {
    let moto = MotoServer::start();
    moto.create_bucket("race");
    let catalog = Catalog::open_with_options("s3://race/warehouse", &moto.options()).unwrap();
    let t = crate::commit::table_in(&catalog, &[]).await;
    crate::commit::racing_committers(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pypaimon_warehouse_reads_the_same_from_s3() {
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
            "part2_b2",
            "types_b4",
        ],
    );
    let moto = MotoServer::start();
    moto.create_bucket("lake");
    let local = Catalog::open(warehouse.to_str().unwrap()).unwrap();
    let remote = Catalog::open_with_options("s3://lake/prefix/wh", &moto.options()).unwrap();
    // Upload every file under its relative path.
    let files = local
        .storage()
        .list(&object_store::path::Path::default())
        .await
        .unwrap();
    assert!(files.len() > 20);
    for meta in files {
        let bytes: Bytes = local.storage().get(&meta.location).await.unwrap();
        remote.storage().put(&meta.location, bytes).await.unwrap();
    }
    assert_eq!(remote.list_databases().await.unwrap(), vec!["conf"]);
    for name in ["part2_b2", "types_b4"] {
        let id = Identifier::new("conf", name).unwrap();
        let snapshots = local
            .load_table(&id)
            .await
            .unwrap()
            .snapshot_manager()
            .list_ids()
            .await
            .unwrap();
        for snapshot in snapshots {
            let a = TableRead::new(local.load_table(&id).await.unwrap())
                .read_all(Some(snapshot))
                .await
                .unwrap();
            let b = TableRead::new(remote.load_table(&id).await.unwrap())
                .read_all(Some(snapshot))
                .await
                .unwrap();
            assert_eq!(
                crate::pypaimon_read::rows(&a),
                crate::pypaimon_read::rows(&b),
                "{name} snapshot {snapshot}"
            );
        }
    }
}

/// moto's options with conditional PUT turned off in the client, as for a Ceph RGW release
/// that does not honour `If-None-Match: *`.
fn without_conditional_put(moto: &MotoServer) -> Vec<(String, String)> {
    let mut options = moto.options();
    options.push(("aws_conditional_put".into(), "disabled".into()));
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_conditional_put_refuses_direct_commits() {
    let moto = MotoServer::start();
    moto.create_bucket("rgw");
    let catalog =
        Catalog::open_with_options("s3://rgw/wh", &without_conditional_put(&moto)).unwrap();
    assert!(!catalog.storage().can_create_if_absent());
    let err = catalog.create_database("db", false).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("no conditional PUT"), "{text}");
    assert!(text.contains("commit through the catalog"), "{text}");
    assert!(
        text.contains("s3://rgw/wh/db.db/.strata-database"),
        "{text}"
    );
    let objects = catalog
        .storage()
        .list(&object_store::path::Path::default())
        .await
        .unwrap();
    assert!(objects.is_empty(), "{objects:?}");
}

/// A catalog over the moto warehouse as `strata serve` runs it on a store without
/// conditional PUT: the sole committer.
async fn sole_committer(
    moto: &MotoServer,
    uri: &str,
    token: Option<&str>,
) -> crate::rest_catalog::Server {
    let storage = Storage::open_with_options(uri, &without_conditional_put(moto))
        .unwrap()
        .as_sole_committer();
    let mut config = ServerConfig::default();
    config.auth.tokens.extend(token.map(str::to_string));
    crate::rest_catalog::Server::start_with(CatalogService::new(storage, uri).unwrap(), config)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_committers_through_the_catalog_on_a_store_without_conditional_put() {
    let moto = MotoServer::start();
    moto.create_bucket("rgw");
    let uri = "s3://rgw/wh";
    let server = sole_committer(&moto, uri, Some("s3cret")).await;
    let storage = Storage::open_with_options(uri, &without_conditional_put(&moto))
        .unwrap()
        .commit_through_catalog(&server.url, Some("s3cret".into()))
        .unwrap();
    let catalog = Catalog::new(storage);
    let t = crate::commit::table_in(&catalog, &[]).await;
    crate::commit::racing_committers(t).await;

    // Without the token the catalog refuses, and says so.
    let anonymous = Catalog::new(
        Storage::open_with_options(uri, &without_conditional_put(&moto))
            .unwrap()
            .commit_through_catalog(&server.url, None)
            .unwrap(),
    );
    let err = anonymous.create_database("other", false).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    assert!(!anonymous.database_exists("other").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publish_endpoint_creates_only_published_names_of_its_warehouse() {
    let moto = MotoServer::start();
    moto.create_bucket("rgw");
    let uri = "s3://rgw/wh";
    let server = sole_committer(&moto, uri, None).await;
    let direct = Storage::open_with_options(uri, &without_conditional_put(&moto)).unwrap();
    let http = reqwest::Client::new();
    let snapshot = |id: i64, user: &str| {
        format!(
            r#"{{"version":3,"id":{id},"schemaId":0,"baseManifestList":"b","deltaManifestList":"d","commitUser":"{user}","commitIdentifier":1,"commitKind":"APPEND","timeMillis":1}}"#
        )
    };
    let publish = |warehouse: &str, path: &str, body: String| {
        http.post(format!("{}/strata/v1/publish", server.url))
            .query(&[("warehouse", warehouse), ("path", path)])
            .body(body)
            .send()
    };
    let first = publish(uri, "db.db/t/snapshot/snapshot-1", snapshot(1, "one"))
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let again = publish(uri, "db.db/t/snapshot/snapshot-1", snapshot(1, "two"))
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    let path = object_store::path::Path::from("db.db/t/snapshot/snapshot-1");
    assert_eq!(
        direct.get(&path).await.unwrap().as_ref(),
        snapshot(1, "one").as_bytes()
    );

    for (warehouse, path, why) in [
        (uri, "db.db/t/bucket-0/data-1.parquet", "is not a snapshot"),
        (uri, "db.db/t/snapshot/LATEST", "is not a snapshot"),
        (
            uri,
            "db.db/../x/snapshot/snapshot-2",
            "not a plain relative object path",
        ),
        (
            uri,
            "/db.db/t/snapshot/snapshot-2",
            "not a plain relative object path",
        ),
        (
            "s3://rgw/other",
            "db.db/t/snapshot/snapshot-2",
            "serves warehouse s3://rgw/wh",
        ),
        (uri, "db.db/t/snapshot/snapshot-3", "has id 2, not 3"),
        (uri, "db.db/t/schema/schema-2", "schema"),
    ] {
        let response = publish(warehouse, path, snapshot(2, "evil")).await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path}");
        let body = response.text().await.unwrap();
        assert!(body.contains(why), "{path}: {body}");
    }
    let missing = http
        .post(format!("{}/strata/v1/publish", server.url))
        .query(&[("path", "db.db/t/snapshot/snapshot-2")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 400);
    let objects: Vec<String> = direct
        .list(&object_store::path::Path::default())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    assert_eq!(objects, vec!["db.db/t/snapshot/snapshot-1".to_string()]);
}

/// A data file larger than an upload part (its first row group alone is) goes to S3 as a
/// multipart upload while it is encoded, never whole in memory, and reads back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_file_larger_than_a_part_goes_up_in_parts() {
    use std::sync::Arc;

    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};

    let moto = MotoServer::start();
    moto.create_bucket("big");
    let catalog = Catalog::open_with_options("s3://big/wh", &moto.options()).unwrap();
    let table = crate::commit::table_in(
        &catalog,
        &[
            ("bucket", "1"),
            ("file.compression", "none"),
            ("target-file-size", "1 gb"),
            ("write-buffer-size", "1 gb"),
        ],
    )
    .await;
    let schema = strata_format::types::arrow::to_arrow_schema(&table.schema().fields);
    let total: i64 = 1_100_000;
    let mut writer = strata_writer::TableWriter::builder(table.clone())
        .build()
        .unwrap();
    for start in (0..total).step_by(100_000) {
        let keys: Vec<i64> = (start..(start + 100_000).min(total)).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(keys.clone())),
            Arc::new(StringArray::from_iter_values(
                keys.iter().map(|k| format!("value-{k}")),
            )),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        writer.write(&batch).await.unwrap();
    }
    writer.commit(1).await.unwrap();

    let split = strata_format::scan::TableScan::new(table.clone())
        .plan()
        .await
        .unwrap()
        .splits;
    let files: Vec<_> = split.iter().flat_map(|s| s.files.iter()).collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].file_size > 32 << 20, "{}", files[0].file_size);
    let batches = TableRead::new(table).read_all(None).await.unwrap();
    let mut keys: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, (0..total).collect::<Vec<_>>());
}
