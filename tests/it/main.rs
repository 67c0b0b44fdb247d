//! Integration tests, one binary so they link once.

mod architecture;
mod changelog;
mod commit;
mod compact;
mod deletion_vectors;
mod io_cost;
mod maintenance;
mod pypaimon_buckets;
mod pypaimon_read;
mod rest_catalog;
mod s3;
mod sql;
mod writer;
