//! Writing data files: the Parquet layout, rolling and per-file statistics shared by the
//! writer's flushes and the compactor's outputs.

pub mod data_file;
mod encoder;
mod plain;
pub mod stats;

pub use data_file::{DataFileWriter, FileTarget, RollingWriter, WrittenFile};
