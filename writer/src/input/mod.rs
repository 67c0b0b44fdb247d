//! Input decoders for `strata write`: files and streams turned into Arrow record batches of
//! exactly the table's schema, each row with its row kind.
//!
//! | format          | rows                                     | values                      |
//! |-----------------|------------------------------------------|-----------------------------|
//! | `parquet`       | all `+I`                                 | columns by name, cast without loss |
//! | `csv`           | all `+I`                                 | header row; text per type   |
//! | `jsonl`         | all `+I`                                 | canonical JSON (as `strata read` prints) |
//! | `debezium-json` | `c`/`r` `+I`, `u` `-U`+`+U`, `d` `-D`    | Debezium's encodings        |
//! | `canal-json`    | `INSERT` `+I`, `UPDATE` `-U`+`+U`, `DELETE` `-D` | stringified values   |
//! | `maxwell-json`  | `insert` `+I`, `update` `-U`+`+U`, `delete` `-D` | canonical JSON       |
//!
//! Rules shared by every format (the value grammar is in `text.rs`, the builders in
//! `column.rs`):
//! - Ingest never loses data silently: a missing Parquet/CSV column, an unknown JSON key, a
//!   decimal with more fraction digits than its scale, a timestamp finer than its column, an
//!   integer out of range are all errors. Nothing is rounded or truncated.
//! - JSON formats may omit a key: the column is NULL (JSON commonly omits nulls). A NULL in
//!   a NOT NULL column is an error.
//! - Timestamps are ISO-8601 `YYYY-MM-DD[T| ]HH:MM:SS[.f…][Z|±HH:MM]`; an offset is
//!   converted to UTC, a value without one is taken as written (as UTC for LTZ columns).
//! - Binary is base64; nested columns (ARRAY, MAP, ROW) take JSON arrays and objects, also
//!   as text inside a CSV field or a JSON string.
//! - JSON numbers are read as written, so a DECIMAL(38, 10) or a BIGINT near 2^63 keeps
//!   every digit; integers may be written `1.0` or `1e3` when exact. A JSON value that is not
//!   a string, put in a STRING column, is kept as its JSON text (MySQL JSON columns). Numbers
//!   for DATE/TIME/TIMESTAMP are refused except in `debezium-json` (epoch counts).
//! - Errors are [`ErrorKind::DataInvalid`] with one line naming where: `line N: …` or
//!   `line N, column 'x': …` (Parquet: `row N`). After an error the reader ends; rows not
//!   yet returned are dropped, so a caller that commits only on success loses nothing.
//! - Streaming: batches of at most `batch_rows` rows; one line (one Parquet batch) in memory
//!   at a time besides the batch being built.
//!
//! ```
//! use std::io::Cursor;
//! use std::sync::Arc;
//!
//! use arrow_schema::{DataType, Field, Schema};
//! use strata_writer::input::{open_input, Input, InputFormat, DELETE, INSERT};
//!
//! let table = Arc::new(Schema::new(vec![
//!     Field::new("id", DataType::Int64, false),
//!     Field::new("price", DataType::Decimal128(10, 2), true),
//! ]));
//! let events = concat!(
//!     r#"{"database":"shop","table":"t","type":"insert","data":{"id":1,"price":9.99}}"#, "\n",
//!     r#"{"database":"shop","table":"t","type":"delete","data":{"id":1,"price":9.99}}"#, "\n",
//! );
//! let input = Input::Reader(Box::new(Cursor::new(events)));
//! let mut batches = open_input(InputFormat::MaxwellJson, input, table, 1024)?;
//! let decoded = batches.next().expect("one batch")?;
//! assert_eq!(decoded.row_kinds, vec![INSERT, DELETE]);
//! assert_eq!(decoded.batch.num_rows(), 2);
//! # Ok::<(), strata_format::Error>(())
//! ```

mod canal;
mod column;
mod csv;
mod debezium;
mod json;
mod jsonl;
mod maxwell;
mod parquet;
mod text;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::str::FromStr;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use serde_json::value::RawValue;
use strata_format::{Error, ErrorKind, Result};

use self::column::{Column, Enc};
use self::json::Entries;
use self::text::shown;

/// Row kinds, as Paimon numbers them.
pub const INSERT: i8 = 0;
pub const UPDATE_BEFORE: i8 = 1;
pub const UPDATE_AFTER: i8 = 2;
pub const DELETE: i8 = 3;

/// The `--format` of `strata write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    Parquet,
    Csv,
    Jsonl,
    DebeziumJson,
    CanalJson,
    MaxwellJson,
}

impl InputFormat {
    pub const ALL: [InputFormat; 6] = [
        InputFormat::Parquet,
        InputFormat::Csv,
        InputFormat::Jsonl,
        InputFormat::DebeziumJson,
        InputFormat::CanalJson,
        InputFormat::MaxwellJson,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Parquet => "parquet",
            InputFormat::Csv => "csv",
            InputFormat::Jsonl => "jsonl",
            InputFormat::DebeziumJson => "debezium-json",
            InputFormat::CanalJson => "canal-json",
            InputFormat::MaxwellJson => "maxwell-json",
        }
    }

    /// Whether rows carry their own kinds (otherwise all are `+I`).
    pub fn is_cdc(self) -> bool {
        matches!(
            self,
            InputFormat::DebeziumJson | InputFormat::CanalJson | InputFormat::MaxwellJson
        )
    }

    /// The plain format a file name suggests (`.parquet`, `.csv`, `.jsonl`/`.ndjson`/`.json`),
    /// for when `--format` is not given.
    pub fn from_file_name(name: &str) -> Option<InputFormat> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" => Some(InputFormat::Parquet),
            "csv" => Some(InputFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(InputFormat::Jsonl),
            _ => None,
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for InputFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        InputFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = InputFormat::ALL.iter().map(|f| f.name()).collect();
                Error::data_invalid(format!(
                    "unknown input format '{s}' (expected one of: {})",
                    names.join(", ")
                ))
            })
    }
}

/// Where the input comes from. Parquet needs random access, so a stream is spooled to an
/// unlinked temporary file first; the text formats stream.
pub enum Input {
    Path(PathBuf),
    Reader(Box<dyn BufRead + Send>),
}

impl Input {
    /// `--input` as given on the command line: `-` is stdin, anything else a path.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Reader(Box::new(BufReader::new(std::io::stdin())))
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }

    fn into_reader(self) -> Result<Box<dyn BufRead + Send>> {
        match self {
            Input::Reader(r) => Ok(r),
            Input::Path(path) => Ok(Box::new(BufReader::with_capacity(
                1 << 16,
                open_file(&path)?,
            ))),
        }
    }
}

impl From<Box<dyn BufRead + Send>> for Input {
    fn from(reader: Box<dyn BufRead + Send>) -> Self {
        Input::Reader(reader)
    }
}

fn open_file(path: &std::path::Path) -> Result<File> {
    File::open(path).map_err(|e| {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Unavailable,
        };
        Error::new(kind, format!("cannot open input '{}': {e}", path.display()))
    })
}

/// Rows of exactly the target schema with one row kind each.
#[derive(Debug, Clone)]
pub struct DecodedBatch {
    pub batch: RecordBatch,
    /// [`INSERT`], [`UPDATE_BEFORE`], [`UPDATE_AFTER`] or [`DELETE`], one per row.
    pub row_kinds: Vec<i8>,
}

/// The batches of one input, in order. Ends after the first error.
pub type InputReader = Box<dyn Iterator<Item = Result<DecodedBatch>> + Send>;

/// Opens `input` as `format`, decoding into `target` (the table's Arrow schema) in batches
/// of at most `batch_rows` rows. Problems found up front (a missing file, a CSV header or
/// Parquet schema that does not match the table, an unsupported column type) are returned
/// here; the rest come from the iterator.
pub fn open_input(
    format: InputFormat,
    input: Input,
    target: SchemaRef,
    batch_rows: usize,
) -> Result<InputReader> {
    let batch_rows = batch_rows.max(1);
    match format {
        InputFormat::Parquet => parquet::open(input, target, batch_rows),
        InputFormat::Csv => {
            let rows = Rows::new(&target)?;
            let decoder = csv::Csv::open(input.into_reader()?, &rows)?;
            Ok(batches(decoder, rows, batch_rows))
        }
        InputFormat::Jsonl => json_lines(input, &target, batch_rows, |_| jsonl::Jsonl),
        InputFormat::DebeziumJson => {
            json_lines(input, &target, batch_rows, debezium::Debezium::new)
        }
        InputFormat::CanalJson => json_lines(input, &target, batch_rows, |_| canal::Canal),
        InputFormat::MaxwellJson => json_lines(input, &target, batch_rows, |_| maxwell::Maxwell),
    }
}

fn json_lines<F: JsonLine + 'static>(
    input: Input,
    target: &SchemaRef,
    batch_rows: usize,
    format: impl FnOnce(&Rows) -> F,
) -> Result<InputReader> {
    let rows = Rows::new(target)?;
    let decoder = LineDecoder {
        lines: Lines::new(input.into_reader()?),
        format: format(&rows),
    };
    Ok(batches(decoder, rows, batch_rows))
}

/// A problem on one input line, before the line number is known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fault {
    /// `line N: message`
    Line(String),
    /// `line N, column 'c': message`
    Column { column: String, message: String },
}

impl Fault {
    pub(crate) fn line(message: impl Into<String>) -> Fault {
        Fault::Line(message.into())
    }

    pub(crate) fn at(self, line: usize) -> Error {
        self.located(Some(format!("line {line}")))
    }

    /// The error, prefixed with where (`line 3`, `row 7`) when known.
    pub(crate) fn located(self, place: Option<String>) -> Error {
        Error::data_invalid(match (self, place) {
            (Fault::Line(m), Some(p)) => format!("{p}: {m}"),
            (Fault::Line(m), None) => m,
            (Fault::Column { column, message }, Some(p)) => {
                format!("{p}, column '{column}': {message}")
            }
            (Fault::Column { column, message }, None) => format!("column '{column}': {message}"),
        })
    }
}

/// The batch being built: one column builder per target field, plus row kinds.
pub(crate) struct Rows {
    schema: SchemaRef,
    columns: Vec<Column>,
    kinds: Vec<i8>,
    index: HashMap<String, usize>,
}

/// Column values of one row, by target column index; `None` is NULL (or a missing key).
pub(crate) type Slots<'a> = Vec<Option<&'a RawValue>>;

impl Rows {
    pub(crate) fn new(schema: &SchemaRef) -> Result<Self> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                Column::new(f.name(), f.name().clone(), f.data_type(), f.is_nullable())
                    .map_err(Error::unsupported)
            })
            .collect::<Result<Vec<_>>>()?;
        let index = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().clone(), i))
            .collect();
        Ok(Rows {
            schema: schema.clone(),
            columns,
            kinds: Vec::new(),
            index,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.kinds.len()
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub(crate) fn width(&self) -> usize {
        self.columns.len()
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(Column::name)
    }

    /// Empty slots for one row.
    pub(crate) fn slots<'a>(&self) -> Slots<'a> {
        vec![None; self.width()]
    }

    /// Places a JSON object's entries by column name. Unknown keys are errors, and so are
    /// repeated keys unless `overlay` (the `old` values of Canal and Maxwell updates).
    pub(crate) fn place<'a>(
        &self,
        entries: &Entries<'a>,
        slots: &mut Slots<'a>,
        overlay: bool,
    ) -> Result<(), Fault> {
        for (key, value) in &entries.0 {
            let slot = self.index_of(key).and_then(|i| slots.get_mut(i));
            match slot {
                Some(slot) if overlay || slot.is_none() => *slot = Some(*value),
                Some(_) => {
                    return Err(Fault::line(format!(
                        "column '{}' appears twice",
                        shown(key)
                    )))
                }
                None => return Err(Fault::line(format!("unknown column '{}'", shown(key)))),
            }
        }
        Ok(())
    }

    /// Appends one row of JSON values; `encs` gives each column's encoding (default plain).
    pub(crate) fn push_json(
        &mut self,
        kind: i8,
        slots: &Slots<'_>,
        encs: &[Enc],
    ) -> Result<(), Fault> {
        for (i, (column, slot)) in self.columns.iter_mut().zip(slots).enumerate() {
            match slot {
                Some(raw) => column.push_json(raw, encs.get(i).copied().unwrap_or_default())?,
                None => column.push_null()?,
            }
        }
        self.kinds.push(kind);
        Ok(())
    }

    /// Appends one `+I` row of text values (`None` is NULL), in column order.
    pub(crate) fn push_text(&mut self, values: &[Option<&str>]) -> Result<(), Fault> {
        for (column, value) in self.columns.iter_mut().zip(values) {
            column.push_value(column::text_value(*value), Enc::Plain)?;
        }
        self.kinds.push(INSERT);
        Ok(())
    }

    /// The rows so far as a batch; the builders start over.
    pub(crate) fn take(&mut self) -> Result<DecodedBatch> {
        let arrays = self
            .columns
            .iter_mut()
            .map(Column::finish)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("building a batch: {e}")))?;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| Error::internal(format!("building a batch: {e}")))?;
        Ok(DecodedBatch {
            batch,
            row_kinds: std::mem::take(&mut self.kinds),
        })
    }
}

/// A source of records: each call appends the rows of one record (a line, a CSV record).
pub(crate) trait Decode: Send {
    /// `Ok(false)` at the end of the input.
    fn next_record(&mut self, rows: &mut Rows) -> Result<bool>;
}

fn batches<D: Decode + 'static>(decoder: D, rows: Rows, batch_rows: usize) -> InputReader {
    Box::new(Batches {
        decoder,
        rows,
        batch_rows,
        ready: VecDeque::new(),
        done: false,
    })
}

struct Batches<D> {
    decoder: D,
    rows: Rows,
    batch_rows: usize,
    ready: VecDeque<DecodedBatch>,
    done: bool,
}

impl<D: Decode> Batches<D> {
    fn fill(&mut self) -> Result<()> {
        while self.rows.len() < self.batch_rows {
            if !self.decoder.next_record(&mut self.rows)? {
                self.done = true;
                break;
            }
        }
        if self.rows.len() == 0 {
            return Ok(());
        }
        // One record may add several rows (a Canal message, an update): split to the limit.
        let DecodedBatch { batch, row_kinds } = self.rows.take()?;
        for (i, kinds) in row_kinds.chunks(self.batch_rows).enumerate() {
            self.ready.push_back(DecodedBatch {
                batch: batch.slice(i * self.batch_rows, kinds.len()),
                row_kinds: kinds.to_vec(),
            });
        }
        Ok(())
    }
}

impl<D: Decode> Iterator for Batches<D> {
    type Item = Result<DecodedBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = self.ready.pop_front() {
                return Some(Ok(batch));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

/// One line of a JSON-lines format into rows.
pub(crate) trait JsonLine: Send {
    fn decode(&mut self, line: &str, rows: &mut Rows) -> Result<(), Fault>;
}

/// Reads a text input line by line (`\n` or `\r\n`), numbering lines from 1; blank lines
/// are skipped.
pub(crate) struct Lines {
    source: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    number: usize,
}

impl Lines {
    pub(crate) fn new(source: Box<dyn BufRead + Send>) -> Self {
        Lines {
            source,
            buf: Vec::new(),
            number: 0,
        }
    }

    /// Reads the next physical line into [`Lines::current`]; `false` at the end.
    pub(crate) fn advance(&mut self) -> Result<bool> {
        self.buf.clear();
        let n = self
            .source
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| Error::from(e).context(format!("reading line {}", self.number + 1)))?;
        if n > 0 {
            self.number += 1;
        }
        Ok(n > 0)
    }

    /// The number of the current line.
    pub(crate) fn number(&self) -> usize {
        self.number
    }

    /// The current line with its terminator; a UTF-8 byte order mark on line 1 is dropped.
    pub(crate) fn current(&self) -> &[u8] {
        match self.buf.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) if self.number == 1 => rest,
            _ => &self.buf,
        }
    }

    /// The next non-blank line, trimmed, and its number.
    fn next_line(&mut self) -> Result<Option<(usize, &str)>> {
        loop {
            if !self.advance()? {
                return Ok(None);
            }
            if !self.current().iter().all(u8::is_ascii_whitespace) {
                break;
            }
        }
        let number = self.number;
        let text = std::str::from_utf8(self.current())
            .map_err(|_| Fault::line("invalid UTF-8").at(number))?;
        Ok(Some((number, text.trim())))
    }
}

struct LineDecoder<F> {
    lines: Lines,
    format: F,
}

impl<F: JsonLine> Decode for LineDecoder<F> {
    fn next_record(&mut self, rows: &mut Rows) -> Result<bool> {
        let Some((number, line)) = self.lines.next_line()? else {
            return Ok(false);
        };
        self.format.decode(line, rows).map_err(|f| f.at(number))?;
        Ok(true)
    }
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn format_names() {
        for format in InputFormat::ALL {
            assert_eq!(format.name().parse::<InputFormat>().unwrap(), format);
            assert_eq!(format.to_string(), format.name());
        }
        let err = "json".parse::<InputFormat>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown input format 'json' (expected one of: parquet, csv, jsonl, debezium-json, \
             canal-json, maxwell-json)"
        );
        assert_eq!(
            InputFormat::from_file_name("a/b.PARQUET"),
            Some(InputFormat::Parquet)
        );
        assert_eq!(
            InputFormat::from_file_name("rows.ndjson"),
            Some(InputFormat::Jsonl)
        );
        assert_eq!(InputFormat::from_file_name("rows"), None);
        assert!(InputFormat::CanalJson.is_cdc() && !InputFormat::Csv.is_cdc());
    }

    #[test]
    fn unsupported_target_types_are_refused_up_front() {
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "u",
            arrow_schema::DataType::UInt32,
            true,
        )]));
        let input = Input::Reader(Box::new(std::io::Cursor::new("")));
        let err = open_input(InputFormat::Jsonl, input, schema, 10)
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert_eq!(err.to_string(), "column 'u': type UInt32 is not supported");
    }
}
