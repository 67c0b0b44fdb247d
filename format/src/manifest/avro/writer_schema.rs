//! The writer schema from an Avro file header, reduced to what decoding needs.
//!
//! Parsed by hand rather than with `apache_avro::Schema` so that a hostile header cannot make
//! decoding recurse without consuming input: a named type can only be referenced after its
//! definition is complete, so recursive types are rejected and every schema is a finite tree.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

/// One Avro type. Logical types decode as their underlying type.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum(usize),
    Array(Box<Node>),
    Map(Box<Node>),
    Union(Vec<Node>),
    Record(Arc<RecordNode>),
}

#[derive(Debug)]
pub(crate) struct RecordNode {
    pub fields: Vec<(String, Node)>,
}

impl RecordNode {
    pub fn index_of(&self, field: &str) -> Option<usize> {
        self.fields.iter().position(|(name, _)| name == field)
    }
}

impl Node {
    /// The fewest bytes one value of this type occupies; bounds how many array items a block
    /// can claim before any allocation.
    pub fn min_encoded_len(&self) -> usize {
        match self {
            Node::Null => 0,
            Node::Boolean | Node::Int | Node::Long | Node::Enum(_) => 1,
            Node::Bytes | Node::String | Node::Array(_) | Node::Map(_) | Node::Union(_) => 1,
            Node::Float => 4,
            Node::Double => 8,
            Node::Fixed(n) => *n,
            Node::Record(r) => r.fields.iter().fold(0usize, |acc, (_, f)| {
                acc.saturating_add(f.min_encoded_len())
            }),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Boolean => "boolean",
            Node::Int => "int",
            Node::Long => "long",
            Node::Float => "float",
            Node::Double => "double",
            Node::Bytes => "bytes",
            Node::String => "string",
            Node::Fixed(_) => "fixed",
            Node::Enum(_) => "enum",
            Node::Array(_) => "array",
            Node::Map(_) => "map",
            Node::Union(_) => "union",
            Node::Record(_) => "record",
        }
    }
}

/// Parses the `avro.schema` header value.
pub(crate) fn parse_writer_schema(text: &str) -> Result<Node, String> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| format!("writer schema is not JSON: {e}"))?;
    Parser::default().parse(&json, "")
}

#[derive(Default)]
struct Parser {
    named: HashMap<String, Node>,
}

impl Parser {
    fn parse(&mut self, json: &Json, namespace: &str) -> Result<Node, String> {
        match json {
            Json::String(name) => self.named_or_primitive(name, namespace),
            Json::Array(branches) => {
                let nodes = branches
                    .iter()
                    .map(|b| self.parse(b, namespace))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Node::Union(nodes))
            }
            Json::Object(obj) => self.complex(obj, namespace),
            other => Err(format!("unexpected schema value {other}")),
        }
    }

    fn named_or_primitive(&self, name: &str, namespace: &str) -> Result<Node, String> {
        Ok(match name {
            "null" => Node::Null,
            "boolean" => Node::Boolean,
            "int" => Node::Int,
            "long" => Node::Long,
            "float" => Node::Float,
            "double" => Node::Double,
            "bytes" => Node::Bytes,
            "string" => Node::String,
            _ => {
                let full = full_name(name, namespace);
                self.named
                    .get(&full)
                    .or_else(|| self.named.get(name))
                    .cloned()
                    .ok_or_else(|| format!("unknown or recursive type reference `{name}`"))?
            }
        })
    }

    fn complex(&mut self, obj: &Map<String, Json>, namespace: &str) -> Result<Node, String> {
        let ty = match obj.get("type") {
            Some(Json::String(t)) => t.as_str(),
            // `{"type": {...}}` and `{"type": [...]}` wrap another schema.
            Some(inner @ (Json::Object(_) | Json::Array(_))) => {
                return self.parse(inner, namespace)
            }
            _ => return Err("schema object without a string `type`".to_string()),
        };
        match ty {
            "record" | "error" => {
                let (full, ns) = self.declared_name(obj, namespace)?;
                let Some(Json::Array(fields_json)) = obj.get("fields") else {
                    return Err(format!("record `{full}` has no `fields` array"));
                };
                let mut fields = Vec::with_capacity(fields_json.len());
                for f in fields_json {
                    let name = f
                        .get("name")
                        .and_then(Json::as_str)
                        .ok_or_else(|| format!("a field of record `{full}` has no name"))?;
                    let ty = f
                        .get("type")
                        .ok_or_else(|| format!("field `{name}` of `{full}` has no type"))?;
                    fields.push((name.to_string(), self.parse(ty, &ns)?));
                }
                let node = Node::Record(Arc::new(RecordNode { fields }));
                self.register(full, node.clone());
                Ok(node)
            }
            "enum" => {
                let (full, _) = self.declared_name(obj, namespace)?;
                let count = obj
                    .get("symbols")
                    .and_then(Json::as_array)
                    .map(Vec::len)
                    .ok_or_else(|| format!("enum `{full}` has no symbols"))?;
                let node = Node::Enum(count);
                self.register(full, node.clone());
                Ok(node)
            }
            "fixed" => {
                let (full, _) = self.declared_name(obj, namespace)?;
                let size = obj
                    .get("size")
                    .and_then(Json::as_u64)
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or_else(|| format!("fixed `{full}` has no valid size"))?;
                let node = Node::Fixed(size);
                self.register(full, node.clone());
                Ok(node)
            }
            "array" => {
                let items = obj.get("items").ok_or("array without `items`")?;
                Ok(Node::Array(Box::new(self.parse(items, namespace)?)))
            }
            "map" => {
                let values = obj.get("values").ok_or("map without `values`")?;
                Ok(Node::Map(Box::new(self.parse(values, namespace)?)))
            }
            primitive => self.named_or_primitive(primitive, namespace),
        }
    }

    fn declared_name(
        &self,
        obj: &Map<String, Json>,
        namespace: &str,
    ) -> Result<(String, String), String> {
        let name = obj
            .get("name")
            .and_then(Json::as_str)
            .ok_or("named type without a name")?;
        let ns = obj
            .get("namespace")
            .and_then(Json::as_str)
            .unwrap_or(namespace);
        let full = full_name(name, ns);
        let own_ns = full
            .rsplit_once('.')
            .map(|(ns, _)| ns)
            .unwrap_or("")
            .to_string();
        Ok((full, own_ns))
    }

    fn register(&mut self, full: String, node: Node) {
        if let Some((_, simple)) = full.rsplit_once('.') {
            self.named
                .entry(simple.to_string())
                .or_insert_with(|| node.clone());
        }
        self.named.insert(full, node);
    }
}

fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_recursive_record() {
        let err = parse_writer_schema(
            r#"{"type":"record","name":"a","fields":[{"name":"x","type":"a"}]}"#,
        )
        .unwrap_err();
        assert!(err.contains("recursive"), "{err}");
    }

    #[test]
    fn resolves_reference_after_definition() {
        let node = parse_writer_schema(
            r#"{"type":"record","name":"r","namespace":"n","fields":[
                {"name":"a","type":{"type":"fixed","name":"f","size":3}},
                {"name":"b","type":"f"},
                {"name":"c","type":"n.f"},
                {"name":"t","type":["null",{"type":"long","logicalType":"timestamp-millis"}]}]}"#,
        )
        .unwrap();
        let Node::Record(r) = node else { panic!() };
        assert!(matches!(r.fields[1].1, Node::Fixed(3)));
        assert!(matches!(r.fields[2].1, Node::Fixed(3)));
        assert_eq!(r.fields[3].1.min_encoded_len(), 1);
        assert_eq!(Node::Record(r.clone()).min_encoded_len(), 3 + 3 + 3 + 1);
    }
}
