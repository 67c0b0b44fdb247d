//! Commits through the catalog, for stores that cannot create an object only if it is
//! absent (S3-compatible servers without conditional PUT, such as some Ceph RGW releases).
//!
//! On such a store one process, `strata serve`, is the warehouse's only committer: it
//! serializes creates behind one lock (a HEAD, then a plain PUT), which is safe because
//! nothing else creates those names. Every other process sends its creates to it as
//! `POST /strata/v1/publish?warehouse=URI&path=PATH` with the object's bytes; the answer
//! is 201 (created) or 409 (it existed: the caller lost the race and retries as after a
//! failed conditional PUT). Data files and manifests are still written directly.
//!
//! Only the names that publish something may be sent ([`check_publishable`]): snapshots,
//! schemas, tags and database markers, holding what such files hold
//! ([`check_published_object`]); everything else is refused, so the endpoint cannot be
//! used to overwrite or plant other files.

use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::paths::DATABASE_MARKER;

/// The route of the publish endpoint on `strata serve`.
pub const PUBLISH_ROUTE: &str = "/strata/v1/publish";

/// Sends creates to the catalog process that commits for the warehouse.
#[derive(Debug)]
pub struct CatalogPublisher {
    endpoint: String,
    /// The warehouse as the catalog is told it (local paths made absolute).
    warehouse: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl CatalogPublisher {
    /// A publisher for `warehouse` to the catalog at `url` (`http://host:port`, the
    /// address `strata serve` prints), sending `token` as a bearer token when the catalog
    /// requires one.
    pub fn new(url: &str, token: Option<String>, warehouse: String) -> Result<Self> {
        let parsed = url::Url::parse(url.trim()).map_err(|e| {
            Error::data_invalid(format!("commit catalog URL '{url}' does not parse: {e}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Error::data_invalid(format!(
                "commit catalog URL '{url}' must be http://host:port or https://host:port"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::internal(format!("HTTP client for '{url}': {e}")))?;
        Ok(CatalogPublisher {
            endpoint: format!("{}{PUBLISH_ROUTE}", url.trim().trim_end_matches('/')),
            warehouse,
            token: token.filter(|t| !t.is_empty()),
            client,
        })
    }

    /// The URL creates are posted to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Asks the catalog to create `path` with `bytes`: `true` when it did, `false` when the
    /// object existed.
    pub async fn publish(&self, path: &Path, bytes: Bytes) -> Result<bool> {
        check_publishable(path)?;
        let mut request = self
            .client
            .post(&self.endpoint)
            .query(&[
                ("warehouse", self.warehouse.as_str()),
                ("path", path.as_ref()),
            ])
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        // A lost response leaves the outcome unknown, as a lost conditional PUT does; the
        // commit's (commitUser, commitIdentifier) check makes its retry apply once.
        let response = request.send().await.map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("commit catalog {}: {e}", self.endpoint),
            )
        })?;
        let status = response.status();
        match status.as_u16() {
            200 | 201 => Ok(true),
            409 => Ok(false),
            code => {
                let body = response.text().await.unwrap_or_default();
                let kind = if code >= 500 || code == 429 {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::DataInvalid
                };
                Err(Error::new(
                    kind,
                    format!(
                        "commit catalog {} refused to create {path}: HTTP {code}: {}",
                        self.endpoint,
                        body.chars().take(500).collect::<String>()
                    ),
                ))
            }
        }
    }
}

/// Whether `path` names an object that commits create: `snapshot/snapshot-<n>`,
/// `schema/schema-<n>`, `tag/tag-<name>` or a database marker.
pub fn check_publishable(path: &Path) -> Result<()> {
    published_kind(path).map(|_| ())
}

/// [`check_publishable`], and that `bytes` are what such an object holds: a snapshot or
/// schema with the id its name says, a tag, an empty marker. The catalog checks this
/// before it creates anything, so that no client can publish garbage under those names.
pub fn check_published_object(path: &Path, bytes: &[u8]) -> Result<()> {
    let context = |e: Error| e.context(format!("publish {path}"));
    match published_kind(path)? {
        Published::Snapshot(n) => {
            let id = crate::snapshot::Snapshot::from_json(bytes)
                .map_err(context)?
                .id;
            check_id("snapshot", id, n, path)
        }
        Published::Schema(n) => {
            let id = crate::schema::TableSchema::from_json(bytes)
                .map_err(context)?
                .id;
            check_id("schema", id, n, path)
        }
        Published::Tag(name) => crate::maintenance::Tag::from_json(&name, bytes)
            .map(|_| ())
            .map_err(context),
        Published::DatabaseMarker if bytes.is_empty() => Ok(()),
        Published::DatabaseMarker => Err(Error::data_invalid(format!(
            "publish {path}: a database marker is empty, not {} bytes",
            bytes.len()
        ))),
    }
}

fn check_id(what: &str, id: i64, n: i64, path: &Path) -> Result<()> {
    if id == n {
        Ok(())
    } else {
        Err(Error::data_invalid(format!(
            "publish {path}: the {what} inside has id {id}, not {n}"
        )))
    }
}

enum Published {
    Snapshot(i64),
    Schema(i64),
    Tag(String),
    DatabaseMarker,
}

fn published_kind(path: &Path) -> Result<Published> {
    let parts: Vec<String> = path.parts().map(|p| p.as_ref().to_string()).collect();
    let kind = match parts.as_slice() {
        [db, marker] => (db.len() > 3 && db.ends_with(".db") && marker == DATABASE_MARKER)
            .then_some(Published::DatabaseMarker),
        [_, .., dir, name] => match dir.as_str() {
            "snapshot" => numbered(name, "snapshot-").map(Published::Snapshot),
            "schema" => numbered(name, "schema-").map(Published::Schema),
            "tag" => name
                .strip_prefix("tag-")
                .filter(|t| !t.is_empty())
                .map(|t| Published::Tag(t.to_string())),
            _ => None,
        },
        _ => None,
    };
    kind.ok_or_else(|| {
        Error::data_invalid(format!(
            "'{path}' is not a snapshot, schema, tag or database marker: only those are published through the catalog"
        ))
    })
}

fn numbered(name: &str, prefix: &str) -> Option<i64> {
    name.strip_prefix(prefix)
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_published_names_pass() {
        for ok in [
            "db.db/t/snapshot/snapshot-12",
            "db.db/t/schema/schema-0",
            "db.db/t/tag/tag-before-migration",
            "db.db/.strata-database",
        ] {
            check_publishable(&Path::from(ok)).unwrap();
        }
        for bad in [
            "db.db/t/snapshot/LATEST",
            "db.db/t/snapshot/snapshot-",
            "db.db/t/snapshot/snapshot-1x",
            "db.db/t/bucket-0/data-1.parquet",
            "db.db/t/manifest/manifest-list-1",
            "db.db/t/tag/tag-",
            "snapshot/snapshot-1",
            ".db/.strata-database",
            "x/.strata-database",
        ] {
            let err = check_publishable(&Path::from(bad)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DataInvalid, "{bad}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn published_objects_must_hold_what_their_names_say() {
        let snapshot = |id: i64| {
            format!(
                r#"{{"version":3,"id":{id},"schemaId":0,"baseManifestList":"b","deltaManifestList":"d","commitUser":"u","commitIdentifier":1,"commitKind":"APPEND","timeMillis":1}}"#
            )
        };
        let path = Path::from("db.db/t/snapshot/snapshot-3");
        check_published_object(&path, snapshot(3).as_bytes()).unwrap();
        let err = check_published_object(&path, snapshot(4).as_bytes()).unwrap_err();
        assert!(err.to_string().contains("has id 4, not 3"), "{err}");
        let err = check_published_object(&path, b"garbage").unwrap_err();
        assert!(err.to_string().contains("snapshot-3"), "{err}");
        let tag = Path::from("db.db/t/tag/tag-v1");
        check_published_object(&tag, snapshot(3).as_bytes()).unwrap();
        let marker = Path::from("db.db/.strata-database");
        check_published_object(&marker, b"").unwrap();
        assert!(check_published_object(&marker, b"x").is_err());
        assert!(check_published_object(&Path::from("db.db/t/schema/schema-0"), b"{}").is_err());
    }

    #[test]
    fn catalog_urls_are_checked() {
        for bad in ["", "localhost:8181", "ftp://x", "http://"] {
            let err = CatalogPublisher::new(bad, None, "s3://b/w".into()).unwrap_err();
            assert!(err.to_string().contains("commit catalog URL"), "{err}");
        }
        let p = CatalogPublisher::new(
            "http://127.0.0.1:8181/",
            Some(String::new()),
            "s3://b/w".into(),
        )
        .unwrap();
        assert_eq!(p.endpoint(), "http://127.0.0.1:8181/strata/v1/publish");
        assert!(p.token.is_none());
    }
}
