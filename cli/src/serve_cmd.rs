//! `strata serve [--bind 127.0.0.1:8181]`: the Iceberg REST catalog over the warehouse.
//!
//! The compactor daemon (`strata compactor`: compaction, scheduled maintenance) runs inside
//! the server unless `--no-compactor`, so one process keeps a warehouse served and healthy.
//! Other background work is one future each in [`background_tasks`]; the command stops
//! when the server or any task ends, or on Ctrl-C / SIGTERM, and then stops the compactor
//! (a compaction in flight is abandoned; its files are orphans, never live data).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use clap::Args;
use strata_compactor::DaemonHandle;
use strata_format::catalog::Catalog;
use strata_format::{Error, Result};
use strata_rest_catalog::{router, AuthConfig, CatalogService, ServerConfig};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8181")]
    bind: String,
    /// Do not run the compactor inside the server.
    #[arg(long)]
    no_compactor: bool,
    /// The embedded compactor's wait after a cycle with nothing to do, e.g. 5s.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    compactor_poll_interval: String,
    /// Buckets the embedded compactor compacts at the same time.
    #[arg(long, default_value_t = 2, value_name = "N")]
    compactor_parallelism: usize,
    /// Serve the embedded compactor's Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    compactor_metrics_bind: Option<std::net::SocketAddr>,
    #[command(flatten)]
    maintenance: crate::compact_cmd::MaintenanceArgs,
    /// Serve the routes under /v1/PREFIX (announced to clients in /v1/config).
    #[arg(long)]
    prefix: Option<String>,
    /// Accept this static bearer token (repeatable; turns authentication on).
    #[arg(long = "token", env = "STRATA_CATALOG_TOKENS", value_delimiter = ',')]
    tokens: Vec<String>,
    /// OAuth2 client credentials ID:SECRET accepted at /v1/oauth/tokens (repeatable; turns
    /// authentication on).
    #[arg(long = "client", value_name = "ID:SECRET")]
    clients: Vec<String>,
    /// Seconds one request may take.
    #[arg(long, default_value_t = 60)]
    request_timeout_secs: u64,
    /// Largest accepted request body in bytes.
    #[arg(long, default_value_t = 8 << 20)]
    max_body_bytes: usize,
}

/// Starts the embedded compactor unless `--no-compactor`.
async fn start_compactor(catalog: &Catalog, args: &ServeArgs) -> Result<Option<DaemonHandle>> {
    if args.no_compactor {
        return Ok(None);
    }
    let config = crate::compact_cmd::daemon_config(
        &args.compactor_poll_interval,
        args.compactor_parallelism,
        args.compactor_metrics_bind,
        &args.maintenance,
        "compactor-",
    )?;
    let daemon = strata_compactor::start(catalog.clone(), config).await?;
    match daemon.metrics_addr() {
        Some(addr) => eprintln!("compactor running; metrics at http://{addr}/metrics"),
        None => eprintln!("compactor running"),
    }
    Ok(Some(daemon))
}

fn config(args: &ServeArgs) -> Result<ServerConfig> {
    let mut clients = HashMap::new();
    for c in &args.clients {
        let (id, secret) = c
            .split_once(':')
            .filter(|(i, s)| !i.is_empty() && !s.is_empty())
            .ok_or_else(|| Error::data_invalid(format!("--client must be ID:SECRET, not '{c}'")))?;
        clients.insert(id.to_string(), secret.to_string());
    }
    Ok(ServerConfig {
        prefix: args.prefix.clone(),
        auth: AuthConfig {
            tokens: args
                .tokens
                .iter()
                .filter(|t| !t.is_empty())
                .cloned()
                .collect(),
            clients,
            token_ttl_secs: None,
        },
        request_timeout_secs: args.request_timeout_secs,
        max_body_bytes: args.max_body_bytes,
    })
}

/// Serves `catalog` (opened with the config file's store options) whose URI is `warehouse`.
pub async fn run(warehouse: &str, catalog: &Catalog, args: ServeArgs) -> Result<()> {
    let service = CatalogService::new(catalog.storage().clone(), warehouse)
        .map_err(|e| Error::data_invalid(e.message))?;
    let app =
        router(Arc::new(service), config(&args)?).map_err(|e| Error::data_invalid(e.message))?;
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .map_err(|e| Error::data_invalid(format!("cannot listen on {}: {e}", args.bind)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("listener address: {e}")))?;
    let compactor = start_compactor(catalog, &args).await?;
    println!("strata serve: Iceberg REST catalog for {warehouse} on http://{addr}");
    let _ = std::io::stdout().flush();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Error::internal(format!("server stopped: {e}")));
    if let Some(daemon) = compactor {
        daemon.stop().await;
    }
    result
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
