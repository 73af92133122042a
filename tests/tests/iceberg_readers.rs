#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: fail loudly
//! The Iceberg reader harness as integration tests call it (`tributary_tests::iceberg_readers`),
//! on a table pyiceberg writes to the emulator (`tests/readers/sample_table.py`): two appends and
//! a copy-on-write delete, each snapshot with a `tributary.snapshot-version` summary key.

use serde_json::Value;
use tributary_tests::iceberg_readers::{
    IcebergReader, SnapshotRef, assert_iceberg_rows, compare_iceberg_rows, iceberg_python,
    iceberg_rows, iceberg_snapshots,
};

/// Writes a fresh sample table; returns its description (`table`, `snapshot_ids`, `first_rows`,
/// `final_rows`).
fn sample_table() -> Value {
    let output = iceberg_python("sample_table.py")
        .output()
        .expect("run sample_table.py (make iceberg-venv)");
    assert!(
        output.status.success(),
        "sample_table.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the sample table's description")
}

/// `rows` (a JSON array or a Vec) in one order, to compare them as multisets.
fn sorted(rows: impl Into<Value>) -> Vec<Value> {
    let Value::Array(mut rows) = rows.into() else {
        panic!("rows are a JSON array")
    };
    rows.sort_by_key(|row| serde_json::to_string(row).expect("JSON"));
    rows
}

#[test]
fn each_reader_returns_the_current_rows_and_the_first_snapshot_by_id_or_by_time() {
    let sample = sample_table();
    let table = sample["table"].as_str().unwrap();
    let first = &iceberg_snapshots(table)[0];
    let (first_rows, final_rows) = (&sample["first_rows"], &sample["final_rows"]);
    let read = |reader, at| sorted(iceberg_rows(reader, table, &at));
    assert_eq!(
        read(IcebergReader::Pyiceberg, SnapshotRef::Current),
        sorted(final_rows.clone())
    );
    assert_eq!(
        read(
            IcebergReader::DuckDb,
            SnapshotRef::AsOf(first.timestamp.clone())
        ),
        sorted(first_rows.clone())
    );
    assert_iceberg_rows(
        table,
        &SnapshotRef::Id(first.snapshot_id),
        &sorted(first_rows.clone()),
    );
}

#[test]
fn snapshots_carry_parents_operations_and_tributary_summary_and_compare_catches_a_wrong_row() {
    let sample = sample_table();
    let table = sample["table"].as_str().unwrap();
    let snapshots = iceberg_snapshots(table);
    let ids: Vec<i64> = snapshots.iter().map(|s| s.snapshot_id).collect();
    assert_eq!(
        Value::from(ids.clone()),
        sample["snapshot_ids"],
        "oldest first"
    );
    let parents: Vec<Option<i64>> = snapshots.iter().map(|s| s.parent_id).collect();
    assert_eq!(parents, [None, Some(ids[0]), Some(ids[1])]);
    let operations: Vec<&str> = snapshots.iter().map(|s| s.operation.as_str()).collect();
    assert_eq!(operations, ["append", "append", "overwrite"]);
    let versions: Vec<&str> = snapshots
        .iter()
        .map(|s| s.summary["tributary.snapshot-version"].as_str())
        .collect();
    assert_eq!(versions, ["1", "2", "3"]);
    assert!(snapshots[2].current && !snapshots[0].current);

    let mut wrong = sorted(sample["final_rows"].clone());
    wrong[0]["note"] = Value::from("not what the table holds");
    let report = compare_iceberg_rows(table, &SnapshotRef::Current, &wrong);
    assert_eq!(report["ok"], false, "{report:#}");
    for reader in ["pyiceberg", "duckdb"] {
        assert_eq!(
            report["readers"][reader]["missing_examples"],
            Value::from(vec![wrong[0].clone()])
        );
        assert_eq!(report["readers"][reader]["unexpected"], 1, "{report:#}");
    }
}
