//! `strata serve [--bind 127.0.0.1:8181]`: the Iceberg REST catalog over the warehouse.
//!
//! The server runs next to background tasks (the embedded compactor, when it exists); each
//! task is one future in [`background_tasks`], and the command stops when the server or
//! any task ends, or on Ctrl-C / SIGTERM.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;

use clap::Args;
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

type Task = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// Work that runs beside the server for as long as it serves.
fn background_tasks(_warehouse: &str, args: &ServeArgs) -> Vec<(&'static str, Task)> {
    let tasks: Vec<(&'static str, Task)> = Vec::new();
    if !args.no_compactor {
        eprintln!(
            "note: this build has no embedded compactor yet; serving without it (--no-compactor silences this)"
        );
    }
    tasks
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

pub async fn run(warehouse: &str, args: ServeArgs) -> Result<()> {
    let service = CatalogService::open(warehouse).map_err(|e| Error::data_invalid(e.message))?;
    let app =
        router(Arc::new(service), config(&args)?).map_err(|e| Error::data_invalid(e.message))?;
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .map_err(|e| Error::data_invalid(format!("cannot listen on {}: {e}", args.bind)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("listener address: {e}")))?;
    println!("strata serve: Iceberg REST catalog for {warehouse} on http://{addr}");
    let _ = std::io::stdout().flush();
    let mut tasks = tokio::task::JoinSet::new();
    for (name, task) in background_tasks(warehouse, &args) {
        tasks.spawn(async move { (name, task.await) });
    }
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal());
    tokio::select! {
        r = server => r.map_err(|e| Error::internal(format!("server stopped: {e}"))),
        Some(done) = tasks.join_next() => match done {
            Ok((name, Ok(()))) => Err(Error::internal(format!("background task {name} ended"))),
            Ok((name, Err(e))) => Err(e.context(format!("background task {name}"))),
            Err(e) => Err(Error::internal(format!("background task failed: {e}"))),
        },
    }
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
