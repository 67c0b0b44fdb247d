//! Shared helpers for the integration tests: a recording object store, and access to the
//! Python clients (pypaimon) that the test command installs.

pub mod python;
pub mod recording;
pub mod s3;
