//! Storage by URL. [`Storage::open`] is the one place that parses a warehouse URI and
//! picks an `object_store` implementation; every path below it is relative to the warehouse
//! root (see [`crate::paths`]).
//!
//! | URI | store |
//! |---|---|
//! | `/path`, `./path`, `file:///path` | local file system (the embedded default) |
//! | `s3://bucket/prefix` | S3 or an S3-compatible server (Ceph RGW, MinIO) from the usual `AWS_*` variables; `AWS_ENDPOINT_URL` for a custom endpoint |
//! | `hdfs://namenode:port/path` | HDFS through opendal (cargo feature `hdfs`) |
//!
//! Publishing uses [`Storage::put_if_absent`]: a no-overwrite create on the local file
//! system and `If-None-Match: *` on S3. Nothing here renames with overwrite. A store
//! without conditional PUT (S3 option `aws_conditional_put = disabled`) cannot publish by
//! itself: its commits go through the catalog ([`publish`]).

pub mod publish;

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Error, ErrorKind, Result};

/// Piece size of the payloads [`Storage::put`] hands to the store.
const PUT_PIECE: usize = 64 << 10;

/// A payload in 64 KiB pieces (zero-copy slices): a local store writes piece by piece, and
/// on Linux one huge write(2) into fresh page cache costs several times as much CPU.
fn pieces(chunks: Vec<Bytes>) -> PutPayload {
    chunks
        .iter()
        .flat_map(|bytes| {
            (0..bytes.len())
                .step_by(PUT_PIECE)
                .map(|at| bytes.slice(at..bytes.len().min(at + PUT_PIECE)))
        })
        .collect()
}

/// A local file being written under its staging name; see [`Storage::create_staged`].
pub struct StagedFile {
    file: std::fs::File,
    staging: std::path::PathBuf,
    target: std::path::PathBuf,
    shown: String,
    written: usize,
}

impl StagedFile {
    /// Closes the file and renames it into place; returns its size.
    pub fn publish(self) -> Result<usize> {
        drop(self.file);
        std::fs::rename(&self.staging, &self.target)
            .map_err(|e| Error::from(e).context(self.shown))?;
        Ok(self.written)
    }

    /// Deletes the staging file; a failure is only logged (orphan cleanup removes it).
    pub fn discard(&self) {
        if let Err(e) = std::fs::remove_file(&self.staging) {
            tracing::warn!(path = %self.shown, error = %e, "could not delete a staging file");
        }
    }
}

impl std::io::Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// An object being written in parts; see [`Storage::upload`].
pub struct Upload {
    inner: Box<dyn object_store::MultipartUpload>,
    shown: String,
}

impl Upload {
    /// Appends the concatenation of `chunks`. Every part but the last must be at least
    /// 5 MiB on S3.
    pub async fn part(&mut self, chunks: Vec<Bytes>) -> Result<()> {
        self.inner
            .put_part(pieces(chunks))
            .await
            .map_err(|e| Error::from(e).context(self.shown.clone()))
    }

    /// Makes the object appear with every part written.
    pub async fn complete(mut self) -> Result<()> {
        self.inner
            .complete()
            .await
            .map(|_| ())
            .map_err(|e| Error::from(e).context(self.shown.clone()))
    }

    /// Drops what was written; failures are only logged (orphan cleanup removes leftovers).
    pub async fn abort(mut self) {
        if let Err(e) = self.inner.abort().await {
            tracing::warn!(path = %self.shown, error = %e, "could not abort an upload");
        }
    }
}

/// A warehouse's object store plus what it can guarantee.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    uri: String,
    scheme: Scheme,
    /// The warehouse directory of a local warehouse, for the no-overwrite create.
    local_root: Option<std::path::PathBuf>,
    /// Whether the store itself can create an object only if it is absent.
    conditional_create: bool,
    publish: Publish,
}

/// How [`Storage::put_if_absent`] creates.
#[derive(Clone)]
enum Publish {
    /// By the store's own create-if-not-exists.
    Store,
    /// This process is the warehouse's only committer and serializes creates itself.
    SoleCommitter(Arc<tokio::sync::Mutex<()>>),
    /// By the catalog process that commits for the warehouse.
    Catalog(Arc<publish::CatalogPublisher>),
}

/// The kind of store a warehouse URI named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Local,
    S3,
    Hdfs,
    /// A store handed in by a caller or a test.
    Custom,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Storage({})", self.uri)
    }
}

impl Storage {
    /// Opens the warehouse at `uri`. Local warehouses are created if missing.
    pub fn open(uri: &str) -> Result<Storage> {
        Self::open_with_options(uri, &[])
    }

    /// Like [`Storage::open`], with store options that override the environment, named as
    /// object_store names them (for S3: `aws_endpoint`, `aws_access_key_id`,
    /// `aws_secret_access_key`, `aws_region`, `aws_allow_http`, …).
    pub fn open_with_options(uri: &str, options: &[(String, String)]) -> Result<Storage> {
        let uri = uri.trim();
        if uri.is_empty() {
            return Err(Error::data_invalid("warehouse URI is empty"));
        }
        match uri.split_once("://") {
            None => Self::open_local(uri, uri),
            Some(("file", rest)) => Self::open_local(rest, uri),
            Some(("s3" | "s3a", rest)) => Self::open_s3(rest, uri, options),
            Some(("hdfs", _)) => Self::open_hdfs(uri),
            Some((scheme, _)) => Err(Error::unsupported(format!(
                "unknown warehouse scheme '{scheme}' in '{uri}': use a path, file://, s3:// or hdfs://"
            ))),
        }
    }

    /// Wraps an existing store (tests, embedding applications).
    pub fn from_store(store: Arc<dyn ObjectStore>, uri: impl Into<String>) -> Storage {
        Storage {
            store,
            uri: uri.into(),
            scheme: Scheme::Custom,
            local_root: None,
            conditional_create: true,
            publish: Publish::Store,
        }
    }

    fn open_local(path: &str, uri: &str) -> Result<Storage> {
        let dir = std::path::Path::new(path);
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("cannot create warehouse directory '{path}': {e}"),
            )
        })?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| Error::from(e).context(format!("warehouse '{uri}'")))?
            .with_automatic_cleanup(true);
        Ok(Storage {
            store: Arc::new(store),
            uri: uri.to_string(),
            scheme: Scheme::Local,
            local_root: Some(dir.to_path_buf()),
            conditional_create: true,
            publish: Publish::Store,
        })
    }

    fn open_s3(rest: &str, uri: &str, options: &[(String, String)]) -> Result<Storage> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::data_invalid(format!(
                "warehouse '{uri}' names no bucket: expected s3://bucket/prefix"
            )));
        }
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok();
        if let Some(endpoint) = endpoint {
            // S3-compatible servers (Ceph RGW, MinIO, moto) are usually path-style and often plain HTTP.
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            builder = builder.with_region("us-east-1");
        }
        let mut conditional_create = std::env::var("AWS_CONDITIONAL_PUT")
            .map_or(true, |v| !v.eq_ignore_ascii_case("disabled"));
        for (key, value) in options {
            let key: object_store::aws::AmazonS3ConfigKey = key.parse().map_err(|_| {
                Error::data_invalid(format!("unknown S3 option '{key}' for warehouse '{uri}'"))
            })?;
            if key == object_store::aws::AmazonS3ConfigKey::ConditionalPut {
                conditional_create = !value.eq_ignore_ascii_case("disabled");
            }
            builder = builder.with_config(key, value);
        }
        let s3 = builder
            .build()
            .map_err(|e| Error::from(e).context(format!("warehouse '{uri}'")))?;
        let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                s3,
                Path::from(prefix.trim_matches('/')),
            ))
        };
        Ok(Storage {
            store,
            uri: uri.to_string(),
            scheme: Scheme::S3,
            local_root: None,
            conditional_create,
            publish: Publish::Store,
        })
    }

    #[cfg(feature = "hdfs")]
    fn open_hdfs(uri: &str) -> Result<Storage> {
        let url = url::Url::parse(uri)
            .map_err(|e| Error::data_invalid(format!("bad HDFS URI '{uri}': {e}")))?;
        let name_node = format!(
            "hdfs://{}{}",
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        let builder = opendal::services::HdfsNative::default()
            .name_node(&name_node)
            .root(url.path());
        let op = opendal::Operator::new(builder)
            .map_err(|e| Error::new(ErrorKind::Unavailable, format!("HDFS '{uri}': {e}")))?;
        Ok(Storage {
            store: Arc::new(object_store_opendal::OpendalStore::new(op)),
            uri: uri.to_string(),
            scheme: Scheme::Hdfs,
            local_root: None,
            conditional_create: true,
            publish: Publish::Store,
        })
    }

    #[cfg(not(feature = "hdfs"))]
    fn open_hdfs(uri: &str) -> Result<Storage> {
        Err(Error::unsupported(format!(
            "warehouse '{uri}': this build has no HDFS support; rebuild with `--features strata-format/hdfs`"
        )))
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Whether the warehouse is a directory of the local file system.
    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// The local file behind `path` when the warehouse is on the local file system.
    /// Maintenance needs it for the staging files (`<name>#<n>`) that interrupted local
    /// uploads leave: `object_store` neither lists nor deletes them.
    pub fn local_path(&self, path: &Path) -> Option<std::path::PathBuf> {
        let mut target = self.local_root.clone()?;
        target.extend(path.parts().map(|p| p.as_ref().to_string()));
        Some(target)
    }

    /// Whether the store can create an object only if it is absent (conditional PUT).
    pub fn can_create_if_absent(&self) -> bool {
        self.conditional_create
    }

    /// Sends every create of [`Storage::put_if_absent`] to the catalog at `url` (`strata
    /// serve`), for stores without conditional PUT. Reads and data files stay direct.
    pub fn commit_through_catalog(mut self, url: &str, token: Option<String>) -> Result<Self> {
        // The server resolves a relative local path against its own directory.
        let warehouse = match &self.local_root {
            Some(root) => std::path::absolute(root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| self.uri.clone()),
            None => self.uri.clone(),
        };
        let publisher = publish::CatalogPublisher::new(url, token, warehouse)?;
        self.publish = Publish::Catalog(Arc::new(publisher));
        Ok(self)
    }

    /// Makes this process the warehouse's only committer when the store cannot create if
    /// absent: creates are serialized by a lock shared by every clone of this storage (a
    /// HEAD, then a plain PUT). For `strata serve` only, which every other committer of
    /// such a warehouse goes through; a no-op on stores with conditional PUT.
    pub fn as_sole_committer(mut self) -> Self {
        if !self.conditional_create {
            self.publish = Publish::SoleCommitter(Arc::default());
        }
        self
    }

    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Reads a whole object; a missing one is `NotFound` naming the path.
    pub async fn get(&self, path: &Path) -> Result<Bytes> {
        let result = self.store.get(path).await.map_err(|e| self.err(e, path))?;
        result.bytes().await.map_err(|e| self.err(e, path))
    }

    /// Reads a whole object, or `None` when it does not exist.
    pub async fn get_opt(&self, path: &Path) -> Result<Option<Bytes>> {
        match self.get(path).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn head(&self, path: &Path) -> Result<ObjectMeta> {
        self.store.head(path).await.map_err(|e| self.err(e, path))
    }

    pub async fn exists(&self, path: &Path) -> Result<bool> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err(e, path)),
        }
    }

    /// Writes an object, replacing any previous one. For data files with unique names and
    /// advisory hints only; never for snapshots.
    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<()> {
        self.put_chunks(path, vec![bytes]).await
    }

    /// [`Storage::put`] of the concatenation of `chunks`, without joining them.
    pub async fn put_chunks(&self, path: &Path, chunks: Vec<Bytes>) -> Result<()> {
        self.store
            .put(path, pieces(chunks))
            .await
            .map(|_| ())
            .map_err(|e| self.err(e, path))
    }

    /// Starts writing an object in parts, for data files too large to hold in memory. Like
    /// [`Storage::put`], for unique names only; the object appears when the upload
    /// completes (an interrupted local upload leaves a staging file that orphan cleanup
    /// removes).
    pub async fn upload(&self, path: &Path) -> Result<Upload> {
        let inner = self
            .store
            .put_multipart(path)
            .await
            .map_err(|e| self.err(e, path))?;
        Ok(Upload {
            inner,
            shown: self.display(path),
        })
    }

    /// Starts a local data file at `path` as its staging file `<name>#1` beside it, which
    /// [`StagedFile::publish`] renames into place: the file appears whole, and a writer that
    /// dies leaves only a staging file, which orphan cleanup removes. Local warehouses only
    /// ([`Storage::is_local`]).
    pub fn create_staged(&self, path: &Path) -> Result<StagedFile> {
        let shown = self.display(path);
        let target = self
            .local_path(path)
            .ok_or_else(|| Error::internal(format!("{shown} is not on a local warehouse")))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let staging = target.with_file_name(format!("{name}#1"));
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::from(e).context(&shown))?;
        }
        let file = std::fs::File::create(&staging).map_err(|e| Error::from(e).context(&shown))?;
        Ok(StagedFile {
            file,
            staging,
            target,
            shown,
            written: 0,
        })
    }

    /// Creates an object only if it does not exist. Returns `false` when it already
    /// existed (someone else won), `true` when this call created it.
    pub async fn put_if_absent(&self, path: &Path, bytes: Bytes) -> Result<bool> {
        match &self.publish {
            Publish::Store => {}
            Publish::Catalog(catalog) => return catalog.publish(path, bytes).await,
            Publish::SoleCommitter(lock) => {
                let _only_creator = lock.lock().await;
                if self.exists(path).await? {
                    return Ok(false);
                }
                self.put(path, bytes).await?;
                return Ok(true);
            }
        }
        if !self.conditional_create {
            return Err(Error::unsupported(format!(
                "cannot create {} only if absent: the store has no conditional PUT; commit through the catalog (set [commit] catalog in the config file or STRATA_COMMIT_CATALOG to the URL of the strata serve that serves this warehouse)",
                self.display(path)
            )));
        }
        if let Some(root) = &self.local_root {
            let mut target = root.clone();
            target.extend(path.parts().map(|p| p.as_ref().to_string()));
            let shown = self.display(path);
            return tokio::task::spawn_blocking(move || local_create_new(&target, &bytes))
                .await
                .map_err(|e| Error::internal(format!("create {shown}: {e}")))?
                .map_err(|e| Error::from(e).context(shown));
        }
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.err(e, path)),
        }
    }

    pub async fn delete(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e, path)),
        }
    }

    /// Every object below `prefix`, recursively.
    pub async fn list(&self, prefix: &Path) -> Result<Vec<ObjectMeta>> {
        self.store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|e| self.err(e, prefix))
    }

    /// The direct children of `prefix`: (sub-directory names, objects).
    pub async fn list_dir(&self, prefix: &Path) -> Result<(Vec<String>, Vec<ObjectMeta>)> {
        let listing = self
            .store
            .list_with_delimiter(Some(prefix))
            .await
            .map_err(|e| self.err(e, prefix))?;
        let dirs = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        Ok((dirs, listing.objects))
    }

    /// Deletes everything below `prefix`.
    pub async fn delete_prefix(&self, prefix: &Path) -> Result<()> {
        for meta in self.list(prefix).await? {
            self.delete(&meta.location).await?;
        }
        if self.scheme == Scheme::Local {
            self.remove_local_dirs(prefix);
        }
        Ok(())
    }

    /// Object stores have no directories; on the local file system empty ones are removed
    /// so that a dropped table or database is gone from listings too.
    fn remove_local_dirs(&self, prefix: &Path) {
        let root = match self.uri.split_once("://") {
            Some(("file", rest)) => rest.to_string(),
            _ => self.uri.clone(),
        };
        let mut dir = std::path::PathBuf::from(root);
        for part in prefix.parts() {
            dir.push(part.as_ref());
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    fn err(&self, e: object_store::Error, path: &Path) -> Error {
        match e {
            object_store::Error::NotFound { .. } => {
                Error::not_found(format!("file not found: {}", self.display(path)))
            }
            other => Error::from(other).context(self.display(path)),
        }
    }

    /// A path as the user knows it: warehouse URI plus relative path.
    pub fn display(&self, path: &Path) -> String {
        format!("{}/{}", self.uri.trim_end_matches('/'), path)
    }
}

/// Creates `target` with `bytes` unless it exists: the bytes go to a hidden temporary file
/// in the same directory, which is then hard-linked to the target name (a link never
/// replaces an existing file). Paimon lists `snapshot-*` and `schema-*` names, so the
/// temporary name starts with a dot to stay out of those listings.
fn local_create_new(target: &std::path::Path, bytes: &[u8]) -> std::io::Result<bool> {
    use std::io::Write;
    let dir = target
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        match std::fs::hard_link(&tmp, target) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scheme_is_named() {
        let err = Storage::open("foo://x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("'foo'"), "{err}");
    }

    /// Parts appear as one object when the upload completes, nothing before; an aborted
    /// upload leaves nothing behind, not even its staging file.
    #[tokio::test]
    async fn uploads_in_parts_appear_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path().to_str().unwrap()).unwrap();
        let p = Path::from("t/bucket-0/data-1.parquet");
        let mut upload = storage.upload(&p).await.unwrap();
        let big = Bytes::from(vec![7u8; 200_000]);
        upload
            .part(vec![big.clone(), Bytes::from_static(b"ab")])
            .await
            .unwrap();
        assert!(!storage.exists(&p).await.unwrap());
        upload.part(vec![Bytes::from_static(b"cd")]).await.unwrap();
        upload.complete().await.unwrap();
        let got = storage.get(&p).await.unwrap();
        assert_eq!(got.len(), 200_004);
        assert_eq!(&got[..200_000], &big[..]);
        assert_eq!(&got[200_000..], b"abcd");

        let q = Path::from("t/bucket-0/data-2.parquet");
        let mut upload = storage.upload(&q).await.unwrap();
        upload.part(vec![big]).await.unwrap();
        upload.abort().await;
        assert!(!storage.exists(&q).await.unwrap());
        let left: Vec<_> = std::fs::read_dir(dir.path().join("t/bucket-0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["data-1.parquet".to_string()]);
    }

    /// A staged file is not seen under its name until published; a discarded one leaves
    /// nothing behind.
    #[test]
    fn staged_files_appear_when_published_and_vanish_when_discarded() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path().to_str().unwrap()).unwrap();
        let bucket = dir.path().join("t/bucket-0");
        let names = || -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(&bucket)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let mut staged = storage
            .create_staged(&Path::from("t/bucket-0/data-1.parquet"))
            .unwrap();
        staged.write_all(b"abc").unwrap();
        assert_eq!(names(), vec!["data-1.parquet#1".to_string()]);
        assert_eq!(staged.publish().unwrap(), 3);
        assert_eq!(names(), vec!["data-1.parquet".to_string()]);
        let other = storage
            .create_staged(&Path::from("t/bucket-0/data-2.parquet"))
            .unwrap();
        other.discard();
        assert_eq!(names(), vec!["data-1.parquet".to_string()]);
    }

    #[tokio::test]
    async fn put_if_absent_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path().to_str().unwrap()).unwrap();
        let p = Path::from("t/snapshot/snapshot-1");
        assert!(storage
            .put_if_absent(&p, Bytes::from_static(b"a"))
            .await
            .unwrap());
        assert!(!storage
            .put_if_absent(&p, Bytes::from_static(b"b"))
            .await
            .unwrap());
        assert_eq!(storage.get(&p).await.unwrap().as_ref(), b"a");
        let missing = storage.get(&Path::from("nope")).await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        assert!(missing.to_string().contains("nope"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_creators_have_one_winner_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path().to_str().unwrap()).unwrap();
        let p = Path::from("db.db/t/snapshot/snapshot-7");
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let storage = storage.clone();
                let p = p.clone();
                tokio::spawn(async move {
                    storage
                        .put_if_absent(&p, Bytes::from(format!("writer {i}")))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1);
        let names: Vec<String> = std::fs::read_dir(dir.path().join("db.db/t/snapshot"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, vec!["snapshot-7".to_string()]);
    }

    #[tokio::test]
    async fn s3_uri_parses_without_network() {
        let s = Storage::open("s3://bucket/some/prefix").unwrap();
        assert_eq!(s.scheme(), Scheme::S3);
        assert!(Storage::open("s3:///x").is_err());
    }
}
