//! Strata's compactor: plans and runs LSM compaction over `strata_format` tables.
//! It never depends on the writer crate; both meet only in `strata_format`.
