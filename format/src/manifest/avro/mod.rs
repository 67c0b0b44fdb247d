//! Avro plumbing shared by the three manifest file kinds.
//!
//! Reading does not use apache-avro: 0.21 can panic on hostile input (its snappy codec slices
//! `len - 4` of blocks shorter than 4 bytes), trusts length prefixes up to 512 MiB, reserves
//! array capacity from untrusted counts, decompresses without an output bound and reads a
//! truncated union/string as null. The reader here checks every length against the input,
//! bounds decompression and never panics. Writing goes through apache-avro, whose input is ours.

mod container;
mod decode;
mod fields;
mod writer_schema;

use std::fmt;

use apache_avro::types::Value;

pub(crate) use container::{read_container, write_container};
pub(crate) use fields::Fields;

/// Which manifest file is being read or written; names the file in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileRole {
    Manifest,
    ManifestList,
    IndexManifest,
}

impl fmt::Display for FileRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileRole::Manifest => "manifest file",
            FileRole::ManifestList => "manifest list",
            FileRole::IndexManifest => "index manifest",
        })
    }
}

/// A `["null", T]` union value.
pub(crate) fn nullable<T>(value: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
    match value {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(v) => Value::Union(1, Box::new(f(v))),
    }
}

pub(crate) fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
}

pub(crate) fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect(),
    )
}
