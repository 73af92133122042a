//! The engine against input shaped exactly like DMS output and against input the lake cannot hold:
//! string commit timestamps (docs/DESIGN.md §6), null primary keys, named date partitions and the
//! S3/Glue limits (§10).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use super::*;
use crate::lake::change_order::ChangeOrderError;
use crate::lake::dms_reader::ReadError;
use crate::lake::partitioning::PartitionLimitError;
use crate::lake::test_support::{Lake, lake_objects, parquet_bytes};

/// A table of DMS Parquet files ordered by the commit timestamp alone: DMS
/// `TimestampColumnName` is `dms_ts`, which DMS writes as a string. No columns are declared.
const DMS_PARQUET: &str = r#"{
  "source": {"schema": "sales", "table": "orders"},
  "target": {"database": "lake", "table": "orders", "location": "lake/orders"},
  "primary_key": ["id"],
  "ordering": {"commit_timestamp_column": "dms_ts"},
  "partition_by": ["identity(region)"]
}"#;

/// One row of a DMS Parquet file: Op (CDC only), id, region, amount, commit timestamp.
type DmsRow<'a> = (&'a str, Option<i64>, &'a str, i64, &'a str);

/// A Parquet file as DMS writes it: `Op` (in CDC files) and the `TimestampColumnName` column
/// `dms_ts` are strings (`yyyy-MM-dd HH:mm:ss.SSSSSS`); the source columns keep their types.
fn dms_parquet(with_op: bool, rows: &[DmsRow<'_>]) -> Vec<u8> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    if with_op {
        fields.push(Field::new("Op", DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0),
        )));
    }
    fields.extend([
        Field::new("id", DataType::Int64, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("amount", DataType::Int64, true),
        Field::new("dms_ts", DataType::Utf8, true),
    ]);
    columns.extend([
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))) as ArrayRef,
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.4))),
    ]);
    let schema = Arc::new(Schema::new(fields));
    parquet_bytes(&RecordBatch::try_new(schema, columns).unwrap())
}

/// Stages the DMS Parquet file `name` of `rows` (with an Op column unless it is a full load).
async fn stage_dms(lake: &Lake, name: &str, rows: &[DmsRow<'_>]) -> PendingFile {
    let with_op = !name.starts_with("LOAD");
    lake.stage(name, dms_parquet(with_op, rows)).await
}

fn current(id: i64, region: &str, amount: i64, ts: &str) -> String {
    format!("amount={amount},dms_ts={ts},id={id},region={region}")
}

fn column_types(snapshot: &TableSnapshot) -> Vec<(String, String)> {
    snapshot
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.hive_type.clone()))
        .collect()
}

// ---- C10: the commit timestamp as DMS writes it ------------------------------------------------

#[tokio::test]
async fn a_string_commit_timestamp_orders_dms_parquet_full_load_and_cdc() {
    let mut lake = Lake::new(DMS_PARQUET);
    let load = stage_dms(
        &lake,
        "LOAD00000001.parquet",
        &[
            ("", Some(1), "eu", 10, "2024-01-01 00:00:09.000000"),
            ("", Some(2), "us", 20, "2024-01-01 00:00:09.000000"),
        ],
    )
    .await;
    // Changes cached during the load carry earlier timestamps, and still win over the load.
    let cdc = stage_dms(
        &lake,
        "20240101-000001000.parquet",
        &[
            ("U", Some(1), "eu", 11, "2024-01-01 00:00:05.000001"),
            ("U", Some(1), "eu", 12, "2024-01-01 00:00:05.000002"),
            ("D", Some(2), "us", 20, "2024-01-01 00:00:06.5"),
            ("I", Some(3), "us", 30, "2024-01-01 00:00:07"),
        ],
    )
    .await;
    let outcome = lake.refresh(&[load, cdc]).await.unwrap();
    assert_eq!(
        lake.rows().await,
        vec![
            current(1, "eu", 12, "2024-01-01 00:00:05.000002"),
            current(3, "us", 30, "2024-01-01 00:00:07"),
        ]
    );
    assert_eq!(
        (
            outcome.counts.inserted,
            outcome.counts.superseded,
            outcome.counts.ignored
        ),
        (2, 3, 1),
        "keys 1 and 3 are new; the load rows and the older update were overtaken; key 2 was \
         deleted before the table held it"
    );
    assert!(
        column_types(&lake.snapshot().await).contains(&("dms_ts".into(), "string".into())),
        "the column is stored as DMS wrote it"
    );
}

#[tokio::test]
async fn a_commit_timestamp_declared_as_timestamp_reads_the_dms_string_column() {
    let config = DMS_PARQUET.replace(
        r#""partition_by""#,
        r#""input": {"columns": [
            {"name": "id", "type": "bigint"}, {"name": "region", "type": "string"},
            {"name": "amount", "type": "bigint"}, {"name": "dms_ts", "type": "timestamp"}]},
          "partition_by""#,
    );
    let mut lake = Lake::new(&config);
    let load = stage_dms(
        &lake,
        "LOAD00000001.parquet",
        &[("", Some(1), "eu", 10, "2024-01-01 00:00:09.000000")],
    )
    .await;
    lake.refresh(&[load]).await.unwrap();
    let cdc = stage_dms(
        &lake,
        "20240101-000001000.parquet",
        &[
            ("U", Some(1), "eu", 12, "2024-01-01 00:00:05.000002"),
            ("U", Some(1), "eu", 11, "2024-01-01 00:00:05.000001"),
        ],
    )
    .await;
    lake.refresh(&[cdc]).await.unwrap();
    assert_eq!(
        lake.rows().await,
        vec!["amount=12,dms_ts=2024-01-01T00:00:05.000002,id=1,region=eu"]
    );
    assert!(column_types(&lake.snapshot().await).contains(&("dms_ts".into(), "timestamp".into())));

    let bad = stage_dms(
        &lake,
        "20240101-000002000.parquet",
        &[("U", Some(1), "eu", 13, "2024-01-01 25:00:00")],
    )
    .await;
    let error = lake.refresh(&[bad]).await.unwrap_err();
    assert!(
        matches!(&error, MergeError::BadFile(ReadError::Unparsable { row: 1, column, .. }) if column == "dms_ts"),
        "{error:?}"
    );
}

#[tokio::test]
async fn string_commit_timestamp_ties_are_broken_by_file_then_row_whatever_the_arrival_order() {
    let tie = "2024-01-01 00:00:05.123456";
    let first_rows = [
        ("I", Some(1), "eu", 1, tie),
        ("D", Some(1), "eu", 1, tie),
        ("I", Some(2), "eu", 1, tie),
        // Finer than microseconds: the later instant wins although its row comes first.
        ("U", Some(4), "eu", 42, "2024-01-01 00:00:05.1234567"),
        ("U", Some(4), "eu", 41, "2024-01-01 00:00:05.1234561"),
    ];
    let second_rows = [("I", Some(1), "eu", 3, tie), ("D", Some(2), "eu", 1, tie)];
    let expected = vec![
        current(1, "eu", 3, tie),
        current(4, "eu", 42, "2024-01-01 00:00:05.1234567"),
    ];

    let mut together = Lake::new(DMS_PARQUET);
    let first = stage_dms(&together, "20240101-000000000.parquet", &first_rows).await;
    let second = stage_dms(&together, "20240101-000000001.parquet", &second_rows).await;
    together.refresh(&[second, first]).await.unwrap();
    assert_eq!(together.rows().await, expected);

    let mut reversed = Lake::new(DMS_PARQUET);
    let first = stage_dms(&reversed, "20240101-000000000.parquet", &first_rows).await;
    let second = stage_dms(&reversed, "20240101-000000001.parquet", &second_rows).await;
    reversed.refresh(&[second]).await.unwrap();
    let late = reversed.refresh(&[first]).await.unwrap();
    assert_eq!(reversed.rows().await, expected);
    assert_eq!(
        late.counts.ignored, 3,
        "the earlier file's changes of keys 1 and 2 lose the tie to the stored ones"
    );
}

#[tokio::test]
async fn an_unparsable_commit_timestamp_is_bad_input_naming_file_row_and_column() {
    let mut lake = Lake::new(DMS_PARQUET);
    for name in ["20240101-000000000.parquet", "LOAD00000001.parquet"] {
        let file = stage_dms(
            &lake,
            name,
            &[
                ("I", Some(1), "eu", 1, "2024-01-01 00:00:05"),
                ("I", Some(2), "eu", 1, "01/01/2024 00:00:05"),
            ],
        )
        .await;
        let error = lake.refresh(std::slice::from_ref(&file)).await.unwrap_err();
        assert!(
            matches!(
                &error,
                MergeError::BadOrdering {
                    source: ChangeOrderError::BadCommitTimestamp { row: 2, column, .. },
                    ..
                } if column == "dms_ts"
            ),
            "{name}: {error:?}"
        );
        assert_eq!(error.bad_file(), Some(file.path.as_ref()));
        assert!(!error.is_retryable());
        let message = error.to_string();
        for fragment in [name, "row 2", "dms_ts", "01/01/2024 00:00:05", "fix:"] {
            assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
        }
    }
    assert!(lake_objects(&lake).await.is_empty(), "nothing written");
}

#[tokio::test]
async fn a_csv_commit_timestamp_declared_as_string_orders_changes() {
    let mut lake = Lake::new(
        r#"{
          "source": {"schema": "sales", "table": "orders"},
          "target": {"database": "lake", "table": "orders", "location": "lake/orders"},
          "primary_key": ["id"],
          "ordering": {"commit_timestamp_column": "dms_ts"},
          "input": {"columns": [{"name": "id", "type": "bigint"},
                                {"name": "amount", "type": "bigint"},
                                {"name": "dms_ts", "type": "string"}]}
        }"#,
    );
    let cdc = lake
        .stage(
            "20240101-000000000.csv",
            "U,1,2,2024-01-01 00:00:05.2\nI,1,1,2024-01-01 00:00:05.100000\n",
        )
        .await;
    lake.refresh(&[cdc]).await.unwrap();
    assert_eq!(
        lake.rows().await,
        vec!["amount=2,dms_ts=2024-01-01 00:00:05.2,id=1"]
    );
}

#[tokio::test]
async fn scd2_versions_are_linked_by_a_string_commit_timestamp() {
    let config = DMS_PARQUET.replace(
        r#""partition_by": ["identity(region)"]"#,
        r#""storage_mode": "scd2""#,
    );
    let mut lake = Lake::new(&config);
    let load = stage_dms(
        &lake,
        "LOAD00000001.parquet",
        &[("", Some(1), "eu", 10, "2024-01-01 00:00:01.5")],
    )
    .await;
    let cdc = stage_dms(
        &lake,
        "20240101-000001000.parquet",
        &[
            ("U", Some(1), "eu", 12, "2024-01-01 00:00:03.000000"),
            ("U", Some(1), "eu", 11, "2024-01-01 00:00:02.123456789"),
        ],
    )
    .await;
    lake.refresh(&[load, cdc]).await.unwrap();
    assert_eq!(
        lake.rows().await,
        vec![
            "amount=10,dms_ts=2024-01-01 00:00:01.5,id=1,is_current=false,is_deleted=false,region=eu,valid_from=2024-01-01T00:00:01.500,valid_to=2024-01-01T00:00:02.123456",
            "amount=11,dms_ts=2024-01-01 00:00:02.123456789,id=1,is_current=false,is_deleted=false,region=eu,valid_from=2024-01-01T00:00:02.123456,valid_to=2024-01-01T00:00:03",
            "amount=12,dms_ts=2024-01-01 00:00:03.000000,id=1,is_current=true,is_deleted=false,region=eu,valid_from=2024-01-01T00:00:03,valid_to=null",
        ]
    );
}

// ---- A4: a change needs its whole key ------------------------------------------------------------

const COMPOSITE_KEY: &str = r#"{
  "source": {"schema": "sales", "table": "lines"},
  "target": {"database": "lake", "table": "lines", "location": "lake/lines"},
  "primary_key": ["order_id", "line"],
  "ordering": {"commit_timestamp_column": "ts"},
  "input": {"columns": [{"name": "order_id", "type": "bigint"}, {"name": "line", "type": "int"},
                        {"name": "qty", "type": "int"}, {"name": "ts", "type": "timestamp"}]}
}"#;

#[tokio::test]
async fn a_null_primary_key_is_bad_input_naming_file_row_and_column() {
    let cases: Vec<(&str, &str, Vec<u8>, usize, &str)> = vec![
        (
            COMPOSITE_KEY,
            "20240101-000000000.csv",
            b"I,1,1,5,2024-01-01 00:00:01\nI,NULL,1,5,2024-01-01 00:00:02\n".to_vec(),
            2,
            "order_id",
        ),
        (
            COMPOSITE_KEY,
            "20240101-000000001.csv",
            b"D,1,NULL,NULL,2024-01-01 00:00:03\n".to_vec(),
            1,
            "line",
        ),
        (
            COMPOSITE_KEY,
            "LOAD00000001.csv",
            b"1,1,5,2024-01-01 00:00:00\n2,2,5,2024-01-01 00:00:00\n3,NULL,5,2024-01-01 00:00:00\n"
                .to_vec(),
            3,
            "line",
        ),
        (
            DMS_PARQUET,
            "20240101-000000002.parquet",
            dms_parquet(true, &[("I", None, "eu", 1, "2024-01-01 00:00:05")]),
            1,
            "id",
        ),
        (
            DMS_PARQUET,
            "LOAD00000002.parquet",
            dms_parquet(
                false,
                &[
                    ("", Some(1), "eu", 1, "2024-01-01 00:00:05"),
                    ("", None, "eu", 1, "2024-01-01 00:00:05"),
                ],
            ),
            2,
            "id",
        ),
    ];
    for (config, name, contents, row, column) in cases {
        let mut lake = Lake::new(config);
        let file = lake.stage(name, contents).await;
        let error = lake.refresh(std::slice::from_ref(&file)).await.unwrap_err();
        match &error {
            MergeError::NullKey {
                file: f,
                row: r,
                column: c,
            } => assert_eq!(
                (f.as_str(), *r, c.as_str()),
                (file.path.as_ref(), row, column)
            ),
            other => panic!("{name}: expected a null key, got {other:?}"),
        }
        assert_eq!(error.bad_file(), Some(file.path.as_ref()), "{name}");
        assert!(!error.is_retryable());
        let message = error.to_string();
        assert!(
            message.contains(name) && message.contains(&format!("row {row}")),
            "{message}"
        );
        assert!(
            lake_objects(&lake).await.is_empty(),
            "{name}: nothing written"
        );
    }
}

#[tokio::test]
async fn a_file_without_the_key_column_is_refused_with_the_others_of_its_refresh() {
    let mut lake = Lake::new(DMS_PARQUET);
    let keyed = stage_dms(
        &lake,
        "20240101-000000000.parquet",
        &[("I", Some(1), "eu", 1, "2024-01-01 00:00:05")],
    )
    .await;
    let keyless = RecordBatch::try_from_iter([
        ("Op", Arc::new(StringArray::from(vec!["I"])) as ArrayRef),
        ("region", Arc::new(StringArray::from(vec!["eu"]))),
        (
            "dms_ts",
            Arc::new(StringArray::from(vec!["2024-01-01 00:00:06"])),
        ),
    ])
    .unwrap();
    let keyless = lake
        .stage("20240101-000000001.parquet", parquet_bytes(&keyless))
        .await;
    let error = lake.refresh(&[keyed, keyless.clone()]).await.unwrap_err();
    assert_eq!(error.bad_file(), Some(keyless.path.as_ref()), "{error}");
    assert!(matches!(error, MergeError::NullKey { row: 1, .. }));
}

// ---- D11: named date partitions ---------------------------------------------------------------

/// Flights with their own `year` and `month` columns, partitioned by the month of `time_hour`.
const FLIGHTS: &str = r#"{
  "source": {"schema": "nyc", "table": "flights"},
  "target": {"database": "lake", "table": "flights", "location": "lake/flights"},
  "primary_key": ["id"],
  "ordering": {"commit_timestamp_column": "dms_ts"},
  "partition_by": ["month(time_hour) as time_hour_month"],
  "date_partition_style": "nested",
  "input": {"columns": [{"name": "id", "type": "bigint"}, {"name": "year", "type": "int"},
                        {"name": "month", "type": "int"}, {"name": "time_hour", "type": "timestamp"},
                        {"name": "dms_ts", "type": "string"}]}
}"#;

#[tokio::test]
async fn a_named_date_transform_partitions_a_table_that_has_year_and_month_columns() {
    let mut lake = Lake::new(FLIGHTS);
    let load = lake
        .stage(
            "LOAD00000001.csv",
            "1,2013,1,2013-01-01 05:00:00,2024-01-01 00:00:00\n\
             2,2013,2,2013-02-03 10:00:00,2024-01-01 00:00:00\n\
             3,2013,2,NULL,2024-01-01 00:00:00\n",
        )
        .await;
    lake.refresh(&[load]).await.unwrap();
    let snapshot = lake.snapshot().await;
    let paths: Vec<String> = snapshot
        .partitions
        .iter()
        .map(|p| p.values.path())
        .collect();
    assert_eq!(
        paths,
        vec![
            "time_hour_month=2013-01",
            "time_hour_month=2013-02",
            "time_hour_month=__HIVE_DEFAULT_PARTITION__"
        ]
    );
    assert!(
        lake_objects(&lake)
            .await
            .iter()
            .any(|o| o.starts_with("lake/flights/data/time_hour_month=2013-02/v")),
        "the name is the folder"
    );
    let rows = lake.rows().await;
    assert!(
        rows.iter().any(|r| r.contains("month=2,")
            && r.contains("year=2013")
            && r.contains("time_hour_month=2013-02")),
        "the source columns keep their values: {rows:?}"
    );
}

#[tokio::test]
async fn an_undeclared_column_clashing_with_a_date_partition_key_fails_the_refresh_with_the_fix() {
    let config = r#"{
      "source": {"schema": "nyc", "table": "flights"},
      "target": {"database": "lake", "table": "flights", "location": "lake/flights"},
      "primary_key": ["id"],
      "partition_by": ["month(time_hour)"]
    }"#;
    let mut lake = Lake::new(config);
    let batch = RecordBatch::try_from_iter([
        ("Op", Arc::new(StringArray::from(vec!["I"])) as ArrayRef),
        ("id", Arc::new(Int64Array::from(vec![1]))),
        ("year", Arc::new(Int32Array::from(vec![2013]))),
        (
            "time_hour",
            Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![
                1_357_016_400_000_000,
            ])),
        ),
    ])
    .unwrap();
    let file = lake
        .stage("20240101-000000000.parquet", parquet_bytes(&batch))
        .await;
    let error = lake.refresh(&[file]).await.unwrap_err();
    assert!(
        matches!(&error, MergeError::PartitionKeyClash { clash, .. } if clash.key == "year"),
        "{error:?}"
    );
    assert_eq!(error.bad_file(), None, "the configuration needs the fix");
    assert!(
        error
            .to_string()
            .contains("`month(time_hour) as time_hour_month`"),
        "{error}"
    );
    assert!(lake_objects(&lake).await.is_empty());
}

// ---- D12: S3 key and Glue partition value limits -------------------------------------------------

#[tokio::test]
async fn a_partition_value_glue_or_s3_cannot_hold_is_bad_input_naming_file_and_row() {
    let glue_long = "g".repeat(1_025);
    let s3_long = "/".repeat(400); // 400 characters for Glue, 1,200 bytes Hive-escaped
    for (value, is_glue) in [(glue_long.as_str(), true), (s3_long.as_str(), false)] {
        let mut lake = Lake::new(DMS_PARQUET);
        let file = stage_dms(
            &lake,
            "20240101-000000000.parquet",
            &[
                ("I", Some(1), "eu", 1, "2024-01-01 00:00:05"),
                ("I", Some(2), value, 1, "2024-01-01 00:00:05"),
            ],
        )
        .await;
        let error = lake.refresh(std::slice::from_ref(&file)).await.unwrap_err();
        match &error {
            MergeError::PartitionLimit {
                table,
                file: f,
                row: 2,
                problem,
            } => {
                assert_eq!(
                    (table.as_str(), f.as_str()),
                    ("sales.orders", file.path.as_ref())
                );
                match problem {
                    PartitionLimitError::GlueValueTooLong { key, length, .. } => {
                        assert!(is_glue);
                        assert_eq!((key.as_str(), *length), ("region", 1_025));
                    }
                    PartitionLimitError::ObjectKeyTooLong {
                        key_bytes, limit, ..
                    } => {
                        assert!(!is_glue);
                        assert!(*key_bytes > 1_024 && *limit == 1_024);
                    }
                }
            }
            other => panic!("expected a partition limit, got {other:?}"),
        }
        assert_eq!(error.bad_file(), Some(file.path.as_ref()));
        assert!(!error.is_retryable());
        let message = error.to_string();
        for fragment in ["row 2", "sales.orders", "1024", "fix:"] {
            assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
        }
        assert!(lake_objects(&lake).await.is_empty(), "nothing written");
    }
}

#[tokio::test]
async fn a_current_mode_delete_carrying_a_too_long_value_only_leaves_a_tombstone() {
    let mut lake = Lake::new(DMS_PARQUET);
    let load = stage_dms(
        &lake,
        "LOAD00000001.parquet",
        &[("", Some(1), "eu", 1, "2024-01-01 00:00:01")],
    )
    .await;
    lake.refresh(&[load]).await.unwrap();
    let long = "g".repeat(2_000);
    let delete = stage_dms(
        &lake,
        "20240101-000000000.parquet",
        &[("D", Some(1), &long, 1, "2024-01-01 00:00:05")],
    )
    .await;
    let outcome = lake.refresh(&[delete]).await.unwrap();
    assert_eq!(outcome.counts.deleted, 1);
    assert!(lake.rows().await.is_empty());
}

#[tokio::test]
async fn a_refresh_with_the_longest_refresh_id_writes_keys_as_long_as_predicted() {
    let lake = Lake::new(DMS_PARQUET);
    let file = stage_dms(
        &lake,
        "20240101-000000000.parquet",
        &[
            ("I", Some(1), "eu", 1, "2024-01-01 00:00:05"),
            ("D", Some(2), "us", 1, "2024-01-01 00:00:05"),
        ],
    )
    .await;
    let refresh_id = "x".repeat(paths::MAX_REFRESH_ID_LEN);
    let request = RefreshRequest {
        config: &lake.config,
        pending: std::slice::from_ref(&file),
        refresh_id: &refresh_id,
        now: lake.now,
        commit_guard: None,
        max_input_bytes: u64::MAX,
    };
    refresh(&lake.stores, request).await.unwrap();
    let objects = lake_objects(&lake).await;
    let data = objects
        .iter()
        .find(|o| o.starts_with("lake/orders/data/region=eu/"))
        .unwrap();
    assert_eq!(
        data.len(),
        paths::longest_key_bytes(&lake.config.location, "region=eu")
    );
    let unpartitioned = paths::longest_key_bytes(&lake.config.location, "");
    assert!(
        objects
            .iter()
            .all(|o| !o.contains("/data/") || o.len() <= data.len())
    );
    assert!(
        objects
            .iter()
            .filter(|o| !o.contains("/data/"))
            .all(|o| o.len() <= unpartitioned)
    );
}
