//! Unit tests of Iceberg metadata I/O over an in-memory lake store: URLs and keys, metadata JSON,
//! manifests and manifest lists written by the crate's writers and read back by its readers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use iceberg::spec::{
    DataContentType, DataFileBuilder, DataFileFormat, Datum, ManifestStatus, NestedField,
    PrimitiveType, Schema, SortOrder, Struct, TableMetadataBuilder, Type, UnboundPartitionSpec,
};
use object_store::memory::InMemory;

use super::*;

const LOCATION: &str = "s3://lake/db/orders";

fn lake() -> (Arc<InMemory>, MetadataStore) {
    let store = Arc::new(InMemory::new());
    let io = MetadataStore::new(Arc::clone(&store) as Arc<dyn ObjectStore>, "s3://lake/");
    (store, io)
}

fn table_metadata() -> TableMetadata {
    let schema = Schema::builder()
        .with_fields([NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into()])
        .build()
        .unwrap();
    TableMetadataBuilder::new(
        schema,
        UnboundPartitionSpec::builder().build(),
        SortOrder::unsorted_order(),
        LOCATION.to_owned(),
        FormatVersion::V2,
        HashMap::from([("owner".to_owned(), "tributary".to_owned())]),
    )
    .unwrap()
    .build()
    .unwrap()
    .metadata
}

#[test]
fn urls_and_lake_keys_map_both_ways() {
    let (_, io) = lake();
    let key = Path::parse("db/orders/data/region=a%3Ab/v1/part-1.parquet").unwrap();
    let url = io.url(&key);
    assert_eq!(
        url,
        "s3://lake/db/orders/data/region=a%3Ab/v1/part-1.parquet"
    );
    assert_eq!(io.path(&url).unwrap(), key);
}

#[test]
fn a_url_outside_the_lake_bucket_is_refused() {
    let (_, io) = lake();
    for url in ["s3://other/db/x", "s3://lakehouse/db/x", "file:///db/x"] {
        let err = io.path(url).unwrap_err();
        assert!(
            matches!(err, IcebergError::OutsideLake { .. }),
            "{url}: {err}"
        );
    }
}

#[test]
fn metadata_files_are_numbered_from_zero_under_the_metadata_folder() {
    let metadata = table_metadata();
    let first = next_metadata_url(LOCATION, None, &metadata).unwrap();
    let second = next_metadata_url(LOCATION, Some(&first), &metadata).unwrap();

    let name = |url: &str| {
        url.strip_prefix("s3://lake/db/orders/metadata/")
            .unwrap()
            .to_owned()
    };
    assert!(name(&first).starts_with("00000-"), "{first}");
    assert!(name(&second).starts_with("00001-"), "{second}");
    assert!(second.ends_with(".metadata.json"), "{second}");
    assert_ne!(name(&first)[6..], name(&second)[6..], "a new uuid");
    let err = next_metadata_url(LOCATION, Some("s3://lake/x/y.json"), &metadata).unwrap_err();
    assert!(matches!(err, IcebergError::Corrupt { .. }), "{err}");
}

#[tokio::test]
async fn metadata_round_trips_and_the_crates_own_deserializer_reads_the_stored_json() {
    let (store, io) = lake();
    let metadata = table_metadata();
    let url = next_metadata_url(LOCATION, None, &metadata).unwrap();
    io.write_metadata(&url, &metadata).await.unwrap();

    assert_eq!(io.read_metadata(&url).await.unwrap(), metadata);
    let stored = store.get(&io.path(&url).unwrap()).await.unwrap();
    let raw = stored.bytes().await.unwrap();
    let parsed: TableMetadata = serde_json::from_slice(&raw).unwrap();
    assert_eq!(parsed, metadata);
}

#[tokio::test]
async fn a_metadata_file_is_never_replaced() {
    let (_, io) = lake();
    let metadata = table_metadata();
    let url = next_metadata_url(LOCATION, None, &metadata).unwrap();
    io.write_metadata(&url, &metadata).await.unwrap();

    let err = io.write_metadata(&url, &metadata).await.unwrap_err();
    assert!(matches!(err, IcebergError::AlreadyExists { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_missing_metadata_file_is_not_retryable() {
    let (_, io) = lake();
    let err = io
        .read_metadata("s3://lake/db/orders/metadata/00003-x.metadata.json")
        .await
        .unwrap_err();
    assert!(matches!(err, IcebergError::Missing { .. }), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_manifest_and_its_list_round_trip_with_inherited_sequence_numbers() {
    let (_, io) = lake();
    let metadata = table_metadata();
    let data_file = DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path("s3://lake/db/orders/data/v1/part-1.parquet".to_owned())
        .file_format(DataFileFormat::Parquet)
        .partition(Struct::empty())
        .record_count(3)
        .file_size_in_bytes(100)
        .lower_bounds(HashMap::from([(1, Datum::long(-2))]))
        .build()
        .unwrap();
    let commit = Uuid::new_v4();
    let manifest_url = manifest_url(LOCATION, commit, 0);
    let manifest = io
        .write_manifest(
            &manifest_url,
            42,
            Arc::clone(metadata.current_schema()),
            metadata.default_partition_spec().as_ref().clone(),
            |writer| writer.add_file(data_file.clone(), 7),
        )
        .await
        .unwrap();
    let list_url = manifest_list_url(LOCATION, 42, commit);
    io.write_manifest_list(&list_url, 42, None, 7, vec![manifest])
        .await
        .unwrap();
    let snapshot = Snapshot::builder()
        .with_snapshot_id(42)
        .with_sequence_number(7)
        .with_timestamp_ms(0)
        .with_manifest_list(list_url.clone())
        .with_summary(iceberg::spec::Summary {
            operation: iceberg::spec::Operation::Append,
            additional_properties: HashMap::new(),
        })
        .build();

    assert!(list_url.starts_with(&format!("{LOCATION}/metadata/snap-42-0-{commit}")));
    let list = io
        .read_manifest_list(&snapshot, FormatVersion::V2)
        .await
        .unwrap();
    let [listed] = list.entries() else {
        panic!("{list:?}")
    };
    assert_eq!(
        (
            listed.manifest_path.as_str(),
            listed.sequence_number,
            listed.added_snapshot_id
        ),
        (manifest_url.as_str(), 7, 42)
    );
    let read = io.read_manifest(listed).await.unwrap();
    let [entry] = read.entries() else {
        panic!("{read:?}")
    };
    assert_eq!(entry.status(), ManifestStatus::Added);
    assert_eq!(
        (
            entry.snapshot_id(),
            entry.sequence_number(),
            entry.file_sequence_number
        ),
        (Some(42), Some(7), Some(7))
    );
    assert_eq!(entry.data_file(), &data_file);
}
