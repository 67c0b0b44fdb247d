use std::cmp::Ordering;

/// One non-null value of a Paimon type. Nulls are `Option::None` around a `Datum`.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Boolean(bool),
    TinyInt(i8),
    SmallInt(i16),
    Int(i32),
    BigInt(i64),
    Float(f32),
    Double(f64),
    /// Unscaled value; precision and scale come from the type.
    Decimal(i128),
    /// CHAR, VARCHAR and STRING.
    String(String),
    /// BINARY, VARBINARY and BYTES.
    Binary(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Milliseconds of the day.
    Time(i32),
    /// TIMESTAMP and TIMESTAMP_LTZ: epoch milliseconds plus the nanoseconds within that
    /// millisecond (0..=999_999), as Paimon's `Timestamp` holds them.
    Timestamp {
        millis: i64,
        nanos_of_milli: i32,
    },
}

impl Datum {
    /// Short name of the variant, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Datum::Boolean(_) => "BOOLEAN",
            Datum::TinyInt(_) => "TINYINT",
            Datum::SmallInt(_) => "SMALLINT",
            Datum::Int(_) => "INT",
            Datum::BigInt(_) => "BIGINT",
            Datum::Float(_) => "FLOAT",
            Datum::Double(_) => "DOUBLE",
            Datum::Decimal(_) => "DECIMAL",
            Datum::String(_) => "STRING",
            Datum::Binary(_) => "BINARY",
            Datum::Date(_) => "DATE",
            Datum::Time(_) => "TIME",
            Datum::Timestamp { .. } => "TIMESTAMP",
        }
    }

    /// Total order between two values of the same variant, as Paimon orders them for min/max
    /// statistics and keys; `None` when the variants differ.
    ///
    /// Strings compare by UTF-8 bytes and binaries by unsigned bytes (Rust's slice order is
    /// both). Floats follow Java's `Float.compare`/`Double.compare`: -0.0 < 0.0, and NaN equals
    /// itself and is above everything, +inf included. Decimals compare unscaled values, which
    /// is only meaningful when both have the type's scale.
    pub fn cmp_same_type(&self, other: &Datum) -> Option<Ordering> {
        Some(match (self, other) {
            (Datum::Boolean(a), Datum::Boolean(b)) => a.cmp(b),
            (Datum::TinyInt(a), Datum::TinyInt(b)) => a.cmp(b),
            (Datum::SmallInt(a), Datum::SmallInt(b)) => a.cmp(b),
            (Datum::Int(a), Datum::Int(b)) => a.cmp(b),
            (Datum::BigInt(a), Datum::BigInt(b)) => a.cmp(b),
            (Datum::Float(a), Datum::Float(b)) => java_float_cmp(*a, *b),
            (Datum::Double(a), Datum::Double(b)) => java_double_cmp(*a, *b),
            (Datum::Decimal(a), Datum::Decimal(b)) => a.cmp(b),
            (Datum::String(a), Datum::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Datum::Binary(a), Datum::Binary(b)) => a.cmp(b),
            (Datum::Date(a), Datum::Date(b)) => a.cmp(b),
            (Datum::Time(a), Datum::Time(b)) => a.cmp(b),
            (
                Datum::Timestamp {
                    millis: am,
                    nanos_of_milli: an,
                },
                Datum::Timestamp {
                    millis: bm,
                    nanos_of_milli: bn,
                },
            ) => (am, an).cmp(&(bm, bn)),
            _ => return None,
        })
    }
}

/// Java's `Float.compare`. `total_cmp` alone would put negative NaNs below -inf.
fn java_float_cmp(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.total_cmp(&b),
    }
}

/// Java's `Double.compare`.
fn java_double_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.total_cmp(&b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_order_like_java() {
        let f = |v: f32| Datum::Float(v);
        let neg_nan = f32::from_bits(0xffc0_0000);
        let cases = [
            (f(-0.0), f(0.0), Ordering::Less),
            (f(f32::NAN), f(f32::INFINITY), Ordering::Greater),
            (f(neg_nan), f(f32::NEG_INFINITY), Ordering::Greater),
            (f(f32::NAN), f(neg_nan), Ordering::Equal),
            (f(1.0), f(f32::NAN), Ordering::Less),
            (f(-1.5), f(-1.0), Ordering::Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.cmp_same_type(&b), Some(want), "{a:?} vs {b:?}");
        }
        let d = |v: f64| Datum::Double(v);
        assert_eq!(
            d(f64::NAN).cmp_same_type(&d(f64::MAX)),
            Some(Ordering::Greater)
        );
        assert_eq!(d(-0.0).cmp_same_type(&d(0.0)), Some(Ordering::Less));
    }

    #[test]
    fn strings_and_binaries_compare_unsigned_bytes() {
        let s = |v: &str| Datum::String(v.to_string());
        // U+00E9 starts with 0xC3, above every ASCII byte.
        assert_eq!(s("\u{e9}").cmp_same_type(&s("z")), Some(Ordering::Greater));
        assert_eq!(s("ab").cmp_same_type(&s("abc")), Some(Ordering::Less));
        // U+FFFD (EF BF BD) sorts below U+10000 (F0 ...) by bytes, unlike UTF-16 order.
        assert_eq!(
            s("\u{fffd}").cmp_same_type(&s("\u{10000}")),
            Some(Ordering::Less)
        );
        let b = |v: &[u8]| Datum::Binary(v.to_vec());
        assert_eq!(
            b(&[0x80]).cmp_same_type(&b(&[0x7f])),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn timestamps_and_mismatches() {
        let ts = |millis, nanos_of_milli| Datum::Timestamp {
            millis,
            nanos_of_milli,
        };
        assert_eq!(ts(5, 1).cmp_same_type(&ts(5, 0)), Some(Ordering::Greater));
        assert_eq!(
            ts(-1, 999_999).cmp_same_type(&ts(0, 0)),
            Some(Ordering::Less)
        );
        assert_eq!(Datum::Int(1).cmp_same_type(&Datum::BigInt(1)), None);
        assert_eq!(
            Datum::Boolean(false).cmp_same_type(&Datum::Boolean(true)),
            Some(Ordering::Less)
        );
    }
}
