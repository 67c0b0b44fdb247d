//! Commits from the same base: exactly one wins, the others get 409, on one server and on
//! two servers over one warehouse.

use serde_json::{json, Value};

use super::*;

async fn post(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = http.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn schema() -> Value {
    json!({"type": "struct", "schema-id": 0, "fields": [
        {"id": 1, "name": "id", "required": true, "type": "long"}]})
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A commit that is valid only on the metadata it was built from.
fn commit_from(uuid: &Value, key: &str) -> Value {
    json!({"requirements": [
            {"type": "assert-table-uuid", "uuid": uuid},
            {"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": null}],
        "updates": [
            {"action": "set-properties", "updates": {"writer": key}},
            {"action": "add-snapshot", "snapshot": {
                "snapshot-id": 1000 + key.len() as i64 * 7 + key.bytes().map(i64::from).sum::<i64>(),
                "sequence-number": 1, "timestamp-ms": now_ms(),
                "manifest-list": "file:///nowhere/snap.avro",
                "summary": {"operation": "append"}, "schema-id": 0}},
            {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch",
             "snapshot-id": 1000 + key.len() as i64 * 7 + key.bytes().map(i64::from).sum::<i64>()}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commits_from_one_base_give_one_success_and_one_409() {
    let (_dir, wh) = warehouse();
    let a = Server::start(&wh, ServerConfig::default()).await;
    let b = Server::start(&wh, ServerConfig::default()).await;
    let http = reqwest::Client::new();
    let (s, _) = post(
        &http,
        format!("{}/v1/namespaces", a.url),
        json!({"namespace": ["db"]}),
    )
    .await;
    assert_eq!(s, 200);
    for round in 0..10 {
        let t = format!("t{round}");
        let (s, created) = post(
            &http,
            format!("{}/v1/namespaces/db/tables", a.url),
            json!({"name": t, "schema": schema()}),
        )
        .await;
        assert_eq!(s, 200, "{created}");
        let uuid = created["metadata"]["table-uuid"].clone();
        // The same base, sent at once to two servers over the same warehouse.
        let (ra, rb) = tokio::join!(
            post(
                &http,
                format!("{}/v1/namespaces/db/tables/{t}", a.url),
                commit_from(&uuid, "a")
            ),
            post(
                &http,
                format!("{}/v1/namespaces/db/tables/{t}", b.url),
                commit_from(&uuid, "bb")
            ),
        );
        let mut statuses = vec![ra.0, rb.0];
        statuses.sort();
        assert_eq!(statuses, vec![200, 409], "round {round}: {ra:?} {rb:?}");
        let loser = if ra.0 == 409 { &ra.1 } else { &rb.1 };
        assert_eq!(loser["error"]["type"], "CommitFailedException");
        let winner = if ra.0 == 200 { "a" } else { "bb" };
        // Both servers now see the winner's commit.
        for server in [&a, &b] {
            let loaded: Value = http
                .get(format!("{}/v1/namespaces/db/tables/{t}", server.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(loaded["metadata"]["properties"]["writer"], winner);
            assert_eq!(loaded["metadata"]["snapshots"].as_array().unwrap().len(), 1);
        }
        // The loser's metadata file was removed: one file per committed version.
        let loc = created["metadata"]["location"].as_str().unwrap();
        let dir = PathBuf::from(loc.strip_prefix("file://").unwrap()).join("metadata");
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_racing_commits_land_exactly_once() {
    let (_dir, wh) = warehouse();
    let server = Server::start(&wh, ServerConfig::default()).await;
    let http = reqwest::Client::new();
    post(
        &http,
        format!("{}/v1/namespaces", server.url),
        json!({"namespace": ["db"]}),
    )
    .await;
    let (_, created) = post(
        &http,
        format!("{}/v1/namespaces/db/tables", server.url),
        json!({"name": "t", "schema": schema()}),
    )
    .await;
    let uuid = created["metadata"]["table-uuid"].clone();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (http, url, body) = (
            http.clone(),
            format!("{}/v1/namespaces/db/tables/t", server.url),
            commit_from(&uuid, &"w".repeat(w + 1)),
        );
        tasks.push(tokio::spawn(async move { post(&http, url, body).await.0 }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => ok += 1,
            409 => {}
            other => panic!("status {other}: a race must be 200 or 409"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_checks_every_table_before_publishing() {
    let (_dir, wh) = warehouse();
    let server = Server::start(&wh, ServerConfig::default()).await;
    let http = reqwest::Client::new();
    post(
        &http,
        format!("{}/v1/namespaces", server.url),
        json!({"namespace": ["db"]}),
    )
    .await;
    for t in ["x", "y"] {
        post(
            &http,
            format!("{}/v1/namespaces/db/tables", server.url),
            json!({"name": t, "schema": schema()}),
        )
        .await;
    }
    let change = |t: &str, schema_id: i64| {
        json!({"identifier": {"namespace": ["db"], "name": t},
        "requirements": [{"type": "assert-current-schema-id", "current-schema-id": schema_id}],
        "updates": [{"action": "set-properties", "updates": {"tx": "1"}}]})
    };
    // y's requirement fails: nothing is published, x included.
    let (s, _) = post(
        &http,
        format!("{}/v1/transactions/commit", server.url),
        json!({"table-changes": [change("x", 0), change("y", 5)]}),
    )
    .await;
    assert_eq!(s, 409);
    for t in ["x", "y"] {
        let r: Value = http
            .get(format!("{}/v1/namespaces/db/tables/{t}", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            r["metadata"]["properties"].get("tx").is_none(),
            "{t} changed"
        );
    }
    let (s, _) = post(
        &http,
        format!("{}/v1/transactions/commit", server.url),
        json!({"table-changes": [change("x", 0), change("y", 0)]}),
    )
    .await;
    assert_eq!(s, 204);
    for t in ["x", "y"] {
        let r: Value = http
            .get(format!("{}/v1/namespaces/db/tables/{t}", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["metadata"]["properties"]["tx"], "1");
    }
}
