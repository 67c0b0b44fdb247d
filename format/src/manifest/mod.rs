//! Avro manifest files: the manifest list, data/changelog manifests and the index manifest.
//!
//! A snapshot points at manifest lists (`manifest-list-*`, records [`ManifestFileMeta`]); each
//! lists manifest files (`manifest-*`, records [`ManifestEntry`] holding a [`DataFileMeta`]).
//! The index manifest (`index-manifest-*`, records [`IndexManifestEntry`]) holds the table's
//! complete index state. Partitions, keys and stats stay serialized BinaryRow bytes here.
//!
//! Files are written with Paimon's writer schemas ([`schema`]) and read by field name, so files
//! from Java Paimon, pypaimon and older versions (missing optional fields) all read.

mod avro;
mod compression;
mod data_file;
mod entry;
mod file_meta;
mod index;
mod merge;
pub mod schema;
mod stats;

#[cfg(test)]
mod compat_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod pypaimon_tests;
#[cfg(test)]
mod test_util;

pub use compression::ManifestCompression;
pub use data_file::{DataFileMeta, FileSource};
pub use entry::{read_manifest_entries, write_manifest_entries, FileKind, ManifestEntry};
pub use file_meta::{read_manifest_list, write_manifest_list, ManifestFileMeta};
pub use index::{
    read_index_manifest, write_index_manifest, DeletionVectorMeta, GlobalIndexMeta, IndexFileMeta,
    IndexManifestEntry, DELETION_VECTORS_INDEX, HASH_INDEX,
};
pub use merge::{live_entries, merge_entries, FileIdentifier, UnmatchedDeletes};
pub use stats::{SimpleStats, EMPTY_ROW_BYTES};
