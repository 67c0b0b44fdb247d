//! `debezium-json`: one Debezium change event per line, as Kafka Connect's JSON converter
//! writes it, with (`{"schema":…,"payload":{…}}`) or without the schema wrapper.
//!
//! Ops: `c` (create) and `r` (snapshot read) are `+I` of `after`; `u` is `-U` of `before`
//! when `before` is present (Postgres without REPLICA IDENTITY FULL sends none) then `+U`
//! of `after`; `d` is `-D` of `before`. `t` (truncate), `m` (message) and anything else are
//! errors. Kafka tombstones (a `null` line or a null payload) are skipped.
//!
//! Values: Debezium's default encodings are understood.
//! - With the schema wrapper, each column's semantic type decides: `…time.Date` (epoch
//!   days), `…time.Time`/`Timestamp` (milliseconds), `MicroTime`/`MicroTimestamp`,
//!   `NanoTime`/`NanoTimestamp`, Kafka Connect's `Date`/`Time`/`Timestamp`, `Decimal`
//!   (base64 unscaled bytes at the schema's `scale`) and `VariableScaleDecimal`
//!   (`{"scale","value"}`). `ZonedTimestamp` and other strings are read as text.
//! - Without it, a number for a DATE is epoch days, for a TIME epoch microseconds (Debezium's
//!   default for MySQL and Postgres), for a TIMESTAMP an epoch count in the column's own unit
//!   (what `time.precision.mode=adaptive` sends when the precisions match). Decimals must
//!   then be numbers or decimal strings (`decimal.handling.mode=double|string`): base64 bytes
//!   cannot be told from text without the schema.
//!
//! Values finer than the column (a MicroTimestamp into TIMESTAMP(3)) are errors, not
//! truncated.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::column::Enc;
use super::json::{describe, object_of, parse_line};
use super::text::NANOS_PER_DAY;
use super::{Fault, JsonLine, Rows, DELETE, INSERT, UPDATE_AFTER, UPDATE_BEFORE};

pub(crate) struct Debezium {
    /// The schema text the encodings below were derived from (schemas repeat on every line).
    schema_text: String,
    schema_encs: Vec<Enc>,
    /// Encodings for lines without a schema.
    default_encs: Vec<Enc>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    schema: Option<&'a RawValue>,
    /// Present-but-null (a tombstone) is `Some("null")`, absent is `None`.
    #[serde(borrow, default, deserialize_with = "present")]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    op: Option<String>,
    #[serde(borrow, default)]
    before: Option<&'a RawValue>,
    #[serde(borrow, default)]
    after: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A Kafka Connect schema (only what decoding needs).
#[derive(Deserialize)]
struct ConnectSchema {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    fields: Option<Vec<ConnectSchema>>,
    #[serde(default)]
    parameters: Option<HashMap<String, serde_json::Value>>,
}

impl Debezium {
    pub(crate) fn new(rows: &Rows) -> Self {
        Debezium {
            schema_text: String::new(),
            schema_encs: Vec::new(),
            default_encs: vec![Enc::EpochDefault; rows.width()],
        }
    }

    /// Column encodings from the envelope schema's `after` (or `before`) struct.
    fn encodings(&mut self, schema: &str, rows: &Rows) -> Result<(), Fault> {
        if schema == self.schema_text {
            return Ok(());
        }
        let parsed: ConnectSchema = serde_json::from_str(schema)
            .map_err(|e| Fault::line(format!("unreadable Debezium schema: {}", describe(&e))))?;
        let row = parsed
            .fields
            .unwrap_or_default()
            .into_iter()
            .filter(|f| matches!(f.field.as_deref(), Some("after" | "before")))
            .find_map(|f| f.fields)
            .ok_or_else(|| Fault::line("the Debezium schema has no 'after' or 'before' struct"))?;
        let mut encs = vec![Enc::Plain; self.default_encs.len()];
        for f in &row {
            let index = f.field.as_deref().and_then(|name| rows.index_of(name));
            if let Some(slot) = index.and_then(|i| encs.get_mut(i)) {
                *slot = encoding(f);
            }
        }
        self.schema_text = schema.to_string();
        self.schema_encs = encs;
        Ok(())
    }
}

fn encoding(f: &ConnectSchema) -> Enc {
    match f.name.as_deref().unwrap_or_default() {
        "io.debezium.time.Date" | "org.apache.kafka.connect.data.Date" => Enc::Epoch(NANOS_PER_DAY),
        "io.debezium.time.Time"
        | "io.debezium.time.Timestamp"
        | "org.apache.kafka.connect.data.Time"
        | "org.apache.kafka.connect.data.Timestamp" => Enc::Epoch(1_000_000),
        "io.debezium.time.MicroTime" | "io.debezium.time.MicroTimestamp" => Enc::Epoch(1_000),
        "io.debezium.time.NanoTime" | "io.debezium.time.NanoTimestamp" => Enc::Epoch(1),
        "org.apache.kafka.connect.data.Decimal" => {
            let scale = f.parameters.as_ref().and_then(|p| p.get("scale"));
            let scale = match scale {
                Some(serde_json::Value::String(s)) => s.parse().ok(),
                Some(serde_json::Value::Number(n)) => {
                    n.as_i64().and_then(|n| i32::try_from(n).ok())
                }
                _ => Some(0),
            };
            scale.map_or(Enc::Plain, Enc::DecimalBytes)
        }
        "io.debezium.data.VariableScaleDecimal" => Enc::VariableDecimal,
        _ => Enc::Plain,
    }
}

impl JsonLine for Debezium {
    fn decode(&mut self, line: &str, rows: &mut Rows) -> Result<(), Fault> {
        if line == "null" {
            return Ok(());
        }
        let outer: Envelope = parse_line(line)?;
        let (event, schema) = match (&outer.op, outer.payload) {
            (None, Some(payload)) if payload.get() == "null" => return Ok(()),
            (None, Some(payload)) => {
                let inner: Envelope = parse_line(payload.get())
                    .map_err(|_| Fault::line("the Debezium payload is not a JSON object"))?;
                (inner, outer.schema.filter(|s| s.get() != "null"))
            }
            _ => (outer, None),
        };
        let encs = match schema {
            Some(schema) => {
                self.encodings(schema.get(), rows)?;
                &self.schema_encs
            }
            None => &self.default_encs,
        };
        let op = event
            .op
            .ok_or_else(|| Fault::line("the Debezium event has no 'op'"))?;
        let mut push = |kind, raw: &RawValue, which: &str| -> Result<(), Fault> {
            let entries = object_of(raw, &format!("'{which}'"))?;
            let mut slots = rows.slots();
            rows.place(&entries, &mut slots, false)?;
            rows.push_json(kind, &slots, encs)
        };
        match op.as_str() {
            "c" | "r" => push(INSERT, needs(event.after, &op, "after")?, "after"),
            "u" => {
                let after = needs(event.after, &op, "after")?;
                if let Some(before) = event.before {
                    push(UPDATE_BEFORE, before, "before")?;
                }
                push(UPDATE_AFTER, after, "after")
            }
            "d" => push(DELETE, needs(event.before, &op, "before")?, "before"),
            other => Err(Fault::line(format!("unknown Debezium op '{other}'"))),
        }
    }
}

fn needs<'a>(row: Option<&'a RawValue>, op: &str, which: &str) -> Result<&'a RawValue, Fault> {
    row.ok_or_else(|| Fault::line(format!("Debezium op '{op}' has no '{which}' row")))
}

#[cfg(test)]
#[path = "debezium_tests.rs"]
mod tests;
