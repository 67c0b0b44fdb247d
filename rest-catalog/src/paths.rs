//! Every object path the catalog reads or writes is built here, and nowhere else in this
//! crate (Strata's own table files come from `strata_format::paths`).
//!
//! ```text
//! <db>.db/.strata-database                         the namespace (a Strata database)
//! <db>.db/.iceberg/namespace/<version>.json        namespace properties, versioned
//! <db>.db/.iceberg/tables/<name>/<version>.json    registry entry of a plain Iceberg table
//! <db>.db/.iceberg/views/<name>/<version>.json     registry entry of a view
//! <db>.db/<name>-<uuid>/metadata/<NNNNN>-<uuid>.metadata.json    metadata of a plain table/view
//! <db>.db/<name>-<uuid>/data/…                     data written by Iceberg clients
//! <db>.db/<strata table>/iceberg-metadata/…        Iceberg metadata generated for a Strata table
//! ```
//!
//! `.iceberg` starts with a dot, which no table name may, so Strata never mistakes it for a
//! table; a plain table's directory has no `schema/`, so Strata's listing skips it too.
//! Versions are zero-padded so that a listing sorts them.
//!
//! Locations that clients send (table locations, metadata locations to register) are turned
//! into warehouse-relative paths by [`Warehouse::relative`], which rejects anything outside
//! the warehouse or with `..` segments: the server never writes outside its warehouse.

use object_store::path::{Path, PathPart};
use strata_format::paths::{database_dir, validate_name, TablePaths};

use crate::error::{CatalogError, Result};

const CATALOG_DIR: &str = ".iceberg";
const NAMESPACE_DIR: &str = "namespace";
const METADATA_DIR: &str = "metadata";
const EXPORT_DIR: &str = "iceberg-metadata";

/// Width of zero-padded version numbers in registry file names.
const VERSION_WIDTH: usize = 20;

/// Kinds of registry entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Table,
    View,
}

impl EntryKind {
    fn dir(self) -> &'static str {
        match self {
            EntryKind::Table => "tables",
            EntryKind::View => "views",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            EntryKind::Table => "table",
            EntryKind::View => "view",
        }
    }
}

/// Checks a namespace, table or view name before it becomes a path component.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    validate_name(what, name).map_err(|e| CatalogError::bad_request(e.message().to_string()))
}

fn join(path: Path, component: &str) -> Path {
    match PathPart::parse(component) {
        Ok(p) => path.join(p),
        Err(_) => path.join(PathPart::from(component)),
    }
}

fn catalog_dir(db: &str) -> Path {
    database_dir(db).join(CATALOG_DIR)
}

pub fn namespace_properties_dir(db: &str) -> Path {
    catalog_dir(db).join(NAMESPACE_DIR)
}

pub fn namespace_properties_file(db: &str, version: u64) -> Path {
    namespace_properties_dir(db).join(version_file(version))
}

pub fn entries_dir(db: &str, kind: EntryKind) -> Path {
    catalog_dir(db).join(kind.dir())
}

pub fn entry_dir(db: &str, kind: EntryKind, name: &str) -> Path {
    join(entries_dir(db, kind), name)
}

pub fn entry_file(db: &str, kind: EntryKind, name: &str, version: u64) -> Path {
    entry_dir(db, kind, name).join(version_file(version))
}

fn version_file(version: u64) -> String {
    format!("{version:0width$}.json", width = VERSION_WIDTH)
}

/// The version of a registry file name, if it is one.
pub fn parse_version_file(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    if digits.len() != VERSION_WIDTH || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Default location of a new plain table or view: unique, so that a dropped table's files
/// (drop without purge keeps them) never mix with a new table of the same name.
pub fn new_object_dir(db: &str, name: &str, uuid: &uuid::Uuid) -> Path {
    join(database_dir(db), &format!("{name}-{}", uuid.simple()))
}

/// `<location>/metadata/<NNNNN>-<uuid>.metadata.json`, Iceberg's naming.
pub fn metadata_file(location: &Path, version: u64, uuid: &uuid::Uuid) -> Path {
    location
        .clone()
        .join(METADATA_DIR)
        .join(format!("{version:05}-{uuid}.metadata.json"))
}

/// The version number in an Iceberg metadata file name (`00003-….metadata.json` or
/// `v3.metadata.json`), 0 if it has none.
pub fn metadata_version(location: &str) -> u64 {
    let name = location.rsplit('/').next().unwrap_or(location);
    let head = name.split(['-', '.']).next().unwrap_or("");
    head.trim_start_matches('v').parse().unwrap_or(0)
}

/// Where the Iceberg metadata generated for a Strata table lives. Paimon readers never look
/// here, and Strata's own files are never written here.
pub struct ExportPaths {
    dir: Path,
}

impl ExportPaths {
    pub fn new(table: &TablePaths) -> Self {
        ExportPaths {
            dir: table.root().clone().join(EXPORT_DIR),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Metadata of the Iceberg view of Strata snapshot `snapshot` (0: no snapshot yet) under
    /// schema `schema_id`.
    pub fn metadata(&self, snapshot: i64, schema_id: i64, format_version: u8) -> Path {
        self.dir.clone().join(format!(
            "v{snapshot}-s{schema_id}-f{format_version}.metadata.json"
        ))
    }

    pub fn manifest_list(&self, snapshot: i64, schema_id: i64, format_version: u8) -> Path {
        self.dir.clone().join(format!(
            "snap-{snapshot}-s{schema_id}-f{format_version}-manifest-list.avro"
        ))
    }

    pub fn manifest(&self, snapshot: i64, schema_id: i64, format_version: u8, what: &str) -> Path {
        self.dir.clone().join(format!(
            "snap-{snapshot}-s{schema_id}-f{format_version}-{what}.avro"
        ))
    }

    /// A position-delete file (Parquet) or deletion-vector file (Puffin).
    pub fn delete_file(&self, snapshot: i64, n: usize, extension: &str) -> Path {
        self.dir
            .clone()
            .join("deletes")
            .join(format!("snap-{snapshot}-{n}.{extension}"))
    }
}

/// The warehouse root as an absolute URI, and the conversion between client-visible
/// locations and warehouse-relative paths.
#[derive(Debug, Clone)]
pub struct Warehouse {
    /// `file:///abs/dir` or `s3://bucket/prefix`, without a trailing slash.
    root: String,
    /// For local warehouses, the absolute directory (clients also write `/abs` and `file:/abs`).
    local_dir: Option<String>,
}

impl Warehouse {
    /// From a warehouse URI as given to `strata` (`./wh`, `/abs`, `file:///abs`, `s3://b/p`).
    pub fn new(uri: &str) -> Result<Self> {
        let uri = uri.trim().trim_end_matches('/');
        match uri.split_once("://") {
            None | Some(("file", _)) => {
                let path = uri.strip_prefix("file://").unwrap_or(uri);
                let abs = std::path::absolute(path).map_err(|e| {
                    CatalogError::internal(format!("cannot resolve warehouse '{uri}': {e}"))
                })?;
                let dir = abs.to_string_lossy().trim_end_matches('/').to_string();
                Ok(Warehouse {
                    root: format!("file://{dir}"),
                    local_dir: Some(dir),
                })
            }
            Some(_) => Ok(Warehouse {
                root: uri.to_string(),
                local_dir: None,
            }),
        }
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// The absolute URI of a warehouse-relative path.
    pub fn uri(&self, path: &Path) -> String {
        if path.as_ref().is_empty() {
            self.root.clone()
        } else {
            format!("{}/{}", self.root, path)
        }
    }

    /// The warehouse-relative path of a location, or a 400 if it lies outside the warehouse.
    pub fn relative(&self, location: &str) -> Result<Path> {
        let outside = || {
            CatalogError::bad_request(format!(
                "location '{}' is outside the warehouse {}",
                location.escape_debug(),
                self.root
            ))
        };
        let location = location.trim_end_matches('/');
        let mut rest = None;
        if let Some(r) = location.strip_prefix(&self.root) {
            rest = Some(r);
        } else if let Some(dir) = &self.local_dir {
            for prefix in [format!("file:{dir}"), dir.clone()] {
                if let Some(r) = location.strip_prefix(&prefix) {
                    rest = Some(r);
                    break;
                }
            }
        }
        let rest = rest.ok_or_else(outside)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(outside());
        }
        let rest = rest.trim_start_matches('/');
        if rest.is_empty() {
            return Err(outside());
        }
        for segment in rest.split('/') {
            if segment.is_empty()
                || segment == "."
                || segment == ".."
                || segment.chars().any(|c| c.is_control() || c == '\\')
            {
                return Err(outside());
            }
        }
        Path::parse(rest).map_err(|_| outside())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let u = uuid::Uuid::nil();
        assert_eq!(
            entry_file("sales", EntryKind::Table, "t", 3).as_ref(),
            "sales.db/.iceberg/tables/t/00000000000000000003.json"
        );
        assert_eq!(parse_version_file("00000000000000000003.json"), Some(3));
        assert_eq!(parse_version_file("3.json"), None);
        let dir = new_object_dir("sales", "t", &u);
        assert_eq!(dir.as_ref(), "sales.db/t-00000000000000000000000000000000");
        assert_eq!(
            metadata_file(&dir, 7, &u).as_ref(),
            "sales.db/t-00000000000000000000000000000000/metadata/00007-00000000-0000-0000-0000-000000000000.metadata.json"
        );
        assert_eq!(
            metadata_version("file:///x/metadata/00007-abc.metadata.json"),
            7
        );
        assert_eq!(metadata_version("v12.metadata.json"), 12);
    }

    #[test]
    fn locations_stay_inside_the_warehouse() {
        let w = Warehouse::new("/tmp/wh").unwrap();
        assert_eq!(w.root(), "file:///tmp/wh");
        for ok in [
            "file:///tmp/wh/a.db/t",
            "/tmp/wh/a.db/t",
            "file:/tmp/wh/a.db/t/",
        ] {
            assert_eq!(w.relative(ok).unwrap().as_ref(), "a.db/t", "{ok}");
        }
        for bad in [
            "file:///tmp/wh",
            "file:///tmp/wh2/a",
            "file:///tmp/wh/../etc",
            "/etc/passwd",
            "s3://b/x",
            "file:///tmp/wh/a//b",
            "file:///tmp/wh/a/\u{1}",
        ] {
            assert!(w.relative(bad).is_err(), "{bad} accepted");
        }
        let s3 = Warehouse::new("s3://bucket/pre").unwrap();
        assert_eq!(s3.uri(&Path::from("a.db/t")), "s3://bucket/pre/a.db/t");
        assert!(s3.relative("s3://bucket/pre/a.db/t").is_ok());
        assert!(s3.relative("s3://bucket/prefix/a").is_err());
    }
}
