#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{
    Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::basic::Compression;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;

use super::*;
use crate::lake::snapshot::SnapshotError;
use crate::lake::table_config::TableFormat;
use crate::lake::test_support::{Lake, lake_objects, parquet_bytes};
use arrow::array::AsArray;
use object_store::ObjectStoreExt;

const ORDERS: &str = r#"{
  "source": {"schema": "sales", "table": "orders"},
  "target": {"database": "lake", "table": "orders", "location": "lake/orders"},
  "primary_key": ["id"],
  "ordering": {"commit_timestamp_column": "ts"},
  "partition_by": ["identity(region)"],
  "input": {"columns": [
    {"name": "id", "type": "bigint"},
    {"name": "region", "type": "string"},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "ts", "type": "timestamp"}
  ]}
}"#;

fn row(id: i64, region: &str, amount: &str, ts: &str) -> String {
    format!("amount={amount},id={id},region={region},ts=2024-01-01T{ts}")
}

#[tokio::test]
async fn many_changes_to_one_key_in_one_batch_last_wins() {
    let mut lake = Lake::new(ORDERS);
    let cdc = lake
        .stage(
            "20240101-000000000.csv",
            "I,1,eu,1.00,2024-01-01 00:00:01\n\
             U,1,eu,2.00,2024-01-01 00:00:02\n\
             I,2,us,5.00,2024-01-01 00:00:01\n\
             D,2,us,5.00,2024-01-01 00:00:02\n\
             I,2,us,7.00,2024-01-01 00:00:03\n\
             I,3,eu,9.00,2024-01-01 00:00:01\n\
             U,3,eu,9.50,2024-01-01 00:00:02\n\
             D,3,NULL,NULL,2024-01-01 00:00:03\n",
        )
        .await;
    let outcome = lake.refresh(&[cdc]).await.unwrap();
    assert_eq!(
        lake.rows().await,
        vec![
            row(1, "eu", "2.00", "00:00:02"),
            row(2, "us", "7.00", "00:00:03")
        ]
    );
    assert_eq!(outcome.counts.inserted, 2);
    assert_eq!(outcome.counts.changes_read, 8);
    assert_eq!(
        outcome.counts.ignored, 1,
        "the delete of key 3, which the table never held"
    );
    assert_eq!(outcome.counts.superseded, 5);
}

#[tokio::test]
async fn total_order_breaks_timestamp_ties_by_file_then_row_never_arbitrarily() {
    let mut lake = Lake::new(ORDERS);
    // Same commit timestamp everywhere: the later file wins, inside a file the later row wins.
    let first = lake.stage("20240101-000000000.csv", "I,1,eu,1.00,2024-01-01 00:00:05\nD,1,eu,1.00,2024-01-01 00:00:05\nI,2,eu,1.00,2024-01-01 00:00:05\n").await;
    let second = lake
        .stage(
            "20240101-000000001.csv",
            "I,1,eu,3.00,2024-01-01 00:00:05\nD,2,eu,1.00,2024-01-01 00:00:05\n",
        )
        .await;
    lake.refresh(&[second.clone(), first.clone()])
        .await
        .unwrap();
    assert_eq!(lake.rows().await, vec![row(1, "eu", "3.00", "00:00:05")]);

    // Applying the same files one by one in the opposite arrival order ends identically.
    let mut other = Lake::new(ORDERS);
    let first = other.stage("20240101-000000000.csv", "I,1,eu,1.00,2024-01-01 00:00:05\nD,1,eu,1.00,2024-01-01 00:00:05\nI,2,eu,1.00,2024-01-01 00:00:05\n").await;
    let second = other
        .stage(
            "20240101-000000001.csv",
            "I,1,eu,3.00,2024-01-01 00:00:05\nD,2,eu,1.00,2024-01-01 00:00:05\n",
        )
        .await;
    other.refresh(&[second]).await.unwrap();
    other.refresh(&[first]).await.unwrap();
    assert_eq!(other.rows().await, vec![row(1, "eu", "3.00", "00:00:05")]);
}

#[tokio::test]
async fn sequence_column_orders_before_commit_timestamp() {
    let config = ORDERS
        .replace(
            r#""ordering": {"commit_timestamp_column": "ts"}"#,
            r#""ordering": {"sequence_column": "seq", "commit_timestamp_column": "ts"}"#,
        )
        .replace(
            r#"{"name": "ts", "type": "timestamp"}"#,
            r#"{"name": "ts", "type": "timestamp"}, {"name": "seq", "type": "string"}"#,
        );
    let mut lake = Lake::new(&config);
    // The row with the higher sequence wins although its timestamp is older.
    let cdc = lake
        .stage("20240101-000000000.csv", "U,1,eu,2.00,2024-01-01 00:00:01,000000000000000000000000000000000020\nI,1,eu,1.00,2024-01-01 00:00:09,000000000000000000000000000000000010\n")
        .await;
    lake.refresh(&[cdc]).await.unwrap();
    assert_eq!(
        lake.rows().await,
        vec![
            "amount=2.00,id=1,region=eu,seq=000000000000000000000000000000000020,ts=2024-01-01T00:00:01"
        ]
    );
}

#[tokio::test]
async fn insert_delete_insert_keeps_the_last_insert_and_update_delete_is_gone() {
    let mut lake = Lake::new(ORDERS);
    let load = lake
        .stage("LOAD00000001.csv", "5,eu,1.00,2024-01-01 00:00:00\n")
        .await;
    lake.refresh(&[load]).await.unwrap();
    let cdc = lake
        .stage("20240101-000000000.csv", "I,4,us,1.00,2024-01-01 00:00:01\nD,4,us,1.00,2024-01-01 00:00:02\nI,4,us,4.00,2024-01-01 00:00:03\nU,5,eu,2.00,2024-01-01 00:00:01\nD,5,eu,2.00,2024-01-01 00:00:02\n")
        .await;
    let outcome = lake.refresh(&[cdc]).await.unwrap();
    assert_eq!(lake.rows().await, vec![row(4, "us", "4.00", "00:00:03")]);
    assert_eq!((outcome.counts.inserted, outcome.counts.deleted), (1, 1));
}

#[tokio::test]
async fn full_load_then_cdc_including_changes_that_landed_during_the_load() {
    let mut lake = Lake::new(ORDERS);
    // DMS stamps full-load rows with the transfer time, later than changes cached meanwhile.
    let load1 = lake
        .stage(
            "LOAD00000001.csv",
            "1,eu,1.00,2024-01-01 12:00:00\n2,eu,2.00,2024-01-01 12:00:00\n",
        )
        .await;
    let cdc = lake
        .stage(
            "20240101-115900000.csv",
            "U,1,eu,1.50,2024-01-01 11:59:00\nU,3,us,3.50,2024-01-01 11:59:30\n",
        )
        .await;
    let load2 = lake
        .stage("LOAD00000002.csv", "3,us,3.00,2024-01-01 12:00:01\n")
        .await;
    // Arrival: first load file, then the CDC file, then the second load file.
    lake.refresh(&[load1]).await.unwrap();
    lake.refresh(&[cdc]).await.unwrap();
    let outcome = lake.refresh(&[load2]).await.unwrap();
    assert_eq!(
        lake.rows().await,
        vec![
            row(1, "eu", "1.50", "11:59:00"),
            row(2, "eu", "2.00", "12:00:00"),
            row(3, "us", "3.50", "11:59:30")
        ]
    );
    assert_eq!(
        outcome.counts.ignored, 1,
        "the load row of key 3 is older than its CDC change"
    );
}

#[tokio::test]
async fn late_file_never_rolls_back_a_newer_row_nor_resurrects_a_delete() {
    let mut lake = Lake::new(ORDERS);
    let newer = lake
        .stage(
            "20240101-000000002.csv",
            "U,1,eu,9.00,2024-01-01 00:00:09\nD,2,eu,2.00,2024-01-01 00:00:09\n",
        )
        .await;
    let insert = lake
        .stage(
            "20240101-000000000.csv",
            "I,1,eu,1.00,2024-01-01 00:00:01\nI,2,eu,2.00,2024-01-01 00:00:01\n",
        )
        .await;
    lake.refresh(&[insert]).await.unwrap();
    lake.refresh(&[newer]).await.unwrap();
    let late = lake.stage("20240101-000000001.csv", "U,1,eu,5.00,2024-01-01 00:00:05\nU,2,eu,5.00,2024-01-01 00:00:05\nI,2,eu,6.00,2024-01-01 00:00:06\n").await;
    let outcome = lake.refresh(&[late]).await.unwrap();
    assert_eq!(lake.rows().await, vec![row(1, "eu", "9.00", "00:00:09")]);
    assert_eq!(outcome.counts.ignored, 3);
    assert_eq!(
        (
            outcome.counts.inserted,
            outcome.counts.updated,
            outcome.counts.deleted
        ),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn reapplying_an_applied_file_changes_nothing() {
    let mut lake = Lake::new(ORDERS);
    let cdc = lake
        .stage(
            "20240101-000000000.csv",
            "I,1,eu,1.00,2024-01-01 00:00:01\n",
        )
        .await;
    lake.refresh(std::slice::from_ref(&cdc)).await.unwrap();
    let before = lake.snapshot().await;
    let outcome = lake.refresh(std::slice::from_ref(&cdc)).await.unwrap();
    assert!(outcome.commit.is_none());
    assert_eq!(outcome.already_applied, vec![cdc.id.clone()]);
    assert_eq!(lake.snapshot().await, before);
    // The same content under a new object version is a duplicate by order: ignored.
    let rewritten = PendingFile {
        id: format!("{}#v2", cdc.order_key),
        ..cdc
    };
    let outcome = lake.refresh(&[rewritten]).await.unwrap();
    assert_eq!(outcome.counts.ignored, 1);
    assert_eq!(lake.rows().await, vec![row(1, "eu", "1.00", "00:00:01")]);
}

#[tokio::test]
async fn partition_move_leaves_no_stale_copy_and_pk_only_delete_finds_the_row() {
    let mut lake = Lake::new(ORDERS);
    let insert = lake.stage("20240101-000000000.csv", "I,1,eu,1.00,2024-01-01 00:00:01\nI,2,us,2.00,2024-01-01 00:00:01\nI,3,eu,3.00,2024-01-01 00:00:01\n").await;
    lake.refresh(&[insert]).await.unwrap();
    let changes = lake
        .stage(
            "20240101-000000001.csv",
            "U,1,us,1.50,2024-01-01 00:00:02\nD,2,NULL,NULL,2024-01-01 00:00:02\n",
        )
        .await;
    let outcome = lake.refresh(&[changes]).await.unwrap();
    assert_eq!(
        lake.rows().await,
        vec![
            row(1, "us", "1.50", "00:00:02"),
            row(3, "eu", "3.00", "00:00:01")
        ]
    );
    assert_eq!((outcome.counts.updated, outcome.counts.deleted), (1, 1));
    let commit = outcome.commit.unwrap();
    let written: Vec<String> = commit
        .partitions_written
        .iter()
        .map(|p| p.values.path())
        .collect();
    assert_eq!(written, vec!["region=eu", "region=us"]);
}

fn evolving_schema(fields: Vec<Field>) -> Arc<Schema> {
    Arc::new(Schema::new(fields))
}

const EVOLVING: &str = r#"{
  "source": {"schema": "sales", "table": "items"},
  "target": {"database": "lake", "table": "items", "location": "lake/items"},
  "primary_key": ["id"],
  "ordering": {"commit_timestamp_column": "ts"}
}"#;

fn ts_field() -> Field {
    Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true)
}

#[tokio::test]
async fn schema_evolution_adds_columns_widens_types_and_keeps_missing_columns() {
    let mut lake = Lake::new(EVOLVING);
    let v1 = RecordBatch::try_new(
        evolving_schema(vec![
            Field::new("Op", DataType::Utf8, true),
            Field::new("id", DataType::Int32, true),
            Field::new("qty", DataType::Int32, true),
            Field::new("price", DataType::Float32, true),
            Field::new("gone", DataType::Utf8, true),
            ts_field(),
        ]),
        vec![
            Arc::new(StringArray::from(vec!["I"])),
            Arc::new(Int32Array::from(vec![1])),
            Arc::new(Int32Array::from(vec![10])),
            Arc::new(Float32Array::from(vec![1.5])),
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(TimestampMicrosecondArray::from(vec![1_000_000])),
        ],
    )
    .unwrap();
    let first = lake
        .stage("20240101-000000000.parquet", parquet_bytes(&v1))
        .await;
    lake.refresh(&[first]).await.unwrap();
    let v2 = RecordBatch::try_new(
        evolving_schema(vec![
            Field::new("Op", DataType::Utf8, true),
            Field::new("id", DataType::Int64, true),
            Field::new("qty", DataType::Int64, true),
            Field::new("price", DataType::Float64, true),
            ts_field(),
            Field::new("note", DataType::Utf8, true),
        ]),
        vec![
            Arc::new(StringArray::from(vec!["I"])),
            Arc::new(Int64Array::from(vec![5_000_000_000])),
            Arc::new(Int64Array::from(vec![7_000_000_000])),
            Arc::new(Float64Array::from(vec![2.25])),
            Arc::new(TimestampMicrosecondArray::from(vec![2_000_000])),
            Arc::new(StringArray::from(vec!["new"])),
        ],
    )
    .unwrap();
    let second = lake
        .stage("20240101-000000001.parquet", parquet_bytes(&v2))
        .await;
    let outcome = lake.refresh(&[second]).await.unwrap();
    assert!(outcome.commit.unwrap().schema_changed);
    let columns: Vec<(String, String)> = lake
        .snapshot()
        .await
        .columns
        .into_iter()
        .map(|c| (c.name, c.hive_type))
        .collect();
    let expected = [
        ("id", "bigint"),
        ("qty", "bigint"),
        ("price", "double"),
        ("gone", "string"),
        ("ts", "timestamp"),
        ("note", "string"),
    ];
    assert_eq!(
        columns,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
    );
    assert_eq!(
        lake.rows().await,
        vec![
            "gone=null,id=5000000000,note=new,price=2.25,qty=7000000000,ts=1970-01-01T00:00:02",
            "gone=x,id=1,note=null,price=1.5,qty=10,ts=1970-01-01T00:00:01",
        ]
    );
}

#[tokio::test]
async fn incompatible_type_change_stops_the_table_and_loses_nothing() {
    let mut lake = Lake::new(EVOLVING);
    let v1 = RecordBatch::try_new(
        evolving_schema(vec![
            Field::new("Op", DataType::Utf8, true),
            Field::new("id", DataType::Int64, true),
            Field::new("code", DataType::Utf8, true),
            ts_field(),
        ]),
        vec![
            Arc::new(StringArray::from(vec!["I"])),
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["A1"])),
            Arc::new(TimestampMicrosecondArray::from(vec![1])),
        ],
    )
    .unwrap();
    let first = lake
        .stage("20240101-000000000.parquet", parquet_bytes(&v1))
        .await;
    lake.refresh(&[first]).await.unwrap();
    let before = (lake.snapshot().await, lake_objects(&lake).await);
    let v2 = RecordBatch::try_new(
        evolving_schema(vec![
            Field::new("Op", DataType::Utf8, true),
            Field::new("id", DataType::Int64, true),
            Field::new("code", DataType::Int32, true),
            ts_field(),
        ]),
        vec![
            Arc::new(StringArray::from(vec!["U"])),
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(Int32Array::from(vec![7])),
            Arc::new(TimestampMicrosecondArray::from(vec![2])),
        ],
    )
    .unwrap();
    let second = lake
        .stage("20240101-000000001.parquet", parquet_bytes(&v2))
        .await;
    let error = lake.refresh(&[second]).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, MergeError::Schema(_)), "{message}");
    assert!(
        message.contains("code") && message.contains("20240101-000000001.parquet"),
        "{message}"
    );
    assert!(!error.is_retryable());
    assert_eq!(
        (lake.snapshot().await, lake_objects(&lake).await),
        before,
        "nothing written, previous state intact"
    );
}

#[tokio::test]
async fn counts_describe_what_happened_to_the_table_not_the_cdc_labels() {
    let mut lake = Lake::new(ORDERS);
    let load = lake
        .stage("LOAD00000001.csv", "1,eu,1.00,2024-01-01 00:00:00\n")
        .await;
    lake.refresh(&[load]).await.unwrap();
    // An `I` of an existing key is an update; a `U` of an unknown key is an insert; a `D` of an
    // unknown key changes nothing.
    let cdc = lake.stage("20240101-000000000.csv", "I,1,eu,2.00,2024-01-01 00:00:01\nU,2,eu,2.00,2024-01-01 00:00:01\nD,3,eu,3.00,2024-01-01 00:00:01\n").await;
    let counts = lake.refresh(&[cdc]).await.unwrap().counts;
    assert_eq!(
        counts,
        RefreshCounts {
            changes_read: 3,
            inserted: 1,
            updated: 1,
            deleted: 0,
            ignored: 1,
            superseded: 0
        }
    );
}

#[tokio::test]
async fn only_partitions_with_affected_keys_are_rewritten_and_other_files_are_not_decoded() {
    let mut lake = Lake::new(ORDERS);
    let mut load = String::new();
    for id in 0..300 {
        let region = ["eu", "us", "ap"][id % 3];
        load.push_str(&format!("{id},{region},1.00,2024-01-01 00:00:00\n"));
    }
    let load = lake.stage("LOAD00000001.csv", load).await;
    lake.refresh(&[load]).await.unwrap();
    let before = lake.snapshot().await;
    // One update in `eu` (id 3) and one brand-new key far outside every file's key range.
    let cdc = lake
        .stage(
            "20240101-000000000.csv",
            "U,3,eu,2.00,2024-01-01 00:00:01\nI,100000,eu,1.00,2024-01-01 00:00:01\n",
        )
        .await;
    let outcome = lake.refresh(&[cdc]).await.unwrap();
    let after = lake.snapshot().await;
    let location = |s: &crate::lake::snapshot::TableSnapshot, p: &str| {
        s.partitions
            .iter()
            .find(|x| x.values.path() == p)
            .unwrap()
            .location
            .clone()
    };
    assert_eq!(
        location(&after, "region=us"),
        location(&before, "region=us")
    );
    assert_eq!(
        location(&after, "region=ap"),
        location(&before, "region=ap")
    );
    assert_ne!(
        location(&after, "region=eu"),
        location(&before, "region=eu")
    );
    assert_eq!(outcome.io.partitions_written, 1);
    // us/ap files were excluded by bloom filters (ids are interleaved, so ranges overlap).
    assert_eq!(outcome.io.files_scanned, 1);
    assert_eq!(
        outcome.io.files_pruned_by_bloom + outcome.io.files_pruned_by_range,
        2
    );
    assert_eq!(lake.rows().await.len(), 301);
}

#[tokio::test]
async fn files_without_affected_keys_in_a_touched_partition_are_copied_not_decoded() {
    let config = ORDERS.replace(
        r#""input""#,
        r#""output": {"target_file_size_bytes": 4096, "row_group_rows": 1000}, "input""#,
    );
    let mut lake = Lake::new(&config);
    let mut load = String::new();
    for id in 0..3000 {
        load.push_str(&format!("{id},eu,{id}.00,2024-01-01 00:00:00\n"));
    }
    let load = lake.stage("LOAD00000001.csv", load).await;
    lake.refresh(&[load]).await.unwrap();
    let files_before = lake.snapshot().await.partitions[0].files.len();
    assert!(
        files_before >= 3,
        "the load rolls over into several files: {files_before}"
    );
    let cdc = lake
        .stage(
            "20240101-000000000.csv",
            "U,2999,eu,0.50,2024-01-01 00:00:01\n",
        )
        .await;
    let outcome = lake.refresh(&[cdc]).await.unwrap();
    assert_eq!(
        outcome.io.files_rewritten, 1,
        "only the file holding key 2999"
    );
    assert_eq!(outcome.io.files_copied as usize, files_before - 1);
    assert_eq!(lake.rows().await.len(), 3000);
}

#[tokio::test]
async fn output_files_are_compressed_sorted_with_statistics_and_key_bloom_filters() {
    let mut lake = Lake::new(ORDERS);
    let cdc = lake.stage("20240101-000000000.csv", "I,9,eu,1.00,2024-01-01 00:00:01\nI,2,eu,1.00,2024-01-01 00:00:01\nI,5,eu,1.00,2024-01-01 00:00:01\n").await;
    lake.refresh(&[cdc]).await.unwrap();
    let snapshot = lake.snapshot().await;
    let partition = &snapshot.partitions[0];
    let file = &partition.files[0];
    let path = crate::lake::paths::TableRoot::new(&lake.config.location)
        .data_file(&partition.location, &file.name);
    let bytes = object_store::ObjectStoreExt::get(&*lake.stores.lake, &path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reader = SerializedFileReader::new(bytes).unwrap();
    let metadata = reader.metadata();
    let row_group = metadata.row_group(0);
    let id = row_group
        .columns()
        .iter()
        .find(|c| c.column_path().string() == "id")
        .unwrap();
    assert_eq!(id.compression(), Compression::ZSTD(Default::default()));
    assert!(id.statistics().is_some());
    assert!(
        id.bloom_filter_offset().is_some(),
        "bloom filter on the key column"
    );
    assert!(row_group.sorting_columns().is_some());
    assert!(
        row_group
            .columns()
            .iter()
            .all(|c| c.column_path().string() != "region"),
        "identity partition columns live in the path"
    );
    let ids: Vec<String> = lake
        .rows()
        .await
        .iter()
        .map(|r| r.split(',').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(ids, vec!["id=2", "id=5", "id=9"]);
    let batches = lake.read_file(path, file.size).await;
    let stored = batches[0]
        .column_by_name("id")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int64Type>()
        .values()
        .to_vec();
    assert_eq!(stored, vec![2, 5, 9], "rows sorted by key inside the file");
}

#[tokio::test]
async fn repeated_small_refreshes_do_not_pile_up_tiny_files() {
    let mut lake = Lake::new(ORDERS);
    for i in 0..12 {
        let cdc = lake
            .stage(
                &format!("20240101-0000000{i:02}.csv"),
                format!("I,{i},eu,1.00,2024-01-01 00:00:{i:02}\n"),
            )
            .await;
        lake.refresh(&[cdc]).await.unwrap();
        let files = lake.snapshot().await.partitions[0].files.len();
        assert!(
            files <= COMPACTION_SMALL_FILES,
            "refresh {i}: {files} files"
        );
    }
    assert_eq!(lake.rows().await.len(), 12);
}

#[tokio::test]
async fn a_crash_before_the_commit_leaves_the_previous_state_readable_and_a_retry_completes() {
    let mut lake = Lake::new(ORDERS);
    let first = lake
        .stage(
            "20240101-000000000.csv",
            "I,1,eu,1.00,2024-01-01 00:00:01\n",
        )
        .await;
    lake.refresh(&[first]).await.unwrap();
    let rows_before = lake.rows().await;
    let snapshot_before = lake.snapshot().await;
    // The refresh writes its partition versions, then the snapshot put fails (a crash or a
    // timeout at the commit point).
    lake.faults.fail_puts_containing("_tributary/snapshots/");
    let second = lake
        .stage(
            "20240101-000000001.csv",
            "U,1,eu,2.00,2024-01-01 00:00:02\nI,2,us,1.00,2024-01-01 00:00:02\n",
        )
        .await;
    let error = lake
        .refresh(std::slice::from_ref(&second))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(
        lake_objects(&lake)
            .await
            .iter()
            .any(|p| p.contains("region=us/")),
        "the crashed attempt left unreferenced files"
    );
    assert_eq!(
        lake.snapshot().await,
        snapshot_before,
        "readers still see version 1"
    );
    assert_eq!(lake.rows().await, rows_before);
    lake.faults.clear();
    let outcome = lake.refresh(&[second]).await.unwrap();
    assert_eq!(outcome.commit.unwrap().version, 2);
    assert_eq!(
        lake.rows().await,
        vec![
            row(2, "us", "1.00", "00:00:02"),
            row(1, "eu", "2.00", "00:00:02")
        ]
    );
    assert_eq!(
        lake.snapshot().await.applied_files.len(),
        2,
        "the commit records the applied files with the data"
    );
}

#[tokio::test]
async fn committing_a_snapshot_version_that_exists_is_a_conflict() {
    let mut lake = Lake::new(ORDERS);
    let first = lake
        .stage(
            "20240101-000000000.csv",
            "I,1,eu,1.00,2024-01-01 00:00:01\n",
        )
        .await;
    lake.refresh(&[first]).await.unwrap();
    let mut next = lake.snapshot().await;
    next.version = 2;
    let blocker = crate::lake::paths::TableRoot::new(&lake.config.location).snapshot(2);
    let error =
        crate::lake::snapshot::commit(&*lake.stores.lake, &lake.config.location, &next).await;
    assert!(error.is_ok());
    let again = crate::lake::snapshot::commit(&*lake.stores.lake, &lake.config.location, &next)
        .await
        .unwrap_err();
    assert!(
        matches!(again, SnapshotError::Conflict { version: 2, .. }),
        "{again}"
    );
    assert!(lake_objects(&lake).await.contains(&blocker.to_string()));
}

#[tokio::test]
async fn untouched_files_are_not_read_beyond_their_footer() {
    let config = ORDERS.replace(
        r#""input""#,
        r#""output": {"target_file_size_bytes": 4096, "row_group_rows": 500}, "input""#,
    );
    let mut lake = Lake::new(&config);
    let mut load = String::new();
    for id in 0..3000 {
        load.push_str(&format!("{id},eu,{id}.00,2024-01-01 00:00:00\n"));
    }
    let load = lake.stage("LOAD00000001.csv", load).await;
    lake.refresh(&[load]).await.unwrap();
    let snapshot = lake.snapshot().await;
    let files = &snapshot.partitions[0].files;
    lake.faults.reset_reads();
    let cdc = lake
        .stage(
            "20240101-000000000.csv",
            "U,2999,eu,0.50,2024-01-01 00:00:01\n",
        )
        .await;
    lake.refresh(&[cdc]).await.unwrap();
    let holder = files
        .iter()
        .find(|f| {
            f.key_ranges
                .as_ref()
                .is_some_and(|r| r[0].max == crate::lake::key_ranges::KeyBound::Int(2999))
        })
        .unwrap();
    for file in files {
        let read = lake.faults.bytes_read_containing(&file.name);
        if file.name == holder.name {
            assert!(read > 0);
        } else {
            assert_eq!(
                read, 0,
                "{} was pruned by its key range and only copied",
                file.name
            );
        }
    }
}

#[tokio::test]
async fn bad_input_is_a_typed_error_naming_file_row_and_column_and_writes_nothing() {
    let mut lake = Lake::new(ORDERS);
    let good = lake
        .stage(
            "20240101-000000000.csv",
            "I,1,eu,1.00,2024-01-01 00:00:01\n",
        )
        .await;
    lake.refresh(&[good]).await.unwrap();
    let before = (lake.snapshot().await, lake_objects(&lake).await);
    let mut truncated = parquet_bytes(
        &RecordBatch::try_new(
            evolving_schema(vec![
                Field::new("Op", DataType::Utf8, true),
                Field::new("id", DataType::Int64, true),
            ]),
            vec![
                Arc::new(StringArray::from(vec!["I"])),
                Arc::new(Int64Array::from(vec![1])),
            ],
        )
        .unwrap(),
    );
    truncated.truncate(truncated.len() / 2);
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "20240101-000000001.csv",
            b"I,2,eu,1.00\n".to_vec(),
            vec!["20240101-000000001.csv", "row 1"],
        ),
        (
            "20240101-000000002.csv",
            b"I,2,eu,1.00,2024-01-01 00:00:02\nU,2,eu,abc,2024-01-01 00:00:03\n".to_vec(),
            vec!["row 2", "amount", "abc"],
        ),
        (
            "20240101-000000003.csv",
            b"I,2,eu,1.00,not-a-time\n".to_vec(),
            vec!["row 1", "ts", "not-a-time"],
        ),
        (
            "20240101-000000004.csv",
            b"X,2,eu,1.00,2024-01-01 00:00:02\n".to_vec(),
            vec!["row 1", "X"],
        ),
        (
            "20240101-000000005.parquet",
            truncated,
            vec!["20240101-000000005.parquet"],
        ),
    ];
    for (name, contents, expected) in cases {
        let file = lake.stage(name, contents).await;
        let error = lake.refresh(&[file]).await.unwrap_err();
        assert!(matches!(error, MergeError::BadFile(_)), "{name}: {error}");
        let message = error.to_string();
        for fragment in expected {
            assert!(
                message.contains(fragment),
                "{name}: {message:?} lacks {fragment:?}"
            );
        }
        assert!(!error.is_retryable());
        assert_eq!(
            (lake.snapshot().await, lake_objects(&lake).await),
            before,
            "{name}: nothing written"
        );
    }
}

/// A commit guard giving a fixed answer and counting how often it is asked.
struct FixedGuard {
    answer: Result<(), String>,
    asked: std::sync::atomic::AtomicUsize,
}

impl FixedGuard {
    fn new(answer: Result<(), String>) -> FixedGuard {
        FixedGuard {
            answer,
            asked: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl CommitGuard for FixedGuard {
    fn confirm(&self) -> BoxFuture<'_, Result<(), String>> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(std::future::ready(self.answer.clone()))
    }
}

#[tokio::test]
async fn a_refused_commit_commits_nothing_and_a_later_refresh_commits_normally() {
    let mut lake = Lake::new(ORDERS);
    let first = lake
        .stage(
            "20240101-000000000.csv",
            "I,1,eu,1.00,2024-01-01 00:00:01\n",
        )
        .await;
    let accept = FixedGuard::new(Ok(()));
    let outcome = lake.refresh_guarded(&[first], Some(&accept)).await.unwrap();
    assert_eq!(outcome.commit.unwrap().version, 1);
    assert_eq!(accept.asked(), 1);
    let before = (lake.snapshot().await, lake.rows().await);

    let second = lake
        .stage(
            "20240101-000000001.csv",
            "U,1,eu,2.00,2024-01-01 00:00:02\n",
        )
        .await;
    let refuse = FixedGuard::new(Err("the lease was taken over".to_owned()));
    let error = lake
        .refresh_guarded(std::slice::from_ref(&second), Some(&refuse))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, MergeError::CommitRefused(reason) if reason == "the lease was taken over"),
        "{error:?}"
    );
    assert_eq!(refuse.asked(), 1);
    let second_snapshot = crate::lake::paths::TableRoot::new(&lake.config.location).snapshot(2);
    assert!(
        !lake_objects(&lake)
            .await
            .contains(&second_snapshot.to_string()),
        "no snapshot 2 was written"
    );
    assert_eq!((lake.snapshot().await, lake.rows().await), before);

    let outcome = lake.refresh(&[second]).await.unwrap();
    assert_eq!(outcome.commit.unwrap().version, 2);
    assert_eq!(lake.rows().await, vec![row(1, "eu", "2.00", "00:00:02")]);
}

#[tokio::test]
async fn the_first_commit_records_the_configured_table_format() {
    let mut lake = Lake::new(ORDERS);
    lake.config.format = TableFormat::Iceberg;
    let load = lake
        .stage("LOAD00000001.csv", "1,eu,1.00,2024-01-01 00:00:00\n")
        .await;
    lake.refresh(&[load]).await.unwrap();
    assert_eq!(lake.snapshot().await.table_format, TableFormat::Iceberg);
}

#[tokio::test]
async fn a_refresh_of_a_table_whose_configured_format_differs_from_its_snapshot_is_refused_before_any_read()
 {
    let mut lake = Lake::new(ORDERS);
    let load = lake
        .stage("LOAD00000001.csv", "1,eu,1.00,2024-01-01 00:00:00\n")
        .await;
    lake.refresh(&[load]).await.unwrap();
    let committed = lake.snapshot().await;
    assert_eq!(committed.table_format, TableFormat::Hive);
    let objects = lake_objects(&lake).await;
    lake.config.format = TableFormat::Iceberg;
    // Read, this file would fail the refresh as a bad file.
    let unreadable = lake
        .stage("20240101-000000000.csv", "I,not-a-number\n")
        .await;
    lake.faults.reset_reads();

    let error = lake
        .refresh(std::slice::from_ref(&unreadable))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            MergeError::FormatChanged {
                version: 1,
                stored: TableFormat::Hive,
                configured: TableFormat::Iceberg,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    for expected in [
        "table sales.orders is stored as hive (snapshot 1) but configured as iceberg",
        "fix: set target.format back to hive",
        "needs a migration",
        "DMS full load",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    assert_eq!(error.bad_file(), None, "no file is blamed");
    assert!(error.is_table_problem() && !error.is_retryable());
    assert_eq!(lake.faults.bytes_read_containing("data/"), 0);
    assert_eq!(lake_objects(&lake).await, objects, "nothing was written");
    assert_eq!(lake.snapshot().await, committed);

    lake.config.format = TableFormat::Hive;
    let error = lake.refresh(&[unreadable]).await.unwrap_err();
    assert!(
        error.bad_file().is_some(),
        "read once the format is back: {error}"
    );
}

#[tokio::test]
async fn snapshots_written_before_formats_existed_read_as_hive() {
    let mut lake = Lake::new(ORDERS);
    let load = lake
        .stage("LOAD00000001.csv", "1,eu,1.00,2024-01-01 00:00:00\n")
        .await;
    lake.refresh(&[load]).await.unwrap();
    // Snapshot 1 as a release before formats wrote it: without `table_format`.
    let path = crate::lake::paths::TableRoot::new(&lake.config.location).snapshot(1);
    let bytes = lake
        .stores
        .lake
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut document: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        document
            .as_object_mut()
            .unwrap()
            .remove("table_format")
            .is_some()
    );
    let old = serde_json::to_vec(&document).unwrap();
    lake.stores.lake.put(&path, old.into()).await.unwrap();

    assert_eq!(lake.snapshot().await.table_format, TableFormat::Hive);
    let cdc = lake
        .stage(
            "20240101-000000000.csv",
            "U,1,eu,2.00,2024-01-01 00:00:01\n",
        )
        .await;
    let outcome = lake.refresh(&[cdc]).await.unwrap();
    assert_eq!(outcome.snapshot.table_format, TableFormat::Hive);
    assert_eq!(lake.rows().await, vec![row(1, "eu", "2.00", "00:00:01")]);
}
