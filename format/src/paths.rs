//! Every object path Strata reads or writes is built here, and nowhere else.
//!
//! Paths are relative to the warehouse root (the storage layer maps them onto a local
//! directory or an object-store prefix). The layout is Paimon's:
//!
//! ```text
//! <db>.db/<table>/schema/schema-<id>
//!                 snapshot/snapshot-<id>, LATEST, EARLIEST
//!                 manifest/manifest-<uuid>-<n>, manifest-list-<uuid>-<n>, index-manifest-<uuid>-<n>
//!                 index/index-<uuid>-<n>
//!                 <k1>=<v1>/…/bucket-<b>/data-<uuid>-<n>.parquet
//!                 changelog/changelog-<id>, consumer/consumer-<id>, tag/tag-<name>
//! ```
//!
//! Names that come from users (databases, tables, tags, consumers) are validated before
//! they become a path component, so `..`, `/` or control characters can never address
//! anything outside the table.

use object_store::path::{Path, PathPart};

use crate::data::Datum;
use crate::error::{Error, Result};
use crate::types::{DataType, TypeKind};

/// Suffix of database directories.
pub const DATABASE_SUFFIX: &str = ".db";
/// Marker object that makes an empty database visible on stores without directories.
pub const DATABASE_MARKER: &str = ".strata-database";
pub const SCHEMA_DIR: &str = "schema";
pub const SNAPSHOT_DIR: &str = "snapshot";
pub const MANIFEST_DIR: &str = "manifest";
pub const INDEX_DIR: &str = "index";
pub const CHANGELOG_DIR: &str = "changelog";
pub const CONSUMER_DIR: &str = "consumer";
pub const TAG_DIR: &str = "tag";
pub const SCHEMA_PREFIX: &str = "schema-";
pub const SNAPSHOT_PREFIX: &str = "snapshot-";
pub const LATEST_HINT: &str = "LATEST";
pub const EARLIEST_HINT: &str = "EARLIEST";
pub const BUCKET_PREFIX: &str = "bucket-";
pub const STATISTICS_DIR: &str = "statistics";
pub const BRANCH_DIR: &str = "branch";
pub const CHANGELOG_PREFIX: &str = "changelog-";
pub const CONSUMER_PREFIX: &str = "consumer-";
pub const TAG_PREFIX: &str = "tag-";

/// Longest database, table, tag or consumer name accepted.
pub const MAX_NAME_LEN: usize = 255;

/// Checks a user-supplied name (database, table, tag, consumer) before it becomes a path
/// component. `what` names the kind of name for the error message.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("must not be empty".to_string())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!("is longer than {MAX_NAME_LEN} bytes"))
    } else if name == "." || name == ".." || name.contains("..") {
        Some("must not contain '..'".to_string())
    } else if let Some(c) = name.chars().find(|c| {
        c.is_control()
            || matches!(
                c,
                '/' | '\\' | '%' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '$'
            )
    }) {
        Some(format!("contains the forbidden character {c:?}"))
    } else if name.starts_with('.') || name.trim() != name {
        Some("must not start with '.' or have surrounding spaces".to_string())
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::data_invalid(format!(
            "invalid {what} name {:?}: it {p}",
            name.escape_debug().to_string()
        ))),
        None => Ok(()),
    }
}

/// Appends a component verbatim: names are validated and partition values escaped Paimon's
/// way already, so object_store's own percent-encoding must not apply a second time (a
/// Paimon directory `dt=a%2Fb` must stay exactly that on disk and in S3 keys).
fn join(path: Path, component: &str) -> Path {
    match PathPart::parse(component) {
        Ok(p) => path.join(p),
        Err(_) => path.join(PathPart::from(component)),
    }
}

/// Directory of a database.
pub fn database_dir(db: &str) -> Path {
    join(Path::default(), &format!("{db}{DATABASE_SUFFIX}"))
}

pub fn database_marker(db: &str) -> Path {
    database_dir(db).join(DATABASE_MARKER)
}

/// Parses a database directory name (`sales.db`) back into the database name.
pub fn database_from_dir(dir_name: &str) -> Option<&str> {
    dir_name
        .strip_suffix(DATABASE_SUFFIX)
        .filter(|n| validate_name("database", n).is_ok())
}

/// The paths of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePaths {
    root: Path,
}

impl TablePaths {
    pub fn new(db: &str, table: &str) -> Self {
        TablePaths {
            root: join(database_dir(db), table),
        }
    }

    /// Paths of a table whose root is already known (e.g. registered by location).
    pub fn from_root(root: Path) -> Self {
        TablePaths { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn schema_dir(&self) -> Path {
        self.root.clone().join(SCHEMA_DIR)
    }

    pub fn schema_file(&self, id: i64) -> Path {
        self.schema_dir().join(format!("{SCHEMA_PREFIX}{id}"))
    }

    pub fn snapshot_dir(&self) -> Path {
        self.root.clone().join(SNAPSHOT_DIR)
    }

    pub fn snapshot_file(&self, id: i64) -> Path {
        self.snapshot_dir().join(format!("{SNAPSHOT_PREFIX}{id}"))
    }

    pub fn latest_hint(&self) -> Path {
        self.snapshot_dir().join(LATEST_HINT)
    }

    pub fn earliest_hint(&self) -> Path {
        self.snapshot_dir().join(EARLIEST_HINT)
    }

    pub fn manifest_dir(&self) -> Path {
        self.root.clone().join(MANIFEST_DIR)
    }

    /// Manifests, manifest lists and index manifests share one directory.
    pub fn manifest_file(&self, name: &str) -> Path {
        self.manifest_dir().join(name)
    }

    pub fn index_dir(&self) -> Path {
        self.root.clone().join(INDEX_DIR)
    }

    pub fn index_file(&self, name: &str) -> Path {
        self.index_dir().join(name)
    }

    pub fn changelog_dir(&self) -> Path {
        self.root.clone().join(CHANGELOG_DIR)
    }

    pub fn changelog_file(&self, id: i64) -> Path {
        self.changelog_dir().join(format!("{CHANGELOG_PREFIX}{id}"))
    }

    /// `changelog/LATEST`: the newest long-lived changelog id (advisory).
    pub fn changelog_latest_hint(&self) -> Path {
        self.changelog_dir().join(LATEST_HINT)
    }

    /// `changelog/EARLIEST`: the oldest long-lived changelog id (advisory).
    pub fn changelog_earliest_hint(&self) -> Path {
        self.changelog_dir().join(EARLIEST_HINT)
    }

    pub fn consumer_dir(&self) -> Path {
        self.root.clone().join(CONSUMER_DIR)
    }

    pub fn consumer_file(&self, consumer_id: &str) -> Result<Path> {
        validate_name("consumer", consumer_id)?;
        Ok(self
            .consumer_dir()
            .join(format!("{CONSUMER_PREFIX}{consumer_id}")))
    }

    pub fn tag_dir(&self) -> Path {
        self.root.clone().join(TAG_DIR)
    }

    pub fn tag_file(&self, tag: &str) -> Result<Path> {
        validate_name("tag", tag)?;
        Ok(self.tag_dir().join(format!("{TAG_PREFIX}{tag}")))
    }

    pub fn statistics_dir(&self) -> Path {
        self.root.clone().join(STATISTICS_DIR)
    }

    /// A statistics file named by a snapshot's `statistics` field.
    pub fn statistics_file(&self, name: &str) -> Path {
        self.statistics_dir().join(name)
    }

    /// A path below the table root given as `/`-separated components (e.g. from a
    /// listing); components are taken verbatim.
    pub fn relative(&self, relative: &str) -> Path {
        relative
            .split('/')
            .filter(|c| !c.is_empty())
            .fold(self.root.clone(), join)
    }

    /// The part of `path` below the table root, or `None` when it is elsewhere.
    pub fn strip_root(&self, path: &Path) -> Option<String> {
        let mut parts = path.parts();
        for root_part in self.root.parts() {
            if parts.next()? != root_part {
                return None;
            }
        }
        Some(
            parts
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    /// `<k1>=<v1>/…/bucket-<b>` for a partition given as already-rendered path components.
    pub fn bucket_dir(&self, partition: &PartitionPath, bucket: i32) -> Path {
        let mut path = self.root.clone();
        for component in &partition.components {
            path = join(path, component);
        }
        path.join(format!("{BUCKET_PREFIX}{bucket}"))
    }

    /// Where a data or changelog file of a partition and bucket lives.
    pub fn data_file(&self, partition: &PartitionPath, bucket: i32, file_name: &str) -> Path {
        self.bucket_dir(partition, bucket).join(file_name)
    }
}

/// File names for new files; the uuid makes them unique across writers, the counter
/// within one writer.
pub struct FileNames;

impl FileNames {
    pub fn data_file(prefix: &str, uuid: &str, n: u64, extension: &str) -> String {
        format!("{prefix}{uuid}-{n}.{extension}")
    }

    pub fn manifest(uuid: &str, n: u64) -> String {
        format!("manifest-{uuid}-{n}")
    }

    pub fn manifest_list(uuid: &str, n: u64) -> String {
        format!("manifest-list-{uuid}-{n}")
    }

    pub fn index_manifest(uuid: &str, n: u64) -> String {
        format!("index-manifest-{uuid}-{n}")
    }

    pub fn index_file(uuid: &str, n: u64) -> String {
        format!("index-{uuid}-{n}")
    }
}

/// A partition rendered as Hive-style directory components (`dt=2024-01-01`), escaped as
/// Paimon does so that tables written by Paimon are found where Paimon put them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PartitionPath {
    components: Vec<String>,
}

impl PartitionPath {
    pub fn unpartitioned() -> Self {
        PartitionPath::default()
    }

    /// Renders `values` of the partition `fields` (name, type); a null or blank value becomes
    /// `default_name` (`partition.default-name`). `legacy` is `partition.legacy-name`.
    pub fn new(
        fields: &[(&str, &DataType)],
        values: &[Option<Datum>],
        default_name: &str,
        legacy: bool,
    ) -> Result<Self> {
        if fields.len() != values.len() {
            return Err(Error::data_invalid(format!(
                "partition has {} values but the table has {} partition keys",
                values.len(),
                fields.len()
            )));
        }
        let mut components = Vec::with_capacity(fields.len());
        for ((name, ty), value) in fields.iter().zip(values) {
            let text = match value {
                None => default_name.to_string(),
                Some(v) => {
                    let t = partition_value_string(v, ty, legacy)?;
                    if t.trim().is_empty() {
                        default_name.to_string()
                    } else {
                        t
                    }
                }
            };
            components.push(format!(
                "{}={}",
                escape_path_component(name),
                escape_path_component(&text)
            ));
        }
        Ok(PartitionPath { components })
    }

    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// `k1=v1/k2=v2`, or an empty string when unpartitioned.
    pub fn as_relative(&self) -> String {
        self.components.join("/")
    }
}

/// Escapes a partition name or value as Paimon's `PartitionPathUtils` does: control
/// characters and `"#%'*/:=?\{}[]^` become `%XX`; spaces and non-ASCII stay.
pub fn escape_path_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let code = c as u32;
        if code < 32 || code == 127 || "\"#%'*/:=?\\{}[]^".contains(c) {
            out.push_str(&format!("%{code:02X}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// A partition value as Paimon renders it in directory names. With `legacy`
/// (`partition.legacy-name`, Paimon's default) dates are epoch days, times millis of the
/// day and timestamps `LocalDateTime.toString()`; otherwise Paimon's cast-to-string rules.
pub fn partition_value_string(value: &Datum, ty: &DataType, legacy: bool) -> Result<String> {
    if legacy {
        match (value, &ty.kind) {
            (Datum::Date(days), _) | (Datum::Int(days), TypeKind::Date) => {
                return Ok(days.to_string())
            }
            (Datum::Time(millis), _) => return Ok(millis.to_string()),
            (
                Datum::Timestamp {
                    millis,
                    nanos_of_milli,
                },
                _,
            ) => return Ok(java_local_date_time(*millis, *nanos_of_milli)),
            _ => {}
        }
    }
    Ok(match (value, &ty.kind) {
        (Datum::Boolean(b), _) => b.to_string(),
        (Datum::TinyInt(v), _) => v.to_string(),
        (Datum::SmallInt(v), _) => v.to_string(),
        (Datum::Int(v), TypeKind::Date) | (Datum::Date(v), _) => format_date(*v),
        (Datum::Int(v), _) => v.to_string(),
        (Datum::BigInt(v), _) => v.to_string(),
        (Datum::Float(v), _) => java_float_string(f64::from(*v), true),
        (Datum::Double(v), _) => java_float_string(*v, false),
        (Datum::Decimal(unscaled), TypeKind::Decimal { scale, .. }) => {
            format_decimal(*unscaled, *scale)
        }
        (Datum::String(s), _) => s.clone(),
        (Datum::Time(millis), TypeKind::Time(p)) => format_time(*millis, *p),
        (
            Datum::Timestamp {
                millis,
                nanos_of_milli,
            },
            TypeKind::Timestamp(p) | TypeKind::LocalZonedTimestamp(p),
        ) => format_timestamp(*millis, *nanos_of_milli, *p, ' '),
        (other, _) => {
            return Err(Error::unsupported(format!(
                "a partition value {other:?} of type {ty:?} has no path form"
            )))
        }
    })
}

/// Java's `LocalDateTime.toString()`: `yyyy-MM-ddTHH:mm`, then `:ss` when seconds or
/// fraction are non-zero, then a 3, 6 or 9 digit fraction.
pub fn java_local_date_time(millis: i64, nanos_of_milli: i32) -> String {
    let secs = millis.div_euclid(1000);
    let nanos = millis.rem_euclid(1000) as u32 * 1_000_000 + nanos_of_milli.max(0) as u32;
    let Some(dt) = chrono::DateTime::from_timestamp(secs, 0) else {
        return millis.to_string();
    };
    let dt = dt.naive_utc();
    let mut text = dt.format("%Y-%m-%dT%H:%M").to_string();
    if nanos != 0 || secs.rem_euclid(60) != 0 {
        text.push_str(&dt.format(":%S").to_string());
        if nanos != 0 {
            if nanos.is_multiple_of(1_000_000) {
                text.push_str(&format!(".{:03}", nanos / 1_000_000));
            } else if nanos.is_multiple_of(1_000) {
                text.push_str(&format!(".{:06}", nanos / 1_000));
            } else {
                text.push_str(&format!(".{nanos:09}"));
            }
        }
    }
    text
}

/// `unscaled × 10^-scale` as a plain decimal string (Java `BigDecimal.toPlainString`).
pub fn format_decimal(unscaled: i128, scale: u8) -> String {
    let negative = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let body = if scale == 0 {
        digits
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        format!("{int}.{frac}")
    } else {
        format!("0.{}{digits}", "0".repeat(scale - digits.len()))
    };
    if negative {
        format!("-{body}")
    } else {
        body
    }
}

/// Days since the epoch as `yyyy-MM-dd`.
pub fn format_date(days: i32) -> String {
    match chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|d| d.checked_add_signed(chrono::Duration::days(i64::from(days))))
    {
        Some(d) => d.format("%Y-%m-%d").to_string(),
        None => days.to_string(),
    }
}

/// Milliseconds of the day as `HH:mm:ss[.fraction]`, the fraction trimmed of trailing zeros
/// down to `precision` digits.
pub fn format_time(millis: i32, precision: u8) -> String {
    let millis = millis.rem_euclid(86_400_000);
    let secs = millis / 1000;
    let text = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    let fraction = trim_fraction(format!("{:09}", (millis % 1000) * 1_000_000), precision);
    if fraction.is_empty() {
        text
    } else {
        format!("{text}.{fraction}")
    }
}

/// Epoch millis plus nanos as `yyyy-MM-dd<sep>HH:mm:ss[.fraction]`, the fraction trimmed of
/// trailing zeros down to `precision` digits (Paimon's `DateTimeUtils.formatTimestamp`).
pub fn format_timestamp(millis: i64, nanos_of_milli: i32, precision: u8, sep: char) -> String {
    let secs = millis.div_euclid(1000);
    let nanos = millis.rem_euclid(1000) as u32 * 1_000_000 + nanos_of_milli.max(0) as u32;
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(dt) => {
            let text = dt
                .naive_utc()
                .format(&format!("%Y-%m-%d{sep}%H:%M:%S"))
                .to_string();
            let fraction = trim_fraction(format!("{nanos:09}"), precision);
            if fraction.is_empty() {
                text
            } else {
                format!("{text}.{fraction}")
            }
        }
        None => millis.to_string(),
    }
}

fn trim_fraction(mut fraction: String, precision: u8) -> String {
    while fraction.len() > precision as usize && fraction.ends_with('0') {
        fraction.pop();
    }
    fraction
}

/// Java's `Float.toString`/`Double.toString` for the values that occur in practice: the
/// shortest round-tripping digits, plain between 10^-3 and 10^7, else `d.dddE±n`.
pub fn java_float_string(value: f64, single: bool) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .into();
    }
    // Rust's `{:e}` prints the shortest round-tripping digits, as Java does since JDK 19.
    let sci = if single {
        format!("{:e}", value as f32)
    } else {
        format!("{value:e}")
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let abs = value.abs();
    if (1e-3..1e7).contains(&abs) {
        let plain = if single {
            format!("{}", value as f32)
        } else {
            format!("{value}")
        };
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_layout() {
        let p = TablePaths::new("sales", "orders");
        assert_eq!(p.root().as_ref(), "sales.db/orders");
        assert_eq!(p.schema_file(0).as_ref(), "sales.db/orders/schema/schema-0");
        assert_eq!(
            p.snapshot_file(12).as_ref(),
            "sales.db/orders/snapshot/snapshot-12"
        );
        assert_eq!(p.latest_hint().as_ref(), "sales.db/orders/snapshot/LATEST");
        assert_eq!(
            p.manifest_file("manifest-list-x-0").as_ref(),
            "sales.db/orders/manifest/manifest-list-x-0"
        );
        let dt = DataType::new(TypeKind::VarChar(crate::types::MAX_LENGTH));
        let hr = DataType::new(TypeKind::Int);
        let part = PartitionPath::new(
            &[("dt", &dt), ("hr", &hr)],
            &[Some(Datum::String("2024-01-01".into())), None],
            "__DEFAULT_PARTITION__",
            true,
        )
        .unwrap();
        assert_eq!(
            p.data_file(&part, 3, "data-u-0.parquet").as_ref(),
            "sales.db/orders/dt=2024-01-01/hr=__DEFAULT_PARTITION__/bucket-3/data-u-0.parquet"
        );
        let odd = PartitionPath::new(
            &[("dt", &dt)],
            &[Some(Datum::String("a/b=c d%".into()))],
            "__DEFAULT_PARTITION__",
            true,
        )
        .unwrap();
        // Escaped once, Paimon's way, and not again by object_store.
        assert_eq!(
            p.bucket_dir(&odd, 1).as_ref(),
            "sales.db/orders/dt=a%2Fb%3Dc d%25/bucket-1"
        );
        assert_eq!(
            p.bucket_dir(&PartitionPath::unpartitioned(), 0).as_ref(),
            "sales.db/orders/bucket-0"
        );
    }

    #[test]
    fn escapes_like_paimon() {
        assert_eq!(escape_path_component("a/b:c=d"), "a%2Fb%3Ac%3Dd");
        assert_eq!(escape_path_component("x y ü"), "x y ü");
        assert_eq!(escape_path_component("100%"), "100%25");
        assert_eq!(escape_path_component("\u{1}"), "%01");
    }

    #[test]
    fn hostile_names_are_rejected() {
        for bad in [
            "",
            "..",
            "a/b",
            "a\\b",
            "x\u{0}",
            "../etc",
            ".hidden",
            " a",
            "a%2Fb",
            "t$snapshots",
        ] {
            assert!(validate_name("table", bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_name("table", &"x".repeat(256)).is_err());
        for good in ["orders", "Orders_2024", "t-1", "订单"] {
            validate_name("table", good).unwrap();
        }
        assert!(TablePaths::new("d", "t").tag_file("../x").is_err());
    }

    #[test]
    fn value_strings() {
        assert_eq!(format_decimal(12345, 2), "123.45");
        assert_eq!(format_decimal(-5, 3), "-0.005");
        assert_eq!(format_decimal(7, 0), "7");
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(format_timestamp(-1, 0, 3, ' '), "1969-12-31 23:59:59.999");
        assert_eq!(
            format_timestamp(1000, 0, 6, ' '),
            "1970-01-01 00:00:01.000000"
        );
        assert_eq!(format_timestamp(1000, 0, 0, ' '), "1970-01-01 00:00:01");
        assert_eq!(
            format_timestamp(1, 500, 9, 'T'),
            "1970-01-01T00:00:00.001000500"
        );
        assert_eq!(format_time(3_723_004, 3), "01:02:03.004");
        assert_eq!(java_local_date_time(0, 0), "1970-01-01T00:00");
        assert_eq!(java_local_date_time(1_500, 0), "1970-01-01T00:00:01.500");
        assert_eq!(
            java_local_date_time(1_000, 1_000),
            "1970-01-01T00:00:01.000001"
        );
        let date = DataType::new(TypeKind::Date);
        assert_eq!(
            partition_value_string(&Datum::Date(19723), &date, true).unwrap(),
            "19723"
        );
        assert_eq!(
            partition_value_string(&Datum::Date(19723), &date, false).unwrap(),
            "2024-01-01"
        );
        assert_eq!(java_float_string(1.5, false), "1.5");
        assert_eq!(java_float_string(100.0, false), "100.0");
        assert_eq!(java_float_string(1e10, false), "1.0E10");
        assert_eq!(java_float_string(0.1f32 as f64, true), "0.1");
        assert_eq!(java_float_string(1.0e-5, false), "1.0E-5");
    }
}
