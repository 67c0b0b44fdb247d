//! `strata compact DB.T [--full]` (one table, now) and `strata compactor` (the daemon over
//! the whole warehouse). Policy lives in `strata_compactor`; this is flags and output.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use strata_compactor::{compact_table, DaemonConfig, TableRequest};
use strata_format::catalog::{Catalog, Identifier};
use strata_format::options::parse_duration;
use strata_format::{Error, Result};

#[derive(Args)]
pub struct CompactArgs {
    /// DATABASE.TABLE
    table: String,
    /// Compact every bucket into the last level (a full compaction).
    #[arg(long)]
    full: bool,
    /// Buckets compacted at the same time.
    #[arg(long, default_value_t = 2, value_name = "N")]
    parallelism: usize,
}

#[derive(Args)]
pub struct CompactorArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    metrics_bind: Option<SocketAddr>,
    /// Wait this long after a cycle with nothing to do, e.g. 5s.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    poll_interval: String,
    /// Buckets compacted at the same time.
    #[arg(long, default_value_t = 2, value_name = "N")]
    parallelism: usize,
}

pub async fn compact(catalog: &Catalog, args: CompactArgs) -> Result<()> {
    let id = Identifier::parse(&args.table)?;
    let table = catalog.load_table(&id).await?;
    if table.schema().primary_keys.is_empty() {
        return Err(Error::unsupported(format!(
            "table '{id}' has no primary key; only primary-key tables are compacted"
        )));
    }
    if table.options().bucket() < 1 {
        return Err(Error::unsupported(format!(
            "table '{id}' has 'bucket' = {}; Strata compacts only fixed buckets ('bucket' >= 1)",
            table.options().bucket()
        )));
    }
    if args.parallelism == 0 {
        return Err(Error::data_invalid("--parallelism must be at least 1"));
    }
    let request = TableRequest {
        full: args.full,
        parallelism: args.parallelism,
        commit_user: None,
    };
    let summary = compact_table(table, &request).await?;
    println!("{}", summary.to_line());
    Ok(())
}

pub async fn compactor(catalog: Catalog, args: CompactorArgs) -> Result<()> {
    let poll_interval = parse_duration(&args.poll_interval).map_err(|why| {
        Error::data_invalid(format!("--poll-interval '{}': {why}", args.poll_interval))
    })?;
    if args.parallelism == 0 {
        return Err(Error::data_invalid("--parallelism must be at least 1"));
    }
    let config = DaemonConfig {
        poll_interval: poll_interval.max(Duration::from_millis(10)),
        parallelism: args.parallelism,
        metrics_bind: args.metrics_bind,
        ..DaemonConfig::default()
    };
    let daemon = strata_compactor::start(catalog, config).await?;
    if let Some(addr) = daemon.metrics_addr() {
        eprintln!("compactor running; metrics at http://{addr}/metrics");
    } else {
        eprintln!("compactor running");
    }
    wait_for_signal().await;
    eprintln!("compactor stopping");
    daemon.stop().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
