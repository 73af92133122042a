//! CloudWatch metrics as Embedded Metric Format (EMF) log lines: one JSON object per table and
//! invocation, which CloudWatch Logs turns into metrics without any API call.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::contract::{BatchSummary, TableSummary};
use crate::ports::processing_tracker::RefreshOutcomeKind;

/// The metrics namespace.
pub const NAMESPACE: &str = "Tributary";

/// `(metric name, unit, value)` of one table's refresh.
fn table_metrics(table: &TableSummary) -> Vec<(&'static str, &'static str, f64)> {
    let totals = &table.totals;
    let mut metrics = vec![
        ("RowsInserted", "Count", totals.inserted as f64),
        ("RowsUpdated", "Count", totals.updated as f64),
        ("RowsDeleted", "Count", totals.deleted as f64),
        ("RowsIgnored", "Count", totals.ignored as f64),
        ("RowsSuperseded", "Count", totals.superseded as f64),
        ("FilesApplied", "Count", totals.files as f64),
        ("FilesSuperseded", "Count", totals.files_superseded as f64),
        ("BytesRead", "Bytes", totals.bytes_read as f64),
        ("BytesWritten", "Bytes", totals.bytes_written as f64),
        ("RefreshDuration", "Milliseconds", table.duration_ms as f64),
        (
            "RefreshFailures",
            "Count",
            f64::from(u8::from(table.outcome == RefreshOutcomeKind::Failed)),
        ),
        ("FilesQuarantined", "Count", table.quarantined.len() as f64),
    ];
    if let Some(lag) = table.lag_seconds {
        metrics.push(("LagSeconds", "Seconds", lag.max(0) as f64));
    }
    metrics
}

/// The EMF documents of an invocation: one per table, dimensioned by table, by cadence, and not at
/// all (the aggregate the stack's lag alarm watches).
pub fn emf_documents(summary: &BatchSummary, at: DateTime<Utc>) -> Vec<Value> {
    summary
        .tables
        .iter()
        .map(|table| {
            let metrics = table_metrics(table);
            let definitions: Vec<Value> = metrics
                .iter()
                .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                .collect();
            let mut document = Map::new();
            document.insert(
                "_aws".into(),
                json!({
                    "Timestamp": at.timestamp_millis(),
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [["Table"], ["Cadence"], []],
                        "Metrics": definitions,
                    }],
                }),
            );
            document.insert("Table".into(), json!(table.table));
            document.insert("Cadence".into(), json!(summary.refresh_cadence));
            document.insert("Outcome".into(), json!(table.outcome.as_str()));
            for (name, _, value) in metrics {
                document.insert(name.into(), json!(value));
            }
            Value::Object(document)
        })
        .collect()
}

/// Writes the invocation's EMF documents to stdout, one per line.
pub fn emit(summary: &BatchSummary) {
    let mut out = std::io::stdout().lock();
    for document in emf_documents(summary, Utc::now()) {
        // A lost metrics line must not fail the invocation.
        let _ = writeln!(out, "{document}");
    }
}

#[cfg(test)]
#[path = "metrics_test.rs"]
mod tests;
