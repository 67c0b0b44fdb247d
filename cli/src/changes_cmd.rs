//! `strata changes`: a table's changes as JSON lines, each row with `"_row_kind"`.
//!
//! Without `--from` the output starts with the rows of the earliest retained snapshot as
//! `+I` (only what the changelog has covered, see `format::changes`), then every change
//! after it; replaying the output onto an empty table gives the table at `--to`. With
//! `--from N` it starts with the changes of snapshot N+1. `--follow` keeps reading new
//! snapshots. `--consumer-id` keeps the position in `consumer/consumer-<id>`: it is written
//! after each snapshot's rows are flushed to stdout, and a later run with the same id
//! resumes there (its position wins over `--from`). Ctrl-C or SIGTERM stops after the
//! snapshot being printed, so a stopped and restarted follower prints every change once.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use futures::TryStreamExt;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::changes::{ChangeFollower, ChangeReader, StartMode};
use strata_format::options::parse_duration;
use strata_format::types::DataField;
use strata_format::{Error, Result};

use crate::render::json_value;

#[derive(Args)]
pub struct ChangesArgs {
    /// DATABASE.TABLE
    table: String,
    /// Print the changes of the snapshots after N. Without it: the rows of the earliest
    /// retained snapshot as +I, then every change after it.
    #[arg(long, value_name = "N")]
    from: Option<i64>,
    /// Stop after snapshot M (default: the latest when the command starts; with --follow,
    /// never).
    #[arg(long, value_name = "M")]
    to: Option<i64>,
    /// Keep reading snapshots as they are committed.
    #[arg(long)]
    follow: bool,
    /// Keep the position in consumer/consumer-ID and resume from it; while the consumer
    /// exists, expiry keeps the snapshots it still needs.
    #[arg(long, value_name = "ID")]
    consumer_id: Option<String>,
    /// How often --follow looks for new snapshots, e.g. 500ms.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    poll_interval: String,
}

pub async fn run(catalog: &Catalog, args: ChangesArgs) -> Result<()> {
    let poll = parse_duration(&args.poll_interval).map_err(|why| {
        Error::data_invalid(format!("--poll-interval '{}': {why}", args.poll_interval))
    })?;
    let table = catalog.load_table(&Identifier::parse(&args.table)?).await?;
    let reader = ChangeReader::new(table.clone());
    let latest = table.snapshot_manager().latest_id().await?;
    let earliest = reader.earliest_id().await?;
    let end = match (args.to, args.follow) {
        (Some(to), _) => Some(to),
        (None, true) => None,
        // Nothing committed yet and nothing to wait for.
        (None, false) => Some(latest.unwrap_or(0)),
    };
    if let (Some(to), Some(latest), false) = (args.to, latest, args.follow) {
        if to > latest {
            return Err(Error::data_invalid(format!(
                "--to {to} is after the latest snapshot {latest} of '{}'; add --follow to wait \
                 for it",
                args.table
            )));
        }
    }
    if let (Some(from), Some(to)) = (args.from, args.to) {
        if to < from {
            return Err(Error::data_invalid(format!(
                "--to {to} is before --from {from}"
            )));
        }
    }
    let start = match args.from {
        Some(from) => {
            if let Some(earliest) = earliest {
                if from < earliest - 1 {
                    return Err(Error::data_invalid(format!(
                        "the changes after snapshot {from} of '{}' are no longer retained: the \
                         earliest snapshot is {earliest}, so --from must be at least {}",
                        args.table,
                        earliest - 1
                    )));
                }
            }
            StartMode::FromSnapshot(from + 1)
        }
        None => {
            let first = table.snapshot_manager().earliest_id().await?;
            if let (Some(first), Some(to)) = (first, args.to) {
                if to < first {
                    return Err(Error::data_invalid(format!(
                        "--to {to} is before the earliest retained snapshot {first} of '{}'; \
                         use --from to read changes only",
                        args.table
                    )));
                }
            }
            StartMode::EarliestFull
        }
    };
    let mut follower = ChangeFollower::new(reader, start).with_end(end);
    if let Some(id) = &args.consumer_id {
        follower = follower.with_consumer(id, false).await?;
    }
    let stop = stop_flag()?;
    let fields = table.schema().fields.clone();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut checkpointed = follower.next_snapshot_id();
    loop {
        if stop.load(Ordering::SeqCst) || follower.is_done() {
            break;
        }
        match follower.next().await? {
            Some(changes) => {
                let mut batches = changes.batches;
                let mut line = String::new();
                while let Some(batch) = batches.try_next().await? {
                    for row in 0..batch.rows.num_rows() {
                        render_row(&mut line, &fields, &batch.rows, &batch.kinds, row)?;
                        writeln!(out, "{line}")?;
                    }
                }
                out.flush()?;
                follower.checkpoint().await?;
                checkpointed = follower.next_snapshot_id();
            }
            None => {
                if follower.next_snapshot_id() != checkpointed {
                    // Snapshots without changes were passed: record that too.
                    follower.checkpoint().await?;
                    checkpointed = follower.next_snapshot_id();
                }
                if !args.follow || follower.is_done() {
                    break;
                }
                sleep_unless_stopped(poll, &stop).await;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// One output line: `_row_kind` first, then the table's columns.
fn render_row(
    line: &mut String,
    fields: &[DataField],
    rows: &arrow_array::RecordBatch,
    kinds: &[strata_format::merge::RowKind],
    row: usize,
) -> Result<()> {
    line.clear();
    line.push_str("{\"_row_kind\":\"");
    let kind = kinds
        .get(row)
        .ok_or_else(|| Error::internal("a change row without a kind"))?;
    line.push_str(kind.short_string());
    line.push('"');
    for (i, f) in fields.iter().enumerate() {
        line.push(',');
        line.push_str(&serde_json::Value::String(f.name.clone()).to_string());
        line.push(':');
        json_value(rows.column(i), &f.data_type, row)?.write(line);
    }
    line.push('}');
    Ok(())
}

/// Set by Ctrl-C or SIGTERM: the loop stops after the snapshot it is printing. The
/// handlers are installed before this returns, so no signal kills the process mid-line.
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            flag.store(true, Ordering::SeqCst);
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        flag.store(true, Ordering::SeqCst);
    });
    Ok(stop)
}

async fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while waited < total && !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(step.min(total - waited)).await;
        waited += step;
    }
}
