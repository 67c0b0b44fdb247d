//! Paimon type strings: parsing ([`DataType::parse`]) and printing (`Display`).
//!
//! Printing follows Paimon Java's `asSQLString()` exactly, because that is what Java writes
//! into schema files (`DECIMAL(10, 2)`, `STRING`, `BYTES`, `TIMESTAMP(3) WITH LOCAL TIME ZONE`,
//! ``ROW<`a` INT COMMENT 'x'>``, suffix ` NOT NULL`).
//!
//! Parsing accepts every spelling Java's `DataTypeJsonParser` accepts (keywords in any case,
//! `INTEGER`, `DEC`/`NUMERIC`, `DOUBLE PRECISION`, `TIMESTAMP_LTZ`, `... WITHOUT TIME ZONE`,
//! the suffix form `INT ARRAY`, explicit `NULL`) plus the nested spellings Java only accepts in
//! JSON objects: `ARRAY<t>`, `MAP<k, v>`, `ROW<name t, ...>` / `ROW(name t, ...)` (and
//! pypaimon's `ROW<name: t>`). Fields of a parsed ROW get positional ids (0, 1, ...): type
//! strings carry no ids, and tables reassign ids when they are created.

use std::fmt;
use std::str::FromStr;

use super::{DataField, DataType, TypeKind, MAX_LENGTH};
use crate::error::{Error, Result};
use crate::invalid;

/// Deeper nesting is rejected so hostile input cannot overflow the stack.
const MAX_NESTING: usize = 64;

impl DataType {
    /// Parses a Paimon type string such as `DECIMAL(10, 2) NOT NULL` or `MAP<STRING, INT>`.
    pub fn parse(s: &str) -> Result<DataType> {
        let tokens = tokenize(s)?;
        let mut parser = Parser {
            input: s,
            tokens,
            pos: 0,
        };
        if parser.tokens.is_empty() {
            return Err(invalid!("empty type string"));
        }
        let ty = parser.parse_type(0)?;
        if let Some(tok) = parser.tokens.get(parser.pos) {
            return Err(parser.error_at(tok.offset, &format!("unexpected '{}'", tok.text())));
        }
        Ok(ty)
    }
}

impl FromStr for DataType {
    type Err = Error;

    fn from_str(s: &str) -> Result<DataType> {
        DataType::parse(s)
    }
}

// ------------------------------------------------------------------------------------------
// Printing
// ------------------------------------------------------------------------------------------

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TypeKind::Boolean => f.write_str("BOOLEAN")?,
            TypeKind::TinyInt => f.write_str("TINYINT")?,
            TypeKind::SmallInt => f.write_str("SMALLINT")?,
            TypeKind::Int => f.write_str("INT")?,
            TypeKind::BigInt => f.write_str("BIGINT")?,
            TypeKind::Float => f.write_str("FLOAT")?,
            TypeKind::Double => f.write_str("DOUBLE")?,
            TypeKind::Decimal { precision, scale } => write!(f, "DECIMAL({precision}, {scale})")?,
            TypeKind::Char(n) => write!(f, "CHAR({n})")?,
            TypeKind::VarChar(n) if *n == MAX_LENGTH => f.write_str("STRING")?,
            TypeKind::VarChar(n) => write!(f, "VARCHAR({n})")?,
            TypeKind::Binary(n) => write!(f, "BINARY({n})")?,
            TypeKind::VarBinary(n) if *n == MAX_LENGTH => f.write_str("BYTES")?,
            TypeKind::VarBinary(n) => write!(f, "VARBINARY({n})")?,
            TypeKind::Date => f.write_str("DATE")?,
            TypeKind::Time(p) => write!(f, "TIME({p})")?,
            TypeKind::Timestamp(p) => write!(f, "TIMESTAMP({p})")?,
            TypeKind::LocalZonedTimestamp(p) => write!(f, "TIMESTAMP({p}) WITH LOCAL TIME ZONE")?,
            TypeKind::Array(element) => write!(f, "ARRAY<{element}>")?,
            TypeKind::Map(key, value) => write!(f, "MAP<{key}, {value}>")?,
            TypeKind::Row(fields) => {
                f.write_str("ROW<")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{field}")?;
                }
                f.write_str(">")?;
            }
        }
        if !self.nullable {
            f.write_str(" NOT NULL")?;
        }
        Ok(())
    }
}

/// A field as Java's `DataField.asSQLString()`: `` `name` TYPE [COMMENT 'text'] ``.
impl fmt::Display for DataField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.name.replace('`', "``"), self.data_type)?;
        // Java skips empty descriptions too.
        if let Some(d) = self.description.as_deref().filter(|d| !d.is_empty()) {
            write!(f, " COMMENT '{}'", d.replace('\'', "''"))?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Tokens
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An unquoted word: a keyword or a field name.
    Word(String),
    /// A `` `quoted` `` identifier.
    Ident(String),
    /// A `'quoted'` string (field comments).
    Str(String),
    Int(String),
    Sym(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Byte offset in the input, for error messages.
    offset: usize,
}

impl Token {
    fn text(&self) -> String {
        match &self.tok {
            Tok::Word(s) | Tok::Int(s) => s.clone(),
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Sym(c) => c.to_string(),
        }
    }

    fn is_word(&self, keyword: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

fn is_symbol(c: char) -> bool {
    matches!(c, '<' | '>' | '(' | ')' | ',' | ':')
}

fn tokenize(input: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(offset, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if is_symbol(c) {
            chars.next();
            tokens.push(Token {
                tok: Tok::Sym(c),
                offset,
            });
        } else if c == '`' || c == '\'' {
            chars.next();
            let mut text = String::new();
            let mut closed = false;
            while let Some((_, d)) = chars.next() {
                if d == c {
                    // A doubled delimiter is an escaped delimiter.
                    if chars.peek().map(|&(_, n)| n) == Some(c) {
                        chars.next();
                        text.push(c);
                    } else {
                        closed = true;
                        break;
                    }
                } else {
                    text.push(d);
                }
            }
            if !closed {
                return Err(invalid!(
                    "unterminated {c} quote at position {offset} in type '{input}'"
                ));
            }
            let tok = if c == '`' {
                Tok::Ident(text)
            } else {
                Tok::Str(text)
            };
            tokens.push(Token { tok, offset });
        } else if c.is_ascii_digit() {
            let mut text = String::new();
            while let Some(&(_, d)) = chars.peek() {
                if !d.is_ascii_digit() {
                    break;
                }
                text.push(d);
                chars.next();
            }
            tokens.push(Token {
                tok: Tok::Int(text),
                offset,
            });
        } else {
            let mut text = String::new();
            while let Some(&(_, d)) = chars.peek() {
                if d.is_whitespace() || is_symbol(d) || d == '`' || d == '\'' {
                    break;
                }
                text.push(d);
                chars.next();
            }
            tokens.push(Token {
                tok: Tok::Word(text),
                offset,
            });
        }
    }
    Ok(tokens)
}

// ------------------------------------------------------------------------------------------
// Parser
// ------------------------------------------------------------------------------------------

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

/// Types Paimon has that Strata does not model; named so the error says so.
const UNSUPPORTED: &[&str] = &[
    "MULTISET",
    "VARIANT",
    "BLOB",
    "VECTOR",
    "GEOMETRY",
    "GEOGRAPHY",
    "INTERVAL",
    "RAW",
];

impl<'a> Parser<'a> {
    fn error_at(&self, offset: usize, problem: &str) -> Error {
        invalid!("{problem} at position {offset} in type '{}'", self.input)
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_is_word(&self, keyword: &str) -> bool {
        self.peek().is_some_and(|t| t.is_word(keyword))
    }

    fn peek_is_sym(&self, c: char) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Sym(s), .. }) if *s == c)
    }

    fn next(&mut self, expected: &str) -> Result<Token> {
        match self.tokens.get(self.pos) {
            Some(tok) => {
                self.pos += 1;
                Ok(tok.clone())
            }
            None => Err(invalid!(
                "expected {expected} but the type string ended in '{}'",
                self.input
            )),
        }
    }

    fn expect_sym(&mut self, c: char) -> Result<()> {
        let tok = self.next(&format!("'{c}'"))?;
        match tok.tok {
            Tok::Sym(s) if s == c => Ok(()),
            _ => Err(self.error_at(
                tok.offset,
                &format!("expected '{c}' but found '{}'", tok.text()),
            )),
        }
    }

    fn expect_word(&mut self, keyword: &str) -> Result<()> {
        let tok = self.next(keyword)?;
        if tok.is_word(keyword) {
            Ok(())
        } else {
            Err(self.error_at(
                tok.offset,
                &format!("expected {keyword} but found '{}'", tok.text()),
            ))
        }
    }

    fn expect_int(&mut self) -> Result<(u64, usize)> {
        let tok = self.next("a number")?;
        match &tok.tok {
            Tok::Int(digits) => match digits.parse::<u64>() {
                Ok(n) => Ok((n, tok.offset)),
                Err(_) => Err(self.error_at(tok.offset, &format!("number {digits} is too large"))),
            },
            _ => Err(self.error_at(
                tok.offset,
                &format!("expected a number but found '{}'", tok.text()),
            )),
        }
    }

    /// `NOT NULL` → false, `NULL` or nothing → true.
    fn parse_nullability(&mut self) -> Result<bool> {
        if self.peek_is_word("NOT") {
            self.pos += 1;
            self.expect_word("NULL")?;
            Ok(false)
        } else if self.peek_is_word("NULL") {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(true)
        }
    }

    fn parse_type(&mut self, depth: usize) -> Result<DataType> {
        if depth > MAX_NESTING {
            return Err(invalid!(
                "type nests deeper than {MAX_NESTING} levels in '{}'",
                self.input
            ));
        }
        let kind = self.parse_kind(depth)?;
        let mut ty = DataType::new(kind).with_nullable(self.parse_nullability()?);
        // Java's suffix notation: `INT NOT NULL ARRAY`.
        if self.peek_is_word("ARRAY") {
            self.pos += 1;
            ty = DataType::new(TypeKind::Array(Box::new(ty)))
                .with_nullable(self.parse_nullability()?);
        }
        Ok(ty)
    }

    fn parse_kind(&mut self, depth: usize) -> Result<TypeKind> {
        let tok = self.next("a type")?;
        let word = match &tok.tok {
            Tok::Word(w) => w.to_ascii_uppercase(),
            _ => {
                return Err(self.error_at(
                    tok.offset,
                    &format!("expected a type but found '{}'", tok.text()),
                ))
            }
        };
        let kind = match word.as_str() {
            "BOOLEAN" => TypeKind::Boolean,
            "TINYINT" => TypeKind::TinyInt,
            "SMALLINT" => TypeKind::SmallInt,
            "INT" | "INTEGER" => TypeKind::Int,
            "BIGINT" => TypeKind::BigInt,
            "FLOAT" => TypeKind::Float,
            "DOUBLE" => {
                if self.peek_is_word("PRECISION") {
                    self.pos += 1;
                }
                TypeKind::Double
            }
            "DATE" => TypeKind::Date,
            "STRING" => TypeKind::VarChar(MAX_LENGTH),
            "BYTES" => TypeKind::VarBinary(MAX_LENGTH),
            "CHAR" => TypeKind::Char(self.parse_length("CHAR")?),
            "VARCHAR" => TypeKind::VarChar(self.parse_length("VARCHAR")?),
            "BINARY" => TypeKind::Binary(self.parse_length("BINARY")?),
            "VARBINARY" => TypeKind::VarBinary(self.parse_length("VARBINARY")?),
            "DECIMAL" | "DEC" | "NUMERIC" => self.parse_decimal()?,
            "TIME" => {
                let p = self.parse_precision("TIME", 0)?;
                if self.peek_is_word("WITHOUT") {
                    self.pos += 1;
                    self.expect_word("TIME")?;
                    self.expect_word("ZONE")?;
                }
                TypeKind::Time(p)
            }
            "TIMESTAMP" => self.parse_timestamp(tok.offset)?,
            "TIMESTAMP_LTZ" => {
                TypeKind::LocalZonedTimestamp(self.parse_precision("TIMESTAMP_LTZ", 6)?)
            }
            "ARRAY" => {
                self.expect_sym('<')?;
                let element = self.parse_type(depth + 1)?;
                self.expect_sym('>')?;
                TypeKind::Array(Box::new(element))
            }
            "MAP" => {
                self.expect_sym('<')?;
                let key = self.parse_type(depth + 1)?;
                self.expect_sym(',')?;
                let value = self.parse_type(depth + 1)?;
                self.expect_sym('>')?;
                TypeKind::Map(Box::new(key), Box::new(value))
            }
            "ROW" => self.parse_row(depth)?,
            other if UNSUPPORTED.contains(&other) => {
                return Err(Error::unsupported(format!(
                    "type {other} in '{}' is not supported by Strata",
                    self.input
                )))
            }
            _ => {
                // The whole string is the clearest quote when the type itself is unknown.
                return Err(if tok.offset == 0 {
                    invalid!("unknown type '{}'", self.input)
                } else {
                    invalid!("unknown type '{}' in '{}'", tok.text(), self.input)
                });
            }
        };
        Ok(kind)
    }

    /// `(n)` with n in 1..=2147483647, default 1 (as Java's CHAR/VARCHAR/BINARY/VARBINARY).
    fn parse_length(&mut self, name: &str) -> Result<u32> {
        if !self.peek_is_sym('(') {
            return Ok(1);
        }
        self.pos += 1;
        let (n, offset) = self.expect_int()?;
        self.expect_sym(')')?;
        if n < 1 || n > u64::from(MAX_LENGTH) {
            return Err(self.error_at(
                offset,
                &format!("{name} length must be between 1 and {MAX_LENGTH}, got {n}"),
            ));
        }
        Ok(n as u32)
    }

    /// `(p)` with p in 0..=9.
    fn parse_precision(&mut self, name: &str, default: u8) -> Result<u8> {
        if !self.peek_is_sym('(') {
            return Ok(default);
        }
        self.pos += 1;
        let (p, offset) = self.expect_int()?;
        self.expect_sym(')')?;
        if p > 9 {
            return Err(self.error_at(
                offset,
                &format!("{name} precision must be between 0 and 9, got {p}"),
            ));
        }
        Ok(p as u8)
    }

    fn parse_decimal(&mut self) -> Result<TypeKind> {
        let (mut precision, mut scale, mut offset) = (10, 0, 0);
        if self.peek_is_sym('(') {
            self.pos += 1;
            (precision, offset) = self.expect_int()?;
            if self.peek_is_sym(',') {
                self.pos += 1;
                (scale, _) = self.expect_int()?;
            }
            self.expect_sym(')')?;
        }
        if !(1..=38).contains(&precision) {
            return Err(self.error_at(
                offset,
                &format!("DECIMAL precision must be between 1 and 38, got {precision}"),
            ));
        }
        if scale > precision {
            return Err(self.error_at(
                offset,
                &format!(
                    "DECIMAL scale must be between 0 and the precision {precision}, got {scale}"
                ),
            ));
        }
        Ok(TypeKind::Decimal {
            precision: precision as u8,
            scale: scale as u8,
        })
    }

    fn parse_timestamp(&mut self, offset: usize) -> Result<TypeKind> {
        let p = self.parse_precision("TIMESTAMP", 6)?;
        if self.peek_is_word("WITHOUT") {
            self.pos += 1;
            self.expect_word("TIME")?;
            self.expect_word("ZONE")?;
        } else if self.peek_is_word("WITH") {
            self.pos += 1;
            if self.peek_is_word("TIME") {
                return Err(Error::unsupported(format!(
                    "TIMESTAMP WITH TIME ZONE (at position {offset} in '{}') is not a Paimon type; \
                     use TIMESTAMP WITH LOCAL TIME ZONE",
                    self.input
                )));
            }
            self.expect_word("LOCAL")?;
            self.expect_word("TIME")?;
            self.expect_word("ZONE")?;
            return Ok(TypeKind::LocalZonedTimestamp(p));
        }
        Ok(TypeKind::Timestamp(p))
    }

    fn parse_row(&mut self, depth: usize) -> Result<TypeKind> {
        let close = if self.peek_is_sym('(') { ')' } else { '>' };
        self.expect_sym(if close == ')' { '(' } else { '<' })?;
        let mut fields: Vec<DataField> = Vec::new();
        if self.peek_is_sym(close) {
            self.pos += 1;
            return Ok(TypeKind::Row(fields));
        }
        loop {
            let tok = self.next("a field name")?;
            let name = match tok.tok {
                Tok::Word(w) | Tok::Ident(w) => w,
                _ => {
                    return Err(self.error_at(
                        tok.offset,
                        &format!("expected a field name but found '{}'", tok.text()),
                    ))
                }
            };
            if name.trim().is_empty() {
                return Err(self.error_at(tok.offset, "field names must not be blank"));
            }
            if fields.iter().any(|f| f.name == name) {
                return Err(self.error_at(tok.offset, &format!("duplicate field name '{name}'")));
            }
            if self.peek_is_sym(':') {
                self.pos += 1;
            }
            let data_type = self.parse_type(depth + 1)?;
            let mut description = None;
            if self.peek_is_word("COMMENT") {
                self.pos += 1;
                let tok = self.next("a quoted comment")?;
                match tok.tok {
                    Tok::Str(s) => description = Some(s),
                    _ => {
                        return Err(self.error_at(
                            tok.offset,
                            &format!("expected a quoted comment but found '{}'", tok.text()),
                        ))
                    }
                }
            } else if let Some(Token {
                tok: Tok::Str(s), ..
            }) = self.peek()
            {
                // Flink's spelling: `name TYPE 'comment'`.
                description = Some(s.clone());
                self.pos += 1;
            }
            let id = i32::try_from(fields.len()).unwrap_or(i32::MAX);
            fields.push(DataField {
                id,
                name,
                data_type,
                description,
            });
            if self.peek_is_sym(',') {
                self.pos += 1;
                continue;
            }
            self.expect_sym(close)?;
            return Ok(TypeKind::Row(fields));
        }
    }
}

#[cfg(test)]
mod tests;
