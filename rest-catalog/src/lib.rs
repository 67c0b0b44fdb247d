//! Strata's Iceberg REST catalog: presents the warehouse's tables to Iceberg clients
//! (Spark, Trino, DuckDB, pyiceberg) over the REST protocol of
//! `shared/spec/iceberg-rest-catalog-open-api.yaml`. `spec/iceberg-rest.md` describes the
//! behaviour in prose.
//!
//! ```text
//! http (router, layers, thin handlers) ──► service (logic) ──► store (registry in the warehouse)
//!                                              └──► export (Strata snapshot → Iceberg metadata)
//! ```
//!
//! - Namespaces are Strata databases, so Strata tables, plain Iceberg tables and views share
//!   namespaces.
//! - Strata tables are served read-only as generated Iceberg v2 tables ([`export`]).
//! - Plain Iceberg tables and views are registered in the warehouse ([`store`]); commits are
//!   serialized by create-if-not-exists of the next registry pointer, so several servers over
//!   one warehouse agree and a lost race is a 409.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use strata_rest_catalog::{router, CatalogService, ServerConfig};
//!
//! let service = Arc::new(CatalogService::open("/tmp/warehouse")?);
//! let app = router(service, ServerConfig::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8181").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

pub mod error;
pub mod export;
pub mod http;
pub mod paths;
pub mod service;
pub mod store;
pub mod types;

pub use error::{CatalogError, Kind};
pub use http::auth::AuthConfig;
pub use http::{router, ServerConfig};
pub use service::CatalogService;
