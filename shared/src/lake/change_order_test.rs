#![allow(clippy::unwrap_used)]
use std::sync::Arc;

use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};

use super::*;

fn values(array: &StringArray) -> Vec<String> {
    array.iter().map(|v| v.unwrap().to_owned()).collect()
}

fn sequence_order(seqs: ArrayRef, file: &str) -> Result<Vec<String>, ChangeOrderError> {
    let ordering = FileOrdering::Sequence {
        column: "seq",
        values: &seqs,
    };
    order_column(seqs.len(), ordering, file).map(|a| values(&a))
}

fn time_order(times: ArrayRef, file: &str) -> Result<Vec<String>, ChangeOrderError> {
    let times = CommitTimes::parse("ts", &times)?;
    let rows = times.micros().len();
    order_column(rows, FileOrdering::CommitTimes(&times), file).map(|a| values(&a))
}

fn text(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

#[test]
fn sequences_compare_numerically_whatever_their_digit_count() {
    let seqs: ArrayRef = Arc::new(StringArray::from(vec![
        Some("9"),
        Some("00010"),
        None,
        Some("123456789012345678901234567890"),
    ]));
    let order = sequence_order(seqs, "1|k").unwrap();
    assert!(order[0] < order[1], "9 before 10");
    assert!(order[2] < order[0], "no value sorts first");
    assert!(order[1] < order[3]);
}

#[test]
fn integer_sequences_and_digit_strings_share_one_encoding() {
    let ints: ArrayRef = Arc::new(Int64Array::from(vec![42]));
    assert_eq!(
        sequence_order(ints, "f").unwrap(),
        sequence_order(text(&["0042"]), "f").unwrap()
    );
}

#[test]
fn bad_sequence_values_name_the_row() {
    let err = sequence_order(text(&["1", "12a"]), "f").unwrap_err();
    assert_eq!(
        err,
        ChangeOrderError::BadSequence {
            row: 2,
            column: "seq".into(),
            value: "12a".into()
        }
    );
    let negative: ArrayRef = Arc::new(Int64Array::from(vec![-1]));
    let err = sequence_order(negative, "f").unwrap_err();
    assert!(matches!(err, ChangeOrderError::BadSequence { row: 1, .. }));
}

#[test]
fn equal_timestamps_are_ordered_by_file_then_row() {
    let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
        1_700_000_000_000_000,
        1_700_000_000_000_000,
    ]));
    let earlier_file = time_order(Arc::clone(&ts), "1|20240101-000000000|s/t/a.csv").unwrap();
    let later_file = time_order(ts, "1|20240101-000000000|s/t/a.csv.gz").unwrap();
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
fn equal_text_commit_times_are_ordered_by_file_then_row() {
    let ts = text(&["2024-01-01 00:00:05.123456", "2024-01-01 00:00:05.123456"]);
    let earlier_file = time_order(Arc::clone(&ts), "1|20240101-000000000|s/t/a.parquet").unwrap();
    let later_file = time_order(ts, "1|20240101-000000001|s/t/b.parquet").unwrap();
    assert!(earlier_file[0] < earlier_file[1], "row breaks the tie");
    assert!(earlier_file[1] < later_file[0], "file breaks the tie");
}

#[test]
fn a_newer_timestamp_wins_over_file_and_row_position() {
    let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![2_000_000, 1_000_000]));
    let order = time_order(ts, "f").unwrap();
    assert!(order[1] < order[0]);
}

#[test]
fn text_commit_times_with_0_to_9_fraction_digits_order_by_instant() {
    // Each is later than the one before it.
    let ascending = [
        "2024-01-01 00:00:05",
        "2024-01-01 00:00:05.000000001",
        "2024-01-01 00:00:05.00000001",
        "2024-01-01 00:00:05.1",
        "2024-01-01 00:00:05.12",
        "2024-01-01 00:00:05.123",
        "2024-01-01 00:00:05.1234",
        "2024-01-01 00:00:05.12345",
        "2024-01-01 00:00:05.123456",
        "2024-01-01 00:00:05.1234561",
        "2024-01-01 00:00:05.12345611",
        "2024-01-01 00:00:05.123456111",
        "2024-01-01 00:00:05.1234562",
        "2024-01-01T00:00:05.9",
        "2024-01-01 00:00:06",
        "2024-12-31 23:59:59.999999999",
    ];
    // Row positions run against the instants, so only the value can order them.
    let mut reversed = ascending;
    reversed.reverse();
    let order = time_order(text(&reversed), "f").unwrap();
    for pair in order.windows(2) {
        assert!(
            pair[0] > pair[1],
            "{:?} should sort after {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn one_instant_has_one_spelling_whatever_its_fraction_digits() {
    let order = time_order(
        text(&[
            "2024-01-01 00:00:05.5",
            "2024-01-01 00:00:05.500000",
            "2024-01-01 00:00:05.500000000",
            "2024-01-01T00:00:05.50",
        ]),
        "f",
    )
    .unwrap();
    let value = |o: &String| o.split(ORDER_SEPARATOR).next().unwrap().to_owned();
    assert!(
        order
            .iter()
            .all(|o| value(o) == "12024-01-01T00:00:05.500000")
    );
}

#[test]
fn a_microsecond_commit_time_is_spelled_as_before_so_stored_rows_compare_unchanged() {
    // Rows stored before sub-microsecond digits were kept carry exactly six digits.
    let stored = "12024-01-01T00:00:05.123456\u{1F}f\u{1F}0000000000";
    let typed: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![1_704_067_205_123_456]));
    assert_eq!(time_order(typed, "f").unwrap(), vec![stored]);
    assert_eq!(
        time_order(text(&["2024-01-01 00:00:05.123456"]), "f").unwrap(),
        vec![stored]
    );
    // A later instant within the same microsecond sorts after the stored row, an earlier
    // microsecond before it, whatever the file and row.
    let finer = time_order(text(&["2024-01-01 00:00:05.1234560001"]), "a");
    assert_eq!(
        finer,
        Err(ChangeOrderError::BadCommitTimestamp {
            row: 1,
            column: "ts".into(),
            value: "2024-01-01 00:00:05.1234560001".into()
        }),
        "ten fraction digits are refused"
    );
    let finer = time_order(text(&["2024-01-01 00:00:05.123456001"]), "a").unwrap();
    assert!(finer[0].as_str() > stored);
    let earlier = time_order(text(&["2024-01-01 00:00:05.123455999"]), "z").unwrap();
    assert!(earlier[0].as_str() < stored);
}

#[test]
fn an_unparsable_text_commit_time_names_its_row_and_column() {
    for bad in [
        "",
        "yesterday",
        "2024-01-01",
        "2024-01-01 00:00",
        "2024-13-01 00:00:00",
        "2024-02-30 00:00:00",
        "2024-01-01 24:00:00",
        "2024-01-01 00:00:60",
        "2024-01-01 00:00:00.",
        "2024-01-01 00:00:00.1234567890",
        "2024-01-01 00:00:00.12a",
        "2024-01-01 00:00:00Z",
        "2024-01-01 00:00:00+01:00",
        "2024/01/01 00:00:00",
        " 2024-01-01 00:00:00",
        "2024-01-01 00:00:00é",
    ] {
        let err = time_order(text(&["2024-01-01 00:00:00", bad]), "f").unwrap_err();
        assert_eq!(
            err,
            ChangeOrderError::BadCommitTimestamp {
                row: 2,
                column: "ts".into(),
                value: bad.into()
            },
            "{bad:?}"
        );
    }
}

#[test]
fn null_commit_times_sort_first_and_micros_keep_them_null() {
    let ts: ArrayRef = Arc::new(StringArray::from(vec![
        Some("2024-01-01 00:00:05.1234569"),
        None,
    ]));
    let times = CommitTimes::parse("ts", &ts).unwrap();
    let micros = times.micros();
    assert_eq!(
        micros.value(0),
        1_704_067_205_123_456,
        "truncated to micros"
    );
    assert!(micros.is_null(1));
    let order = values(&order_column(2, FileOrdering::CommitTimes(&times), "f").unwrap());
    assert!(order[1] < order[0]);
    assert!(order[1].starts_with('0'));
}

#[test]
fn no_ordering_orders_by_file_and_row_only() {
    let order = values(&order_column(2, FileOrdering::None, "f").unwrap());
    assert_eq!(
        order,
        vec!["0\u{1F}f\u{1F}0000000000", "0\u{1F}f\u{1F}0000000001"]
    );
}

#[test]
fn unsupported_ordering_types_are_rejected() {
    let floats: ArrayRef = Arc::new(arrow::array::Float64Array::from(vec![1.0]));
    let err = sequence_order(Arc::clone(&floats), "f").unwrap_err();
    assert!(matches!(err, ChangeOrderError::UnsupportedType { .. }));
    let err = CommitTimes::parse("ts", &floats).unwrap_err();
    assert!(matches!(err, ChangeOrderError::UnsupportedType { .. }));
}
