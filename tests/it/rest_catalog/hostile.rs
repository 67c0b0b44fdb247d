//! Hostile input gets a 4xx with Iceberg's error body, and nothing is written outside the
//! warehouse. Requests go straight into the router, so paths reach it byte for byte (an
//! HTTP client would normalize `..` away).

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{json, Value};
use strata_rest_catalog::AuthConfig;
use tower::ServiceExt;

use super::*;

async fn send(
    app: &axum::Router,
    method: Method,
    uri: &str,
    body: Option<String>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Every file under `dir`, relative.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn app(wh: &Path, config: ServerConfig) -> axum::Router {
    let service = CatalogService::open(wh.to_str().unwrap()).unwrap();
    router(Arc::new(service), config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_paths_and_bodies_are_4xx_and_stay_in_the_warehouse() {
    let (dir, wh) = warehouse();
    let app = app(
        &wh,
        ServerConfig {
            max_body_bytes: 64 << 10,
            ..ServerConfig::default()
        },
    );
    let (s, _) = send(
        &app,
        Method::POST,
        "/v1/namespaces",
        Some(json!({"namespace": ["db"]}).to_string()),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let schema = json!({"type": "struct", "schema-id": 0, "fields": [
        {"id": 1, "name": "id", "required": true, "type": "long"}]});
    let long = "x".repeat(300);
    let bad_names = [
        "..",
        "../evil",
        "a/b",
        "a\\b",
        "a%2Fb",
        "a\u{1}b",
        "a\nb",
        ".hidden",
        "",
        long.as_str(),
    ];
    let mut cases: Vec<(Method, String, Option<String>)> = Vec::new();
    for name in bad_names {
        cases.push((
            Method::POST,
            "/v1/namespaces".into(),
            Some(json!({"namespace": [name]}).to_string()),
        ));
        cases.push((
            Method::POST,
            "/v1/namespaces/db/tables".into(),
            Some(json!({"name": name, "schema": schema}).to_string()),
        ));
        cases.push((Method::POST, "/v1/namespaces/db/views".into(),
            Some(json!({"name": name, "schema": schema, "properties": {}, "view-version": {
                "version-id": 1, "schema-id": 0, "timestamp-ms": 1, "summary": {}, "default-namespace": ["db"],
                "representations": [{"type": "sql", "sql": "select 1", "dialect": "spark"}]}}).to_string())));
    }
    for path in [
        "/v1/namespaces/%2E%2E/tables",
        "/v1/namespaces/..%2F..%2Fetc",
        "/v1/namespaces/db/tables/..%2F..%2Fescape",
        "/v1/namespaces/db/tables/%2E%2E",
        "/v1/namespaces/db%1F..%1Fx/tables/t",
        "/v1/namespaces/db/tables/a%00b",
        "/v1/namespaces/db/tables/%FF%FE",
        "/v1/namespaces/db/views/..%2Fv",
    ] {
        cases.push((Method::GET, path.into(), None));
        cases.push((Method::DELETE, path.into(), None));
        cases.push((
            Method::POST,
            path.into(),
            Some(json!({"requirements": [], "updates": []}).to_string()),
        ));
    }
    for body in [
        "{",
        "null",
        "[]",
        "{\"namespace\": 5}",
        "\u{0}\u{1}",
        "{\"namespace\": [\"a\"], \"properties\": {\"k\": 1}}",
    ] {
        cases.push((
            Method::POST,
            "/v1/namespaces".into(),
            Some(body.to_string()),
        ));
        cases.push((
            Method::POST,
            "/v1/namespaces/db/tables".into(),
            Some(body.to_string()),
        ));
        cases.push((
            Method::POST,
            "/v1/transactions/commit".into(),
            Some(body.to_string()),
        ));
    }
    // Locations outside the warehouse, in every place a client can send one.
    let outside = dir.path().join("outside");
    let outside_uri = format!("file://{}", outside.display());
    cases.push((
        Method::POST,
        "/v1/namespaces/db/tables".into(),
        Some(json!({"name": "t1", "schema": schema, "location": outside_uri}).to_string()),
    ));
    cases.push((Method::POST, "/v1/namespaces/db/tables".into(),
        Some(json!({"name": "t2", "schema": schema, "location": format!("file://{}/../outside", wh.display())}).to_string())));
    cases.push((
        Method::POST,
        "/v1/namespaces/db/register".into(),
        Some(
            json!({"name": "t3", "metadata-location": format!("{outside_uri}/m.json")}).to_string(),
        ),
    ));
    cases.push((
        Method::GET,
        "/v1/namespaces/db/tables?pageToken=&pageSize=-1".into(),
        None,
    ));
    cases.push((
        Method::DELETE,
        "/v1/namespaces/db/tables/x?purgeRequested=maybe".into(),
        None,
    ));
    // An oversized body.
    cases.push((
        Method::POST,
        "/v1/namespaces".into(),
        Some(json!({"namespace": ["big"], "properties": {"k": "v".repeat(200 << 10)}}).to_string()),
    ));

    for (method, uri, body) in cases {
        let (s, r) = send(&app, method.clone(), &uri, body.clone(), None).await;
        assert!(
            (400..500).contains(&s),
            "{method} {uri} {body:?} -> {s} {r}"
        );
        if s != 413 && s != 405 {
            assert!(
                r["error"]["code"].as_u64() == Some(u64::from(s)),
                "{method} {uri}: body {r}"
            );
        }
    }
    // A table whose location is moved outside by an update is refused too.
    let (s, _) = send(
        &app,
        Method::POST,
        "/v1/namespaces/db/tables",
        Some(json!({"name": "ok", "schema": schema}).to_string()),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = send(&app, Method::POST, "/v1/namespaces/db/tables/ok",
        Some(json!({"requirements": [], "updates": [{"action": "set-location", "location": outside_uri}]}).to_string()), None).await;
    assert_eq!(s, 400);

    assert!(!outside.exists());
    let entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        entries,
        ["warehouse"],
        "something was written beside the warehouse"
    );
    for f in files(&wh) {
        assert!(f.starts_with("db.db/"), "unexpected file {f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_guards_every_route() {
    let (_dir, wh) = warehouse();
    let config = ServerConfig {
        auth: AuthConfig {
            tokens: vec!["static-token".into()],
            clients: [("spark".to_string(), "s3cret".to_string())]
                .into_iter()
                .collect(),
            token_ttl_secs: None,
        },
        ..ServerConfig::default()
    };
    let app = app(&wh, config);
    let routes = [
        (Method::GET, "/v1/config"),
        (Method::GET, "/v1/namespaces"),
        (Method::POST, "/v1/namespaces"),
        (Method::GET, "/v1/namespaces/db"),
        (Method::HEAD, "/v1/namespaces/db"),
        (Method::DELETE, "/v1/namespaces/db"),
        (Method::GET, "/v1/namespaces/db/tables"),
        (Method::GET, "/v1/namespaces/db/tables/t"),
        (Method::POST, "/v1/namespaces/db/tables/t"),
        (Method::POST, "/v1/tables/rename"),
        (Method::POST, "/v1/transactions/commit"),
        (Method::GET, "/v1/namespaces/db/views/v"),
        (Method::GET, "/metrics"),
    ];
    for (method, uri) in &routes {
        for token in [None, Some("wrong"), Some("static-token-but-longer")] {
            let (s, _) = send(&app, method.clone(), uri, Some("{}".into()), token).await;
            assert_eq!(s, 401, "{method} {uri} with {token:?}");
        }
    }
    let (s, _) = send(
        &app,
        Method::GET,
        "/v1/namespaces",
        None,
        Some("static-token"),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = send(&app, Method::GET, "/health", None, None).await;
    assert_eq!(s, 200);
    // OAuth2 client credentials.
    let token_req = |body: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/oauth/tokens")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let bad = app
        .clone()
        .oneshot(token_req(
            "grant_type=client_credentials&client_id=spark&client_secret=nope",
        ))
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    let ok = app
        .clone()
        .oneshot(token_req(
            "grant_type=client_credentials&client_id=spark&client_secret=s3cret",
        ))
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let body: Value =
        serde_json::from_slice(&axum::body::to_bytes(ok.into_body(), 1 << 20).await.unwrap())
            .unwrap();
    let issued = body["access_token"].as_str().unwrap();
    assert_eq!(body["token_type"], "bearer");
    let (s, _) = send(&app, Method::GET, "/v1/namespaces", None, Some(issued)).await;
    assert_eq!(s, 200);
    // Nothing was created by the rejected requests.
    assert!(files(&wh).is_empty(), "{:?}", files(&wh));
}
