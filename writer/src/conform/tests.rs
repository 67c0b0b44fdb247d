use std::sync::Arc;

use arrow::array::{
    Decimal128Array, DictionaryArray, Int16Array, Int32Array, Int64Array, ListArray, StringArray,
    TimestampMicrosecondArray, TimestampNanosecondArray,
};
use arrow::datatypes::{Field, Int32Type, TimeUnit};

use super::*;

fn conform(array: ArrayRef, target: &ArrowType) -> Result<ArrayRef> {
    conform_column(&array, target)
}

#[test]
fn widening_and_exact_casts_pass() {
    let ints: ArrayRef = Arc::new(Int16Array::from(vec![Some(-5), None, Some(300)]));
    let wide = conform(ints.clone(), &ArrowType::Int64).unwrap();
    assert_eq!(
        wide.as_primitive::<arrow::datatypes::Int64Type>().value(2),
        300
    );
    let dec = conform(ints, &ArrowType::Decimal128(10, 2)).unwrap();
    assert_eq!(
        dec.as_primitive::<arrow::datatypes::Decimal128Type>()
            .value(0),
        -500
    );
    let dict: ArrayRef = Arc::new(
        vec!["a", "b", "a"]
            .into_iter()
            .collect::<DictionaryArray<Int32Type>>(),
    );
    let text = conform(dict, &ArrowType::Utf8).unwrap();
    assert_eq!(text.as_string::<i32>().value(2), "a");
    // Whole microseconds fit a nanosecond column; whole milliseconds fit a millisecond one.
    let micros: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![1_000, -2_000]));
    conform(
        micros.clone(),
        &ArrowType::Timestamp(TimeUnit::Nanosecond, None),
    )
    .unwrap();
    conform(micros, &ArrowType::Timestamp(TimeUnit::Millisecond, None)).unwrap();
    // Any zone is an instant for TIMESTAMP WITH LOCAL TIME ZONE.
    let zoned: ArrayRef =
        Arc::new(TimestampMicrosecondArray::from(vec![1]).with_timezone("+02:00"));
    conform(
        zoned,
        &ArrowType::Timestamp(TimeUnit::Microsecond, Some(LOCAL_ZONED_TIME_ZONE.into())),
    )
    .unwrap();
}

#[test]
fn lossy_casts_fail_and_name_the_row() {
    let nanos: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![1_000, 1_001]));
    let err = conform(nanos, &ArrowType::Timestamp(TimeUnit::Microsecond, None)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("row 1 of the batch would change"),
        "{err}"
    );
    let dec: ArrayRef = Arc::new(
        Decimal128Array::from(vec![12345, 12340])
            .with_precision_and_scale(10, 3)
            .unwrap(),
    );
    let err = conform(dec, &ArrowType::Decimal128(10, 2)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("row 0 of the batch would change"),
        "{err}"
    );
    let big: ArrayRef = Arc::new(Int64Array::from(vec![1, i64::MAX]));
    assert!(conform(big, &ArrowType::Int32).is_err());
    let decimal_overflow: ArrayRef = Arc::new(Int32Array::from(vec![1000]));
    assert!(conform(decimal_overflow, &ArrowType::Decimal128(4, 2)).is_err());
}

#[test]
fn unrelated_types_are_refused_without_parsing() {
    let text: ArrayRef = Arc::new(StringArray::from(vec!["1"]));
    let err = conform(text, &ArrowType::Int32).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the input has arrow type Utf8, which cannot be written losslessly as Int32"
    );
    let naive: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![1]));
    assert!(conform(
        naive,
        &ArrowType::Timestamp(TimeUnit::Microsecond, Some(LOCAL_ZONED_TIME_ZONE.into()))
    )
    .is_err());
}

#[test]
fn lists_with_other_child_names_are_renamed() {
    let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1), None]),
        None,
    ]));
    let target = ArrowType::List(Arc::new(Field::new("element", ArrowType::Int32, true)));
    let out = conform(list, &target).unwrap();
    assert_eq!(out.data_type(), &target);
    assert_eq!(out.len(), 2);
}

#[test]
fn row_kinds_from_strings_and_bytes() {
    let text: ArrayRef = Arc::new(StringArray::from(vec!["+I", "-U", "+U", "-D"]));
    assert_eq!(kinds_from_column(text.as_ref()).unwrap(), vec![0, 1, 2, 3]);
    let bytes: ArrayRef = Arc::new(arrow::array::Int8Array::from(vec![3, 0]));
    assert_eq!(kinds_from_column(bytes.as_ref()).unwrap(), vec![3, 0]);
    let bad: ArrayRef = Arc::new(arrow::array::Int8Array::from(vec![0, 4]));
    assert_eq!(
        kinds_from_column(bad.as_ref()).unwrap_err().to_string(),
        "row 1 has row kind '4'; expected +I, -U, +U or -D"
    );
    let wrong: ArrayRef = Arc::new(Int32Array::from(vec![0]));
    assert!(kinds_from_column(wrong.as_ref()).is_err());
}
