//! Unit tests of data file stats from real Parquet files written with arrow (the schema of
//! `schema::file_arrow_schema`, so columns carry Iceberg field ids), several row groups.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use bytes::Bytes;
use iceberg::spec::{Literal, PrimitiveLiteral, Struct};
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::properties::WriterProperties;

use super::*;
use crate::lake::iceberg::schema::{file_arrow_schema, table_schema};
use crate::lake::snapshot::SnapshotColumn;
use crate::lake::table_config::StorageMode;

const URL: &str = "s3://lake/t/data/v1/part-1.parquet";

/// id bigint (7), name string (8), price decimal(10,2) (9), big decimal(20,4) (10), at timestamp
/// (11), note string (12, always null), cdc_order string (1).
fn schema() -> Schema {
    let columns = [
        ("id", "bigint"),
        ("name", "string"),
        ("price", "decimal(10,2)"),
        ("big", "decimal(20,4)"),
        ("at", "timestamp"),
        ("note", "string"),
    ]
    .iter()
    .map(|(name, hive_type)| SnapshotColumn {
        name: (*name).to_owned(),
        hive_type: (*hive_type).to_owned(),
    })
    .collect::<Vec<_>>();
    table_schema(&columns, StorageMode::Current, &["id".to_owned()]).unwrap()
}

/// Five rows in row groups of two, with nulls in every nullable column; `names` fills `name`.
fn parquet_file(names: [Option<&str>; 5], properties: WriterProperties) -> Bytes {
    let arrow_schema = file_arrow_schema(&schema()).unwrap();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![5, -3, 9, 1, 2])),
        Arc::new(StringArray::from(names.to_vec())),
        Arc::new(
            Decimal128Array::from(vec![Some(1250), None, Some(-1234), Some(99_999), None])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        ),
        Arc::new(
            Decimal128Array::from(vec![
                Some(-10_i128.pow(19)),
                Some(7),
                None,
                Some(10_i128.pow(19)),
                Some(0),
            ])
            .with_precision_and_scale(20, 4)
            .unwrap(),
        ),
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(1_704_438_489_000_001),
            None,
            Some(-5),
            Some(1_704_438_489_000_000),
            None,
        ])),
        Arc::new(StringArray::from(vec![None::<&str>; 5])),
        Arc::new(StringArray::from(vec![Some("o1"); 5])),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&arrow_schema), columns).unwrap();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, arrow_schema, Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    Bytes::from(bytes)
}

fn row_groups_of_two() -> WriterProperties {
    WriterProperties::builder()
        .set_max_row_group_row_count(Some(2))
        .build()
}

fn live_file(bytes: &Bytes) -> LiveFile {
    LiveFile {
        path: URL.to_owned(),
        partition: Struct::from_iter([Some(Literal::long(3))]),
        size: bytes.len() as u64,
        rows: 5,
    }
}

fn stats_of(bytes: &Bytes) -> DataFile {
    let footer = ParquetMetaDataReader::new()
        .parse_and_finish(bytes)
        .unwrap();
    data_file(&schema(), 4, &live_file(bytes), &footer).unwrap()
}

const NAMES: [Option<&str>; 5] = [Some("m"), Some("b"), None, Some("zz"), Some("c")];

#[test]
fn a_data_file_records_path_partition_counts_and_row_group_offsets() {
    let bytes = parquet_file(NAMES, row_groups_of_two());
    let file = stats_of(&bytes);

    assert_eq!(file.content_type(), DataContentType::Data);
    assert_eq!(file.file_format(), DataFileFormat::Parquet);
    assert_eq!(file.file_path(), URL);
    assert_eq!(file.record_count(), 5);
    assert_eq!(file.file_size_in_bytes(), bytes.len() as u64);
    assert_eq!(
        file.partition(),
        &Struct::from_iter([Some(Literal::long(3))])
    );
    let offsets = file.split_offsets().unwrap();
    assert_eq!(offsets.len(), 3, "{offsets:?}");
    assert_eq!(offsets[0], 4, "the first row group starts after the magic");
    assert!(offsets.is_sorted(), "{offsets:?}");
}

#[test]
fn value_and_null_counts_and_sizes_are_per_field_id() {
    let file = stats_of(&parquet_file(NAMES, row_groups_of_two()));

    for id in [1, 7, 8, 9, 10, 11, 12] {
        assert_eq!(file.value_counts()[&id], 5, "field {id}");
        assert!(file.column_sizes()[&id] > 0, "field {id}");
    }
    let nulls: Vec<(i32, u64)> = [7, 8, 9, 10, 11, 12, 1]
        .iter()
        .map(|id| (*id, file.null_value_counts()[id]))
        .collect();
    assert_eq!(
        nulls,
        [(7, 0), (8, 1), (9, 2), (10, 1), (11, 2), (12, 5), (1, 0)]
    );
}

#[test]
fn bounds_are_the_columns_min_and_max_in_their_iceberg_types() {
    let file = stats_of(&parquet_file(NAMES, row_groups_of_two()));
    let lower = file.lower_bounds();
    let upper = file.upper_bounds();

    assert_eq!(
        (&lower[&7], &upper[&7]),
        (&Datum::long(-3), &Datum::long(9))
    );
    assert_eq!(
        (&lower[&8], &upper[&8]),
        (&Datum::string("b"), &Datum::string("zz"))
    );
    assert_eq!(
        (&lower[&11], &upper[&11]),
        (
            &Datum::timestamp_micros(-5),
            &Datum::timestamp_micros(1_704_438_489_000_001)
        )
    );
    assert_eq!(
        (&lower[&1], &upper[&1]),
        (&Datum::string("o1"), &Datum::string("o1"))
    );
    let decimal = |id: i32| {
        let types = (
            lower[&id].data_type().clone(),
            upper[&id].data_type().clone(),
        );
        let values = (lower[&id].literal().clone(), upper[&id].literal().clone());
        (types.0, types.1, values)
    };
    let price = PrimitiveType::Decimal {
        precision: 10,
        scale: 2,
    };
    let big = PrimitiveType::Decimal {
        precision: 20,
        scale: 4,
    };
    assert_eq!(
        decimal(9),
        (
            price.clone(),
            price,
            (
                PrimitiveLiteral::Int128(-1234),
                PrimitiveLiteral::Int128(99_999)
            )
        )
    );
    assert_eq!(
        decimal(10),
        (
            big.clone(),
            big,
            (
                PrimitiveLiteral::Int128(-10_i128.pow(19)),
                PrimitiveLiteral::Int128(10_i128.pow(19))
            )
        )
    );
}

#[test]
fn a_column_holding_only_nulls_has_no_bounds() {
    let file = stats_of(&parquet_file(NAMES, row_groups_of_two()));
    assert!(!file.lower_bounds().contains_key(&12));
    assert!(!file.upper_bounds().contains_key(&12));
}

#[test]
fn truncated_string_statistics_give_no_bound_rather_than_a_wrong_one() {
    let long = "x".repeat(40);
    let names = [
        Some("a-long-name"),
        Some(long.as_str()),
        None,
        Some("b"),
        Some("c"),
    ];
    let truncating = WriterProperties::builder()
        .set_max_row_group_row_count(Some(2))
        .set_statistics_truncate_length(Some(4))
        .build();
    let bytes = parquet_file(names, truncating);
    let footer = ParquetMetaDataReader::new()
        .parse_and_finish(&bytes)
        .unwrap();
    let first_group_names = footer.row_group(0).column(1).statistics().unwrap();
    assert!(
        !first_group_names.min_is_exact() && !first_group_names.max_is_exact(),
        "the writer truncated the names' statistics"
    );
    let file = stats_of(&bytes);

    assert!(
        !file.lower_bounds().contains_key(&8),
        "{:?}",
        file.lower_bounds().get(&8)
    );
    assert!(
        !file.upper_bounds().contains_key(&8),
        "{:?}",
        file.upper_bounds().get(&8)
    );
    assert_eq!(
        file.lower_bounds()[&7],
        Datum::long(-3),
        "other columns keep theirs"
    );
}

#[test]
fn a_footer_whose_row_count_differs_from_the_snapshot_is_refused() {
    let bytes = parquet_file(NAMES, row_groups_of_two());
    let footer = ParquetMetaDataReader::new()
        .parse_and_finish(&bytes)
        .unwrap();
    let mut file = live_file(&bytes);
    file.rows = 6;
    let err = data_file(&schema(), 0, &file, &footer).unwrap_err();
    assert!(
        matches!(&err, IcebergError::FileMismatch { path, .. } if path == URL),
        "{err}"
    );
}

#[tokio::test]
async fn the_footer_is_read_from_the_lake_store() {
    let bytes = parquet_file(NAMES, row_groups_of_two());
    let store = Arc::new(InMemory::new());
    store
        .put(
            &object_store::path::Path::from("t/data/v1/part-1.parquet"),
            PutPayload::from(bytes.clone()),
        )
        .await
        .unwrap();
    let io = MetadataStore::new(store as Arc<dyn ObjectStore>, "s3://lake");

    let read = read_data_file(&io, &schema(), 4, &live_file(&bytes))
        .await
        .unwrap();
    assert_eq!(read, stats_of(&bytes));
}
