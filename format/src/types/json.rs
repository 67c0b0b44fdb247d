//! Types and fields as they appear in Paimon schema JSON, and Jackson-style pretty printing.
//!
//! Atomic types are their SQL string (`"DECIMAL(10, 2) NOT NULL"`). Nested types are objects,
//! as Java's `serializeJson` writes them:
//! `{"type":"ARRAY","element":t}`, `{"type":"MAP","key":k,"value":v}`,
//! `{"type":"ROW","fields":[field, ...]}`, with `"ARRAY NOT NULL"` etc. when not nullable.
//! A field is `{"id":0,"name":"k","type":t[,"description":"..."]}`.
//!
//! Reading is lenient where writers differ: pypaimon adds `"nullable"` to nested objects (it
//! is honoured), Java may add `"defaultValue"` to fields (ignored: `DataField` has no slot for
//! it), and atomic types may also be spelled as an object `{"type":"INT"}`.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{DataField, DataType, TypeKind};
use crate::error::{Error, Result};
use crate::invalid;

/// serde_json refuses deeper input anyway; this guards values built in memory.
const MAX_DEPTH: usize = 128;

impl DataType {
    /// Decodes a type from its schema-JSON form (a string or a nested-type object).
    pub fn from_json_value(value: &Value) -> Result<DataType> {
        type_from_json(value, 0)
    }

    /// Encodes a type in its schema-JSON form.
    pub fn to_json_value(&self) -> Value {
        // Serializing into a Value cannot fail: every key is a string.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl DataField {
    /// Decodes a field from its schema-JSON object.
    pub fn from_json_value(value: &Value) -> Result<DataField> {
        field_from_json(value, 0)
    }

    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn nullable_suffix(root: &str, nullable: bool) -> String {
    if nullable {
        root.to_string()
    } else {
        format!("{root} NOT NULL")
    }
}

impl Serialize for DataType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.kind {
            TypeKind::Array(element) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("type", &nullable_suffix("ARRAY", self.nullable))?;
                map.serialize_entry("element", element.as_ref())?;
                map.end()
            }
            TypeKind::Map(key, value) => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("type", &nullable_suffix("MAP", self.nullable))?;
                map.serialize_entry("key", key.as_ref())?;
                map.serialize_entry("value", value.as_ref())?;
                map.end()
            }
            TypeKind::Row(fields) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("type", &nullable_suffix("ROW", self.nullable))?;
                map.serialize_entry("fields", fields)?;
                map.end()
            }
            _ => serializer.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for DataType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        DataType::from_json_value(&value).map_err(D::Error::custom)
    }
}

impl Serialize for DataField {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = if self.description.is_some() { 4 } else { 3 };
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("type", &self.data_type)?;
        if let Some(description) = &self.description {
            map.serialize_entry("description", description)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DataField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        DataField::from_json_value(&value).map_err(D::Error::custom)
    }
}

/// A short rendering of untrusted JSON for error messages.
fn excerpt(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

fn type_from_json(value: &Value, depth: usize) -> Result<DataType> {
    if depth > MAX_DEPTH {
        return Err(invalid!("type nests deeper than {MAX_DEPTH} levels"));
    }
    let object = match value {
        Value::String(s) => return DataType::parse(s),
        Value::Object(object) => object,
        other => {
            return Err(invalid!(
                "a type must be a string or an object, got {}",
                excerpt(other)
            ))
        }
    };
    let type_name = object.get("type").and_then(Value::as_str).ok_or_else(|| {
        invalid!(
            "a nested type object needs a string \"type\", got {}",
            excerpt(value)
        )
    })?;
    let upper = type_name.trim().to_ascii_uppercase();
    let (root, mut nullable) = if let Some(root) = upper.strip_suffix(" NOT NULL") {
        (root.trim_end(), false)
    } else if let Some(root) = upper.strip_suffix(" NULL") {
        (root.trim_end(), true)
    } else {
        (upper.as_str(), true)
    };
    // pypaimon writes an explicit "nullable" next to the type name.
    if object.get("nullable").and_then(Value::as_bool) == Some(false) {
        nullable = false;
    }
    let child = |key: &str| -> Result<DataType> {
        let v = object
            .get(key)
            .ok_or_else(|| invalid!("{root} type object has no \"{key}\""))?;
        type_from_json(v, depth + 1).map_err(|e| e.context(format!("{root} {key}")))
    };
    let kind = match root {
        "ARRAY" => TypeKind::Array(Box::new(child("element")?)),
        "MAP" => TypeKind::Map(Box::new(child("key")?), Box::new(child("value")?)),
        "ROW" => {
            let items = object
                .get("fields")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid!("ROW type object has no \"fields\" array"))?;
            let fields = items
                .iter()
                .map(|f| field_from_json(f, depth + 1))
                .collect::<Result<Vec<_>>>()?;
            check_unique_names(&fields)?;
            TypeKind::Row(fields)
        }
        "MULTISET" | "VECTOR" => {
            return Err(Error::unsupported(format!(
                "type {root} is not supported by Strata"
            )))
        }
        // Java only writes objects for nested types; an atomic name here is still clear.
        _ => {
            let ty = DataType::parse(type_name)?;
            return Ok(if nullable {
                ty
            } else {
                ty.with_nullable(false)
            });
        }
    };
    Ok(DataType::new(kind).with_nullable(nullable))
}

fn check_unique_names(fields: &[DataField]) -> Result<()> {
    for (i, f) in fields.iter().enumerate() {
        if fields.iter().take(i).any(|g| g.name == f.name) {
            return Err(invalid!("duplicate field name '{}' in ROW", f.name));
        }
    }
    Ok(())
}

fn field_from_json(value: &Value, depth: usize) -> Result<DataField> {
    let object: &Map<String, Value> = value
        .as_object()
        .ok_or_else(|| invalid!("a field must be an object, got {}", excerpt(value)))?;
    let name = match object.get("name") {
        Some(Value::String(name)) => name.clone(),
        _ => {
            return Err(invalid!(
                "a field needs a string \"name\", got {}",
                excerpt(value)
            ))
        }
    };
    let id = object
        .get("id")
        .and_then(Value::as_i64)
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| invalid!("field '{name}' needs an integer \"id\" that fits in 32 bits"))?;
    let data_type = object
        .get("type")
        .ok_or_else(|| invalid!("field '{name}' has no \"type\""))
        .and_then(|t| type_from_json(t, depth + 1))
        .map_err(|e| e.context(format!("field '{name}'")))?;
    let description = match object.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(other) => {
            return Err(invalid!(
                "field '{name}' has a non-string description {}",
                excerpt(other)
            ))
        }
    };
    Ok(DataField {
        id,
        name,
        data_type,
        description,
    })
}

/// Pretty-prints JSON the way Paimon Java's Jackson `DefaultPrettyPrinter` does, so files we
/// write look like the ones Java writes: `"key" : value`, two-space indent, arrays inline as
/// `[ a, b ]`, empty containers as `[ ]` and `{ }`, no trailing newline.
pub fn to_pretty_json(value: &Value) -> String {
    let mut out = String::new();
    write_pretty(&mut out, value, 0);
    out
}

fn write_pretty(out: &mut String, value: &Value, nesting: usize) {
    match value {
        Value::Object(map) if map.is_empty() => out.push_str("{ }"),
        Value::Object(map) => {
            out.push('{');
            for (i, (key, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(out, nesting + 1);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(" : ");
                write_pretty(out, v, nesting + 1);
            }
            newline_indent(out, nesting);
            out.push('}');
        }
        Value::Array(items) if items.is_empty() => out.push_str("[ ]"),
        Value::Array(items) => {
            // Jackson indents arrays inline, so they do not add a nesting level.
            out.push_str("[ ");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_pretty(out, v, nesting);
            }
            out.push_str(" ]");
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn newline_indent(out: &mut String, nesting: usize) {
    out.push('\n');
    for _ in 0..nesting {
        out.push_str("  ");
    }
}

#[cfg(test)]
mod tests;
