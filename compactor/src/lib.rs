//! Strata's compactor: *when* and *where* to compact; the mechanism (planning, the merge,
//! the COMPACT commit) is `strata_format::compact`, shared with writers that compact their
//! own buckets. It never depends on the writer crate; both meet only in `strata_format`.
//!
//! - [`compact_table`]: one table now (`strata compact DB.T [--full]`).
//! - [`start`]: the daemon over a whole warehouse (`strata compactor`, and inside
//!   `strata serve`): discovers tables, schedules buckets by need with bounded
//!   parallelism, backs off on conflicts, keeps no state of its own on storage, logs with
//!   `tracing`, and serves Prometheus metrics ([`metrics`]). Beside compaction it runs
//!   each table's scheduled maintenance (expiry, automatic tags) and, rarely, orphan
//!   cleanup ([`maintain`]).
//!
//! ```no_run
//! # async fn demo() -> strata_format::Result<()> {
//! use strata_compactor::{start, DaemonConfig};
//! use strata_format::catalog::Catalog;
//!
//! let catalog = Catalog::open("./warehouse")?;
//! let daemon = start(catalog, DaemonConfig::default()).await?;
//! // ... serve other things ...
//! daemon.stop().await;
//! # Ok(())
//! # }
//! ```

mod daemon;
pub mod maintain;
pub mod metrics;
mod table;

pub use daemon::{start, DaemonConfig, DaemonHandle};
pub use metrics::Metrics;
pub use table::{compact_table, compact_until_done, TableRequest, TableSummary};
