#![allow(clippy::unwrap_used)]
use std::sync::Arc;

use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;

use super::*;

fn batch(name: &str, array: ArrayRef) -> RecordBatch {
    let schema = Schema::new(vec![Field::new(name, array.data_type().clone(), true)]);
    RecordBatch::try_new(Arc::new(schema), vec![array]).unwrap()
}

fn values(array: &StringArray) -> Vec<String> {
    array.iter().map(|v| v.unwrap().to_owned()).collect()
}

#[test]
fn sequences_compare_numerically_whatever_their_digit_count() {
    let seqs: ArrayRef = Arc::new(StringArray::from(vec![
        Some("9"),
        Some("00010"),
        None,
        Some("123456789012345678901234567890"),
    ]));
    let order =
        values(&order_column(&batch("seq", seqs), OrderingColumn::Sequence("seq"), "1|k").unwrap());
    assert!(order[0] < order[1], "9 before 10");
    assert!(order[2] < order[0], "no value sorts first");
    assert!(order[1] < order[3]);
}

#[test]
fn integer_sequences_and_digit_strings_share_one_encoding() {
    let ints: ArrayRef = Arc::new(Int64Array::from(vec![42]));
    let text: ArrayRef = Arc::new(StringArray::from(vec!["0042"]));
    let a = values(&order_column(&batch("s", ints), OrderingColumn::Sequence("s"), "f").unwrap());
    let b = values(&order_column(&batch("s", text), OrderingColumn::Sequence("s"), "f").unwrap());
    assert_eq!(a, b);
}

#[test]
fn bad_sequence_values_name_the_row() {
    let text: ArrayRef = Arc::new(StringArray::from(vec!["1", "12a"]));
    let err = order_column(&batch("s", text), OrderingColumn::Sequence("s"), "f").unwrap_err();
    assert_eq!(
        err,
        ChangeOrderError::BadSequence {
            row: 2,
            column: "s".into(),
            value: "12a".into()
        }
    );
    let negative: ArrayRef = Arc::new(Int64Array::from(vec![-1]));
    let err = order_column(&batch("s", negative), OrderingColumn::Sequence("s"), "f").unwrap_err();
    assert!(matches!(err, ChangeOrderError::BadSequence { row: 1, .. }));
}

#[test]
fn equal_timestamps_are_ordered_by_file_then_row() {
    let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
        1_700_000_000_000_000,
        1_700_000_000_000_000,
    ]));
    let b = batch("ts", ts);
    let earlier_file = values(
        &order_column(
            &b,
            OrderingColumn::CommitTimestamp("ts"),
            "1|20240101-000000000|s/t/a.csv",
        )
        .unwrap(),
    );
    let later_file = values(
        &order_column(
            &b,
            OrderingColumn::CommitTimestamp("ts"),
            "1|20240101-000000000|s/t/a.csv.gz",
        )
        .unwrap(),
    );
    assert!(
        earlier_file[0] < earlier_file[1],
        "row position breaks a tie inside a file"
    );
    assert!(
        earlier_file[1] < later_file[0],
        "a file key that prefixes another sorts first"
    );
    assert!(earlier_file[0].starts_with("12023-11-14T22:13:20.000000"));
}

#[test]
fn a_newer_timestamp_wins_over_file_and_row_position() {
    let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![2_000_000, 1_000_000]));
    let order = values(
        &order_column(&batch("ts", ts), OrderingColumn::CommitTimestamp("ts"), "f").unwrap(),
    );
    assert!(order[1] < order[0]);
}

#[test]
fn missing_ordering_column_orders_by_file_and_row_only() {
    let other: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let order = values(
        &order_column(
            &batch("x", other),
            OrderingColumn::CommitTimestamp("ts"),
            "f",
        )
        .unwrap(),
    );
    assert_eq!(
        order,
        vec!["0\u{1F}f\u{1F}0000000000", "0\u{1F}f\u{1F}0000000001"]
    );
}

#[test]
fn unsupported_ordering_type_is_rejected() {
    let floats: ArrayRef = Arc::new(arrow::array::Float64Array::from(vec![1.0]));
    let err = order_column(&batch("s", floats), OrderingColumn::Sequence("s"), "f").unwrap_err();
    assert!(matches!(err, ChangeOrderError::UnsupportedType { .. }));
}
