//! `strata`: the command-line tool. The contract (names, flags, output formats) is
//! `shared/CLI.md`; scripts depend on it, so commands are only ever added, never renamed.

mod alloc;
mod changes_cmd;
mod compact_cmd;
mod config;
mod maintenance_cmd;
mod progress;
mod render;
mod serve_cmd;
mod sql_cmd;
mod table_cmd;
mod write_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use futures::TryStreamExt;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::maintenance::TagManager;
use strata_format::read::TableRead;
use strata_format::scan::TableScan;
use strata_format::storage::Storage;
use strata_format::Result;

use crate::render::{OutputFormat, RowWriter};

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Strata: a Paimon-compatible lakehouse table format"
)]
struct Cli {
    /// Warehouse URI: a path, file://…, s3://bucket/prefix or hdfs://… [default: the
    /// config file's `warehouse`, else ./warehouse]
    #[arg(long, global = true, env = "STRATA_WAREHOUSE")]
    warehouse: Option<String>,
    /// TOML config file: warehouse, [log] level/format, [s3] endpoint/region/credentials,
    /// [commit] catalog (commits through strata serve on stores without conditional PUT).
    #[arg(long, global = true, env = "STRATA_CONFIG")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Databases: create, list, drop.
    #[command(subcommand)]
    Db(DbCommand),
    /// Tables: create, show, list, drop.
    #[command(subcommand)]
    Table(table_cmd::TableCommand),
    /// Write rows from a file or stdin and commit them.
    Write(write_cmd::WriteArgs),
    /// Serve the warehouse as an Iceberg REST catalog.
    Serve(serve_cmd::ServeArgs),
    /// Compact one table now: buckets that need it, or every bucket with --full.
    Compact(compact_cmd::CompactArgs),
    /// Run the compaction daemon over every table of the warehouse.
    Compactor(compact_cmd::CompactorArgs),
    /// Print the merged rows of a table at the latest (or a given) snapshot.
    Read {
        /// DATABASE.TABLE
        table: String,
        /// Read this snapshot id instead of the latest (time travel).
        #[arg(long, conflicts_with = "tag")]
        snapshot: Option<i64>,
        /// Read the snapshot this tag holds.
        #[arg(long)]
        tag: Option<String>,
        /// Only these columns, comma-separated, in this order.
        #[arg(long, value_delimiter = ',')]
        columns: Option<Vec<String>>,
        #[arg(long, value_enum, default_value = "jsonl")]
        output_format: OutputFormat,
    },
    /// Print a table's changes as JSON lines with "_row_kind" (+I, -U, +U, -D).
    Changes(changes_cmd::ChangesArgs),
    /// Expire snapshots (and changelogs, tags and consumers past their retention).
    Expire(maintenance_cmd::ExpireArgs),
    /// Tags: create, delete, list.
    #[command(subcommand)]
    Tag(maintenance_cmd::TagCommand),
    /// Make an earlier snapshot or a tag the latest snapshot again.
    Rollback(maintenance_cmd::RollbackArgs),
    /// Delete files no snapshot, tag or changelog references.
    RemoveOrphans(maintenance_cmd::RemoveOrphansArgs),
    /// SQL over the warehouse: one statement list, or an interactive prompt without one.
    Sql(sql_cmd::SqlArgs),
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create a database (a NAME.db directory).
    Create {
        name: String,
        /// Succeed if it exists already.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List databases.
    List,
    /// Drop a database.
    Drop {
        name: String,
        /// Also drop its tables.
        #[arg(long)]
        cascade: bool,
    },
}

fn main() -> ExitCode {
    alloc::tune();
    let cli = Cli::parse();
    let config = match &cli.config {
        Some(path) => match config::ConfigFile::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => config::ConfigFile::default(),
    };
    if let Err(e) = config::init_logging(&config) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`strata read … | head`) is the reader's choice, not a failure.
        Err(e) if e.message().contains("Broken pipe") => ExitCode::SUCCESS,
        Err(e) => {
            // One line: what was wrong and where.
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, config: config::ConfigFile) -> Result<()> {
    let warehouse = cli
        .warehouse
        .clone()
        .or_else(|| config.warehouse.clone())
        .unwrap_or_else(|| "./warehouse".to_string());
    let mut storage = Storage::open_with_options(&warehouse, &config.store_options())?;
    if matches!(cli.command, Command::Serve(_)) {
        // The server is the committer the others go through.
        storage = storage.as_sole_committer();
    } else if let Some((url, token)) = config.commit_catalog() {
        storage = storage.commit_through_catalog(&url, token)?;
    }
    let catalog = Catalog::new(storage);
    match cli.command {
        Command::Db(cmd) => db(&catalog, cmd).await,
        Command::Table(cmd) => table_cmd::run(&catalog, cmd).await,
        Command::Write(args) => write_cmd::run(&catalog, args).await,
        Command::Serve(args) => serve_cmd::run(&warehouse, &catalog, args).await,
        Command::Compact(args) => compact_cmd::compact(&catalog, args).await,
        Command::Compactor(args) => compact_cmd::compactor(catalog, args).await,
        Command::Read {
            table,
            snapshot,
            tag,
            columns,
            output_format,
        } => read(&catalog, &table, snapshot, tag, columns, output_format).await,
        Command::Changes(args) => changes_cmd::run(&catalog, args).await,
        Command::Expire(args) => maintenance_cmd::expire(&catalog, args).await,
        Command::Tag(cmd) => maintenance_cmd::tag(&catalog, cmd).await,
        Command::Rollback(args) => maintenance_cmd::rollback(&catalog, args).await,
        Command::RemoveOrphans(args) => maintenance_cmd::remove_orphans(&catalog, args).await,
        Command::Sql(args) => sql_cmd::run(&catalog, args).await,
    }
}

async fn db(catalog: &Catalog, cmd: DbCommand) -> Result<()> {
    match cmd {
        DbCommand::Create {
            name,
            if_not_exists,
        } => {
            catalog.create_database(&name, if_not_exists).await?;
            println!("created database {name}");
        }
        DbCommand::List => {
            for db in catalog.list_databases().await? {
                println!("{db}");
            }
        }
        DbCommand::Drop { name, cascade } => {
            catalog.drop_database(&name, cascade).await?;
            println!("dropped database {name}");
        }
    }
    Ok(())
}

async fn read(
    catalog: &Catalog,
    table: &str,
    snapshot: Option<i64>,
    tag: Option<String>,
    columns: Option<Vec<String>>,
    format: OutputFormat,
) -> Result<()> {
    let id = Identifier::parse(table)?;
    let table = catalog.load_table(&id).await?;
    // A time-travelled read shows the snapshot through the schema it was committed with.
    let pinned = match (tag, snapshot) {
        (Some(tag), _) => Some(
            TagManager::new(table.clone())
                .get_or_err(&tag)
                .await?
                .snapshot,
        ),
        (None, Some(n)) => Some(table.snapshot_manager().snapshot(n).await?),
        (None, None) => None,
    };
    let table = match &pinned {
        Some(s) => table.at_schema(s.schema_id).await?,
        None => table,
    };
    let read = TableRead::new(table.clone()).with_projection(columns);
    let fields = read.output_fields()?;
    let mut stream = match pinned {
        Some(s) => read.read_plan(TableScan::new(table).plan_snapshot(s).await?)?,
        None => read.read_snapshot(None).await?,
    };
    let stdout = std::io::stdout().lock();
    let mut writer = RowWriter::new(std::io::BufWriter::new(stdout), fields, format);
    while let Some(batch) = stream.try_next().await? {
        writer.write_batch(&batch)?;
    }
    writer.finish()
}
