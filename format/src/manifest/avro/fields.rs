//! By-name access to a decoded record, the way Java Paimon's Avro reader resolves fields:
//! writer-only fields are ignored, fields the writer lacks read as absent.

use std::sync::Arc;

use super::decode::Datum;
use super::writer_schema::RecordNode;
use super::FileRole;
use crate::error::{Error, Result};
use crate::invalid;

/// The fields of one decoded record; values are moved out as they are read.
pub(crate) struct Fields {
    role: FileRole,
    /// Dotted path of this record inside the top-level record, "" at the top.
    path: String,
    node: Arc<RecordNode>,
    values: Vec<Datum>,
}

impl Fields {
    pub fn new(role: FileRole, path: String, datum: Datum) -> Result<Self> {
        match datum {
            Datum::Record(node, values) => Ok(Fields {
                role,
                path,
                node,
                values,
            }),
            other => Err(invalid!(
                "{role}: `{}` is {}, expected a record",
                display_path(&path),
                other.type_name()
            )),
        }
    }

    pub fn role(&self) -> FileRole {
        self.role
    }

    /// Reads `_VERSION` and rejects versions this code does not know how to interpret.
    pub fn check_version(&mut self, expected: i32) -> Result<()> {
        let version = self.req_i32("_VERSION")?;
        if version == expected {
            Ok(())
        } else {
            Err(Error::unsupported(format!(
                "{}: unsupported _VERSION {version} (this reader knows version {expected})",
                self.role
            )))
        }
    }

    fn full(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// `None` when the writer schema has no such field.
    fn take(&mut self, name: &str) -> Option<Datum> {
        let i = self.node.index_of(name)?;
        self.values.get_mut(i).map(std::mem::take)
    }

    fn required(&mut self, name: &str) -> Result<Datum> {
        match self.take(name) {
            None => Err(invalid!(
                "{}: missing required field `{}`",
                self.role,
                self.full(name)
            )),
            Some(Datum::Null) => Err(invalid!(
                "{}: required field `{}` is null",
                self.role,
                self.full(name)
            )),
            Some(d) => Ok(d),
        }
    }

    fn optional(&mut self, name: &str) -> Option<Datum> {
        match self.take(name) {
            None | Some(Datum::Null) => None,
            Some(d) => Some(d),
        }
    }

    fn mismatch(&self, name: &str, got: &Datum, want: &str) -> crate::Error {
        invalid!(
            "{}: field `{}` is {}, expected {want}",
            self.role,
            self.full(name),
            got.type_name()
        )
    }

    fn as_i32(&self, name: &str, d: Datum) -> Result<i32> {
        match d {
            Datum::Int(v) => Ok(v),
            other => Err(self.mismatch(name, &other, "int")),
        }
    }

    /// Accepts `int` too: Avro promotes int to long.
    fn as_i64(&self, name: &str, d: Datum) -> Result<i64> {
        match d {
            Datum::Long(v) => Ok(v),
            Datum::Int(v) => Ok(i64::from(v)),
            other => Err(self.mismatch(name, &other, "long")),
        }
    }

    fn as_string(&self, name: &str, d: Datum) -> Result<String> {
        match d {
            Datum::String(v) => Ok(v),
            other => Err(self.mismatch(name, &other, "string")),
        }
    }

    /// Accepts `string` too: Avro promotes between string and bytes.
    fn as_bytes(&self, name: &str, d: Datum) -> Result<Vec<u8>> {
        match d {
            Datum::Bytes(v) => Ok(v),
            Datum::String(v) => Ok(v.into_bytes()),
            other => Err(self.mismatch(name, &other, "bytes")),
        }
    }

    fn as_array(&self, name: &str, d: Datum) -> Result<Vec<Datum>> {
        match d {
            Datum::Array(v) => Ok(v),
            other => Err(self.mismatch(name, &other, "array")),
        }
    }

    fn as_record(&self, name: &str, d: Datum) -> Result<Fields> {
        Fields::new(self.role, self.full(name), d)
    }

    /// Converts each array item; `null` items are rejected unless `item` handles them.
    fn items<T>(
        &self,
        name: &str,
        d: Datum,
        item: impl Fn(&Self, &str, Datum) -> Result<T>,
    ) -> Result<Vec<T>> {
        let element = format!("{name}[]");
        self.as_array(name, d)?
            .into_iter()
            .map(|x| item(self, &element, x))
            .collect()
    }

    pub fn req_i32(&mut self, name: &str) -> Result<i32> {
        let d = self.required(name)?;
        self.as_i32(name, d)
    }

    pub fn req_i64(&mut self, name: &str) -> Result<i64> {
        let d = self.required(name)?;
        self.as_i64(name, d)
    }

    pub fn req_string(&mut self, name: &str) -> Result<String> {
        let d = self.required(name)?;
        self.as_string(name, d)
    }

    pub fn req_bytes(&mut self, name: &str) -> Result<Vec<u8>> {
        let d = self.required(name)?;
        self.as_bytes(name, d)
    }

    pub fn req_record(&mut self, name: &str) -> Result<Fields> {
        let d = self.required(name)?;
        self.as_record(name, d)
    }

    pub fn req_string_list(&mut self, name: &str) -> Result<Vec<String>> {
        let d = self.required(name)?;
        self.items(name, d, Self::required_string_item)
    }

    pub fn opt_i32(&mut self, name: &str) -> Result<Option<i32>> {
        self.optional(name)
            .map(|d| self.as_i32(name, d))
            .transpose()
    }

    pub fn opt_i64(&mut self, name: &str) -> Result<Option<i64>> {
        self.optional(name)
            .map(|d| self.as_i64(name, d))
            .transpose()
    }

    pub fn opt_string(&mut self, name: &str) -> Result<Option<String>> {
        self.optional(name)
            .map(|d| self.as_string(name, d))
            .transpose()
    }

    pub fn opt_bytes(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        self.optional(name)
            .map(|d| self.as_bytes(name, d))
            .transpose()
    }

    pub fn opt_record(&mut self, name: &str) -> Result<Option<Fields>> {
        self.optional(name)
            .map(|d| self.as_record(name, d))
            .transpose()
    }

    pub fn opt_string_list(&mut self, name: &str) -> Result<Option<Vec<String>>> {
        self.optional(name)
            .map(|d| self.items(name, d, Self::required_string_item))
            .transpose()
    }

    pub fn opt_i64_list(&mut self, name: &str) -> Result<Option<Vec<i64>>> {
        self.optional(name)
            .map(|d| {
                self.items(name, d, |f, n, x| {
                    f.non_null(n, x).and_then(|x| f.as_i64(n, x))
                })
            })
            .transpose()
    }

    pub fn opt_i32_list(&mut self, name: &str) -> Result<Option<Vec<i32>>> {
        self.optional(name)
            .map(|d| {
                self.items(name, d, |f, n, x| {
                    f.non_null(n, x).and_then(|x| f.as_i32(n, x))
                })
            })
            .transpose()
    }

    /// An array whose items may be null, like `_NULL_COUNTS`.
    pub fn opt_nullable_i64_list(&mut self, name: &str) -> Result<Option<Vec<Option<i64>>>> {
        self.optional(name)
            .map(|d| {
                self.items(name, d, |f, n, x| match x {
                    Datum::Null => Ok(None),
                    x => f.as_i64(n, x).map(Some),
                })
            })
            .transpose()
    }

    /// An optional array of non-null records.
    pub fn opt_record_list(&mut self, name: &str) -> Result<Option<Vec<Fields>>> {
        self.optional(name)
            .map(|d| {
                self.items(name, d, |f, n, x| {
                    f.non_null(n, x)
                        .and_then(|x| Fields::new(f.role, f.full(n), x))
                })
            })
            .transpose()
    }

    fn non_null(&self, name: &str, d: Datum) -> Result<Datum> {
        match d {
            Datum::Null => Err(invalid!(
                "{}: `{}` contains a null item",
                self.role,
                self.full(name)
            )),
            d => Ok(d),
        }
    }

    fn required_string_item(&self, name: &str, d: Datum) -> Result<String> {
        self.non_null(name, d).and_then(|d| self.as_string(name, d))
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "<record>"
    } else {
        path
    }
}
