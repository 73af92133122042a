//! Unit tests of `publisher`: the desired table and partitions of a snapshot, the comparison with
//! the catalog, and `publish` against an in-memory catalog.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use serde_json::json;

use super::*;
use crate::lake::partitioning::PartitionValues;
use crate::lake::snapshot::{DataFile, PartitionState, SnapshotColumn};
use crate::ports::memory::catalog::{Call, MemoryCatalog};

const LAKE_URL: &str = "s3://lake-bucket";
/// `s3://lake-bucket/` + the configuration's location.
const TABLE_URL: &str = "s3://lake-bucket/lake/orders";

/// Source columns of the table, in file order, with their Hive types.
const COLUMNS: [(&str, &str); 5] = [
    ("id", "bigint"),
    ("store_id", "int"),
    ("amount", "decimal(10,2)"),
    ("created_at", "timestamp"),
    ("updated_at", "timestamp"),
];

/// The `sales.orders` table stored in `mode`, partitioned by `partition_by` in date `style`.
fn config(mode: &str, partition_by: &[&str], style: &str) -> TableConfig {
    let columns: Vec<_> = COLUMNS
        .iter()
        .map(|(name, hive_type)| json!({"name": name, "type": hive_type}))
        .collect();
    let spec = json!({
        "source": {"schema": "sales", "table": "orders"},
        "target": {"database": "lake", "table": "orders", "location": "lake/orders"},
        "primary_key": ["id"],
        "ordering": {"commit_timestamp_column": "updated_at"},
        "storage_mode": mode,
        "partition_by": partition_by,
        "date_partition_style": style,
        "input": {"columns": columns},
    });
    TableConfig::from_json(&spec.to_string()).unwrap()
}

/// Current mode, partitioned by `identity(store_id)`.
fn by_store() -> TableConfig {
    config("current", &["identity(store_id)"], "nested")
}

fn column(name: &str, hive_type: &str) -> CatalogColumn {
    CatalogColumn {
        name: name.to_owned(),
        hive_type: hive_type.to_owned(),
    }
}

fn columns(pairs: &[(&str, &str)]) -> Vec<CatalogColumn> {
    pairs.iter().map(|(n, t)| column(n, t)).collect()
}

fn names(columns: &[CatalogColumn]) -> Vec<&str> {
    columns.iter().map(|c| c.name.as_str()).collect()
}

/// A live partition with these values (in key order) at `location`, holding one file.
fn partition(values: &[(&str, Option<&str>)], location: &str) -> PartitionState {
    PartitionState {
        values: PartitionValues(
            values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect(),
        ),
        location: location.to_owned(),
        files: vec![DataFile {
            name: "part-00000.parquet".to_owned(),
            size: 1_000,
            rows: 10,
            key_ranges: None,
            folder: None,
        }],
    }
}

/// Snapshot `version` with the [`COLUMNS`] and these partitions.
fn snapshot(version: u64, partitions: Vec<PartitionState>) -> TableSnapshot {
    TableSnapshot {
        version,
        columns: COLUMNS
            .iter()
            .map(|(name, hive_type)| SnapshotColumn {
                name: (*name).to_owned(),
                hive_type: (*hive_type).to_owned(),
            })
            .collect(),
        partitions,
        ..TableSnapshot::empty("sales.orders")
    }
}

/// The folder of store `store`'s partition as written by snapshot `version`.
fn store_location(store: usize, version: u64) -> String {
    format!("data/store_id={store}/v{version:010}-r{version}")
}

/// Snapshot `version` of [`by_store`] with the stores in `stores`, each at its version-`version`
/// folder.
fn stores(version: u64, stores: impl IntoIterator<Item = usize>) -> TableSnapshot {
    let partitions = stores
        .into_iter()
        .map(|s| {
            let value = s.to_string();
            partition(
                &[("store_id", Some(value.as_str()))],
                &store_location(s, version),
            )
        })
        .collect();
    snapshot(version, partitions)
}

/// Snapshot 2 of [`by_store`]: the stores in `kept` still at their version-1 folders, those in
/// `new` at new version-2 folders.
fn moved(kept: Range<usize>, new: Range<usize>) -> TableSnapshot {
    let mut partitions = stores(1, kept).partitions;
    partitions.extend(stores(2, new).partitions);
    snapshot(2, partitions)
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn url(relative: &str) -> String {
    format!("{TABLE_URL}/{relative}/")
}

// --- table_definition ------------------------------------------------------------------------

#[test]
fn an_identity_partition_column_becomes_a_partition_key_with_its_hive_type() {
    let table = table_definition(&by_store(), &stores(1, [1]), LAKE_URL);
    assert_eq!(table.partition_keys, vec![column("store_id", "int")]);
    assert_eq!(
        names(&table.columns),
        ["id", "amount", "created_at", "updated_at", "cdc_order"],
        "the identity column is no data column (its value is in the path)"
    );
    assert_eq!(table.columns[1], column("amount", "decimal(10,2)"));
}

#[test]
fn nested_date_transforms_give_string_keys_and_keep_the_source_column() {
    let config = config(
        "current",
        &["identity(store_id)", "day(created_at)"],
        "nested",
    );
    let table = table_definition(&config, &snapshot(1, Vec::new()), LAKE_URL);
    assert_eq!(
        table.partition_keys,
        columns(&[
            ("store_id", "int"),
            ("year", "string"),
            ("month", "string"),
            ("day", "string")
        ])
    );
    assert!(
        table.columns.contains(&column("created_at", "timestamp")),
        "{:?}",
        table.columns
    );
}

#[test]
fn dt_style_date_transform_gives_one_string_key_and_keeps_the_source_column() {
    let config = config("current", &["month(created_at)"], "dt");
    let table = table_definition(&config, &snapshot(1, Vec::new()), LAKE_URL);
    assert_eq!(table.partition_keys, vec![column("dt", "string")]);
    assert_eq!(
        names(&table.columns),
        [
            "id",
            "store_id",
            "amount",
            "created_at",
            "updated_at",
            "cdc_order"
        ]
    );
}

#[test]
fn a_named_date_transform_is_one_string_partition_key_of_its_name() {
    let config = config(
        "current",
        &["identity(store_id)", "month(created_at) as created_month"],
        "nested",
    );
    let table = table_definition(&config, &snapshot(1, Vec::new()), LAKE_URL);
    assert_eq!(
        table.partition_keys,
        columns(&[("store_id", "int"), ("created_month", "string")])
    );
    assert!(table.columns.contains(&column("created_at", "timestamp")));
}

/// The columns `mode` appends after the source columns.
fn mode_columns(mode: &str) -> Vec<CatalogColumn> {
    let table = table_definition(
        &config(mode, &[], "nested"),
        &snapshot(1, Vec::new()),
        LAKE_URL,
    );
    assert_eq!(
        names(&table.columns[..COLUMNS.len()]),
        COLUMNS.map(|(name, _)| name),
        "source columns come first, in order"
    );
    table.columns[COLUMNS.len()..].to_vec()
}

#[test]
fn current_mode_appends_cdc_order() {
    assert_eq!(mode_columns("current"), columns(&[("cdc_order", "string")]));
}

#[test]
fn history_mode_appends_operation_and_order() {
    assert_eq!(
        mode_columns("history"),
        columns(&[("cdc_op", "string"), ("cdc_order", "string")])
    );
}

#[test]
fn scd2_mode_appends_order_validity_and_flags() {
    assert_eq!(
        mode_columns("scd2"),
        columns(&[
            ("cdc_order", "string"),
            ("valid_from", "timestamp"),
            ("valid_to", "timestamp"),
            ("is_current", "boolean"),
            ("is_deleted", "boolean"),
        ])
    );
}

#[test]
fn the_table_is_parquet_external_and_names_its_source_and_mode() {
    let config = config("history", &["identity(store_id)"], "nested");
    let table = table_definition(&config, &stores(1, [1]), LAKE_URL);
    assert_eq!(
        (table.database.as_str(), table.name.as_str()),
        ("lake", "orders")
    );
    assert_eq!(
        table.serde,
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    );
    assert_eq!(
        table.input_format,
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    );
    assert_eq!(
        table.output_format,
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    );
    let expected: BTreeMap<String, String> = [
        ("classification", "parquet"),
        ("EXTERNAL", "TRUE"),
        ("tributary.table_id", "sales.orders"),
        ("tributary.storage_mode", "history"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(table.parameters, expected);
}

#[test]
fn an_unpartitioned_table_points_at_its_single_partition_version() {
    let config = config("current", &[], "nested");
    let snapshot = snapshot(3, vec![partition(&[], "data/v0000000003-r3")]);
    let table = table_definition(&config, &snapshot, LAKE_URL);
    assert!(table.partition_keys.is_empty());
    assert_eq!(table.location, url("data/v0000000003-r3"));
}

#[test]
fn an_unpartitioned_table_without_rows_points_at_the_empty_folder() {
    let config = config("current", &[], "nested");
    let table = table_definition(&config, &snapshot(2, Vec::new()), LAKE_URL);
    assert_eq!(table.location, url("data/_empty"));
}

#[test]
fn a_partitioned_table_points_at_its_data_folder() {
    let table = table_definition(&by_store(), &stores(1, [1, 2]), "s3://lake-bucket/");
    assert_eq!(table.location, url("data"));
}

// --- desired_partitions ----------------------------------------------------------------------

#[test]
fn a_null_partition_value_is_the_hive_default_partition() {
    let snapshot = snapshot(
        1,
        vec![partition(
            &[("store_id", None)],
            "data/store_id=__HIVE_DEFAULT_PARTITION__/v0000000001-r1",
        )],
    );
    let partitions = desired_partitions(&by_store(), &snapshot, LAKE_URL);
    assert_eq!(
        partitions,
        vec![CatalogPartition {
            values: strings(&["__HIVE_DEFAULT_PARTITION__"]),
            location: url("data/store_id=__HIVE_DEFAULT_PARTITION__/v0000000001-r1"),
        }]
    );
}

#[test]
fn partition_values_follow_the_key_order_and_locations_are_urls() {
    let config = config(
        "current",
        &["identity(store_id)", "year(created_at)"],
        "nested",
    );
    // `store_id` sorts after `year`'s value: the values must keep the key order, not be sorted.
    let location = "data/store_id=9/year=2024/v0000000001-r1";
    let snapshot = snapshot(
        1,
        vec![
            partition(&[("store_id", Some("9")), ("year", Some("2024"))], location),
            partition(
                &[("store_id", Some("1")), ("year", None)],
                "data/store_id=1/year=__HIVE_DEFAULT_PARTITION__/v0000000001-r1",
            ),
        ],
    );
    let partitions = desired_partitions(&config, &snapshot, LAKE_URL);
    let values: Vec<Vec<String>> = partitions.iter().map(|p| p.values.clone()).collect();
    assert_eq!(
        values,
        [
            strings(&["1", "__HIVE_DEFAULT_PARTITION__"]),
            strings(&["9", "2024"])
        ]
    );
    assert_eq!(partitions[1].location, url(location));
}

#[test]
fn an_unpartitioned_table_has_no_catalog_partitions() {
    let config = config("current", &[], "nested");
    let snapshot = snapshot(1, vec![partition(&[], "data/v0000000001-r1")]);
    assert!(desired_partitions(&config, &snapshot, LAKE_URL).is_empty());
}

// --- table_change ----------------------------------------------------------------------------

fn desired() -> TableDefinition {
    table_definition(&by_store(), &stores(1, [1]), LAKE_URL)
}

#[test]
fn a_missing_table_is_created() {
    assert_eq!(
        table_change(&desired(), None).unwrap(),
        TableChange::Create(desired())
    );
}

#[test]
fn an_identical_table_is_unchanged() {
    assert_eq!(
        table_change(&desired(), Some(&desired())).unwrap(),
        TableChange::Unchanged
    );
}

#[test]
fn parameters_added_by_others_are_kept_and_cause_no_update() {
    let mut current = desired();
    current
        .parameters
        .insert("transient_lastDdlTime".to_owned(), "1717200000".to_owned());
    assert_eq!(
        table_change(&desired(), Some(&current)).unwrap(),
        TableChange::Unchanged
    );

    // When the table does need an update, their parameters are carried over.
    current.columns[1].hive_type = "decimal(12,2)".to_owned();
    let TableChange::Update(update) = table_change(&desired(), Some(&current)).unwrap() else {
        panic!("a changed column type must update the table");
    };
    assert_eq!(
        update
            .parameters
            .get("transient_lastDdlTime")
            .map(String::as_str),
        Some("1717200000")
    );
    assert_eq!(update.columns, desired().columns);
}

#[test]
fn a_changed_column_type_updates_the_table() {
    let mut current = desired();
    current.columns[0].hive_type = "int".to_owned();
    assert_eq!(
        table_change(&desired(), Some(&current)).unwrap(),
        TableChange::Update(desired())
    );
}

#[test]
fn our_parameters_are_restored_when_changed() {
    let mut current = desired();
    current
        .parameters
        .insert(STORAGE_MODE_PARAMETER.to_owned(), "scd2".to_owned());
    assert_eq!(
        table_change(&desired(), Some(&current)).unwrap(),
        TableChange::Update(desired())
    );
}

#[test]
fn different_partition_keys_are_an_error_naming_both() {
    let mut current = desired();
    current.partition_keys = vec![column("region", "string")];
    let error = table_change(&desired(), Some(&current)).unwrap_err();
    assert!(
        matches!(&error, PublishError::PartitionKeysChanged { current, desired, .. }
            if current == "region string" && desired == "store_id int"),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

// --- plan_partitions -------------------------------------------------------------------------

fn catalog_partition(value: &str, location: &str) -> CatalogPartition {
    CatalogPartition {
        values: vec![value.to_owned()],
        location: location.to_owned(),
    }
}

#[test]
fn the_plan_creates_missing_updates_moved_and_deletes_dropped_partitions() {
    let desired = [
        catalog_partition("1", "s3://l/1/v2/"),
        catalog_partition("2", "s3://l/2/v1/"),
        catalog_partition("3", "s3://l/3/v2/"),
    ];
    let current = [
        catalog_partition("2", "s3://l/2/v1/"),
        catalog_partition("3", "s3://l/3/v1/"),
        catalog_partition("4", "s3://l/4/v1/"),
    ];
    let plan = plan_partitions(&desired, &current);
    assert_eq!(
        plan,
        PartitionPlan {
            create: vec![desired[0].clone()],
            update: vec![desired[2].clone()],
            delete: vec![strings(&["4"])],
        }
    );
    assert_eq!(
        plan_partitions(&desired, &desired),
        PartitionPlan::default(),
        "nothing to do when the catalog matches"
    );
}

// --- publish ---------------------------------------------------------------------------------

/// The `lake.orders` table of a catalog: the one these tests publish.
trait Orders {
    /// Its partitions: values → location.
    fn stored(&self) -> BTreeMap<Vec<String>, String>;
    /// Its definition.
    fn stored_table(&self) -> TableDefinition;
}

impl Orders for MemoryCatalog {
    fn stored(&self) -> BTreeMap<Vec<String>, String> {
        self.partitions_of("lake", "orders")
    }

    fn stored_table(&self) -> TableDefinition {
        self.table_of("lake", "orders").unwrap()
    }
}

async fn publish_to(
    catalog: &MemoryCatalog,
    config: &TableConfig,
    snapshot: &TableSnapshot,
) -> Result<PublishReport, PublishError> {
    publish(catalog, config, snapshot, LAKE_URL).await
}

/// The catalog after publishing `snapshot` of [`by_store`], with the calls forgotten.
async fn published(snapshot: &TableSnapshot) -> MemoryCatalog {
    let catalog = MemoryCatalog::default();
    publish_to(&catalog, &by_store(), snapshot).await.unwrap();
    catalog.forget_calls();
    catalog
}

/// What the catalog should hold for `snapshot`: values → location URL.
fn expected_partitions(snapshot: &TableSnapshot) -> BTreeMap<Vec<String>, String> {
    desired_partitions(&by_store(), snapshot, LAKE_URL)
        .into_iter()
        .map(|p| (p.values, p.location))
        .collect()
}

fn locations(snapshot: &TableSnapshot) -> HashSet<String> {
    snapshot
        .partitions
        .iter()
        .map(|p| p.location.clone())
        .collect()
}

fn count(calls: &[Call], wanted: Call) -> usize {
    calls.iter().filter(|c| **c == wanted).count()
}

#[tokio::test]
async fn new_partitions_are_created_in_batches_of_at_most_one_hundred() {
    let catalog = MemoryCatalog::default();
    let snapshot = stores(1, 0..250);
    let report = publish_to(&catalog, &by_store(), &snapshot).await.unwrap();

    let sizes: Vec<usize> = catalog
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::CreatePartitions(n) => Some(n),
            _ => None,
        })
        .collect();
    assert!(
        sizes.iter().all(|n| *n <= MAX_PARTITIONS_PER_CALL),
        "{sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 250);
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert!(report.table_created);
    assert_eq!(report.partitions_created, 250);
    assert_eq!(catalog.stored(), expected_partitions(&snapshot));
    assert_eq!(
        catalog.stored_table(),
        table_definition(&by_store(), &snapshot, LAKE_URL)
    );
}

#[tokio::test]
async fn publishing_the_same_snapshot_again_writes_nothing() {
    let snapshot = stores(1, 0..5);
    let catalog = published(&snapshot).await;
    let report = publish_to(&catalog, &by_store(), &snapshot).await.unwrap();
    assert_eq!(
        catalog.calls(),
        [Call::EnsureDatabase, Call::Table, Call::Partitions],
        "only reads"
    );
    assert_eq!(
        report,
        PublishReport {
            catalog_locations: locations(&snapshot),
            ..PublishReport::default()
        }
    );
    assert_eq!(catalog.stored(), expected_partitions(&snapshot));
}

#[tokio::test]
async fn a_partition_created_behind_the_planners_back_is_updated_to_the_snapshot() {
    let catalog = published(&stores(1, 0..3)).await;
    // Store 3 exists at an old folder, but the listing misses it: the create meets it.
    catalog
        .lock()
        .partitions
        .entry(("lake".to_owned(), "orders".to_owned()))
        .or_default()
        .insert(strings(&["3"]), url(&store_location(3, 1)));
    catalog.lock().hidden_once.insert(strings(&["3"]));

    let snapshot = moved(0..3, 3..4);
    let report = publish_to(&catalog, &by_store(), &snapshot).await.unwrap();
    assert_eq!(
        catalog.stored()[&strings(&["3"])],
        url(&store_location(3, 2))
    );
    assert_eq!(catalog.stored(), expected_partitions(&snapshot));
    assert_eq!(
        (report.partitions_created, report.partitions_updated),
        (0, 1)
    );
    assert_eq!(
        count(&catalog.calls(), Call::UpdatePartitions(1)),
        1,
        "{:?}",
        catalog.calls()
    );
}

#[tokio::test]
async fn a_partition_deleted_behind_the_planners_back_is_recreated() {
    let catalog = published(&stores(1, 0..2)).await;
    catalog
        .lock()
        .phantoms_once
        .push(catalog_partition("2", &url(&store_location(2, 1))));

    let snapshot = stores(2, 0..3);
    let report = publish_to(&catalog, &by_store(), &snapshot).await.unwrap();
    assert_eq!(catalog.stored(), expected_partitions(&snapshot));
    assert_eq!(report.partitions_updated, 2);
    assert_eq!(report.partitions_created, 1);
}

#[tokio::test]
async fn dropped_partitions_are_deleted() {
    let catalog = published(&stores(1, 0..5)).await;
    let snapshot = moved(0..3, 0..0);
    let report = publish_to(&catalog, &by_store(), &snapshot).await.unwrap();
    assert_eq!(catalog.stored(), expected_partitions(&snapshot));
    assert_eq!(catalog.stored().len(), 3);
    assert_eq!(report.partitions_deleted, 2);
    assert_eq!(count(&catalog.calls(), Call::DeletePartitions(2)), 1);
    assert!(!catalog.calls().contains(&Call::UpdateTable));
}

#[tokio::test]
async fn a_partition_already_gone_counts_as_deleted_without_error() {
    let catalog = published(&stores(1, 0..2)).await;
    catalog
        .lock()
        .phantoms_once
        .push(catalog_partition("7", &url(&store_location(7, 1))));
    let snapshot = stores(1, 0..2);
    let report = publish_to(&catalog, &by_store(), &snapshot).await.unwrap();
    assert_eq!(catalog.stored(), expected_partitions(&snapshot));
    assert_eq!(report.partitions_deleted, 0, "nothing was there to delete");
}

#[tokio::test]
async fn a_partition_value_too_long_for_glue_fails_the_publish_before_any_write() {
    let catalog = MemoryCatalog::default();
    let long = "9".repeat(1_025);
    let mut snapshot = stores(1, 0..2);
    snapshot.partitions.push(partition(
        &[("store_id", Some(long.as_str()))],
        "data/store_id=9",
    ));
    let error = publish_to(&catalog, &by_store(), &snapshot)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PublishError::PartitionLimit { table, problem: PartitionLimitError::GlueValueTooLong { key, length: 1_025, .. } }
            if table == "lake.orders" && key == "store_id"),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert!(
        catalog.calls().is_empty(),
        "nothing was sent to the catalog"
    );
}

/// Publishes five new stores while every write of store 3 fails with `code`.
async fn publish_with_store_3_failing(code: &str) -> (MemoryCatalog, PublishError) {
    let catalog = MemoryCatalog::default();
    catalog
        .lock()
        .rejected
        .insert(strings(&["3"]), code.to_owned());
    let error = publish_to(&catalog, &by_store(), &stores(1, 0..5))
        .await
        .unwrap_err();
    (catalog, error)
}

#[tokio::test]
async fn a_partition_failing_for_good_fails_the_publish_after_the_others_are_written() {
    let (catalog, error) = publish_with_store_3_failing("InvalidInputException").await;
    assert!(
        matches!(&error, PublishError::Partitions { count: 1, table, sample, .. }
            if table == "lake.orders" && sample.contains("[3]: InvalidInputException")),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    let expected: BTreeMap<_, _> = expected_partitions(&stores(1, 0..5))
        .into_iter()
        .filter(|(values, _)| *values != strings(&["3"]))
        .collect();
    assert_eq!(catalog.stored(), expected);
}

#[tokio::test]
async fn a_throttled_partition_fails_the_publish_retryably() {
    let (catalog, error) = publish_with_store_3_failing("ThrottlingException").await;
    assert!(
        matches!(&error, PublishError::Partitions { count: 1, .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(catalog.stored().len(), 4);
}

#[tokio::test]
async fn a_schema_change_updates_the_table_once_and_keeps_foreign_parameters() {
    let catalog = published(&stores(1, 0..2)).await;
    catalog
        .lock()
        .tables
        .get_mut(&("lake".to_owned(), "orders".to_owned()))
        .unwrap()
        .parameters
        .insert("comment".to_owned(), "added in Athena".to_owned());
    let mut snapshot = stores(2, 0..2);
    snapshot.columns.push(SnapshotColumn {
        name: "channel".to_owned(),
        hive_type: "string".to_owned(),
    });

    let report = publish_to(&catalog, &by_store(), &snapshot).await.unwrap();
    assert!(report.table_updated);
    assert_eq!(count(&catalog.calls(), Call::UpdateTable), 1);
    let table = catalog.stored_table();
    assert!(table.columns.contains(&column("channel", "string")));
    assert_eq!(table.parameters["comment"], "added in Athena");
    assert_eq!(catalog.stored(), expected_partitions(&snapshot));
}

#[tokio::test]
async fn new_partition_versions_without_schema_change_do_not_update_the_table() {
    let catalog = published(&stores(1, 0..3)).await;
    let snapshot = stores(2, 0..3);
    let report = publish_to(&catalog, &by_store(), &snapshot).await.unwrap();
    assert!(!report.table_updated);
    assert_eq!(count(&catalog.calls(), Call::UpdateTable), 0);
    assert_eq!(report.partitions_updated, 3);
    assert_eq!(catalog.stored(), expected_partitions(&snapshot));
}

#[tokio::test]
async fn the_report_lists_the_snapshots_partition_locations() {
    let catalog = published(&stores(1, 0..4)).await;
    let snapshot = moved(0..2, 2..3);
    let report = publish_to(&catalog, &by_store(), &snapshot).await.unwrap();
    assert_eq!(report.catalog_locations, locations(&snapshot));
    assert!(
        report
            .catalog_locations
            .contains("data/store_id=2/v0000000002-r2")
    );
}

#[tokio::test]
async fn an_unpartitioned_table_reports_its_folder_and_writes_no_partitions() {
    let catalog = MemoryCatalog::default();
    let config = config("current", &[], "nested");
    let snapshot = snapshot(4, vec![partition(&[], "data/v0000000004-r4")]);
    let report = publish_to(&catalog, &config, &snapshot).await.unwrap();
    assert!(report.table_created);
    assert_eq!(
        report.catalog_locations,
        HashSet::from(["data/v0000000004-r4".to_owned()])
    );
    assert!(
        !catalog
            .calls()
            .iter()
            .any(|c| c.writes_partitions() || *c == Call::Partitions),
        "{:?}",
        catalog.calls()
    );
    assert_eq!(catalog.stored_table().location, url("data/v0000000004-r4"));
}
