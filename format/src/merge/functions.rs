//! Paimon's field aggregate functions (`fields.<f>.aggregate-function`): parsing, type
//! checks, and `agg` / `agg_reversed` / `retract` on [`Acc`] values.
//!
//! Null handling follows Java's `Field*Agg` classes: most functions ignore a null on either
//! side; `last_value` and `first_value` take nulls as values.

use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, StringArray};

use super::cell::{self, Acc, Op};
use super::nested;
use super::MergeInput;
use crate::error::{Error, Result};
use crate::invalid;
use crate::options::CoreOptions;
use crate::types::{DataField, TypeKind, MAX_LENGTH};

/// One aggregate function with its options.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Func {
    Sum,
    Product,
    Max,
    Min,
    LastValue,
    LastNonNullValue,
    FirstValue,
    FirstNonNullValue,
    ListAgg {
        delimiter: String,
        distinct: bool,
    },
    BoolAnd,
    BoolOr,
    Collect {
        distinct: bool,
    },
    MergeMap,
    /// `nested-key` as indices into the element ROW; empty means whole-row equality.
    NestedUpdate {
        key: Vec<usize>,
        count_limit: usize,
    },
    Rbm32,
    Rbm64,
    HllSketch,
    ThetaSketch,
    /// Primary key columns: the input as is.
    PrimaryKey,
}

/// Names Paimon knows; those Strata cannot run yet are rejected with a reason.
const NAMES: &[&str] = &[
    "sum",
    "product",
    "max",
    "min",
    "last_value",
    "last_non_null_value",
    "first_value",
    "first_non_null_value",
    "first_not_null_value",
    "listagg",
    "bool_and",
    "bool_or",
    "collect",
    "merge_map",
    "nested_update",
    "rbm32",
    "rbm64",
    "hll_sketch",
    "theta_sketch",
    "merge_map_with_keytime",
    "nested_partial_update",
    "primary-key",
];

/// An aggregate function bound to one column.
#[derive(Debug, Clone)]
pub(crate) struct FieldAgg {
    pub func: Func,
    pub name: String,
    pub field: String,
    pub ignore_retract: bool,
}

impl FieldAgg {
    /// Resolves `name` for `field`, checking the column type and the function's options.
    pub fn new(name: &str, field: &DataField, options: &CoreOptions) -> Result<FieldAgg> {
        let f = &field.name;
        let t = &field.data_type;
        let bad_type = |what: &str| {
            invalid!(
                "aggregate function '{name}' of column '{f}' needs {what}, but the column is {t}"
            )
        };
        let numeric = matches!(
            t.kind,
            TypeKind::TinyInt
                | TypeKind::SmallInt
                | TypeKind::Int
                | TypeKind::BigInt
                | TypeKind::Float
                | TypeKind::Double
                | TypeKind::Decimal { .. }
        );
        let func = match name {
            "sum" | "product" if !numeric => return Err(bad_type("a numeric type")),
            "sum" => Func::Sum,
            "product" => Func::Product,
            "max" | "min" if t.is_nested() => {
                return Err(bad_type("a comparable (non-nested) type"))
            }
            "max" => Func::Max,
            "min" => Func::Min,
            "last_value" => Func::LastValue,
            "last_non_null_value" => Func::LastNonNullValue,
            "first_value" => Func::FirstValue,
            // Java keeps the old spelling as an alias.
            "first_non_null_value" | "first_not_null_value" => Func::FirstNonNullValue,
            "listagg" => {
                if t.kind != TypeKind::VarChar(MAX_LENGTH) {
                    return Err(bad_type("STRING (unbounded VARCHAR)"));
                }
                Func::ListAgg {
                    delimiter: options
                        .field_option(f, "list-agg-delimiter")
                        .unwrap_or(",")
                        .to_string(),
                    distinct: field_bool(options, f, "distinct")?,
                }
            }
            "bool_and" | "bool_or" if t.kind != TypeKind::Boolean => {
                return Err(bad_type("BOOLEAN"))
            }
            "bool_and" => Func::BoolAnd,
            "bool_or" => Func::BoolOr,
            "collect" => {
                if !matches!(t.kind, TypeKind::Array(_)) {
                    return Err(bad_type("an ARRAY type"));
                }
                Func::Collect {
                    distinct: field_bool(options, f, "distinct")?,
                }
            }
            "merge_map" => {
                if !matches!(t.kind, TypeKind::Map(_, _)) {
                    return Err(bad_type("a MAP type"));
                }
                Func::MergeMap
            }
            "nested_update" => nested_update(name, field, options)?,
            "rbm32" | "rbm64" | "hll_sketch" | "theta_sketch" => {
                if !matches!(t.kind, TypeKind::VarBinary(_)) {
                    return Err(bad_type("VARBINARY / BYTES"));
                }
                match name {
                    "rbm32" => Func::Rbm32,
                    "rbm64" => Func::Rbm64,
                    "hll_sketch" => Func::HllSketch,
                    _ => Func::ThetaSketch,
                }
            }
            "merge_map_with_keytime" | "nested_partial_update" => {
                return Err(Error::unsupported(format!(
                    "aggregate function '{name}' (column '{f}') is not supported by Strata"
                )))
            }
            "primary-key" => Func::PrimaryKey,
            other => {
                return Err(invalid!(
                    "unknown aggregate function '{other}' for column '{f}' (known: {})",
                    NAMES.join(", ")
                ))
            }
        };
        Ok(FieldAgg {
            func,
            name: name.to_string(),
            field: f.clone(),
            ignore_retract: field_bool(options, f, "ignore-retract")?,
        })
    }

    /// The identity of primary key columns.
    pub fn primary_key(field: &DataField) -> FieldAgg {
        FieldAgg {
            func: Func::PrimaryKey,
            name: "primary-key".into(),
            field: field.name.clone(),
            ignore_retract: false,
        }
    }

    /// Whether `retract` can succeed (for validation messages).
    pub fn can_retract(&self) -> bool {
        self.ignore_retract
            || matches!(
                self.func,
                Func::Sum
                    | Func::Product
                    | Func::Collect { .. }
                    | Func::MergeMap
                    | Func::NestedUpdate { .. }
                    | Func::LastValue
                    | Func::LastNonNullValue
                    | Func::PrimaryKey
            )
    }

    /// Folds `value` into `acc`; `seen` is the per-key state of `first_*` functions.
    pub fn agg(&self, ctx: &Ctx<'_, '_>, acc: Acc, value: Acc, seen: &mut bool) -> Result<Acc> {
        let (a, v) = (ctx.cell(&acc), ctx.cell(&value));
        match &self.func {
            Func::PrimaryKey | Func::LastValue => Ok(value),
            Func::LastNonNullValue => Ok(if value.is_null() { acc } else { value }),
            Func::FirstValue => Ok(if *seen {
                acc
            } else {
                *seen = true;
                value
            }),
            Func::FirstNonNullValue => Ok(if !*seen && !value.is_null() {
                *seen = true;
                value
            } else {
                acc
            }),
            // A blank input never counts, even against a null accumulator.
            Func::ListAgg {
                delimiter,
                distinct,
            } => listagg(a, v, delimiter, *distinct, acc.clone(), value.clone()),
            // Collect with distinct also de-duplicates a lone side.
            Func::Collect { distinct } => {
                nested::collect(ctx, a, v, *distinct, acc.clone(), value.clone())
            }
            _ => {
                let (Some(x), Some(y)) = (a, v) else {
                    return Ok(if acc.is_null() { value } else { acc });
                };
                match &self.func {
                    Func::Sum => cell::arith(x, y, Op::Add),
                    Func::Product => cell::arith(x, y, Op::Mul),
                    Func::Max => Ok(if cell::compare(x, y)?.is_lt() {
                        value
                    } else {
                        acc
                    }),
                    Func::Min => Ok(if cell::compare(x, y)?.is_lt() {
                        acc
                    } else {
                        value
                    }),
                    Func::BoolAnd => Ok(Acc::Owned(cell::bool_array(
                        cell::read_bool(x)? && cell::read_bool(y)?,
                    ))),
                    Func::BoolOr => Ok(Acc::Owned(cell::bool_array(
                        cell::read_bool(x)? || cell::read_bool(y)?,
                    ))),
                    Func::MergeMap => nested::merge_map(x, y),
                    Func::NestedUpdate { key, count_limit } => {
                        nested::nested_update(x, y, key, *count_limit, acc.clone())
                    }
                    Func::Rbm32 => rbm32(x, y),
                    Func::Rbm64 => binary(x, y, super::bitmap64::union),
                    Func::HllSketch => binary(x, y, super::sketches::hll_union),
                    Func::ThetaSketch => binary(x, y, super::sketches::theta_union),
                    _ => Err(Error::internal("aggregate function dispatch")),
                }
            }
        }
    }

    /// `agg` for a version older than the accumulator (partial-update sequence groups).
    pub fn agg_reversed(
        &self,
        ctx: &Ctx<'_, '_>,
        acc: Acc,
        value: Acc,
        seen: &mut bool,
    ) -> Result<Acc> {
        match self.func {
            // Java: the accumulator is already distinct, keep it first.
            Func::Collect { .. } => self.agg(ctx, acc, value, seen),
            _ => self.agg(ctx, value, acc, seen),
        }
    }

    /// Takes `value` (of a `-U`/`-D`) back out of `acc`.
    pub fn retract(&self, ctx: &Ctx<'_, '_>, acc: Acc, value: Acc) -> Result<Acc> {
        if self.ignore_retract {
            return Ok(acc);
        }
        let (a, v) = (ctx.cell(&acc), ctx.cell(&value));
        match &self.func {
            Func::PrimaryKey => Ok(value),
            Func::LastValue => Ok(Acc::Null),
            Func::LastNonNullValue => Ok(if value.is_null() { acc } else { Acc::Null }),
            Func::Sum => match (a, v) {
                (_, None) => Ok(acc),
                (None, Some(y)) => cell::negate(y),
                (Some(x), Some(y)) => cell::arith(x, y, Op::Sub),
            },
            Func::Product => match (a, v) {
                (Some(x), Some(y)) => cell::arith(x, y, Op::Div),
                _ => Ok(acc),
            },
            Func::Collect { .. } | Func::MergeMap | Func::NestedUpdate { .. } => {
                let (Some(x), Some(y)) = (a, v) else {
                    // Nothing to take from, or nothing to take.
                    return Ok(acc);
                };
                match &self.func {
                    Func::Collect { .. } => nested::collect_retract(x, y),
                    Func::MergeMap => nested::merge_map_retract(x, y),
                    Func::NestedUpdate { key, .. } => nested::nested_update_retract(x, y, key),
                    _ => Err(Error::internal("retract dispatch")),
                }
            }
            _ => Err(Error::data_invalid(format!(
                "aggregate function '{}' of column '{}' does not support retraction (-U/-D); \
                 set 'fields.{}.ignore-retract' = 'true' to ignore retractions",
                self.name, self.field, self.field
            ))),
        }
    }
}

/// Resolves cells of one field of one merge.
pub(crate) struct Ctx<'i, 'a> {
    pub input: &'i MergeInput<'a>,
    pub field: usize,
}

impl Ctx<'_, '_> {
    pub fn cell<'s>(&'s self, acc: &'s Acc) -> Option<cell::Cell<'s>> {
        acc.cell(self.input, self.field)
    }
}

fn field_bool(options: &CoreOptions, field: &str, suffix: &str) -> Result<bool> {
    match options.field_option(field, suffix) {
        None => Ok(false),
        Some(v) if v.trim().eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.trim().eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(invalid!(
            "option 'fields.{field}.{suffix}' must be true or false, got '{v}'"
        )),
    }
}

fn nested_update(name: &str, field: &DataField, options: &CoreOptions) -> Result<Func> {
    let f = &field.name;
    let element = match &field.data_type.kind {
        TypeKind::Array(e) => e,
        _ => {
            return Err(invalid!(
                "aggregate function '{name}' of column '{f}' needs ARRAY<ROW<...>>, but the \
                 column is {}",
                field.data_type
            ))
        }
    };
    let TypeKind::Row(row) = &element.kind else {
        return Err(invalid!(
            "aggregate function '{name}' of column '{f}' needs ARRAY<ROW<...>>, but the column \
             is {}",
            field.data_type
        ));
    };
    let mut key = Vec::new();
    if let Some(list) = options.field_option(f, "nested-key") {
        for k in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let i = row.iter().position(|r| r.name == k).ok_or_else(|| {
                invalid!(
                    "option 'fields.{f}.nested-key' names '{k}', which is not a field of {element}"
                )
            })?;
            key.push(i);
        }
    }
    let count_limit = match options.field_option(f, "count-limit") {
        None => usize::MAX,
        Some(v) => {
            let n: i32 = v.trim().parse().map_err(|_| {
                invalid!("option 'fields.{f}.count-limit' must be an integer, got '{v}'")
            })?;
            usize::try_from(n).map_err(|_| {
                invalid!("option 'fields.{f}.count-limit' must not be negative, got '{v}'")
            })?
        }
    };
    Ok(Func::NestedUpdate { key, count_limit })
}

/// Java `FieldListaggAgg`: a null or blank input leaves the accumulator as it is (a null
/// one included), a null or blank accumulator takes the input; with `distinct` only the
/// new value's non-blank tokens that the accumulator lacks are appended.
fn listagg(
    x: Option<cell::Cell<'_>>,
    y: Option<cell::Cell<'_>>,
    delimiter: &str,
    distinct: bool,
    acc: Acc,
    value: Acc,
) -> Result<Acc> {
    let b = match y {
        Some(y) => cell::read_str(y)?,
        None => return Ok(acc),
    };
    if java_is_blank(b) {
        return Ok(acc);
    }
    let a = match x {
        Some(x) => cell::read_str(x)?,
        None => return Ok(value),
    };
    if java_is_blank(a) {
        return Ok(value);
    }
    let mut out = a.to_string();
    if distinct {
        let mut seen: std::collections::HashSet<&str> = split_tokens(a, delimiter).collect();
        for token in split_tokens(b, delimiter) {
            if !java_is_blank(token) && seen.insert(token) {
                out.push_str(delimiter);
                out.push_str(token);
            }
        }
    } else {
        out.push_str(delimiter);
        out.push_str(b);
    }
    Ok(Acc::Owned(
        Arc::new(StringArray::from(vec![out])) as ArrayRef
    ))
}

/// Java's `StringUtils.isBlank`: empty, or only characters `Character.isWhitespace` accepts
/// (ASCII controls 9–13 and 28–31, and Unicode space separators except no-break spaces).
pub(crate) fn java_is_blank(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(
            c,
            '\u{9}'..='\u{d}'
                | '\u{1c}'..='\u{20}'
                | '\u{1680}'
                | '\u{2000}'..='\u{2006}'
                | '\u{2008}'..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{205f}'
                | '\u{3000}'
        )
    })
}

/// Splits by the whole delimiter, keeping empty tokens (an empty delimiter splits nothing).
fn split_tokens<'s>(s: &'s str, delimiter: &'s str) -> Box<dyn Iterator<Item = &'s str> + 's> {
    if delimiter.is_empty() {
        Box::new(std::iter::once(s))
    } else {
        Box::new(s.split(delimiter))
    }
}

/// Union of two 32-bit roaring bitmaps in the portable format Java's `RoaringBitmap` uses.
fn rbm32(x: cell::Cell<'_>, y: cell::Cell<'_>) -> Result<Acc> {
    let read = |c: cell::Cell<'_>| -> Result<roaring::RoaringBitmap> {
        roaring::RoaringBitmap::deserialize_from(cell::read_bytes(c)?).map_err(|e| {
            Error::data_invalid(format!(
                "rbm32 value is not a serialized roaring bitmap: {e}"
            ))
        })
    };
    let mut a = read(x)?;
    a |= read(y)?;
    let mut out = Vec::with_capacity(a.serialized_size());
    a.serialize_into(&mut out)
        .map_err(|e| Error::internal(format!("cannot serialize a roaring bitmap: {e}")))?;
    Ok(Acc::Owned(
        Arc::new(BinaryArray::from_vec(vec![out.as_slice()])) as ArrayRef,
    ))
}

/// A binary union of two non-null cells as a one-row BYTES array.
fn binary(
    x: cell::Cell<'_>,
    y: cell::Cell<'_>,
    union: fn(&[u8], &[u8]) -> Result<Vec<u8>>,
) -> Result<Acc> {
    let out = union(cell::read_bytes(x)?, cell::read_bytes(y)?)?;
    Ok(Acc::Owned(
        Arc::new(BinaryArray::from_vec(vec![out.as_slice()])) as ArrayRef,
    ))
}

/// Fails for a function name Paimon does not know.
pub(crate) fn check_known(name: &str) -> Result<()> {
    if NAMES.contains(&name) {
        Ok(())
    } else {
        Err(invalid!(
            "unknown aggregate function '{name}' in 'fields.default-aggregate-function' \
             (known: {})",
            NAMES.join(", ")
        ))
    }
}
