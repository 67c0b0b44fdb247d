//! The cases of Iceberg's catalog compatibility kit (`CatalogTests` in the Java repository)
//! that apply to a catalog with flat namespaces, ported to the `iceberg-catalog-rest`
//! client (and to raw HTTP where that client has no call: namespace properties, staged
//! creates, views). Each test names the Java case it follows.

use std::collections::HashMap;

use iceberg::spec::{
    NestedField, PrimitiveType, Schema, SortOrder, Transform, Type, UnboundPartitionSpec,
};
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog as _, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use serde_json::{json, Value};

use super::*;

struct Kit {
    _dir: tempfile::TempDir,
    wh: PathBuf,
    server: Server,
    catalog: RestCatalog,
    http: reqwest::Client,
}

async fn kit() -> Kit {
    let (dir, wh) = warehouse();
    let server = Server::start(&wh, ServerConfig::default()).await;
    let catalog = server.client(&wh).await;
    Kit {
        _dir: dir,
        wh,
        server,
        catalog,
        http: reqwest::Client::new(),
    }
}

impl Kit {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.server.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn ns(name: &str) -> NamespaceIdent {
    NamespaceIdent::new(name.to_string())
}

fn ident(n: &str, t: &str) -> TableIdent {
    TableIdent::from_strs([n, t]).unwrap()
}

/// CatalogTests.SCHEMA: ids 3 and 4, reassigned to 1 and 2 by the catalog.
fn schema() -> Schema {
    Schema::builder()
        .with_fields(vec![
            NestedField::required(3, "id", Type::Primitive(PrimitiveType::Int)).into(),
            NestedField::required(4, "data", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .unwrap()
}

fn creation(name: &str) -> TableCreation {
    TableCreation::builder()
        .name(name.to_string())
        .schema(schema())
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_namespace_and_existing_namespace() {
    // testCreateNamespace, testCreateExistingNamespace
    let k = kit().await;
    assert!(!k.catalog.namespace_exists(&ns("newdb")).await.unwrap());
    k.catalog
        .create_namespace(&ns("newdb"), HashMap::new())
        .await
        .unwrap();
    assert!(k.catalog.namespace_exists(&ns("newdb")).await.unwrap());
    assert!(k
        .catalog
        .list_namespaces(None)
        .await
        .unwrap()
        .contains(&ns("newdb")));
    let err = k
        .catalog
        .create_namespace(&ns("newdb"), HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceAlreadyExists);
    assert!(k.catalog.namespace_exists(&ns("newdb")).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_properties() {
    // testCreateNamespaceWithProperties, testLoadNamespaceMetadata, testSetNamespaceProperties,
    // testUpdateNamespaceProperties, testRemoveNamespaceProperties, *NamespaceDoesNotExist
    let k = kit().await;
    let err = k.catalog.get_namespace(&ns("newdb")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NamespaceNotFound);
    let props = HashMap::from([("prop".to_string(), "val".to_string())]);
    k.catalog
        .create_namespace(&ns("newdb"), props)
        .await
        .unwrap();
    let loaded = k.catalog.get_namespace(&ns("newdb")).await.unwrap();
    assert_eq!(
        loaded.properties().get("prop").map(String::as_str),
        Some("val")
    );

    let post = reqwest::Method::POST;
    let (s, r) = k
        .call(
            post.clone(),
            "/v1/namespaces/newdb/properties",
            Some(json!({"updates": {"owner": "user", "created-at": "sometime"}})),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = k
        .call(
            post.clone(),
            "/v1/namespaces/newdb/properties",
            Some(json!({"updates": {"owner": "newuser"}, "removals": ["created-at", "nope"]})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["removed"], json!(["created-at"]));
    assert_eq!(r["missing"], json!(["nope"]));
    let loaded = k.catalog.get_namespace(&ns("newdb")).await.unwrap();
    let p = loaded.properties();
    assert_eq!(p.get("owner").map(String::as_str), Some("newuser"));
    assert_eq!(p.get("prop").map(String::as_str), Some("val"));
    assert!(!p.contains_key("created-at"));
    let (s, r) = k
        .call(
            post.clone(),
            "/v1/namespaces/other/properties",
            Some(json!({"updates": {"test": "value"}})),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(r["error"]["type"], "NoSuchNamespaceException");
    let (s, _) = k
        .call(
            post,
            "/v1/namespaces/newdb/properties",
            Some(json!({"updates": {"a": "1"}, "removals": ["a"]})),
        )
        .await;
    assert_eq!(s, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_namespaces() {
    // testDropNamespace, testDropNonexistentNamespace, testDropNonEmptyNamespace, testListNamespaces
    let k = kit().await;
    for n in ["a", "b", "c"] {
        k.catalog
            .create_namespace(&ns(n), HashMap::new())
            .await
            .unwrap();
    }
    let mut listed = k.catalog.list_namespaces(None).await.unwrap();
    listed.sort_by_key(|n| n.to_url_string());
    assert_eq!(listed, vec![ns("a"), ns("b"), ns("c")]);
    k.catalog.drop_namespace(&ns("a")).await.unwrap();
    assert!(!k.catalog.namespace_exists(&ns("a")).await.unwrap());
    assert!(k.catalog.drop_namespace(&ns("a")).await.is_err());
    k.catalog
        .create_table(&ns("b"), creation("t"))
        .await
        .unwrap();
    let (s, r) = k
        .call(reqwest::Method::DELETE, "/v1/namespaces/b", None)
        .await;
    assert_eq!(s, 409);
    assert_eq!(r["error"]["type"], "NamespaceNotEmptyException");
    assert!(k.catalog.namespace_exists(&ns("b")).await.unwrap());
    // A parent that exists has no children; one that does not is a 404.
    assert!(k
        .catalog
        .list_namespaces(Some(&ns("b")))
        .await
        .unwrap()
        .is_empty());
    let (s, _) = k
        .call(reqwest::Method::GET, "/v1/namespaces?parent=zz", None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_load_and_list_tables() {
    // testBasicCreateTable, testBasicCreateTableThatAlreadyExists, testCompleteCreateTable,
    // testLoadMissingTable, testListTables, testTableNameWithDot
    let k = kit().await;
    k.catalog
        .create_namespace(&ns("newdb"), HashMap::new())
        .await
        .unwrap();
    assert!(k
        .catalog
        .create_table(&ns("missing"), creation("t"))
        .await
        .is_err());
    let t = k
        .catalog
        .create_table(&ns("newdb"), creation("newtable"))
        .await
        .unwrap();
    let ids: Vec<i32> = t
        .metadata()
        .current_schema()
        .as_struct()
        .fields()
        .iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, vec![1, 2], "ids reassigned like TABLE_SCHEMA");
    assert!(k
        .catalog
        .table_exists(&ident("newdb", "newtable"))
        .await
        .unwrap());
    let err = k
        .catalog
        .create_table(&ns("newdb"), creation("newtable"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableAlreadyExists);

    let spec = UnboundPartitionSpec::builder()
        .add_partition_field(3, "id_bucket", Transform::Bucket(16))
        .unwrap()
        .build();
    let order = SortOrder::builder()
        .with_order_id(1)
        .with_sort_field(
            iceberg::spec::SortField::builder()
                .source_id(3)
                .transform(Transform::Identity)
                .direction(iceberg::spec::SortDirection::Ascending)
                .null_order(iceberg::spec::NullOrder::First)
                .build(),
        )
        .build_unbound()
        .unwrap();
    let location = format!("file://{}/newdb.db/custom-place", k.wh.display());
    let complete = TableCreation::builder()
        .name("complete".to_string())
        .schema(schema())
        .partition_spec(spec)
        .sort_order(order)
        .location(location.clone())
        .properties(HashMap::from([("user".to_string(), "someone".to_string())]))
        .build();
    let t = k
        .catalog
        .create_table(&ns("newdb"), complete)
        .await
        .unwrap();
    let md = t.metadata();
    assert_eq!(md.location(), location);
    assert_eq!(md.default_partition_spec().fields().len(), 1);
    assert_eq!(
        md.default_partition_spec().fields()[0].transform,
        Transform::Bucket(16)
    );
    assert_eq!(md.default_sort_order().fields.len(), 1);
    assert_eq!(
        md.properties().get("user").map(String::as_str),
        Some("someone")
    );
    assert!(k.wh.join("newdb.db/custom-place/metadata").is_dir());

    k.catalog
        .create_table(&ns("newdb"), creation("with.dot"))
        .await
        .unwrap();
    assert!(k
        .catalog
        .load_table(&ident("newdb", "with.dot"))
        .await
        .is_ok());
    let err = k
        .catalog
        .load_table(&ident("newdb", "nothere"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TableNotFound);
    let mut names: Vec<String> = k
        .catalog
        .list_tables(&ns("newdb"))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["complete", "newtable", "with.dot"]);
    // Paging with a token returns the same names in pages.
    let (s, r) = k
        .call(
            reqwest::Method::GET,
            "/v1/namespaces/newdb/tables?pageToken=&pageSize=2",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["identifiers"].as_array().unwrap().len(), 2);
    let next = r["next-page-token"].as_str().unwrap().to_string();
    let (_, r) = k
        .call(
            reqwest::Method::GET,
            &format!("/v1/namespaces/newdb/tables?pageToken={next}&pageSize=2"),
            None,
        )
        .await;
    assert_eq!(r["identifiers"][0]["name"], "with.dot");
    assert_eq!(r["next-page-token"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_and_drop_tables() {
    // testRenameTable, testRenameTableDestinationTableAlreadyExists,
    // testRenameTableMissingSourceTable, testDropTable, testDropMissingTable, testPurgeTable
    let k = kit().await;
    k.catalog
        .create_namespace(&ns("newdb"), HashMap::new())
        .await
        .unwrap();
    let created = k
        .catalog
        .create_table(&ns("newdb"), creation("newtable"))
        .await
        .unwrap();
    let uuid = created.metadata().uuid();
    k.catalog
        .rename_table(
            &ident("newdb", "newtable"),
            &ident("newdb", "table_renamed"),
        )
        .await
        .unwrap();
    assert!(!k
        .catalog
        .table_exists(&ident("newdb", "newtable"))
        .await
        .unwrap());
    let renamed = k
        .catalog
        .load_table(&ident("newdb", "table_renamed"))
        .await
        .unwrap();
    assert_eq!(renamed.metadata().uuid(), uuid);
    k.catalog
        .create_table(&ns("newdb"), creation("other"))
        .await
        .unwrap();
    assert!(k
        .catalog
        .rename_table(&ident("newdb", "other"), &ident("newdb", "table_renamed"))
        .await
        .is_err());
    assert_eq!(
        k.catalog
            .load_table(&ident("newdb", "table_renamed"))
            .await
            .unwrap()
            .metadata()
            .uuid(),
        uuid,
        "the destination is unchanged"
    );
    assert!(k
        .catalog
        .rename_table(&ident("newdb", "missing"), &ident("newdb", "x"))
        .await
        .is_err());

    // Drop keeps the files; purge removes them.
    let location = renamed.metadata().location().to_string();
    let dir = PathBuf::from(location.strip_prefix("file://").unwrap());
    k.catalog
        .drop_table(&ident("newdb", "table_renamed"))
        .await
        .unwrap();
    assert!(!k
        .catalog
        .table_exists(&ident("newdb", "table_renamed"))
        .await
        .unwrap());
    assert!(dir.join("metadata").is_dir());
    assert!(k
        .catalog
        .drop_table(&ident("newdb", "table_renamed"))
        .await
        .is_err());
    let other = k
        .catalog
        .load_table(&ident("newdb", "other"))
        .await
        .unwrap();
    let other_dir = PathBuf::from(other.metadata().location().strip_prefix("file://").unwrap());
    k.catalog
        .purge_table(&ident("newdb", "other"))
        .await
        .unwrap();
    assert!(!other_dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_a_dropped_table() {
    // testRegisterTable, testRegisterExistingTable
    let k = kit().await;
    k.catalog
        .create_namespace(&ns("db"), HashMap::new())
        .await
        .unwrap();
    let t = k
        .catalog
        .create_table(&ns("db"), creation("t"))
        .await
        .unwrap();
    let location = t.metadata_location().unwrap().to_string();
    k.catalog.drop_table(&ident("db", "t")).await.unwrap();
    let registered = k
        .catalog
        .register_table(&ident("db", "back"), location.clone())
        .await
        .unwrap();
    assert_eq!(registered.metadata().uuid(), t.metadata().uuid());
    assert!(k
        .catalog
        .register_table(&ident("db", "back"), location)
        .await
        .is_err());
    // Metadata outside the warehouse is refused.
    let (s, _) = k
        .call(
            reqwest::Method::POST,
            "/v1/namespaces/db/register",
            Some(json!({"name": "evil", "metadata-location": "file:///etc/passwd"})),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_properties_and_schema() {
    // testUpdateTableProperties (via UpdateProperties), testUpdateTableSchema
    let k = kit().await;
    k.catalog
        .create_namespace(&ns("db"), HashMap::new())
        .await
        .unwrap();
    let t = k
        .catalog
        .create_table(&ns("db"), creation("t"))
        .await
        .unwrap();
    let tx = Transaction::new(&t);
    let tx = tx
        .update_table_properties()
        .set("k".to_string(), "v".to_string())
        .apply(tx)
        .unwrap();
    let t2 = tx.commit(&k.catalog).await.unwrap();
    assert_eq!(
        t2.metadata().properties().get("k").map(String::as_str),
        Some("v")
    );
    let loaded = k.catalog.load_table(&ident("db", "t")).await.unwrap();
    assert_eq!(
        loaded.metadata().properties().get("k").map(String::as_str),
        Some("v")
    );
    assert_ne!(loaded.metadata_location(), t.metadata_location());
    assert_eq!(loaded.metadata().metadata_log().len(), 1);

    // A stale requirement is a 409 and changes nothing.
    let (s, r) = k
        .call(reqwest::Method::POST, "/v1/namespaces/db/tables/t",
            Some(json!({"requirements": [{"type": "assert-current-schema-id", "current-schema-id": 7}],
                "updates": [{"action": "set-properties", "updates": {"x": "y"}}]})))
        .await;
    assert_eq!(s, 409);
    assert_eq!(r["error"]["type"], "CommitFailedException");
    let loaded = k.catalog.load_table(&ident("db", "t")).await.unwrap();
    assert!(!loaded.metadata().properties().contains_key("x"));

    // Schema evolution by the raw protocol (add a column).
    let last = loaded.metadata().last_column_id();
    let (s, r) = k
        .call(reqwest::Method::POST, "/v1/namespaces/db/tables/t",
            Some(json!({"requirements": [{"type": "assert-last-assigned-field-id", "last-assigned-field-id": last}],
                "updates": [
                    {"action": "add-schema", "schema": {"type": "struct", "schema-id": 1, "fields": [
                        {"id": 1, "name": "id", "required": true, "type": "int"},
                        {"id": 2, "name": "data", "required": true, "type": "string"},
                        {"id": 3, "name": "extra", "required": false, "type": "long"}]}},
                    {"action": "set-current-schema", "schema-id": -1}]})))
        .await;
    assert_eq!(s, 200, "{r}");
    let loaded = k.catalog.load_table(&ident("db", "t")).await.unwrap();
    assert!(loaded
        .metadata()
        .current_schema()
        .field_by_name("extra")
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_create_then_commit() {
    // testCreateTransaction: stage-create persists nothing; assert-create commits it.
    let k = kit().await;
    k.catalog
        .create_namespace(&ns("db"), HashMap::new())
        .await
        .unwrap();
    let (s, staged) = k
        .call(reqwest::Method::POST, "/v1/namespaces/db/tables",
            Some(json!({"name": "st", "stage-create": true, "schema": {"type": "struct", "schema-id": 0,
                "fields": [{"id": 1, "name": "id", "required": true, "type": "long"}]}})))
        .await;
    assert_eq!(s, 200, "{staged}");
    assert!(staged.get("metadata-location").is_none());
    assert!(!k.catalog.table_exists(&ident("db", "st")).await.unwrap());
    let md = &staged["metadata"];
    let body = json!({"requirements": [{"type": "assert-create"}], "updates": [
        {"action": "assign-uuid", "uuid": md["table-uuid"]},
        {"action": "upgrade-format-version", "format-version": 2},
        {"action": "add-schema", "schema": md["schemas"][0]},
        {"action": "set-current-schema", "schema-id": -1},
        {"action": "add-spec", "spec": md["partition-specs"][0]},
        {"action": "set-default-spec", "spec-id": -1},
        {"action": "add-sort-order", "sort-order": md["sort-orders"][0]},
        {"action": "set-default-sort-order", "sort-order-id": -1},
        {"action": "set-location", "location": md["location"]},
        {"action": "set-properties", "updates": {"created": "staged"}}]});
    let (s, r) = k
        .call(
            reqwest::Method::POST,
            "/v1/namespaces/db/tables/st",
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let t = k.catalog.load_table(&ident("db", "st")).await.unwrap();
    assert_eq!(
        t.metadata().uuid().to_string(),
        md["table-uuid"].as_str().unwrap()
    );
    assert_eq!(
        t.metadata().properties().get("created").map(String::as_str),
        Some("staged")
    );
    // A second create-commit finds the table: 409.
    let (s, _) = k
        .call(
            reqwest::Method::POST,
            "/v1/namespaces/db/tables/st",
            Some(body),
        )
        .await;
    assert_eq!(s, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_lifecycle() {
    // ViewCatalogTests: basic create/load/list/replace/rename/drop, name clashes with tables.
    let k = kit().await;
    k.catalog
        .create_namespace(&ns("db"), HashMap::new())
        .await
        .unwrap();
    k.catalog
        .create_table(&ns("db"), creation("t"))
        .await
        .unwrap();
    let schema = json!({"type": "struct", "schema-id": 0, "fields": [
        {"id": 1, "name": "id", "required": false, "type": "int"}]});
    let version = |sql: &str| {
        json!({"version-id": 1, "schema-id": 0, "timestamp-ms": 1_700_000_000_000i64,
        "summary": {"engine-name": "test"}, "default-namespace": ["db"],
        "representations": [{"type": "sql", "sql": sql, "dialect": "spark"}]})
    };
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;
    let create = |name: &str| json!({"name": name, "schema": schema, "view-version": version("select id from t"), "properties": {}});
    let (s, r) = k
        .call(post.clone(), "/v1/namespaces/db/views", Some(create("v")))
        .await;
    assert_eq!(s, 200, "{r}");
    let uuid = r["metadata"]["view-uuid"].clone();
    let (s, _) = k
        .call(post.clone(), "/v1/namespaces/db/views", Some(create("v")))
        .await;
    assert_eq!(s, 409);
    let (s, _) = k
        .call(post.clone(), "/v1/namespaces/db/views", Some(create("t")))
        .await;
    assert_eq!(s, 409, "a view cannot take a table's name");
    let (s, _) = k
        .call(
            post.clone(),
            "/v1/namespaces/db/tables",
            Some(json!({"name": "v", "schema": schema})),
        )
        .await;
    assert_eq!(s, 409, "a table cannot take a view's name");
    let (s, r) = k.call(get.clone(), "/v1/namespaces/db/views", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        r["identifiers"],
        json!([{"namespace": ["db"], "name": "v"}])
    );
    let mut v2 = version("select id + 1 as id from t");
    v2["version-id"] = json!(2);
    let (s, r) = k
        .call(
            post.clone(),
            "/v1/namespaces/db/views/v",
            Some(
                json!({"requirements": [{"type": "assert-view-uuid", "uuid": uuid}],
                "updates": [{"action": "add-view-version", "view-version": v2},
                    {"action": "set-current-view-version", "view-version-id": -1}]}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["metadata"]["current-version-id"], 2);
    let (s, _) = k
        .call(post.clone(), "/v1/namespaces/db/views/v",
            Some(json!({"requirements": [{"type": "assert-view-uuid", "uuid": "00000000-0000-0000-0000-000000000000"}],
                "updates": []})))
        .await;
    assert_eq!(s, 409);
    let (s, _) = k
        .call(post.clone(), "/v1/views/rename",
            Some(json!({"source": {"namespace": ["db"], "name": "v"}, "destination": {"namespace": ["db"], "name": "v2"}})))
        .await;
    assert_eq!(s, 204);
    let (s, r) = k
        .call(get.clone(), "/v1/namespaces/db/views/v2", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(r["metadata"]["current-version-id"], 2);
    let (s, _) = k.call(get.clone(), "/v1/namespaces/db/views/v", None).await;
    assert_eq!(s, 404);
    let (s, _) = k
        .call(reqwest::Method::DELETE, "/v1/namespaces/db/views/v2", None)
        .await;
    assert_eq!(s, 204);
    let (s, r) = k.call(get, "/v1/namespaces/db/views/v2", None).await;
    assert_eq!(s, 404);
    assert_eq!(r["error"]["type"], "NoSuchViewException");
}
