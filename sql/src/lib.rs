//! `strata-sql`: SQL over Strata tables with Apache DataFusion.
//!
//! A [`StrataSession`] exposes a warehouse as a DataFusion catalog (databases are schemas)
//! whose tables read through `strata_format::read` (merge-on-read), with:
//!
//! - projection pushdown, and filter pushdown that prunes partitions, files by key range,
//!   and (where sound under merge-on-read) files by value statistics ([`pushdown`]);
//! - time travel and incremental reads by table-name suffix (`db."t$snapshot=3"`,
//!   `db."t$tag=v1"`, `db."t$incremental=3,5"`), the audit log (`t$audit_log`) and Paimon's
//!   system tables (`t$snapshots`, `t$files`, …) ([`catalog`], [`system`]);
//! - `INSERT INTO db.t …` through `strata_writer::TableWriter` ([`insert`]);
//! - `ALTER TABLE db.t ADD COLUMN | DROP COLUMN | RENAME COLUMN | ALTER COLUMN … SET DATA
//!   TYPE` through `strata_format::schema::change`.
//!
//! This crate sits beside the writer: it needs both reads (format) and writes (writer),
//! and keeping DataFusion out of `strata-format` keeps that crate light for embedders
//! (see `spec/rfcs/0002-sql-crate.md`).
//!
//! ```no_run
//! # async fn f() -> strata_format::Result<()> {
//! use strata_format::catalog::Catalog;
//! use strata_sql::StrataSession;
//!
//! let session = StrataSession::new(Catalog::open("./warehouse")?).await?;
//! let result = session
//!     .sql("SELECT region, SUM(amount) FROM sales.orders WHERE day >= '2024-01-01' GROUP BY region")
//!     .await?;
//! println!("{} rows", result.num_rows());
//! # Ok(()) }
//! ```

pub mod catalog;
pub mod error;
pub mod insert;
pub mod provider;
pub mod pushdown;
pub mod scalar;
pub mod session;
pub mod system;

pub use provider::{StrataScanExec, StrataTable};
pub use session::{QueryResult, StrataSession};
