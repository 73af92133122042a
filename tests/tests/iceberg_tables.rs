#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test
//! Iceberg tables end to end on the emulator (docs/DESIGN.md §15): the processor refreshes and
//! publishes them, and independent readers — pyiceberg and DuckDB's iceberg extension, through
//! the Glue catalog — read exactly the source of truth, now and at the previous snapshot.

use serde_json::{Value, json};
use tributary_shared::contract::BatchSummary;
use tributary_tests::iceberg_readers::{SnapshotRef, assert_iceberg_rows, iceberg_snapshots};
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

fn assert_applied(summary: &BatchSummary) {
    let table = summary.tables.iter().find(|t| t.table == ORDERS).unwrap();
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
