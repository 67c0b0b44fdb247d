//! `csv`: RFC 4180 with a header row naming the columns (any order, exactly the table's
//! columns, case-sensitive). All rows `+I`.
//!
//! - Quoted fields may hold commas, `""` for a quote, and line breaks (kept as written).
//! - An empty unquoted field is NULL; `""` is the empty string.
//! - Values are parsed per column type (see `text.rs`): integers, floats with `NaN` and
//!   `Infinity`, exact decimals, `true/false/1/0`, `YYYY-MM-DD`, `HH:MM:SS[.f]`, ISO-8601
//!   timestamps, base64 binary; nested columns take JSON text.
//! - Lines end with `\n` or `\r\n`; empty lines are skipped; a UTF-8 byte order mark is
//!   ignored. Errors name the physical line the record starts on.

use std::io::BufRead;

use strata_format::{Error, Result};

use super::text::shown;
use super::{Decode, Fault, Lines, Rows};

pub(crate) struct Csv {
    lines: Lines,
    /// The current record's field bytes, back to back; `fields` are ranges into it.
    text: Vec<u8>,
    fields: Vec<Field>,
    /// For each field of a record, the target column it fills.
    columns: Vec<usize>,
}

struct Field {
    start: usize,
    end: usize,
    quoted: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the end of the field or the first of `""`.
    QuoteInQuoted,
}

impl Csv {
    /// Reads the header and matches it to the table's columns.
    pub(crate) fn open(source: Box<dyn BufRead + Send>, rows: &Rows) -> Result<Self> {
        let mut csv = Csv {
            lines: Lines::new(source),
            text: Vec::new(),
            fields: Vec::new(),
            columns: Vec::new(),
        };
        let Some(line) = csv.read_record()? else {
            return Err(Error::data_invalid(
                "the CSV input is empty: a header row naming the columns is required",
            ));
        };
        let at = |m: String| Fault::line(m).at(line);
        let mut seen = vec![false; rows.width()];
        for i in 0..csv.fields.len() {
            let name = csv.field(i).map_err(|f| f.at(line))?.unwrap_or_default();
            let shown = shown(name);
            let index = rows.index_of(name).ok_or_else(|| {
                at(format!(
                    "column '{shown}' in the header is not in the table"
                ))
            })?;
            match seen.get_mut(index) {
                Some(s) if !*s => *s = true,
                _ => return Err(at(format!("column '{shown}' appears twice in the header"))),
            }
            csv.columns.push(index);
        }
        let missing: Vec<String> = rows
            .names()
            .zip(&seen)
            .filter(|(_, seen)| !**seen)
            .map(|(name, _)| format!("'{name}'"))
            .collect();
        match missing.len() {
            0 => Ok(csv),
            1 => Err(at(format!(
                "column {} is missing from the input",
                missing.join("")
            ))),
            _ => Err(at(format!(
                "columns {} are missing from the input",
                missing.join(", ")
            ))),
        }
    }

    /// Field `i` of the current record: `None` for an empty unquoted field.
    fn field(&self, i: usize) -> std::result::Result<Option<&str>, Fault> {
        let Some(f) = self.fields.get(i) else {
            return Ok(None);
        };
        let bytes = self.text.get(f.start..f.end).unwrap_or_default();
        if bytes.is_empty() && !f.quoted {
            return Ok(None);
        }
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Fault::line("invalid UTF-8"))
    }

    /// Reads the next record into `text`/`fields`; the line it starts on, `None` at the end.
    fn read_record(&mut self) -> Result<Option<usize>> {
        self.text.clear();
        self.fields.clear();
        loop {
            if !self.lines.advance()? {
                return Ok(None);
            }
            if !matches!(self.lines.current(), b"\n" | b"\r\n") {
                break;
            }
        }
        let start = self.lines.number();
        let mut state = State::FieldStart;
        let mut quoted = false;
        let mut field_start = 0;
        loop {
            let line = self.lines.current();
            let (body, ending) = split_ending(line);
            for &b in body {
                state = match (state, b) {
                    (State::FieldStart, b'"') => {
                        quoted = true;
                        State::Quoted
                    }
                    (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b',') => {
                        self.fields.push(Field {
                            start: field_start,
                            end: self.text.len(),
                            quoted,
                        });
                        (field_start, quoted) = (self.text.len(), false);
                        State::FieldStart
                    }
                    (State::Unquoted, b'"') => {
                        let line = self.lines.number();
                        return Err(Fault::line("a quote inside an unquoted field (quote the whole field and double the quote)").at(line));
                    }
                    (State::Quoted, b'"') => State::QuoteInQuoted,
                    (State::QuoteInQuoted, b'"') => {
                        self.text.push(b'"');
                        State::Quoted
                    }
                    (State::QuoteInQuoted, _) => {
                        let line = self.lines.number();
                        return Err(
                            Fault::line("unexpected character after a closing quote").at(line)
                        );
                    }
                    (State::FieldStart | State::Unquoted, _) => {
                        self.text.push(b);
                        State::Unquoted
                    }
                    (State::Quoted, _) => {
                        self.text.push(b);
                        State::Quoted
                    }
                };
            }
            if state != State::Quoted {
                self.fields.push(Field {
                    start: field_start,
                    end: self.text.len(),
                    quoted,
                });
                return Ok(Some(start));
            }
            // A line break inside quotes is part of the field.
            self.text.extend_from_slice(ending);
            if !self.lines.advance()? {
                return Err(Fault::line("unterminated quoted field").at(start));
            }
        }
    }
}

/// A line without its `\n` or `\r\n`, and that ending.
fn split_ending(line: &[u8]) -> (&[u8], &[u8]) {
    let cut = if line.ends_with(b"\r\n") {
        2
    } else if line.ends_with(b"\n") {
        1
    } else {
        0
    };
    line.split_at(line.len() - cut)
}

impl Decode for Csv {
    fn next_record(&mut self, rows: &mut Rows) -> Result<bool> {
        let Some(line) = self.read_record()? else {
            return Ok(false);
        };
        if self.fields.len() != self.columns.len() {
            let message = format!(
                "expected {} fields, found {}",
                self.columns.len(),
                self.fields.len()
            );
            return Err(Fault::line(message).at(line));
        }
        let mut values: Vec<Option<&str>> = vec![None; self.columns.len()];
        for (i, &column) in self.columns.iter().enumerate() {
            let value = self.field(i).map_err(|f| f.at(line))?;
            if let Some(slot) = values.get_mut(column) {
                *slot = value;
            }
        }
        rows.push_text(&values).map_err(|f| f.at(line))?;
        Ok(true)
    }
}

#[cfg(test)]
#[path = "csv_tests.rs"]
mod tests;
