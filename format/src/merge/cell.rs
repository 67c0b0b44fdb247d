//! Values during a merge: a field's running value ([`Acc`]) is null, a version's cell, or a
//! computed one-row array, so pass-through functions never copy data.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
};
use arrow_array::{Array, ArrayRef, BooleanArray, PrimitiveArray};
use arrow_buffer::i256;
use arrow_ord::ord::make_comparator;
use arrow_schema::{DataType as ArrowType, SortOptions};

use super::{FieldValue, MergeInput};
use crate::error::{Error, Result};

/// A value and its row.
pub(crate) type Cell<'a> = (&'a dyn Array, usize);

/// A field's running value.
#[derive(Debug, Clone)]
pub(crate) enum Acc {
    Null,
    /// The field's (non-null) value in version `i`.
    At(usize),
    /// A computed non-null value: a one-row array.
    Owned(ArrayRef),
}

impl Acc {
    /// The value of `field` in `version`, or null.
    pub fn of(input: &MergeInput<'_>, field: usize, version: usize) -> Acc {
        match input.cell(field, version) {
            Some(_) => Acc::At(version),
            None => Acc::Null,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Acc::Null)
    }

    pub fn cell<'s>(&'s self, input: &'s MergeInput<'_>, field: usize) -> Option<Cell<'s>> {
        match self {
            Acc::Null => None,
            Acc::At(v) => input.cell(field, *v),
            Acc::Owned(a) => Some((a.as_ref(), 0)),
        }
    }

    pub fn into_field_value(self) -> FieldValue {
        match self {
            Acc::Null => FieldValue::Null,
            Acc::At(v) => FieldValue::Version(v),
            Acc::Owned(a) => FieldValue::Value(a),
        }
    }
}

/// Compares two non-null values of one type as Paimon does (`InternalRowUtils.compare`:
/// floats by `Float.compare`, strings and bytes bytewise, false < true).
pub(crate) fn compare(a: Cell<'_>, b: Cell<'_>) -> Result<Ordering> {
    let cmp = make_comparator(a.0, b.0, SortOptions::default()).map_err(|e| {
        Error::data_invalid(format!(
            "cannot compare values of type {}: {e}",
            a.0.data_type()
        ))
    })?;
    Ok(cmp(a.1, b.1))
}

/// A number read from a cell, widened for arithmetic.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    F32(f32),
    F64(f64),
    Dec(i128),
}

fn read_num(c: Cell<'_>) -> Result<Num> {
    let (a, r) = c;
    Ok(match a.data_type() {
        ArrowType::Int8 => Num::Int(a.as_primitive::<Int8Type>().value(r).into()),
        ArrowType::Int16 => Num::Int(a.as_primitive::<Int16Type>().value(r).into()),
        ArrowType::Int32 => Num::Int(a.as_primitive::<Int32Type>().value(r).into()),
        ArrowType::Int64 => Num::Int(a.as_primitive::<Int64Type>().value(r)),
        ArrowType::Float32 => Num::F32(a.as_primitive::<Float32Type>().value(r)),
        ArrowType::Float64 => Num::F64(a.as_primitive::<Float64Type>().value(r)),
        ArrowType::Decimal128(_, _) => Num::Dec(a.as_primitive::<Decimal128Type>().value(r)),
        other => {
            return Err(Error::data_invalid(format!(
                "expected a numeric value, got type {other}"
            )))
        }
    })
}

/// A one-row array of `data_type` holding `n` (integers wrap to the type's width, as Java).
fn num_array(n: Num, data_type: &ArrowType) -> Result<ArrayRef> {
    Ok(match (data_type, n) {
        (ArrowType::Int8, Num::Int(v)) => Arc::new(PrimitiveArray::<Int8Type>::from(vec![v as i8])),
        (ArrowType::Int16, Num::Int(v)) => {
            Arc::new(PrimitiveArray::<Int16Type>::from(vec![v as i16]))
        }
        (ArrowType::Int32, Num::Int(v)) => {
            Arc::new(PrimitiveArray::<Int32Type>::from(vec![v as i32]))
        }
        (ArrowType::Int64, Num::Int(v)) => Arc::new(PrimitiveArray::<Int64Type>::from(vec![v])),
        (ArrowType::Float32, Num::F32(v)) => Arc::new(PrimitiveArray::<Float32Type>::from(vec![v])),
        (ArrowType::Float64, Num::F64(v)) => Arc::new(PrimitiveArray::<Float64Type>::from(vec![v])),
        (ArrowType::Decimal128(p, s), Num::Dec(v)) => Arc::new(
            PrimitiveArray::<Decimal128Type>::from(vec![v]).with_precision_and_scale(*p, *s)?,
        ),
        (t, n) => {
            return Err(Error::internal(format!(
                "number {n:?} does not fit type {t}"
            )))
        }
    })
}

/// Arithmetic of `sum` and `product` and their retractions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// `a op b` with Java's semantics: integers wrap (of the column's width), integer division
/// by zero is an error, decimals keep their scale (HALF_UP) and become null when the result
/// needs more digits than the precision.
pub(crate) fn arith(a: Cell<'_>, b: Cell<'_>, op: Op) -> Result<Acc> {
    let data_type = a.0.data_type().clone();
    let (x, y) = (read_num(a)?, read_num(b)?);
    let result = match (x, y) {
        (Num::Int(x), Num::Int(y)) => {
            let bits = match data_type {
                ArrowType::Int8 => 8,
                ArrowType::Int16 => 16,
                ArrowType::Int32 => 32,
                _ => 64,
            };
            let v = match op {
                Op::Add => x.wrapping_add(y),
                Op::Sub => x.wrapping_sub(y),
                Op::Mul => x.wrapping_mul(y),
                Op::Div => {
                    if y == 0 {
                        return Err(Error::data_invalid("product retraction divides by zero"));
                    }
                    x.wrapping_div(y)
                }
            };
            // Sign-extend from the column's width: Java's narrowing cast.
            Num::Int(if bits == 64 {
                v
            } else {
                (v << (64 - bits)) >> (64 - bits)
            })
        }
        (Num::F32(x), Num::F32(y)) => Num::F32(match op {
            Op::Add => x + y,
            Op::Sub => x - y,
            Op::Mul => x * y,
            Op::Div => x / y,
        }),
        (Num::F64(x), Num::F64(y)) => Num::F64(match op {
            Op::Add => x + y,
            Op::Sub => x - y,
            Op::Mul => x * y,
            Op::Div => x / y,
        }),
        (Num::Dec(x), Num::Dec(y)) => {
            let ArrowType::Decimal128(p, s) = data_type else {
                return Err(Error::internal("decimal without decimal type"));
            };
            match decimal_arith(x, y, op, p, s as u32)? {
                Some(v) => Num::Dec(v),
                None => return Ok(Acc::Null),
            }
        }
        _ => {
            return Err(Error::data_invalid(format!(
                "cannot combine values of types {} and {}",
                a.0.data_type(),
                b.0.data_type()
            )))
        }
    };
    Ok(Acc::Owned(num_array(result, &data_type)?))
}

/// `-a` (a retraction with nothing to retract from).
pub(crate) fn negate(a: Cell<'_>) -> Result<Acc> {
    let data_type = a.0.data_type().clone();
    let n = match read_num(a)? {
        Num::Int(v) => {
            let bits = match data_type {
                ArrowType::Int8 => 8,
                ArrowType::Int16 => 16,
                ArrowType::Int32 => 32,
                _ => 64,
            };
            let v = v.wrapping_neg();
            Num::Int(if bits == 64 {
                v
            } else {
                (v << (64 - bits)) >> (64 - bits)
            })
        }
        Num::F32(v) => Num::F32(-v),
        Num::F64(v) => Num::F64(-v),
        Num::Dec(v) => Num::Dec(-v),
    };
    Ok(Acc::Owned(num_array(n, &data_type)?))
}

fn pow10(n: u32) -> i256 {
    let mut v = i256::ONE;
    for _ in 0..n {
        v = v.wrapping_mul(i256::from_i128(10));
    }
    v
}

/// Divides rounding half away from zero (Java's `RoundingMode.HALF_UP`).
fn div_half_up(n: i256, d: i256) -> i256 {
    let (q, r) = (n.wrapping_div(d), n.wrapping_rem(d));
    let twice = r.wrapping_abs().wrapping_mul(i256::from_i128(2));
    if twice >= d.wrapping_abs() {
        let negative = (n < i256::ZERO) != (d < i256::ZERO);
        if negative {
            q.wrapping_sub(i256::ONE)
        } else {
            q.wrapping_add(i256::ONE)
        }
    } else {
        q
    }
}

/// Unscaled decimal arithmetic at scale `s`; `None` when the result exceeds precision `p`.
fn decimal_arith(x: i128, y: i128, op: Op, p: u8, s: u32) -> Result<Option<i128>> {
    let (x, y) = (i256::from_i128(x), i256::from_i128(y));
    let v = match op {
        Op::Add => x.wrapping_add(y),
        Op::Sub => x.wrapping_sub(y),
        // Both have scale s, the product has 2s: back to s with HALF_UP.
        Op::Mul => div_half_up(x.wrapping_mul(y), pow10(s)),
        Op::Div => {
            if y == i256::ZERO {
                return Err(Error::data_invalid("product retraction divides by zero"));
            }
            if !terminates(x, y) {
                return Err(Error::data_invalid(
                    "product retraction: the quotient has a non-terminating decimal expansion",
                ));
            }
            div_half_up(x.wrapping_mul(pow10(s)), y)
        }
    };
    let limit = pow10(u32::from(p));
    if v.wrapping_abs() >= limit {
        return Ok(None);
    }
    Ok(v.to_i128())
}

/// Whether `x / y` has a finite decimal expansion (Java's exact `BigDecimal.divide`).
fn terminates(x: i256, y: i256) -> bool {
    let (mut a, mut b) = (x.wrapping_abs(), y.wrapping_abs());
    while b != i256::ZERO {
        let t = a.wrapping_rem(b);
        a = b;
        b = t;
    }
    let mut d = y
        .wrapping_abs()
        .wrapping_div(if a == i256::ZERO { i256::ONE } else { a });
    for f in [2i128, 5] {
        let f = i256::from_i128(f);
        while d != i256::ZERO && d.wrapping_rem(f) == i256::ZERO {
            d = d.wrapping_div(f);
        }
    }
    d == i256::ONE
}

/// A boolean cell's value.
pub(crate) fn read_bool(c: Cell<'_>) -> Result<bool> {
    match c.0.as_boolean_opt() {
        Some(b) => Ok(b.value(c.1)),
        None => Err(Error::data_invalid(format!(
            "expected a BOOLEAN value, got type {}",
            c.0.data_type()
        ))),
    }
}

pub(crate) fn bool_array(v: bool) -> ArrayRef {
    Arc::new(BooleanArray::from(vec![v]))
}

/// A string cell's value.
pub(crate) fn read_str(c: Cell<'_>) -> Result<&str> {
    match c.0.as_string_opt::<i32>() {
        Some(s) => Ok(s.value(c.1)),
        None => Err(Error::data_invalid(format!(
            "expected a STRING value, got type {}",
            c.0.data_type()
        ))),
    }
}

/// A binary cell's value.
pub(crate) fn read_bytes(c: Cell<'_>) -> Result<&[u8]> {
    match c.0.as_binary_opt::<i32>() {
        Some(s) => Ok(s.value(c.1)),
        None => Err(Error::data_invalid(format!(
            "expected a BYTES value, got type {}",
            c.0.data_type()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(v: i128, p: u8, s: i8) -> ArrayRef {
        Arc::new(
            PrimitiveArray::<Decimal128Type>::from(vec![v])
                .with_precision_and_scale(p, s)
                .unwrap(),
        )
    }

    fn dec_value(acc: &Acc) -> Option<i128> {
        match acc {
            Acc::Owned(a) => Some(a.as_primitive::<Decimal128Type>().value(0)),
            _ => None,
        }
    }

    #[test]
    fn decimal_arithmetic_rounds_half_up_and_overflows_to_null() {
        // 1.25 * 1.25 = 1.5625 -> 1.56; -1.25 * 1.25 -> -1.56; 1.5 * 1.5 at scale 1 -> 2.3
        let (a, b) = (dec(125, 10, 2), dec(125, 10, 2));
        let r = arith((a.as_ref(), 0), (b.as_ref(), 0), Op::Mul).unwrap();
        assert_eq!(dec_value(&r), Some(156));
        let n = dec(-125, 10, 2);
        let r = arith((n.as_ref(), 0), (b.as_ref(), 0), Op::Mul).unwrap();
        assert_eq!(dec_value(&r), Some(-156));
        let h = dec(15, 3, 1);
        let r = arith((h.as_ref(), 0), (h.as_ref(), 0), Op::Mul).unwrap();
        assert_eq!(dec_value(&r), Some(23));
        // 99.9 + 0.1 needs 4 digits in DECIMAL(3, 1): null, as Paimon.
        let (x, y) = (dec(999, 3, 1), dec(1, 3, 1));
        let r = arith((x.as_ref(), 0), (y.as_ref(), 0), Op::Add).unwrap();
        assert!(r.is_null());
        // 1 / 3 does not terminate; 1 / 4 does: 0.25 -> 0.3 at scale 1 (HALF_UP).
        let (one, three, four) = (dec(10, 3, 1), dec(30, 3, 1), dec(40, 3, 1));
        let err = arith((one.as_ref(), 0), (three.as_ref(), 0), Op::Div).unwrap_err();
        assert!(err.to_string().contains("non-terminating"), "{err}");
        let r = arith((one.as_ref(), 0), (four.as_ref(), 0), Op::Div).unwrap();
        assert_eq!(dec_value(&r), Some(3));
    }

    #[test]
    fn integers_wrap_like_java_and_division_by_zero_fails() {
        let a: ArrayRef = Arc::new(PrimitiveArray::<Int8Type>::from(vec![120i8]));
        let b: ArrayRef = Arc::new(PrimitiveArray::<Int8Type>::from(vec![10i8]));
        let r = arith((a.as_ref(), 0), (b.as_ref(), 0), Op::Add).unwrap();
        let Acc::Owned(r) = r else {
            panic!("expected a value")
        };
        assert_eq!(r.as_primitive::<Int8Type>().value(0), -126);
        let z: ArrayRef = Arc::new(PrimitiveArray::<Int8Type>::from(vec![0i8]));
        let err = arith((a.as_ref(), 0), (z.as_ref(), 0), Op::Div).unwrap_err();
        assert!(err.to_string().contains("divides by zero"), "{err}");
    }
}
