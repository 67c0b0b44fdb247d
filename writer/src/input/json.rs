//! JSON without loss: numbers keep their exact text (serde_json's `RawValue`), so a
//! DECIMAL(38, 10) or a BIGINT near 2^63 arrives exactly as written, and objects keep their
//! key order (map entries are read in the order they appear).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::error::Category;
use serde_json::value::RawValue;

use super::Fault;

/// One JSON value, classified but not converted: scalars are text, containers stay raw.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    /// The number exactly as written.
    Number(&'a str),
    /// A JSON string (unescaped), or a plain text field (CSV, Canal).
    String(Cow<'a, str>),
    /// The raw text of an array.
    Array(&'a str),
    /// The raw text of an object.
    Object(&'a str),
}

impl<'a> Json<'a> {
    /// Classifies valid JSON text (from a `RawValue`).
    pub(crate) fn of(raw: &'a RawValue) -> Result<Json<'a>, String> {
        let text = raw.get().trim();
        Ok(match text.as_bytes().first() {
            Some(b'n') => Json::Null,
            Some(b't') => Json::Bool(true),
            Some(b'f') => Json::Bool(false),
            Some(b'"') => Json::String(
                serde_json::from_str::<Text>(text)
                    .map_err(|e| e.to_string())?
                    .0,
            ),
            Some(b'[') => Json::Array(text),
            Some(b'{') => Json::Object(text),
            _ => Json::Number(text),
        })
    }

    /// The value as written, for messages.
    pub(crate) fn text(&self) -> &str {
        match self {
            Json::Null => "null",
            Json::Bool(true) => "true",
            Json::Bool(false) => "false",
            Json::Number(t) | Json::Array(t) | Json::Object(t) => t,
            Json::String(s) => s,
        }
    }
}

/// A JSON string, borrowed when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The entries of a JSON object in order, values raw.
#[derive(Debug)]
pub(crate) struct Entries<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Text<'de>, &'de RawValue>()? {
                    out.push((k.0, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The entries of the JSON object `text`.
pub(crate) fn entries(text: &str) -> Result<Entries<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

/// The entries of a JSON object that is one part of a line (`what`: `'after'`, `'data'`…).
pub(crate) fn object_of<'a>(raw: &'a RawValue, what: &str) -> Result<Entries<'a>, Fault> {
    entries(raw.get()).map_err(|_| Fault::line(format!("{what} is not a JSON object")))
}

/// A whole line parsed as `T`, with the error worded for a line.
pub(crate) fn parse_line<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, Fault> {
    if !line.trim_start().starts_with('{') {
        // Syntax errors first; valid JSON of another shape (serde would map an array onto a
        // struct by position) is not an event either.
        serde_json::from_str::<serde::de::IgnoredAny>(line)
            .map_err(|e| Fault::line(describe(&e)))?;
        return Err(Fault::line("expected a JSON object"));
    }
    serde_json::from_str(line).map_err(|e| Fault::line(describe(&e)))
}

/// `malformed JSON: … at column C` for syntax errors, the bare message for shape errors.
pub(crate) fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text);
    match e.classify() {
        Category::Syntax | Category::Eof => {
            format!("malformed JSON: {message} at column {}", e.column())
        }
        Category::Data | Category::Io => format!("unexpected JSON: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn classifies_without_loss() {
        assert_eq!(
            Json::of(raw("12345678901234567890.123456789")),
            Ok(Json::Number("12345678901234567890.123456789"))
        );
        assert_eq!(Json::of(raw(r#""a\"b""#)), Ok(Json::String("a\"b".into())));
        assert!(matches!(
            Json::of(raw(r#""ab""#)),
            Ok(Json::String(Cow::Borrowed("ab")))
        ));
        assert_eq!(Json::of(raw(" [1, 2] ")), Ok(Json::Array("[1, 2]")));
        assert_eq!(Json::of(raw("null")), Ok(Json::Null));
        assert_eq!(
            Json::of(raw("false")).map(|j| j.text().to_string()),
            Ok("false".into())
        );
    }

    #[test]
    fn entries_keep_order_and_escapes() {
        let e = entries(r#"{"b": 1, "a\u00e9": {"x": [1]}, "b": 2.50}"#).unwrap();
        let keys: Vec<&str> = e.0.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "aé", "b"]);
        assert_eq!(e.0[2].1.get(), "2.50");
    }

    #[test]
    fn errors_are_one_line() {
        let e = serde_json::from_str::<Entries>("{\"a\": }").unwrap_err();
        assert_eq!(describe(&e), "malformed JSON: expected value at column 7");
        let e = serde_json::from_str::<Entries>("[1]").unwrap_err();
        assert_eq!(
            describe(&e),
            "unexpected JSON: invalid type: sequence, expected a JSON object"
        );
    }
}
