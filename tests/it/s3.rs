//! The same assertions against a local S3-compatible server: commits race through
//! `If-None-Match: *`, and reads of a Paimon warehouse equal the local reads.

use bytes::Bytes;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::read::TableRead;
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
