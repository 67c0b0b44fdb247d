//! Local key lookups into data files: for one data file, key → (row position, sequence
//! number, row kind) and optionally the row's values.
//!
//! Deletion-vector maintenance asks "where in the higher levels does this key live?" for
//! every key a compaction writes; the lookup changelog producer and first-row will ask the
//! same. Reading Parquet for each question would be far too slow, so the first question
//! about a file builds a [`LookupFile`] (its keys sorted, with a sparse in-memory index) in
//! a local directory, and later questions read one block of it.
//!
//! The [`LookupCache`] bounds that directory (`lookup.cache-max-disk-size`), the memory of
//! open files' indexes (`lookup.cache-max-memory-size`) and how long an unused file stays
//! (`lookup.cache-file-retention`), evicting least recently used files first. A cache entry
//! is named after the data file and a hash of everything it was built from (data file
//! path and size, key and value layout, encoding version), and that text is stored in the
//! file and checked on open, so an entry is never served for a different file. An evicted
//! file stays readable for whoever still holds it (reads go through the open handle); the
//! next request rebuilds it.
//!
//! Keys are the trimmed primary key in Arrow's row format, which compares bytewise in key
//! order; values use the same row format over the chosen value columns.

mod file;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arrow_array::{ArrayRef, Int64Array, Int8Array, RecordBatch};
use arrow_row::{RowConverter, Rows, SortField};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::manifest::DataFileMeta;
use crate::options::CoreOptions;
use crate::paths::PartitionPath;
use crate::read::file::{read_kv_file, KvLayout};
use crate::table::Table;
use crate::types::arrow::to_arrow_type;
use crate::types::DataField;

pub use file::{LookupEntry, LookupFile, BLOCK_BYTES};

use file::FileBuilder;

/// Changes whenever keys, values or the file layout would be encoded differently (the
/// Arrow row format is only stable within one arrow major version).
const ENCODING: &str = "strata-lookup-1/arrow-row-58";
const EXTENSION: &str = "lookup";
const READ_BATCH: usize = 8192;

/// What a lookup file holds: the key columns and, optionally, value columns.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupSpec {
    key_fields: Vec<DataField>,
    value_fields: Vec<DataField>,
}

impl LookupSpec {
    /// Keys only: the table's trimmed primary key.
    pub fn keys(table: &Table) -> Result<Self> {
        let key_fields = table.schema().trimmed_primary_key_fields();
        if key_fields.is_empty() {
            return Err(Error::unsupported(format!(
                "table '{}' has no primary key to look up",
                table.identifier()
            )));
        }
        Ok(LookupSpec {
            key_fields,
            value_fields: Vec::new(),
        })
    }

    /// Also stores these columns of each row.
    pub fn with_values(mut self, fields: Vec<DataField>) -> Self {
        self.value_fields = fields;
        self
    }

    pub fn key_fields(&self) -> &[DataField] {
        &self.key_fields
    }

    pub fn value_fields(&self) -> &[DataField] {
        &self.value_fields
    }

    /// Encodes key columns the way lookup files store keys.
    pub fn key_encoder(&self) -> Result<RowCodec> {
        RowCodec::new(&self.key_fields)
    }

    /// Decodes stored values; `None` when the spec stores none.
    pub fn value_codec(&self) -> Result<Option<RowCodec>> {
        if self.value_fields.is_empty() {
            return Ok(None);
        }
        RowCodec::new(&self.value_fields).map(Some)
    }

    fn fingerprint(&self) -> String {
        let describe = |fields: &[DataField]| {
            fields
                .iter()
                .map(|f| format!("{}:{}", f.id, f.data_type))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "{ENCODING}|keys={}|values={}",
            describe(&self.key_fields),
            describe(&self.value_fields)
        )
    }
}

/// Arrow row encoding of a fixed list of columns: bytewise comparable, and decodable back.
pub struct RowCodec {
    converter: RowConverter,
}

impl RowCodec {
    fn new(fields: &[DataField]) -> Result<Self> {
        let sort_fields = fields
            .iter()
            .map(|f| SortField::new(to_arrow_type(&f.data_type)))
            .collect();
        Ok(RowCodec {
            converter: RowConverter::new(sort_fields)?,
        })
    }

    /// Encodes the rows of `columns` (one array per field, in the spec's order).
    pub fn encode(&self, columns: &[ArrayRef]) -> Result<Rows> {
        Ok(self.converter.convert_columns(columns)?)
    }

    /// Decodes encoded rows back into one array per field. The bytes must come from a
    /// lookup file built with the same spec (blocks are checksummed before they get here).
    pub fn decode(&self, rows: &[&[u8]]) -> Result<Vec<ArrayRef>> {
        let parser = self.converter.parser();
        Ok(self
            .converter
            .convert_rows(rows.iter().map(|r| parser.parse(r)))?)
    }
}

/// Bounds of a [`LookupCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Bytes of lookup files on disk; `None` is unbounded.
    pub max_disk_bytes: Option<u64>,
    /// Bytes of open files' in-memory indexes.
    pub max_memory_bytes: u64,
    /// Files unused for longer are removed.
    pub retention: Duration,
}

impl CacheLimits {
    pub fn from_options(options: &CoreOptions) -> Self {
        CacheLimits {
            max_disk_bytes: options.lookup_cache_max_disk_size(),
            max_memory_bytes: options.lookup_cache_max_memory_size(),
            retention: options.lookup_cache_file_retention(),
        }
    }
}

struct Slot {
    disk_bytes: u64,
    last_used: Instant,
    tick: u64,
    open: Option<Arc<LookupFile>>,
}

#[derive(Default)]
struct State {
    tick: u64,
    slots: HashMap<String, Slot>,
}

impl State {
    fn disk_bytes(&self) -> u64 {
        self.slots.values().map(|s| s.disk_bytes).sum()
    }

    fn memory_bytes(&self) -> u64 {
        self.slots
            .values()
            .filter_map(|s| s.open.as_ref())
            .map(|f| f.memory_bytes())
            .sum()
    }
}

/// A directory of lookup files with LRU eviction by bytes; see the module docs. One
/// process should own a directory: another process's evictions would go unnoticed here
/// (harmlessly, as entries are rebuilt when missing).
pub struct LookupCache {
    dir: PathBuf,
    limits: CacheLimits,
    state: Mutex<State>,
    /// One build at a time per entry, so concurrent requests build a file once.
    building: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The directory is this cache's own and goes with it ([`LookupCache::temporary`]).
    temporary: bool,
}

impl Drop for LookupCache {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl LookupCache {
    /// Opens (creating) the cache directory. Files left by an earlier process are kept
    /// when still within the retention; unfinished builds and expired files are removed.
    pub fn open(dir: impl Into<PathBuf>, limits: CacheLimits) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::from(e).context(format!("lookup cache directory {}", dir.display()))
        })?;
        let mut state = State::default();
        let now = SystemTime::now();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            let meta = entry.metadata()?;
            let expired = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > limits.retention);
            if name.contains(".tmp-") || (name.ends_with(EXTENSION) && expired) {
                let _ = std::fs::remove_file(entry.path());
            } else if name.ends_with(EXTENSION) && meta.is_file() {
                state.slots.insert(
                    name,
                    Slot {
                        disk_bytes: meta.len(),
                        last_used: Instant::now(),
                        tick: 0,
                        open: None,
                    },
                );
            }
        }
        let cache = LookupCache {
            dir,
            limits,
            state: Mutex::new(state),
            building: Default::default(),
            temporary: false,
        };
        cache.enforce(None);
        Ok(cache)
    }

    /// A cache in a new directory under the system's temporary directory, removed when
    /// the cache is dropped: for a process that has no cache directory of its own.
    pub fn temporary(limits: CacheLimits) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "strata-lookup-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut cache = LookupCache::open(dir, limits)?;
        cache.temporary = true;
        Ok(cache)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn limits(&self) -> CacheLimits {
        self.limits
    }

    /// Bytes of lookup files on disk, as this cache accounts them.
    pub fn disk_bytes(&self) -> u64 {
        self.lock().disk_bytes()
    }

    /// Bytes of the in-memory indexes of open files.
    pub fn memory_bytes(&self) -> u64 {
        self.lock().memory_bytes()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data; keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lookup file of one data file of a bucket, built on first use.
    pub async fn get(
        &self,
        table: &Table,
        partition: &PartitionPath,
        bucket: i32,
        file: &DataFileMeta,
        spec: &LookupSpec,
    ) -> Result<Arc<LookupFile>> {
        let data_path = table.paths().data_file(partition, bucket, &file.file_name);
        let identity = format!(
            "{}|size={}|{}",
            table.storage().display(&data_path),
            file.file_size,
            spec.fingerprint()
        );
        let name = format!(
            "{}-{:016x}.{EXTENSION}",
            sanitize(&file.file_name),
            fnv1a(identity.as_bytes())
        );
        if let Some(found) = self.cached(&name, &identity) {
            return Ok(found);
        }
        let gate = {
            let mut building = self.building.lock().await;
            building.entry(name.clone()).or_default().clone()
        };
        let _guard = gate.lock().await;
        if let Some(found) = self.cached(&name, &identity) {
            return Ok(found);
        }
        let tmp = self
            .dir
            .join(format!("{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
        let built = build(table, partition, bucket, file, spec, &tmp, &identity).await;
        let path = self.dir.join(&name);
        let opened = built
            .and_then(|_| std::fs::rename(&tmp, &path).map_err(Error::from))
            .and_then(|_| LookupFile::open(&path, &identity));
        self.building.lock().await.remove(&name);
        match opened {
            Ok(f) => {
                let f = Arc::new(f);
                self.insert(&name, f.clone());
                Ok(f)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e.context(format!("building the lookup file of {}", file.file_name)))
            }
        }
    }

    /// An open entry, or one on disk that opens and matches `identity`.
    fn cached(&self, name: &str, identity: &str) -> Option<Arc<LookupFile>> {
        {
            let mut state = self.lock();
            state.tick += 1;
            let tick = state.tick;
            let slot = state.slots.get_mut(name)?;
            slot.tick = tick;
            slot.last_used = Instant::now();
            if let Some(open) = &slot.open {
                return Some(open.clone());
            }
        }
        let path = self.dir.join(name);
        match LookupFile::open(&path, identity) {
            Ok(f) => {
                let f = Arc::new(f);
                self.insert(name, f.clone());
                Some(f)
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "rebuilding a lookup file");
                let _ = std::fs::remove_file(&path);
                self.lock().slots.remove(name);
                None
            }
        }
    }

    fn insert(&self, name: &str, file: Arc<LookupFile>) {
        {
            let mut state = self.lock();
            state.tick += 1;
            let tick = state.tick;
            state.slots.insert(
                name.to_string(),
                Slot {
                    disk_bytes: file.disk_bytes(),
                    last_used: Instant::now(),
                    tick,
                    open: Some(file),
                },
            );
        }
        self.enforce(Some(name));
    }

    /// Applies retention, then evicts least recently used entries (never `keep`) until
    /// disk and memory are within bounds.
    fn enforce(&self, keep: Option<&str>) {
        let mut to_delete = Vec::new();
        {
            let mut state = self.lock();
            let retention = self.limits.retention;
            let expired: Vec<String> = state
                .slots
                .iter()
                .filter(|(n, s)| Some(n.as_str()) != keep && s.last_used.elapsed() > retention)
                .map(|(n, _)| n.clone())
                .collect();
            for n in expired {
                state.slots.remove(&n);
                to_delete.push(n);
            }
            let mut by_age: Vec<(u64, String)> = state
                .slots
                .iter()
                .filter(|(n, _)| Some(n.as_str()) != keep)
                .map(|(n, s)| (s.tick, n.clone()))
                .collect();
            by_age.sort();
            let mut oldest = by_age.into_iter();
            if let Some(max) = self.limits.max_disk_bytes {
                while state.disk_bytes() > max {
                    let Some((_, n)) = oldest.next() else { break };
                    state.slots.remove(&n);
                    to_delete.push(n);
                }
            }
            // Memory: close the least recently used open files (they stay on disk).
            let mut open: Vec<(u64, String)> = state
                .slots
                .iter()
                .filter(|(n, s)| s.open.is_some() && Some(n.as_str()) != keep)
                .map(|(n, s)| (s.tick, n.clone()))
                .collect();
            open.sort();
            let mut open = open.into_iter();
            while state.memory_bytes() > self.limits.max_memory_bytes {
                let Some((_, n)) = open.next() else { break };
                if let Some(s) = state.slots.get_mut(&n) {
                    s.open = None;
                }
            }
        }
        for n in to_delete {
            let _ = std::fs::remove_file(self.dir.join(&n));
        }
    }
}

/// Keeps file names readable and safe as one path component.
fn sanitize(name: &str) -> String {
    name.chars()
        .take(120)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a, 64 bits: a stable hash for entry names (the identity itself is checked too).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One row read from the data file, kept when its keys must be sorted in memory.
struct Record {
    key: Vec<u8>,
    position: u64,
    sequence: i64,
    kind: i8,
    value: Option<Vec<u8>>,
}

/// Reads the data file and writes its lookup file at `tmp`: streaming while keys ascend
/// bytewise (data files are sorted by key), else sorting every record in memory.
async fn build(
    table: &Table,
    partition: &PartitionPath,
    bucket: i32,
    file: &DataFileMeta,
    spec: &LookupSpec,
    tmp: &Path,
    identity: &str,
) -> Result<()> {
    let has_values = !spec.value_fields.is_empty();
    let mut builder = FileBuilder::create(tmp, identity, has_values)?;
    let mut ordered = true;
    for_each_record(table, partition, bucket, file, spec, |r| {
        ordered = builder
            .add(&r.key, r.position, r.sequence, r.kind, r.value.as_deref())?
            .is_ok();
        Ok(ordered)
    })
    .await?;
    if ordered {
        builder.finish()?;
        return Ok(());
    }
    drop(builder);
    let mut records = Vec::new();
    for_each_record(table, partition, bucket, file, spec, |r| {
        records.push(r);
        Ok(true)
    })
    .await?;
    records.sort_by(|a, b| a.key.cmp(&b.key).then(a.position.cmp(&b.position)));
    let mut builder = FileBuilder::create(tmp, identity, has_values)?;
    for r in &records {
        builder
            .add(&r.key, r.position, r.sequence, r.kind, r.value.as_deref())?
            .map_err(|_| Error::internal("sorted lookup records are out of order"))?;
    }
    builder.finish()?;
    Ok(())
}

/// Calls `f` with every row of a data file in file order until it returns `false`.
async fn for_each_record(
    table: &Table,
    partition: &PartitionPath,
    bucket: i32,
    file: &DataFileMeta,
    spec: &LookupSpec,
    mut f: impl FnMut(Record) -> Result<bool>,
) -> Result<()> {
    let mut fields = spec.key_fields.clone();
    for v in &spec.value_fields {
        if !fields.iter().any(|x| x.id == v.id) {
            fields.push(v.clone());
        }
    }
    let layout = KvLayout::new(fields);
    let columns = |fs: &[DataField]| -> Result<Vec<usize>> {
        fs.iter()
            .map(|f| {
                layout.column_of(f.id).ok_or_else(|| {
                    Error::internal(format!("column '{}' missing from layout", f.name))
                })
            })
            .collect()
    };
    let key_columns = columns(&spec.key_fields)?;
    let value_columns = columns(&spec.value_fields)?;
    let keys = spec.key_encoder()?;
    let values = spec.value_codec()?;
    let file_schema = table.schema_manager().schema(file.schema_id).await?;
    let path = table.paths().data_file(partition, bucket, &file.file_name);
    let mut stream = read_kv_file(
        table.storage(),
        &path,
        file.file_size,
        &file_schema,
        &layout,
        READ_BATCH,
        None,
    )
    .await?;
    let mut position = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let (seq, kind) = system_columns(&batch)?;
        let pick = |cs: &[usize]| -> Vec<ArrayRef> {
            cs.iter().map(|c| batch.column(*c).clone()).collect()
        };
        let key_rows = keys.encode(&pick(&key_columns))?;
        let value_rows = match &values {
            Some(codec) => Some(codec.encode(&pick(&value_columns))?),
            None => None,
        };
        for i in 0..batch.num_rows() {
            let record = Record {
                key: key_rows.row(i).as_ref().to_vec(),
                position,
                sequence: seq.value(i),
                kind: kind.value(i),
                value: value_rows.as_ref().map(|v| v.row(i).as_ref().to_vec()),
            };
            if !f(record)? {
                return Ok(());
            }
            position += 1;
        }
    }
    Ok(())
}

fn system_columns(batch: &RecordBatch) -> Result<(&Int64Array, &Int8Array)> {
    let seq = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| Error::data_invalid("_SEQUENCE_NUMBER is not BIGINT"))?;
    let kind = batch
        .column(1)
        .as_any()
        .downcast_ref::<Int8Array>()
        .ok_or_else(|| Error::data_invalid("_VALUE_KIND is not TINYINT"))?;
    Ok((seq, kind))
}
