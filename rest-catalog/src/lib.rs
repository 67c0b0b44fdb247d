//! Strata's Iceberg REST catalog: presents the warehouse's tables to Iceberg clients.
