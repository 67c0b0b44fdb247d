//! Integration tests, one binary so they link once.

mod architecture;
mod commit;
mod compact;
mod io_cost;
mod pypaimon_buckets;
mod pypaimon_read;
mod s3;
mod writer;
