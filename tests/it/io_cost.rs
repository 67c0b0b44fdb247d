//! What reads cost in requests, measured with a recording object store.

use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use strata_format::catalog::Identifier;
use strata_format::paths::TablePaths;
use strata_format::snapshot::SnapshotManager;
use strata_format::storage::Storage;
use strata_tests::recording::{Op, RecordingStore};

const SNAPSHOT: &str = r#"{"version":3,"id":ID,"schemaId":0,"baseManifestList":"b","deltaManifestList":"d","commitUser":"u","commitIdentifier":ID,"commitKind":"APPEND","timeMillis":1}"#;

async fn table_with_snapshots(
    n: i64,
    latest_hint: Option<i64>,
) -> (Arc<RecordingStore>, SnapshotManager) {
    let dir = tempfile::tempdir().unwrap().keep();
    let local = Arc::new(LocalFileSystem::new_with_prefix(&dir).unwrap());
    let recording = RecordingStore::new(local);
    let storage = Storage::from_store(recording.clone(), dir.display().to_string());
    let id = Identifier::new("db", "t").unwrap();
    let paths = TablePaths::new(&id.database, &id.table);
    for i in 1..=n {
        let json = SNAPSHOT.replace("ID", &i.to_string());
        storage
            .put(&paths.snapshot_file(i), Bytes::from(json))
            .await
            .unwrap();
    }
    if let Some(h) = latest_hint {
        storage
            .put(&paths.latest_hint(), Bytes::from(h.to_string()))
            .await
            .unwrap();
    }
    recording.take();
    (recording, SnapshotManager::new(storage, paths))
}

#[tokio::test]
async fn loading_the_latest_snapshot_does_not_list() {
    let (recording, sm) = table_with_snapshots(200, Some(200)).await;
    let latest = sm.latest().await.unwrap().unwrap();
    assert_eq!(latest.id, 200);
    let requests = recording.take();
    // GET LATEST, HEAD snapshot-200, HEAD snapshot-201, GET snapshot-200.
    assert_eq!(
        RecordingStore::count(&requests, Op::List),
        0,
        "{requests:?}"
    );
    assert_eq!(
        RecordingStore::count(&requests, Op::ListWithDelimiter),
        0,
        "{requests:?}"
    );
    assert!(requests.len() <= 4, "{requests:?}");
}

#[tokio::test]
async fn a_stale_hint_falls_back_to_one_listing() {
    let (recording, sm) = table_with_snapshots(50, Some(40)).await;
    assert_eq!(sm.latest_id().await.unwrap(), Some(50));
    let requests = recording.take();
    assert_eq!(
        RecordingStore::count(&requests, Op::ListWithDelimiter),
        1,
        "{requests:?}"
    );
    assert!(requests.len() <= 4, "{requests:?}");

    let (recording, sm) = table_with_snapshots(5, None).await;
    assert_eq!(sm.latest_id().await.unwrap(), Some(5));
    assert_eq!(
        RecordingStore::count(&recording.take(), Op::ListWithDelimiter),
        1
    );
}
