//! Unit tests of the Iceberg publisher against an in-memory catalog and lake: creation, the
//! idempotent reconcile, overwrite snapshots, conflicts, a metadata file left by a crashed publish
//! and a table of another format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use iceberg::spec::{Operation, TableMetadata};

use super::*;
use crate::lake::iceberg::SUMMARY_SNAPSHOT_VERSION;
use crate::lake::test_support::Lake;
use crate::ports::memory::catalog::{Call, MemoryCatalog};

const LAKE_URL: &str = "s3://lake-bucket";

const ORDERS: &str = r#"{
  "source": {"schema": "sales", "table": "orders"},
  "target": {"database": "lake", "table": "orders", "location": "lake/orders", "format": "iceberg"},
  "primary_key": ["id"],
  "ordering": {"commit_timestamp_column": "ts"},
  "partition_by": ["identity(region)", "day(ts)"],
  "input": {"columns": [
    {"name": "id", "type": "bigint"},
    {"name": "region", "type": "string"},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "ts", "type": "timestamp"}
  ]}
}"#;

/// A lake whose table holds keys 1–4 in two regions (snapshot 1).
async fn loaded() -> Lake {
    let mut lake = Lake::new(ORDERS);
    let load = lake
        .stage(
            "LOAD00000001.csv",
            "1,eu,1.00,2024-01-01 10:00:00\n2,eu,2.00,2024-01-01 11:00:00\n\
             3,us,3.00,2024-01-02 10:00:00\n4,us,4.00,2024-01-02 11:00:00\n",
        )
        .await;
    lake.refresh(&[load]).await.unwrap();
    lake
}

/// Deletes key 1 and updates key 3 (snapshot 2).
async fn changed(lake: &mut Lake) {
    let cdc = lake
        .stage(
            "20240103-000000000.csv",
            "D,1,eu,1.00,2024-01-03 00:00:00\nU,3,us,9.00,2024-01-03 00:00:01\n",
        )
        .await;
    lake.refresh(&[cdc]).await.unwrap();
}

async fn publish(catalog: &MemoryCatalog, lake: &Lake) -> Result<PublishReport, PublishError> {
    let snapshot = lake.snapshot().await;
    let publication = IcebergPublication {
        lake: Arc::clone(&lake.stores.lake),
        lake_url: LAKE_URL,
        config: &lake.config,
        snapshot: &snapshot,
        rows: None,
        now: Utc::now(),
    };
    publish_iceberg(catalog, &publication).await
}

/// The metadata the catalog's table points at.
async fn metadata(catalog: &MemoryCatalog, lake: &Lake) -> (String, TableMetadata) {
    let table = catalog.table_of("lake", "orders").unwrap();
    let location = table.parameters[METADATA_LOCATION_PARAMETER].clone();
    let io = MetadataStore::new(Arc::clone(&lake.stores.lake), LAKE_URL);
    let metadata = io.read_metadata(&location).await.unwrap();
    (location, metadata)
}

fn versions(metadata: &TableMetadata) -> Vec<(String, Operation)> {
    metadata
        .history()
        .iter()
        .filter_map(|log| metadata.snapshot_by_id(log.snapshot_id))
        .map(|s| {
            let version = s.summary().additional_properties[SUMMARY_SNAPSHOT_VERSION].clone();
            (version, s.summary().operation.clone())
        })
        .collect()
}

#[tokio::test]
async fn the_first_publish_creates_an_iceberg_table_in_the_catalog_at_an_append_snapshot() {
    let lake = loaded().await;
    let catalog = MemoryCatalog::default();
    let report = publish(&catalog, &lake).await.unwrap();
    assert!(report.table_created);
    let table = catalog.table_of("lake", "orders").unwrap();
    assert_eq!(table.parameters[TABLE_TYPE_PARAMETER], ICEBERG_TABLE_TYPE);
    assert!(table.partition_keys.is_empty(), "hidden partitioning");
    assert!(table.serde.is_empty());
    assert!(table.columns.iter().any(|c| c.name == "region"));
    let (_, metadata) = metadata(&catalog, &lake).await;
    assert_eq!(versions(&metadata), [("1".to_owned(), Operation::Append)]);
    assert_eq!(report.iceberg_snapshot_id, metadata.current_snapshot_id());
    let references = report.iceberg_references.unwrap();
    let io = MetadataStore::new(Arc::clone(&lake.stores.lake), LAKE_URL);
    let (location, _) = self::metadata(&catalog, &lake).await;
    assert!(
        references.contains(&io.path(&location).unwrap()),
        "the current metadata"
    );
    let snapshot = lake.snapshot().await;
    let root = TableRoot::new(&lake.config.location);
    for partition in &snapshot.partitions {
        for file in &partition.files {
            let path = root.data_file(partition.folder_of(file), &file.name);
            assert!(references.contains(&path), "live file {path}");
        }
    }
    assert!(report.catalog_locations.is_empty(), "no catalog partitions");
}

#[tokio::test]
async fn the_time_travel_option_is_the_tables_snapshot_retention() {
    let config = ORDERS.replacen(
        r#""primary_key""#,
        r#""time_travel_days": 3, "primary_key""#,
        1,
    );
    let mut lake = Lake::new(&config);
    let load = lake
        .stage("LOAD00000001.csv", "1,eu,1.00,2024-01-01 10:00:00\n")
        .await;
    lake.refresh(&[load]).await.unwrap();
    let catalog = MemoryCatalog::default();
    publish(&catalog, &lake).await.unwrap();
    let (_, metadata) = metadata(&catalog, &lake).await;
    let three_days_ms = (3 * 24 * 3600 * 1000).to_string();
    assert_eq!(
        metadata.properties()["history.expire.max-snapshot-age-ms"],
        three_days_ms
    );
    assert_eq!(
        metadata.properties()["history.expire.min-snapshots-to-keep"],
        "5"
    );
}

#[tokio::test]
async fn publishing_a_version_already_published_writes_nothing() {
    let lake = loaded().await;
    let catalog = MemoryCatalog::default();
    publish(&catalog, &lake).await.unwrap();
    let (location, _) = metadata(&catalog, &lake).await;
    catalog.forget_calls();
    let report = publish(&catalog, &lake).await.unwrap();
    assert!(!report.table_created && !report.table_updated);
    assert!(!catalog.calls().contains(&Call::UpdateTableAt));
    assert_eq!(metadata(&catalog, &lake).await.0, location);
}

#[tokio::test]
async fn a_refresh_that_removes_files_is_an_overwrite_snapshot_and_the_previous_one_stays() {
    let mut lake = loaded().await;
    let catalog = MemoryCatalog::default();
    publish(&catalog, &lake).await.unwrap();
    let (first_location, _) = metadata(&catalog, &lake).await;
    changed(&mut lake).await;
    let report = publish(&catalog, &lake).await.unwrap();
    assert!(report.table_updated);
    let table = catalog.table_of("lake", "orders").unwrap();
    assert_eq!(
        table.parameters[PREVIOUS_METADATA_LOCATION_PARAMETER],
        first_location
    );
    let (_, metadata) = metadata(&catalog, &lake).await;
    assert_eq!(
        versions(&metadata),
        [
            ("1".to_owned(), Operation::Append),
            ("2".to_owned(), Operation::Overwrite)
        ]
    );
    let summary = &metadata
        .current_snapshot()
        .unwrap()
        .summary()
        .additional_properties;
    assert_eq!(summary["total-records"], "3");
}

#[tokio::test]
async fn a_conflicting_commit_reloads_and_never_publishes_a_version_twice() {
    let mut lake = loaded().await;
    let catalog = MemoryCatalog::default();
    publish(&catalog, &lake).await.unwrap();
    changed(&mut lake).await;
    // Another processor publishes version 2 through a catalog of its own view …
    let other = MemoryCatalog::default();
    other.lock().databases.insert("lake".to_owned());
    let first = catalog.table_of("lake", "orders").unwrap();
    other
        .lock()
        .tables
        .insert(("lake".into(), "orders".into()), first);
    publish(&other, &lake).await.unwrap();
    let theirs = other.table_of("lake", "orders").unwrap();
    // … and lands it in the shared catalog right before our conditional update.
    catalog.lock().interloper_once = Some(theirs.clone());
    catalog.forget_calls();
    publish(&catalog, &lake).await.unwrap();
    let calls = catalog.calls();
    assert_eq!(
        calls.iter().filter(|c| **c == Call::UpdateTableAt).count(),
        1,
        "one refused update, then the reload finds version 2 published: {calls:?}"
    );
    let ours = catalog.table_of("lake", "orders").unwrap();
    assert_eq!(
        ours.parameters[METADATA_LOCATION_PARAMETER],
        theirs.parameters[METADATA_LOCATION_PARAMETER]
    );
    let (_, metadata) = metadata(&catalog, &lake).await;
    let published: Vec<String> = versions(&metadata).into_iter().map(|(v, _)| v).collect();
    assert_eq!(published, ["1", "2"]);
}

#[tokio::test]
async fn a_catalog_table_of_another_format_is_refused_and_left_alone() {
    let lake = loaded().await;
    let catalog = MemoryCatalog::default();
    catalog.lock().databases.insert("lake".to_owned());
    let hive = TableDefinition {
        database: "lake".to_owned(),
        name: "orders".to_owned(),
        columns: Vec::new(),
        partition_keys: Vec::new(),
        location: "s3://lake-bucket/lake/orders/".to_owned(),
        serde: "hive".to_owned(),
        input_format: String::new(),
        output_format: String::new(),
        parameters: BTreeMap::new(),
    };
    catalog
        .lock()
        .tables
        .insert(("lake".into(), "orders".into()), hive.clone());
    let error = publish(&catalog, &lake).await.unwrap_err();
    assert!(matches!(error, PublishError::NotIceberg { .. }), "{error}");
    assert!(!error.is_retryable());
    assert_eq!(catalog.table_of("lake", "orders").unwrap(), hive);
}

#[tokio::test]
async fn a_metadata_file_left_by_a_crashed_publish_does_not_break_the_next_one() {
    let mut lake = loaded().await;
    let catalog = MemoryCatalog::default();
    publish(&catalog, &lake).await.unwrap();
    let (first, _) = metadata(&catalog, &lake).await;
    changed(&mut lake).await;
    // A publish of version 2 that wrote its metadata file and died before Glue was updated: run
    // against a copy of the catalog, so the shared one never names the file it wrote.
    let crashed = MemoryCatalog::default();
    crashed.lock().databases.insert("lake".to_owned());
    let table = catalog.table_of("lake", "orders").unwrap();
    crashed
        .lock()
        .tables
        .insert(("lake".into(), "orders".into()), table);
    publish(&crashed, &lake).await.unwrap();
    let (orphan, _) = metadata(&crashed, &lake).await;
    assert_eq!(metadata(&catalog, &lake).await.0, first, "Glue never moved");

    let report = publish(&catalog, &lake).await.unwrap();
    assert!(report.table_updated);
    let (location, metadata) = metadata(&catalog, &lake).await;
    assert_ne!(
        location, orphan,
        "the rerun writes a metadata file of its own"
    );
    let table = catalog.table_of("lake", "orders").unwrap();
    assert_eq!(
        table.parameters[PREVIOUS_METADATA_LOCATION_PARAMETER],
        first
    );
    assert!(
        metadata
            .metadata_log()
            .iter()
            .all(|entry| entry.metadata_file != orphan),
        "the unreferenced file stays out of the table's metadata log"
    );
    assert_eq!(
        versions(&metadata),
        [
            ("1".to_owned(), Operation::Append),
            ("2".to_owned(), Operation::Overwrite)
        ],
        "version 2 published once"
    );
    let io = MetadataStore::new(Arc::clone(&lake.stores.lake), LAKE_URL);
    io.read_metadata(&orphan)
        .await
        .expect("the unreferenced file is left in place, for the collector");
}
