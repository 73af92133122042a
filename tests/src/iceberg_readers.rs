//! The independent readers of Iceberg tables, for tests that check what a table holds without
//! Tributary's code: `tests/readers/iceberg_tables.py`, run with the Python of the Iceberg reader
//! venv (`$ICEBERG_VENV`, default `.venv-iceberg`, installed by `make iceberg-venv`), reads a table
//! through the Glue catalog of the emulator named by `AWS_ENDPOINT_URL` with pyiceberg or with
//! DuckDB's iceberg extension.
//!
//! Rows come back as the script prints them: JSON objects in the table's column order, values
//! normalized so both readers agree (decimals as strings with their scale, timestamps ISO 8601
//! with microseconds, dates ISO), sorted by their canonical JSON text.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The script's exit status when `compare` found differences.
const EXIT_DIFFERENT: i32 = 1;

/// Which reader reads a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcebergReader {
    /// pyiceberg, loading the table through its Glue catalog.
    Pyiceberg,
    /// DuckDB's `iceberg_scan` of the metadata location Glue holds.
    DuckDb,
}

impl IcebergReader {
    /// Both readers.
    pub const BOTH: [Self; 2] = [Self::Pyiceberg, Self::DuckDb];

    fn command(self) -> &'static str {
        match self {
            Self::Pyiceberg => "rows",
            Self::DuckDb => "duckdb-rows",
        }
    }
}

/// Which snapshot of a table is read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SnapshotRef {
    /// The current snapshot.
    #[default]
    Current,
    /// The snapshot with this id.
    Id(i64),
    /// The snapshot current at this time (ISO 8601, UTC when it has no zone, or epoch ms).
    AsOf(String),
}

impl SnapshotRef {
    fn args(&self) -> Vec<String> {
        match self {
            Self::Current => Vec::new(),
            Self::Id(id) => vec!["--snapshot-id".to_owned(), id.to_string()],
            Self::AsOf(time) => vec!["--as-of".to_owned(), time.clone()],
        }
    }
}

/// One snapshot of an Iceberg table, as pyiceberg lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcebergSnapshot {
    /// Snapshot id.
    pub snapshot_id: i64,
    /// The parent snapshot's id (none for the first).
    pub parent_id: Option<i64>,
    /// Commit time, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Commit time, ISO 8601 UTC (usable as [`SnapshotRef::AsOf`]).
    pub timestamp: String,
    /// `append`, `overwrite`, `delete` or `replace`.
    pub operation: String,
    /// The summary: Iceberg's counters and Tributary's `tributary.*` keys.
    pub summary: BTreeMap<String, String>,
    /// True for the table's current snapshot.
    pub current: bool,
}

impl IcebergSnapshot {
    fn from_json(line: &Value) -> Self {
        let text = |field: &str| line[field].as_str().unwrap_or_default().to_owned();
        let summary = line["summary"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        Self {
            snapshot_id: line["snapshot_id"].as_i64().expect("a snapshot id"),
            parent_id: line["parent_id"].as_i64(),
            timestamp_ms: line["timestamp_ms"].as_i64().expect("a snapshot timestamp"),
            timestamp: text("timestamp"),
            operation: text("operation"),
            summary,
            current: line["current"].as_bool().unwrap_or_default(),
        }
    }
}

/// A command running `script` of `tests/readers` with the Iceberg reader venv's Python, in the
/// repository root.
pub fn iceberg_python(script: &str) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = std::env::var("ICEBERG_VENV").unwrap_or_else(|_| ".venv-iceberg".to_owned());
    let mut command = Command::new(root.join(venv).join("bin/python"));
    command
        .arg(root.join("tests/readers").join(script))
        .current_dir(root);
    command
}

/// The rows of `table` ("database.table") at `at`, read by `reader`.
pub fn iceberg_rows(reader: IcebergReader, table: &str, at: &SnapshotRef) -> Vec<Value> {
    let output = run_readers(&[reader.command(), "--table", table], at, &[0]);
    json_lines(&output)
}

/// The snapshots of `table`, oldest first.
pub fn iceberg_snapshots(table: &str) -> Vec<IcebergSnapshot> {
    let output = run_readers(
        &["snapshots", "--table", table],
        &SnapshotRef::Current,
        &[0],
    );
    json_lines(&output)
        .iter()
        .map(IcebergSnapshot::from_json)
        .collect()
}

/// Both readers' rows of `table` at `at` against `expected` (JSON objects with the same columns;
/// the table's other columns are left out), as multisets. Returns the script's report: `ok`, and
/// per reader (`pyiceberg`, `duckdb`) `rows`, `missing`, `unexpected` and example rows.
pub fn compare_iceberg_rows(table: &str, at: &SnapshotRef, expected: &[Value]) -> Value {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary expected rows file");
    for row in expected {
        writeln!(file, "{row}").expect("write an expected row");
    }
    let path = file.path().to_string_lossy().into_owned();
    let args = ["compare", "--table", table, "--expected", &path];
    let output = run_readers(&args, at, &[0, EXIT_DIFFERENT]);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "compare printed no JSON report ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Panics, with both readers' differences, unless each returns exactly `expected` at `at`.
pub fn assert_iceberg_rows(table: &str, at: &SnapshotRef, expected: &[Value]) {
    let report = compare_iceberg_rows(table, at, expected);
    assert_eq!(
        report["ok"], true,
        "independent readers disagree with the expected rows of {table} ({at:?}): {report:#}"
    );
}

/// Runs the readers script with `args` and `at`'s options; panics with its stderr unless it
/// exits with one of `allowed`.
fn run_readers(args: &[&str], at: &SnapshotRef, allowed: &[i32]) -> Output {
    let mut command = iceberg_python("iceberg_tables.py");
    command.args(args).args(at.args());
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?} (make iceberg-venv): {e}"));
    let status = output.status.code().unwrap_or(-1);
    assert!(
        allowed.contains(&status),
        "{command:?} exited with {status}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The JSON lines of a command's stdout.
fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}
