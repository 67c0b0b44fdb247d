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
    #[command(flatten)]
    maintenance: MaintenanceArgs,
}

/// The daemon's scheduled maintenance (shared by `strata compactor` and `strata serve`).
#[derive(Args)]
pub struct MaintenanceArgs {
    /// How often each table's scheduled maintenance runs (automatic tags, tag, snapshot
    /// and changelog expiry per the table's options), e.g. 10m; `off` turns it off.
    #[arg(long, default_value = "10m", value_name = "DURATION|off")]
    maintenance_interval: String,
    /// How often each table's orphan cleanup runs, e.g. 1d; `off` turns it off.
    #[arg(long, default_value = "1d", value_name = "DURATION|off")]
    orphan_interval: String,
    /// Orphan cleanup removes only unreferenced files older than this.
    #[arg(long, default_value = "1d", value_name = "DURATION")]
    orphan_older_than: String,
}

fn duration_flag(flag: &str, text: &str) -> Result<Duration> {
    parse_duration(text).map_err(|why| Error::data_invalid(format!("--{flag} '{text}': {why}")))
}

fn optional_interval(flag: &str, text: &str) -> Result<Option<Duration>> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let d = duration_flag(flag, text)?;
    if d.is_zero() {
        return Err(Error::data_invalid(format!(
            "--{flag} must be longer than zero (or 'off')"
        )));
    }
    Ok(Some(d))
}

/// The daemon configuration from the shared flags (`flag_prefix` names them in errors:
/// `compactor-` in `strata serve`).
pub fn daemon_config(
    poll_interval: &str,
    parallelism: usize,
    metrics_bind: Option<SocketAddr>,
    maintenance: &MaintenanceArgs,
    flag_prefix: &str,
) -> Result<DaemonConfig> {
    let poll_interval = duration_flag(&format!("{flag_prefix}poll-interval"), poll_interval)?;
    if parallelism == 0 {
        return Err(Error::data_invalid(format!(
            "--{flag_prefix}parallelism must be at least 1"
        )));
    }
    Ok(DaemonConfig {
        poll_interval: poll_interval.max(Duration::from_millis(10)),
        parallelism,
        metrics_bind,
        maintenance_interval: optional_interval(
            "maintenance-interval",
            &maintenance.maintenance_interval,
        )?,
        orphan_interval: optional_interval("orphan-interval", &maintenance.orphan_interval)?,
        orphan_older_than: duration_flag("orphan-older-than", &maintenance.orphan_older_than)?,
        ..DaemonConfig::default()
    })
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
    let config = daemon_config(
        &args.poll_interval,
        args.parallelism,
        args.metrics_bind,
        &args.maintenance,
        "",
    )?;
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
