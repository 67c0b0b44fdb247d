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
    Timestamp { millis: i64, nanos_of_milli: i32 },
}
