//! Integration tests, one binary so they link once.

mod architecture;
mod io_cost;
mod pypaimon_buckets;
