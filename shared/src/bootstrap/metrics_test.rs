//! Unit tests of `metrics`: the EMF documents of a batch summary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use super::*;
use crate::ports::processing_tracker::RefreshTotals;

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The summary of `table` ending with `outcome`, `lag_seconds` behind.
fn table(table: &str, outcome: RefreshOutcomeKind, lag_seconds: Option<i64>) -> TableSummary {
    TableSummary {
        table: table.to_owned(),
        outcome,
        refreshes: 1,
        totals: RefreshTotals {
            files: 3,
            inserted: 10,
            updated: 4,
            deleted: 2,
            ignored: 1,
            superseded: 5,
            files_superseded: 1,
            bytes_read: 2_048,
            bytes_written: 4_096,
            partitions_rewritten: 2,
        },
        more_pending: false,
        lag_seconds,
        quarantined: vec!["dms/sales/orders/bad.csv".to_owned()],
        error: None,
        duration_ms: 1_500,
    }
}

fn batch(tables: Vec<TableSummary>) -> BatchSummary {
    BatchSummary {
        refresh_cadence: "10min".to_owned(),
        batch: 0,
        failed: 0,
        tables,
    }
}

/// The document of one table.
fn table_document(summary: TableSummary) -> Value {
    let mut documents = emf_documents(&batch(vec![summary]), at());
    assert_eq!(documents.len(), 1);
    documents.remove(0)
}

fn directive(document: &Value) -> &Value {
    &document["_aws"]["CloudWatchMetrics"][0]
}

/// Names of the declared metrics.
fn declared(document: &Value) -> BTreeSet<String> {
    directive(document)["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_owned())
        .collect()
}

/// Names of the top-level members holding numbers.
fn numeric_members(document: &Value) -> BTreeSet<String> {
    document
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.is_number())
        .map(|(k, _)| k.clone())
        .collect()
}

/// The unit a metric is declared with.
fn unit<'a>(document: &'a Value, metric: &str) -> &'a str {
    directive(document)["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == metric)
        .and_then(|m| m["Unit"].as_str())
        .unwrap()
}

#[test]
fn there_is_one_document_per_table_in_order() {
    let summary = batch(vec![
        table("sales.orders", RefreshOutcomeKind::Completed, None),
        table("sales.items", RefreshOutcomeKind::NoFiles, None),
    ]);
    let documents = emf_documents(&summary, at());
    let tables: Vec<&str> = documents
        .iter()
        .map(|d| d["Table"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["sales.orders", "sales.items"]);
    assert!(emf_documents(&batch(Vec::new()), at()).is_empty());
}

#[test]
fn every_declared_metric_is_a_top_level_number_and_every_number_is_declared() {
    for lag in [Some(30), None] {
        let document = table_document(table("sales.orders", RefreshOutcomeKind::Completed, lag));
        let declared = declared(&document);
        assert!(declared.contains("RowsInserted"), "{declared:?}");
        assert_eq!(declared, numeric_members(&document), "lag {lag:?}");
    }
}

#[test]
fn the_namespace_is_tributary_and_the_timestamp_is_in_milliseconds() {
    let document = table_document(table("sales.orders", RefreshOutcomeKind::Completed, None));
    assert_eq!(directive(&document)["Namespace"], "Tributary");
    assert_eq!(
        document["_aws"]["Timestamp"].as_i64(),
        Some(at().timestamp_millis())
    );
}

#[test]
fn the_table_and_cadence_dimensions_are_top_level_strings() {
    let document = table_document(table("sales.orders", RefreshOutcomeKind::Completed, None));
    let dimensions = directive(&document)["Dimensions"].as_array().unwrap();
    let names: Vec<&str> = dimensions
        .iter()
        .flat_map(|set| set.as_array().unwrap())
        .map(|name| name.as_str().unwrap())
        .collect();
    assert_eq!(names, ["Table", "Cadence"]);
    // Plus one empty set: the dimensionless aggregate the stack's lag alarm watches.
    assert_eq!(
        directive(&document)["Dimensions"],
        serde_json::json!([["Table"], ["Cadence"], []])
    );
    for name in names {
        assert!(document[name].is_string(), "{name}: {}", document[name]);
    }
    assert_eq!(document["Table"], "sales.orders");
    assert_eq!(document["Cadence"], "10min");
}

#[test]
fn refresh_failures_is_one_for_a_failed_table_and_zero_otherwise() {
    for outcome in RefreshOutcomeKind::ALL {
        let document = table_document(table("sales.orders", outcome, None));
        let expected = if outcome == RefreshOutcomeKind::Failed {
            1.0
        } else {
            0.0
        };
        assert_eq!(
            document["RefreshFailures"].as_f64(),
            Some(expected),
            "{outcome:?}"
        );
        assert_eq!(document["Outcome"], outcome.as_str());
    }
}

#[test]
fn lag_is_reported_only_when_known() {
    let document = table_document(table(
        "sales.orders",
        RefreshOutcomeKind::Completed,
        Some(90),
    ));
    assert_eq!(document["LagSeconds"].as_f64(), Some(90.0));
    assert_eq!(unit(&document, "LagSeconds"), "Seconds");

    let document = table_document(table("sales.orders", RefreshOutcomeKind::NoFiles, None));
    assert!(document.get("LagSeconds").is_none(), "{document}");
    assert!(!declared(&document).contains("LagSeconds"));
}

#[test]
fn a_negative_lag_from_clock_skew_is_reported_as_zero() {
    let document = table_document(table(
        "sales.orders",
        RefreshOutcomeKind::Completed,
        Some(-5),
    ));
    assert_eq!(document["LagSeconds"].as_f64(), Some(0.0));
}

#[test]
fn metric_values_and_units_come_from_the_table_summary() {
    let document = table_document(table("sales.orders", RefreshOutcomeKind::Completed, None));
    for (metric, value, expected_unit) in [
        ("RowsInserted", 10.0, "Count"),
        ("RowsUpdated", 4.0, "Count"),
        ("RowsDeleted", 2.0, "Count"),
        ("RowsIgnored", 1.0, "Count"),
        ("RowsSuperseded", 5.0, "Count"),
        ("FilesApplied", 3.0, "Count"),
        ("FilesSuperseded", 1.0, "Count"),
        ("BytesRead", 2_048.0, "Bytes"),
        ("BytesWritten", 4_096.0, "Bytes"),
        ("RefreshDuration", 1_500.0, "Milliseconds"),
        ("FilesQuarantined", 1.0, "Count"),
    ] {
        assert_eq!(document[metric].as_f64(), Some(value), "{metric}");
        assert_eq!(unit(&document, metric), expected_unit, "{metric}");
    }
}
