//! `strata sql "QUERY"` (one shot) and `strata sql` (an interactive prompt with history in
//! `~/.strata_history`). Results print as a text table, or as JSON lines / CSV with
//! `--output-format`; errors are one line, and the prompt keeps going after one.

use std::io::Write;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType as ArrowType;
use clap::{Args, ValueEnum};
use strata_format::catalog::Catalog;
use strata_format::paths::format_decimal;
use strata_format::{Error, Result};
use strata_sql::{QueryResult, StrataSession};

#[derive(Args)]
pub struct SqlArgs {
    /// The statements to run (`;`-separated); without it, an interactive prompt.
    query: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    output_format: SqlFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SqlFormat {
    Table,
    Jsonl,
    Csv,
}

pub async fn run(catalog: &Catalog, args: SqlArgs) -> Result<()> {
    let session = StrataSession::new(catalog.clone()).await?;
    match args.query {
        Some(q) => {
            let result = session.sql(&q).await?;
            print(&result, args.output_format)
        }
        None => prompt(&session, args.output_format).await,
    }
}

async fn prompt(session: &StrataSession, format: SqlFormat) -> Result<()> {
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| Error::internal(format!("cannot start the prompt: {e}")))?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".strata_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    eprintln!("strata sql: end statements with ';', exit with Ctrl-D");
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "strata> "
        } else {
            "   ...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                pending.push_str(&line);
                pending.push('\n');
                if !line.trim_end().ends_with(';') {
                    continue;
                }
                let statement = std::mem::take(&mut pending);
                let _ = editor.add_history_entry(statement.trim());
                let started = std::time::Instant::now();
                match session.sql(&statement).await {
                    Ok(result) => {
                        print(&result, format)?;
                        eprintln!(
                            "{} rows in {:.3}s",
                            result.num_rows(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                    Err(e) => eprintln!("error: {}", e.to_string().replace('\n', " ")),
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => pending.clear(),
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

fn print(result: &QueryResult, format: SqlFormat) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        SqlFormat::Table => {
            let text = arrow::util::pretty::pretty_format_batches(&result.batches)?;
            writeln!(out, "{text}")?;
        }
        SqlFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            if result.batches.is_empty() {
                let empty = RecordBatch::new_empty(result.schema.clone());
                w.write(&empty)?;
            }
            for b in &result.batches {
                w.write(b)?;
            }
        }
        SqlFormat::Jsonl => {
            for b in &result.batches {
                write_jsonl(&mut out, b)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// One JSON object per row: numbers stay exact numbers (decimals with their scale),
/// everything else is the text Arrow displays.
fn write_jsonl(out: &mut impl Write, batch: &RecordBatch) -> Result<()> {
    let options = FormatOptions::default();
    let schema = batch.schema();
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        let mut line = String::from("{");
        for (i, (column, field)) in batch.columns().iter().zip(schema.fields()).enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&serde_json::Value::String(field.name().clone()).to_string());
            line.push(':');
            if column.is_null(row) {
                line.push_str("null");
                continue;
            }
            let value = match column.data_type() {
                ArrowType::Boolean => column.as_boolean().value(row).to_string(),
                ArrowType::Int8
                | ArrowType::Int16
                | ArrowType::Int32
                | ArrowType::Int64
                | ArrowType::UInt8
                | ArrowType::UInt16
                | ArrowType::UInt32
                | ArrowType::UInt64 => formatters[i].value(row).to_string(),
                ArrowType::Float32 | ArrowType::Float64 => {
                    let text = formatters[i].value(row).to_string();
                    if text.parse::<f64>().is_ok_and(f64::is_finite) {
                        text
                    } else {
                        serde_json::Value::String(text).to_string()
                    }
                }
                ArrowType::Decimal128(_, scale) => format_decimal(
                    column
                        .as_primitive::<arrow_array::types::Decimal128Type>()
                        .value(row),
                    u8::try_from(*scale).unwrap_or(0),
                ),
                _ => serde_json::Value::String(formatters[i].value(row).to_string()).to_string(),
            };
            line.push_str(&value);
        }
        line.push('}');
        writeln!(out, "{line}")?;
    }
    Ok(())
}
