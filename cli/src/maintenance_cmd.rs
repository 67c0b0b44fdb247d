//! `strata expire`, `tag`, `rollback` and `remove-orphans`: thin wrappers over
//! `strata_format::maintenance`. Output lines are short and stable so scripts can parse
//! them: what was removed, with counts and bytes.

use std::time::Duration;

use clap::{Args, Subcommand};
use strata_format::catalog::{Catalog, Identifier};
use strata_format::maintenance::{Maintenance, RemovedFiles, DEFAULT_OLDER_THAN};
use strata_format::options::parse_duration;
use strata_format::{Error, Result};

#[derive(Args)]
pub struct ExpireArgs {
    /// DATABASE.TABLE
    table: String,
    /// Keep at least this many snapshots (default: snapshot.num-retained.min).
    #[arg(long)]
    retain_min: Option<i32>,
    /// Keep at most this many snapshots (default: snapshot.num-retained.max).
    #[arg(long)]
    retain_max: Option<i32>,
    /// Expire snapshots older than this, e.g. 30s, 15m, 2h, 1d (default:
    /// snapshot.time-retained).
    #[arg(long, value_parser = duration_arg)]
    older_than: Option<Duration>,
}

#[derive(Subcommand)]
pub enum TagCommand {
    /// Tag a snapshot (default: the latest).
    Create {
        /// DATABASE.TABLE
        table: String,
        name: String,
        #[arg(long)]
        snapshot: Option<i64>,
        /// Delete the tag automatically this long after creating it, e.g. 7d.
        #[arg(long, value_parser = duration_arg)]
        time_retained: Option<Duration>,
    },
    /// Delete a tag (and the files only it kept, when its snapshot has expired).
    Delete {
        /// DATABASE.TABLE
        table: String,
        name: String,
    },
    /// List tags: name, snapshot id, commit time, total records, retention.
    List {
        /// DATABASE.TABLE
        table: String,
    },
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["to", "tag"])))]
pub struct RollbackArgs {
    /// DATABASE.TABLE
    table: String,
    /// Roll back to this snapshot id.
    #[arg(long)]
    to: Option<i64>,
    /// Roll back to this tag (recreating its snapshot if it expired).
    #[arg(long)]
    tag: Option<String>,
}

#[derive(Args)]
pub struct RemoveOrphansArgs {
    /// DATABASE.TABLE
    table: String,
    /// Only files older than this (default 1d), so commits in flight are never touched.
    #[arg(long, value_parser = duration_arg)]
    older_than: Option<Duration>,
    /// List the orphans without deleting them.
    #[arg(long)]
    dry_run: bool,
}

fn duration_arg(text: &str) -> std::result::Result<Duration, String> {
    parse_duration(text)
        .map_err(|why| format!("'{text}' is not a duration like 30s, 15m, 2h, 1d: {why}"))
}

async fn maintenance(catalog: &Catalog, table: &str) -> Result<Maintenance> {
    let id = Identifier::parse(table)?;
    Ok(Maintenance::new(catalog.load_table(&id).await?))
}

fn print_removed(removed: &RemovedFiles) {
    for (kind, r) in removed.by_kind() {
        println!("removed {kind}: {r}");
    }
    println!("removed total: {}", removed.total());
}

fn range(first: i64, end_exclusive: i64) -> String {
    format!("{first}..{}", end_exclusive - 1)
}

pub async fn expire(catalog: &Catalog, args: ExpireArgs) -> Result<()> {
    let m = maintenance(catalog, &args.table).await?;
    let mut config = m.expire_config();
    if let Some(n) = args.retain_min {
        config.retain_min = n;
    }
    if let Some(n) = args.retain_max {
        config.retain_max = n;
    }
    if let Some(d) = args.older_than {
        config.time_retained = d;
    }
    let report = m.run_scheduled_with(config).await?;
    for (name, snapshot) in &report.auto_tags.created {
        println!("created tag {name} on snapshot {snapshot}");
    }
    let mut removed = RemovedFiles::default();
    for d in report.auto_tags.deleted.iter().chain(&report.expired_tags) {
        println!(
            "deleted tag {} (snapshot {})",
            d.tag.name, d.tag.snapshot.id
        );
        removed.add(&d.removed);
    }
    for c in &report.expired_consumers {
        println!("expired consumer {c}");
    }
    let s = &report.snapshots;
    match s.expired {
        Some((a, b)) => println!("expired {} snapshots: {}", b - a, range(a, b)),
        None => println!("expired 0 snapshots"),
    }
    if let Some((a, b)) = s.retained {
        println!("retained snapshots {a}..{b}");
    }
    if let Some((a, b)) = report.changelogs.expired {
        println!("expired {} changelogs: {}", b - a, range(a, b));
    }
    removed.add(&s.removed);
    removed.add(&report.changelogs.removed);
    print_removed(&removed);
    Ok(())
}

pub async fn tag(catalog: &Catalog, cmd: TagCommand) -> Result<()> {
    match cmd {
        TagCommand::Create {
            table,
            name,
            snapshot,
            time_retained,
        } => {
            let m = maintenance(catalog, &table).await?;
            let tag = m.create_tag(&name, snapshot, time_retained).await?;
            println!("created tag {} on snapshot {}", tag.name, tag.snapshot.id);
        }
        TagCommand::Delete { table, name } => {
            let m = maintenance(catalog, &table).await?;
            let d = m.delete_tag(&name).await?;
            println!(
                "deleted tag {} (snapshot {})",
                d.tag.name, d.tag.snapshot.id
            );
            print_removed(&d.removed);
        }
        TagCommand::List { table } => {
            let m = maintenance(catalog, &table).await?;
            for t in m.tags().list().await? {
                let time = chrono::DateTime::from_timestamp_millis(t.snapshot.time_millis)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default();
                let retained = t
                    .time_retained
                    .map(|d| format!("{}s", d.as_secs()))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.name,
                    t.snapshot.id,
                    time,
                    t.snapshot.total_record_count.unwrap_or_default(),
                    retained
                );
            }
        }
    }
    Ok(())
}

pub async fn rollback(catalog: &Catalog, args: RollbackArgs) -> Result<()> {
    let m = maintenance(catalog, &args.table).await?;
    let report = match (args.to, &args.tag) {
        (Some(id), None) => m.rollback_to_snapshot(id).await?,
        (None, Some(tag)) => m.rollback_to_tag(tag).await?,
        _ => {
            return Err(Error::data_invalid(
                "give exactly one of --to N and --tag NAME",
            ))
        }
    };
    if report.recreated_from_tag {
        println!("recreated snapshot {} from tag", report.snapshot);
    }
    println!("rolled back to snapshot {}", report.snapshot);
    match report.removed_snapshots {
        Some((a, b)) => println!("removed {} snapshots: {a}..{b}", b - a + 1),
        None => println!("removed 0 snapshots"),
    }
    for t in &report.removed_tags {
        println!("removed tag {t}");
    }
    if report.removed_changelogs > 0 {
        println!("removed {} changelogs", report.removed_changelogs);
    }
    Ok(())
}

pub async fn remove_orphans(catalog: &Catalog, args: RemoveOrphansArgs) -> Result<()> {
    let m = maintenance(catalog, &args.table).await?;
    let older_than = args.older_than.unwrap_or(DEFAULT_OLDER_THAN);
    let report = m.remove_orphans(older_than, args.dry_run).await?;
    for f in &report.files {
        println!("orphan {} {}", f.path, f.size);
    }
    if args.dry_run {
        println!(
            "would remove {} orphan files, {} bytes (dry run)",
            report.removed.files, report.removed.bytes
        );
    } else {
        println!(
            "removed {} orphan files, {} bytes",
            report.removed.files, report.removed.bytes
        );
    }
    Ok(())
}
