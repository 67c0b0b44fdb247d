//! Strata's ingest writer. Policy only: routing, buffering and file rolling live here;
//! paths, codecs and commit come from `strata_format`.

pub mod input;
