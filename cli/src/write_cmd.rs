//! `strata write DB.T --input FILE [--format F] [--commit-every N]`: decode rows, write
//! them with a [`TableWriter`] and commit.
//!
//! Every N input rows are one commit (default: all rows, one commit at the end). When the
//! input fails part way, the rows of the failing chunk are dropped (nothing of it is
//! committed) and the error says which rows earlier commits hold.

use clap::Args;
use strata_format::catalog::{Catalog, Identifier};
use strata_format::{Error, Result};
use strata_writer::input::{open_input, Input, InputFormat};
use strata_writer::TableWriter;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;

#[derive(Args)]
pub struct WriteArgs {
    /// DATABASE.TABLE
    table: String,
    /// The input file, or `-` for stdin.
    #[arg(long)]
    input: String,
    /// parquet, csv, jsonl, debezium-json, canal-json or maxwell-json; by default taken
    /// from the file extension (.parquet, .csv, .jsonl/.ndjson/.json).
    #[arg(long)]
    format: Option<String>,
    /// Commit after every N input rows instead of once at the end.
    #[arg(long, value_name = "N")]
    commit_every: Option<u64>,
}

/// What was written so far, for the summary and for error messages.
#[derive(Default)]
struct Progress {
    rows: u64,
    committed_rows: u64,
    files: usize,
    snapshots: Vec<i64>,
    identifier: i64,
}

impl Progress {
    fn snapshot_list(&self) -> String {
        let ids: Vec<String> = self.snapshots.iter().map(|s| s.to_string()).collect();
        ids.join(", ")
    }
}

pub async fn run(catalog: &Catalog, args: WriteArgs) -> Result<()> {
    let id = Identifier::parse(&args.table)?;
    let format = input_format(&args)?;
    let every = match args.commit_every {
        Some(0) => return Err(Error::data_invalid("--commit-every must be at least 1")),
        other => other,
    };
    let table = catalog.load_table(&id).await?;
    let mut writer = TableWriter::builder(table).build()?;
    let batch_rows = every.map_or(BATCH_ROWS, |n| BATCH_ROWS.min(n as usize));
    let reader = open_input(
        format,
        Input::from_arg(&args.input),
        writer.input_schema().clone(),
        batch_rows,
    )?;
    let mut progress = Progress::default();
    let spinner = crate::progress::Progress::spinner(&format!("writing {id}"), "rows");
    let result = write_all(&mut writer, reader, every, &mut progress, &spinner).await;
    spinner.finish();
    if let Err(e) = result {
        writer.abort().await;
        return Err(failed(e, &progress));
    }
    let files = if progress.files == 1 { "file" } else { "files" };
    let snapshots = match progress.snapshots.len() {
        0 => "no snapshot (nothing to commit)".to_string(),
        1 => format!("snapshot {}", progress.snapshot_list()),
        _ => format!("snapshots {}", progress.snapshot_list()),
    };
    println!(
        "wrote {} rows to {id} in {} {files}; {snapshots}",
        progress.rows, progress.files
    );
    Ok(())
}

fn input_format(args: &WriteArgs) -> Result<InputFormat> {
    if let Some(name) = &args.format {
        return name.parse();
    }
    let names: Vec<&str> = InputFormat::ALL.iter().map(|f| f.name()).collect();
    if args.input == "-" {
        return Err(Error::data_invalid(format!(
            "reading stdin needs --format (one of {})",
            names.join(", ")
        )));
    }
    InputFormat::from_file_name(&args.input).ok_or_else(|| {
        Error::data_invalid(format!(
            "cannot tell the format of '{}' from its name; pass --format (one of {})",
            args.input,
            names.join(", ")
        ))
    })
}

async fn write_all(
    writer: &mut TableWriter,
    reader: strata_writer::input::InputReader,
    every: Option<u64>,
    progress: &mut Progress,
    spinner: &crate::progress::Progress,
) -> Result<()> {
    let mut in_chunk = 0u64;
    for decoded in reader {
        let decoded = decoded?;
        let rows = decoded.batch.num_rows();
        let mut offset = 0;
        while offset < rows {
            let room = every.map_or(u64::MAX, |n| n - in_chunk);
            let len = (rows - offset).min(usize::try_from(room).unwrap_or(usize::MAX));
            let kinds = decoded
                .row_kinds
                .get(offset..offset + len)
                .ok_or_else(|| Error::internal("decoded batch without its row kinds"))?;
            writer
                .write_with_kinds(&decoded.batch.slice(offset, len), kinds)
                .await?;
            offset += len;
            in_chunk += len as u64;
            progress.rows += len as u64;
            spinner.inc(len as u64);
            if every == Some(in_chunk) {
                commit(writer, progress).await?;
                in_chunk = 0;
            }
        }
    }
    if in_chunk > 0 {
        commit(writer, progress).await?;
    }
    Ok(())
}

async fn commit(writer: &mut TableWriter, progress: &mut Progress) -> Result<()> {
    progress.identifier += 1;
    let outcome = writer.commit(progress.identifier).await?;
    progress.files += outcome.files;
    progress.snapshots.extend(outcome.snapshot_ids);
    progress.committed_rows = progress.rows;
    Ok(())
}

/// The error plus what it means for the table: which rows are committed, which are not.
fn failed(e: Error, progress: &Progress) -> Error {
    let note = if progress.snapshots.is_empty() {
        "nothing was committed".to_string()
    } else {
        format!(
            "input rows after row {} were not committed; the first {} rows stay committed \
             (snapshot{} {})",
            progress.committed_rows,
            progress.committed_rows,
            if progress.snapshots.len() == 1 {
                ""
            } else {
                "s"
            },
            progress.snapshot_list()
        )
    };
    Error::new(e.kind(), format!("{e}; {note}"))
}
