//! `strata-format`: the on-disk format of Strata tables, compatible with Apache Paimon
//! (format version 3) primary-key tables.
//!
//! This crate owns everything that touches persisted bytes: paths ([`paths`]), storage
//! ([`storage`]), codecs ([`types`], [`data`], [`schema`], [`snapshot`], [`manifest`]),
//! reads ([`scan`], [`read`]), reads of changes ([`changes`]), deletion vectors ([`deletion`]), local key lookups
//! ([`lookup`]) and the maintenance that deletes what is no longer needed
//! ([`maintenance`]). Writers and the compactor are policy on top of it and never depend
//! on each other.

pub mod catalog;
pub mod changes;
pub mod commit;
pub mod compact;
pub mod data;
pub mod deletion;
pub mod error;
pub mod failpoint;
pub mod lookup;
pub mod maintenance;
pub mod manifest;
pub mod merge;
pub mod options;
pub mod paths;
pub mod read;
pub mod scan;
pub mod schema;
pub mod snapshot;
pub mod storage;
pub mod table;
#[cfg(test)]
pub(crate) mod test_table;
pub mod types;
pub mod write;

pub use error::{Error, ErrorKind, Result};
