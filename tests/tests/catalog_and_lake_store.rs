//! The Glue catalog adapter and the S3 object store, against the local emulator through the real
//! SDK clients: tables and partitions read back as written, batch failures per partition, the
//! batch limit enforced before anything is sent, and `object_store` on S3 with the SDK's
//! configuration (including the create-only put the lake commits with).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use tributary_shared::adapters::glue_catalog::GlueCatalog;
use tributary_shared::adapters::s3_object_store::s3_object_store;
use tributary_shared::bootstrap::aws;
use tributary_shared::ports::catalog::{
    Catalog, CatalogColumn, CatalogError, CatalogPartition, MAX_PARTITIONS_PER_CALL,
    PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE, TableDefinition,
};
use tributary_tests::{LocalAws, unique_name};

fn catalog(aws: &LocalAws) -> GlueCatalog {
    GlueCatalog::new(aws::glue_client(&aws.sdk))
}

/// A unique catalog name (Glue names: lower case, digits and `_`).
fn catalog_name(prefix: &str) -> String {
    unique_name(prefix).replace('-', "_")
}

/// A unique, valid S3 bucket name (lower case, digits and `-`, at most 63 characters).
fn bucket_name(prefix: &str) -> String {
    let name: String = unique_name(prefix)
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    name.trim_end_matches('-').to_owned()
}

fn column(name: &str, hive_type: &str) -> CatalogColumn {
    CatalogColumn {
        name: name.to_owned(),
        hive_type: hive_type.to_owned(),
    }
}

/// A partitioned table in a fresh database (created).
async fn orders_table(catalog: &GlueCatalog) -> TableDefinition {
    let database = catalog_name("sales");
    catalog
        .ensure_database(&database)
        .await
        .expect("create the database");
    TableDefinition {
        location: format!("s3://lake/{database}/orders/"),
        database,
        name: "orders".to_owned(),
        columns: vec![
            column("id", "bigint"),
            column("amount", "decimal(12,2)"),
            column("placed_at", "timestamp"),
        ],
        partition_keys: vec![column("region", "string"), column("day", "date")],
        serde: PARQUET_SERDE.to_owned(),
        input_format: PARQUET_INPUT_FORMAT.to_owned(),
        output_format: PARQUET_OUTPUT_FORMAT.to_owned(),
        parameters: BTreeMap::from([
            ("classification".to_owned(), "parquet".to_owned()),
            ("EXTERNAL".to_owned(), "TRUE".to_owned()),
            ("tributary.version".to_owned(), "7".to_owned()),
        ]),
    }
}

/// A created partitioned table.
async fn created_table(catalog: &GlueCatalog) -> TableDefinition {
    let table = orders_table(catalog).await;
    catalog
        .create_table(&table)
        .await
        .expect("create the table");
    table
}

/// Partition `i` of `table` in folder version `version`.
fn partition(table: &TableDefinition, i: usize, version: u32) -> CatalogPartition {
    let region = format!("r{i:03}");
    CatalogPartition {
        location: format!(
            "{}region={region}/day=2024-03-01/v{version}/",
            table.location
        ),
        values: vec![region, "2024-03-01".to_owned()],
    }
}

fn partitions(table: &TableDefinition, count: usize, version: u32) -> Vec<CatalogPartition> {
    (0..count).map(|i| partition(table, i, version)).collect()
}

/// Every partition of the table, sorted.
async fn listed(catalog: &GlueCatalog, table: &TableDefinition) -> Vec<CatalogPartition> {
    let mut listed = catalog
        .partitions(table)
        .await
        .expect("list the partitions");
    listed.sort();
    listed
}

/// Creates `partitions` in calls of at most [`MAX_PARTITIONS_PER_CALL`], expecting no failures.
async fn create_all(
    catalog: &GlueCatalog,
    table: &TableDefinition,
    partitions: &[CatalogPartition],
) {
    for chunk in partitions.chunks(MAX_PARTITIONS_PER_CALL) {
        let failures = catalog
            .create_partitions(table, chunk)
            .await
            .expect("create partitions");
        assert_eq!(failures, vec![]);
    }
}

fn assert_too_many(
    result: Result<Vec<tributary_shared::ports::catalog::PartitionFailure>, CatalogError>,
) {
    match result {
        Err(CatalogError::Refused { code, .. }) => assert_eq!(code, "TooManyPartitions"),
        other => panic!("expected a TooManyPartitions refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_database_is_created_once_and_ensuring_it_again_succeeds() {
    let aws = LocalAws::connect().await;
    let catalog = catalog(&aws);
    let database = catalog_name("db");
    catalog
        .ensure_database(&database)
        .await
        .expect("create the database");
    catalog
        .ensure_database(&database)
        .await
        .expect("a second ensure succeeds");
    let databases = aws::glue_client(&aws.sdk)
        .get_databases()
        .send()
        .await
        .expect("list databases");
    let named = databases
        .database_list()
        .iter()
        .filter(|d| d.name() == database)
        .count();
    assert_eq!(named, 1);
}

#[tokio::test]
async fn a_partitioned_table_is_read_back_as_created() {
    let aws = LocalAws::connect().await;
    let catalog = catalog(&aws);
    let table = orders_table(&catalog).await;
    assert_eq!(
        catalog
            .table(&table.database, &table.name)
            .await
            .expect("get table"),
        None
    );
    catalog
        .create_table(&table)
        .await
        .expect("create the table");
    let read = catalog
        .table(&table.database, &table.name)
        .await
        .expect("get table");
    assert_eq!(read, Some(table));
}

#[tokio::test]
async fn update_table_changes_the_columns_and_keeps_the_partitions() {
    let aws = LocalAws::connect().await;
    let catalog = catalog(&aws);
    let table = created_table(&catalog).await;
    let existing = partitions(&table, 3, 1);
    create_all(&catalog, &table, &existing).await;

    let mut widened = table.clone();
    widened.columns.push(column("note", "string"));
    widened.columns[1].hive_type = "decimal(14,2)".to_owned();
    widened
        .parameters
        .insert("tributary.version".to_owned(), "8".to_owned());
    catalog
        .update_table(&widened)
        .await
        .expect("update the table");

    let read = catalog
        .table(&table.database, &table.name)
        .await
        .expect("get table");
    assert_eq!(read, Some(widened.clone()));
    assert_eq!(listed(&catalog, &widened).await, existing);
}

#[tokio::test]
async fn partitions_created_in_batches_are_all_listed_with_their_locations() {
    let aws = LocalAws::connect().await;
    let catalog = catalog(&aws);
    let table = created_table(&catalog).await;
    let wanted = partitions(&table, 250, 1);
    create_all(&catalog, &table, &wanted).await;
    assert_eq!(listed(&catalog, &table).await, wanted);
}

#[tokio::test]
async fn creating_an_existing_partition_reports_it_already_exists() {
    let aws = LocalAws::connect().await;
    let catalog = catalog(&aws);
    let table = created_table(&catalog).await;
    create_all(&catalog, &table, &partitions(&table, 1, 1)).await;

    let again = [partition(&table, 0, 2), partition(&table, 1, 1)];
    let failures = catalog
        .create_partitions(&table, &again)
        .await
        .expect("create partitions");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].values, again[0].values);
    assert!(failures[0].already_exists(), "{failures:?}");
    // The failed one kept its location; the other one was created.
    assert_eq!(
        listed(&catalog, &table).await,
        vec![partition(&table, 0, 1), partition(&table, 1, 1)]
    );
}

#[tokio::test]
async fn updating_a_missing_partition_reports_it_is_not_found() {
    let aws = LocalAws::connect().await;
    let catalog = catalog(&aws);
    let table = created_table(&catalog).await;
    let missing = partition(&table, 9, 2);
    let failures = catalog
        .update_partitions(&table, std::slice::from_ref(&missing))
        .await
        .expect("update partitions");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].values, missing.values);
    assert!(failures[0].not_found(), "{failures:?}");
    assert_eq!(listed(&catalog, &table).await, vec![]);
}

#[tokio::test]
async fn updating_partitions_moves_their_locations() {
    let aws = LocalAws::connect().await;
    let catalog = catalog(&aws);
    let table = created_table(&catalog).await;
    create_all(&catalog, &table, &partitions(&table, 5, 1)).await;

    let moved = [partition(&table, 1, 2), partition(&table, 3, 2)];
    let failures = catalog
        .update_partitions(&table, &moved)
        .await
        .expect("update partitions");
    assert_eq!(failures, vec![]);
    assert_eq!(
        listed(&catalog, &table).await,
        vec![
            partition(&table, 0, 1),
            partition(&table, 1, 2),
            partition(&table, 2, 1),
            partition(&table, 3, 2),
            partition(&table, 4, 1),
        ]
    );
}

#[tokio::test]
async fn deleting_partitions_removes_them() {
    let aws = LocalAws::connect().await;
    let catalog = catalog(&aws);
    let table = created_table(&catalog).await;
    create_all(&catalog, &table, &partitions(&table, 4, 1)).await;

    let gone = vec![
        partition(&table, 0, 1).values,
        partition(&table, 2, 1).values,
    ];
    let failures = catalog
        .delete_partitions(&table, &gone)
        .await
        .expect("delete partitions");
    assert_eq!(failures, vec![]);
    assert_eq!(
        listed(&catalog, &table).await,
        vec![partition(&table, 1, 1), partition(&table, 3, 1)]
    );

    let again = catalog
        .delete_partitions(&table, &gone[..1])
        .await
        .expect("delete partitions");
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(again[0].not_found(), "{again:?}");
}

#[tokio::test]
async fn more_than_the_limit_in_one_call_is_refused_and_changes_nothing() {
    let aws = LocalAws::connect().await;
    let catalog = catalog(&aws);
    let table = created_table(&catalog).await;
    let too_many = partitions(&table, MAX_PARTITIONS_PER_CALL + 1, 1);

    assert_too_many(catalog.create_partitions(&table, &too_many).await);
    assert_eq!(listed(&catalog, &table).await, vec![]);

    create_all(&catalog, &table, &too_many).await;
    let moved = partitions(&table, MAX_PARTITIONS_PER_CALL + 1, 2);
    assert_too_many(catalog.update_partitions(&table, &moved).await);
    let values: Vec<Vec<String>> = too_many.iter().map(|p| p.values.clone()).collect();
    assert_too_many(catalog.delete_partitions(&table, &values).await);
    assert_eq!(listed(&catalog, &table).await, too_many);
}

/// A fresh bucket and an object store on it built from the emulator's SDK configuration.
async fn lake_store(aws: &LocalAws) -> (String, Arc<dyn ObjectStore>) {
    let bucket = bucket_name("lake");
    aws.s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let store = s3_object_store(&aws.sdk, &bucket).expect("object store");
    (bucket, store)
}

async fn list_all(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    let mut paths: Vec<String> = store
        .list(Some(&Path::from(prefix)))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .expect("list");
    paths.sort();
    paths
}

#[tokio::test]
async fn objects_are_put_read_listed_and_deleted_through_the_sdk_configuration() {
    let aws = LocalAws::connect().await;
    let (bucket, store) = lake_store(&aws).await;
    let a = Path::from("tables/orders/a.parquet");
    let b = Path::from("tables/orders/b.parquet");
    store
        .put(&a, PutPayload::from_static(b"first"))
        .await
        .expect("put a");
    store
        .put(&b, PutPayload::from_static(b"second"))
        .await
        .expect("put b");

    let read = store
        .get(&a)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    assert_eq!(read.as_ref(), b"first");
    // The object really is in the bucket the SDK sees.
    let via_sdk = aws
        .s3()
        .get_object()
        .bucket(&bucket)
        .key("tables/orders/b.parquet")
        .send()
        .await
        .expect("get through the SDK")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(via_sdk.as_ref(), b"second");
    assert_eq!(
        list_all(store.as_ref(), "tables").await,
        vec!["tables/orders/a.parquet", "tables/orders/b.parquet"]
    );

    store.delete(&a).await.expect("delete");
    assert_eq!(
        list_all(store.as_ref(), "tables").await,
        vec!["tables/orders/b.parquet"]
    );
    assert!(matches!(
        store.get(&a).await,
        Err(object_store::Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_create_only_put_of_an_existing_key_fails_and_keeps_the_object() {
    let aws = LocalAws::connect().await;
    let (_, store) = lake_store(&aws).await;
    let commit = Path::from("tables/orders/_snapshots/00000000000000000001.json");
    store
        .put_opts(
            &commit,
            PutPayload::from_static(b"winner"),
            PutMode::Create.into(),
        )
        .await
        .expect("the first create-only put succeeds");

    let second = store
        .put_opts(
            &commit,
            PutPayload::from_static(b"loser"),
            PutMode::Create.into(),
        )
        .await;
    assert!(
        matches!(
            second,
            Err(object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. })
        ),
        "{second:?}"
    );
    let read = store
        .get(&commit)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    assert_eq!(read.as_ref(), b"winner");
}

#[tokio::test]
async fn hive_partition_keys_with_escapes_round_trip_through_list() {
    let aws = LocalAws::connect().await;
    let (bucket, store) = lake_store(&aws).await;
    let keys = [
        "data/p=a%2Fb/x.parquet",
        "data/p=a=b/y.parquet",
        "data/p=__HIVE_DEFAULT_PARTITION__/z.parquet",
    ];
    for key in keys {
        let path = Path::parse(key).expect("a valid path");
        store
            .put(&path, PutPayload::from(key.as_bytes().to_vec()))
            .await
            .expect("put");
    }

    let mut wanted: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    wanted.sort();
    let listed = list_all(store.as_ref(), "data").await;
    assert_eq!(listed, wanted);
    // S3 holds the keys exactly as written (no double encoding).
    let mut in_bucket: Vec<String> = aws
        .s3()
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("list through the SDK")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    in_bucket.sort();
    assert_eq!(in_bucket, wanted);
    for key in listed {
        let path = Path::parse(&key).expect("a listed path parses");
        let body = store
            .get(&path)
            .await
            .expect("get a listed path")
            .bytes()
            .await
            .expect("body");
        assert_eq!(body.as_ref(), key.as_bytes());
    }
}
