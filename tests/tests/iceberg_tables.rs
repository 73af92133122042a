#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test
//! Iceberg tables end to end on the emulator (docs/DESIGN.md §15): the processor refreshes and
//! publishes them, and independent readers — pyiceberg and DuckDB's iceberg extension, through
//! the Glue catalog — read exactly the source of truth, now and at the previous snapshot.

use std::collections::BTreeSet;

use futures::TryStreamExt;
use serde_json::{Value, json};
use tributary_shared::contract::{BatchSummary, TableSummary};
use tributary_tests::iceberg_readers::{
    IcebergReader, SnapshotRef, assert_iceberg_rows, iceberg_rows, iceberg_snapshots,
};
use tributary_tests::pipeline::Pipeline;

const ORDERS: &str = "sales.orders";

fn orders_spec() -> Value {
    json!({
        "source": {"schema": "sales", "table": "orders"},
        "target": {"database": "replaced", "table": "orders", "location": "sales/orders",
                   "format": "iceberg"},
        "primary_key": ["id"],
        "ordering": {"commit_timestamp_column": "ts"},
        "partition_by": ["identity(region)", "day(ts)"],
        "input": {"columns": [
            {"name": "id", "type": "bigint"},
            {"name": "region", "type": "string"},
            {"name": "amount", "type": "decimal(10,2)"},
            {"name": "ts", "type": "timestamp"}
        ]}
    })
}

/// Expected rows from `id,region,amount,second-of-2024-01-01` tuples.
fn rows(rows: &[(i64, Option<&str>, &str, &str)]) -> Vec<Value> {
    rows.iter()
        .map(|(id, region, amount, ts)| {
            json!({"id": id, "region": region, "amount": amount,
                   "ts": format!("2024-01-0{ts}.000000")})
        })
        .collect()
}

fn table_summary<'a>(summary: &'a BatchSummary, table_id: &str) -> &'a TableSummary {
    summary.tables.iter().find(|t| t.table == table_id).unwrap()
}

fn assert_applied(summary: &BatchSummary) {
    let table = table_summary(summary, ORDERS);
    assert!(table.error.is_none(), "{table:?}");
}

#[tokio::test]
async fn an_iceberg_table_reads_back_through_glue_with_pyiceberg_and_duckdb_and_travels_in_time() {
    let pipeline = Pipeline::new(&[]).await;
    pipeline.register(&orders_spec(), true).await;
    pipeline
        .stage(
            ORDERS,
            "LOAD00000001.csv",
            "1,eu,10.00,2024-01-01 00:00:01\n2,eu,20.00,2024-01-01 00:00:01\n\
             3,us,30.00,2024-01-02 00:00:01\n4,NULL,40.00,2024-01-02 00:00:01\n",
        )
        .await;
    assert_applied(&pipeline.run(&[ORDERS]).await);
    let glue = pipeline.glue_table("orders").await.expect("the Glue table");
    let table = format!("{}.{}", glue.database, glue.name);
    let first = rows(&[
        (1, Some("eu"), "10.00", "1T00:00:01"),
        (2, Some("eu"), "20.00", "1T00:00:01"),
        (3, Some("us"), "30.00", "2T00:00:01"),
        (4, None, "40.00", "2T00:00:01"),
    ]);
    assert_iceberg_rows(&table, &SnapshotRef::Current, &first);

    // An update, a delete whose partition columns are null, a partition move and an insert.
    pipeline
        .stage(
            ORDERS,
            "20240103-000000000.csv",
            "U,1,eu,11.00,2024-01-03 00:00:01\nD,2,NULL,NULL,2024-01-03 00:00:02\n\
             U,3,eu,33.00,2024-01-03 00:00:03\nI,5,us,50.00,2024-01-03 00:00:04\n",
        )
        .await;
    assert_applied(&pipeline.run(&[ORDERS]).await);
    let second = rows(&[
        (1, Some("eu"), "11.00", "3T00:00:01"),
        (3, Some("eu"), "33.00", "3T00:00:03"),
        (4, None, "40.00", "2T00:00:01"),
        (5, Some("us"), "50.00", "3T00:00:04"),
    ]);
    assert_iceberg_rows(&table, &SnapshotRef::Current, &second);

    let snapshots = iceberg_snapshots(&table);
    let versions: Vec<(&str, &str)> = snapshots
        .iter()
        .map(|s| {
            let version = s.summary["tributary.snapshot-version"].as_str();
            (s.operation.as_str(), version)
        })
        .collect();
    assert_eq!(versions, [("append", "1"), ("overwrite", "2")]);
    assert_iceberg_rows(&table, &SnapshotRef::Id(snapshots[0].snapshot_id), &first);
}

/// The Glue name (`database.table`) of the orders table.
async fn table_name(pipeline: &Pipeline) -> String {
    let glue = pipeline.glue_table("orders").await.expect("the Glue table");
    format!("{}.{}", glue.database, glue.name)
}

/// Every object key under `prefix` of the pipeline's lake bucket.
async fn lake_keys(pipeline: &Pipeline, prefix: &str) -> BTreeSet<String> {
    let prefix = object_store::path::Path::from(prefix);
    pipeline
        .lake_store()
        .list(Some(&prefix))
        .map_ok(|object| object.location.to_string())
        .try_collect()
        .await
        .unwrap()
}

/// The orders of round `round` of the retention test: key 1 (region eu) updated every round to
/// amount `round`.00 on day `round`, key 2 (region us) as loaded.
fn retention_round(round: u32) -> Vec<Value> {
    let amount = format!("{round}.00");
    let day = format!("{round}T00:00:01");
    rows(&[
        (1, Some("eu"), amount.as_str(), day.as_str()),
        (2, Some("us"), "2.00", "1T00:00:01"),
    ])
}

#[tokio::test]
async fn after_the_time_travel_window_expires_old_snapshots_every_retained_one_reads_fully_and_expired_files_are_gone()
 {
    let pipeline = Pipeline::new(&[]).await;
    let mut spec = orders_spec();
    spec["time_travel_days"] = json!(1);
    pipeline.register(&spec, true).await;
    let data = "sales/orders/data";
    let mut written_by_round = Vec::new();
    let mut seen = BTreeSet::new();
    let mut expired_ids: Vec<i64> = Vec::new();
    for round in 1..=7u32 {
        if round == 7 {
            // Versions 1–6 fall out of the 1-day window (the newest 5 are kept whatever their
            // age), and everything written so far is past the collector's grace.
            pipeline.clock.advance(chrono::Duration::days(2));
        }
        let (name, contents) = match round {
            1 => (
                "LOAD00000001.csv".to_owned(),
                "1,eu,1.00,2024-01-01 00:00:01\n2,us,2.00,2024-01-01 00:00:01\n".to_owned(),
            ),
            _ => (
                format!("2024010{round}-000000000.csv"),
                format!("U,1,eu,{round}.00,2024-01-0{round} 00:00:01\n"),
            ),
        };
        pipeline.stage(ORDERS, &name, contents).await;
        assert_applied(&pipeline.run(&[ORDERS]).await);
        let now = lake_keys(&pipeline, data).await;
        written_by_round.push(now.difference(&seen).cloned().collect::<BTreeSet<_>>());
        seen = now;
        if round == 2 {
            expired_ids = iceberg_snapshots(&table_name(&pipeline).await)
                .iter()
                .map(|s| s.snapshot_id)
                .collect();
        }
    }
    let table = table_name(&pipeline).await;

    let snapshots = iceberg_snapshots(&table);
    let versions: Vec<&str> = snapshots
        .iter()
        .map(|s| s.summary["tributary.snapshot-version"].as_str())
        .collect();
    assert_eq!(
        versions,
        ["3", "4", "5", "6", "7"],
        "versions 1 and 2 expired"
    );
    for snapshot in &snapshots {
        let round = snapshot.summary["tributary.snapshot-version"]
            .parse()
            .unwrap();
        assert_iceberg_rows(
            &table,
            &SnapshotRef::Id(snapshot.snapshot_id),
            &retention_round(round),
        );
    }
    assert_iceberg_rows(&table, &SnapshotRef::Current, &retention_round(7));

    let left = lake_keys(&pipeline, data).await;
    let (us, eu): (Vec<&String>, Vec<&String>) = written_by_round[0]
        .iter()
        .partition(|key| key.contains("region=us"));
    assert!(
        us.iter().all(|key| left.contains(*key)),
        "version 1's us file is still live: {left:?}"
    );
    let expired: Vec<&String> = eu.into_iter().chain(&written_by_round[1]).collect();
    assert!(!expired.is_empty());
    assert!(
        expired.iter().all(|key| !left.contains(*key)),
        "files only versions 1 and 2 referenced are deleted: {expired:?} in {left:?}"
    );
    let metadata = lake_keys(&pipeline, "sales/orders/metadata").await;
    let manifest_lists = |id: i64| {
        let name = format!("/snap-{id}-");
        metadata
            .iter()
            .filter(move |key| key.contains(&name))
            .count()
    };
    assert_eq!(expired_ids.len(), 2);
    for id in expired_ids {
        assert_eq!(
            manifest_lists(id),
            0,
            "expired snapshot {id}'s manifest list"
        );
    }
    for snapshot in &snapshots {
        assert_eq!(manifest_lists(snapshot.snapshot_id), 1);
    }
    let glue = pipeline.glue_table("orders").await.expect("the Glue table");
    let current_metadata = glue.parameters["metadata_location"]
        .split_once("/sales/orders/")
        .map(|(_, key)| format!("sales/orders/{key}"))
        .unwrap();
    assert!(metadata.contains(&current_metadata), "{current_metadata}");
    for (round, written) in written_by_round.iter().enumerate().skip(2) {
        assert!(
            written.iter().all(|key| left.contains(key)),
            "round {} files are retained",
            round + 1
        );
    }
}

const EVENTS: &str = "sales.events";

/// A table of Parquet DMS files (columns from the files), keyed by `id`.
fn events_spec() -> Value {
    json!({
        "source": {"schema": "sales", "table": "events"},
        "target": {"database": "replaced", "table": "events", "location": "sales/events",
                   "format": "iceberg"},
        "primary_key": ["id"],
        "ordering": {"commit_timestamp_column": "ts"},
        "input": {}
    })
}

/// The rows of the events table from `(id, qty, amount, time of 2024-01-01)`, with the `note`
/// of each row when given (the schema after it was added).
fn events(rows: &[(i64, i64, &str, &str)], notes: Option<&[Option<&str>]>) -> Vec<Value> {
    rows.iter()
        .enumerate()
        .map(|(i, (id, qty, amount, ts))| {
            let mut row = json!({"id": id, "qty": qty, "amount": amount,
                                 "ts": format!("2024-01-01T{ts}.000000")});
            if let Some(notes) = notes {
                row["note"] = json!(notes[i]);
            }
            row
        })
        .collect()
}

#[tokio::test]
async fn an_added_column_and_an_int_promoted_to_bigint_read_back_with_pyiceberg_and_duckdb_and_a_scale_change_stops_the_table()
 {
    let pipeline = Pipeline::new(&[]).await;
    pipeline.register(&events_spec(), true).await;
    let load = tributary_tests::parquet_file(&[
        ("id", "bigint", &["1", "2"]),
        ("qty", "int", &["10", "20"]),
        ("amount", "decimal(10,2)", &["1.00", "2.00"]),
        (
            "ts",
            "timestamp",
            &["2024-01-01T00:00:01", "2024-01-01T00:00:02"],
        ),
    ]);
    pipeline.stage(EVENTS, "LOAD00000001.parquet", load).await;
    let summary = pipeline.run(&[EVENTS]).await;
    assert!(
        table_summary(&summary, EVENTS).error.is_none(),
        "{summary:?}"
    );
    let glue = pipeline.glue_table("events").await.expect("the Glue table");
    let table = format!("{}.{}", glue.database, glue.name);

    // `qty` becomes bigint (a value beyond int) and `note` is added.
    let evolved = tributary_tests::parquet_file(&[
        ("Op", "string", &["U", "I"]),
        ("id", "bigint", &["1", "3"]),
        ("qty", "bigint", &["11", "3000000000"]),
        ("amount", "decimal(10,2)", &["1.50", "3.00"]),
        (
            "ts",
            "timestamp",
            &["2024-01-01T00:00:03", "2024-01-01T00:00:04"],
        ),
        ("note", "string", &["updated", "new"]),
    ]);
    pipeline
        .stage(EVENTS, "20240102-000000000.parquet", evolved)
        .await;
    let summary = pipeline.run(&[EVENTS]).await;
    assert!(
        table_summary(&summary, EVENTS).error.is_none(),
        "{summary:?}"
    );
    let current = events(
        &[
            (1, 11, "1.50", "00:00:03"),
            (2, 20, "2.00", "00:00:02"),
            (3, 3_000_000_000, "3.00", "00:00:04"),
        ],
        Some(&[Some("updated"), None, Some("new")]),
    );
    assert_iceberg_rows(&table, &SnapshotRef::Current, &current);

    // Time travel to the first snapshot reads it with its own schema: no `note`, `qty` as int.
    let first = iceberg_snapshots(&table)[0].snapshot_id;
    let before = events(
        &[(1, 10, "1.00", "00:00:01"), (2, 20, "2.00", "00:00:02")],
        None,
    );
    assert_iceberg_rows(&table, &SnapshotRef::Id(first), &before);
    for reader in IcebergReader::BOTH {
        for row in iceberg_rows(reader, &table, &SnapshotRef::Id(first)) {
            let columns: Vec<&String> = row.as_object().unwrap().keys().collect();
            assert!(
                !columns.iter().any(|c| *c == "note"),
                "{reader:?} reads the first snapshot with its schema: {row}"
            );
        }
    }

    // A decimal scale change is no Iceberg promotion: the table stops, naming file and column;
    // the file after it waits, and readers still see every row.
    let rescaled = tributary_tests::parquet_file(&[
        ("Op", "string", &["I"]),
        ("id", "bigint", &["4"]),
        ("qty", "bigint", &["40"]),
        ("amount", "decimal(10,3)", &["4.000"]),
        ("ts", "timestamp", &["2024-01-01T00:00:05"]),
        ("note", "string", &["rescaled"]),
    ]);
    pipeline
        .stage(EVENTS, "20240103-000000000.parquet", rescaled)
        .await;
    let later = tributary_tests::parquet_file(&[
        ("Op", "string", &["I"]),
        ("id", "bigint", &["5"]),
        ("qty", "bigint", &["50"]),
        ("amount", "decimal(10,2)", &["5.00"]),
        ("ts", "timestamp", &["2024-01-01T00:00:06"]),
        ("note", "string", &["later"]),
    ]);
    pipeline
        .stage(EVENTS, "20240104-000000000.parquet", later)
        .await;
    let summary = pipeline.run(&[EVENTS]).await;
    let error = table_summary(&summary, EVENTS)
        .error
        .clone()
        .unwrap_or_default();
    for part in [
        "20240103-000000000.parquet",
        "`amount`",
        "decimal(10,2)",
        "Iceberg",
    ] {
        assert!(error.contains(part), "{part:?} not in the error: {error}");
    }
    assert_eq!(
        pipeline.pending_items(EVENTS).await.len(),
        2,
        "nothing lost"
    );
    assert_iceberg_rows(&table, &SnapshotRef::Current, &current);
}
