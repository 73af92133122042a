//! How a refresh writes an Iceberg table (docs/DESIGN.md §8, §9): files the plan leaves alone are
//! referenced where they are, never copied; data files carry Iceberg field ids, Iceberg types and
//! the identity partition columns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use object_store::ObjectStoreExt;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;

use crate::lake::paths::TableRoot;
use crate::lake::test_support::Lake;

const ORDERS: &str = r#"{
  "source": {"schema": "sales", "table": "orders"},
  "target": {"database": "lake", "table": "orders", "location": "lake/orders", "format": "iceberg"},
  "primary_key": ["id"],
  "ordering": {"commit_timestamp_column": "ts"},
  "partition_by": ["identity(region)"],
  "output": {"target_file_size_bytes": 4096, "row_group_rows": 1000},
  "input": {"columns": [
    {"name": "id", "type": "bigint"},
    {"name": "region", "type": "string"},
    {"name": "qty", "type": "smallint"},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "ts", "type": "timestamp"}
  ]}
}"#;

/// A full load of `rows` keys in region `eu`, refreshed.
async fn loaded(rows: i64) -> Lake {
    let mut lake = Lake::new(ORDERS);
    let load: String = (0..rows)
        .map(|id| format!("{id},eu,{},{id}.00,2024-01-01 00:00:00\n", id % 100))
        .collect();
    let load = lake.stage("LOAD00000001.csv", load).await;
    lake.refresh(&[load]).await.unwrap();
    lake
}

#[tokio::test]
async fn an_iceberg_refresh_references_unchanged_files_and_copies_none() {
    let mut lake = loaded(3000).await;
    let before = lake.snapshot().await.partitions[0].clone();
    assert!(before.files.len() >= 3, "the load rolls over into files");
    let cdc = lake
        .stage(
            "20240101-000000000.csv",
            "U,2999,eu,1,0.50,2024-01-01 00:00:01\n",
        )
        .await;
    let outcome = lake.refresh(&[cdc]).await.unwrap();
    assert_eq!(outcome.io.files_rewritten, 1, "only the file holding 2999");
    assert_eq!(
        outcome.io.files_copied, 0,
        "an Iceberg table copies nothing"
    );
    assert_eq!(outcome.io.files_referenced as usize, before.files.len() - 1);

    let after = lake.snapshot().await.partitions[0].clone();
    assert_ne!(
        after.location, before.location,
        "the rewrite has a new folder"
    );
    let root = TableRoot::new(&lake.config.location);
    for file in after.files.iter().filter(|f| f.folder.is_some()) {
        assert_eq!(after.folder_of(file), before.location, "kept in place");
        assert!(before.files.iter().any(|b| b.name == file.name));
        let path = root.data_file(after.folder_of(file), &file.name);
        lake.stores.lake.head(&path).await.unwrap();
    }
    let copies = lake
        .stores
        .lake
        .list_with_delimiter(Some(&root.join(&after.location)))
        .await
        .unwrap();
    assert_eq!(
        copies.objects.len(),
        1,
        "the new folder holds the rewrite only"
    );
    let rows = lake.rows().await;
    assert_eq!(rows.len(), 3000);
    assert!(
        rows.iter().any(|r| r.contains("amount=0.50,id=2999,")),
        "{:?}",
        &rows[..3]
    );
}

#[tokio::test]
async fn iceberg_data_files_carry_field_ids_iceberg_types_and_the_identity_partition_column() {
    let lake = loaded(10).await;
    let snapshot = lake.snapshot().await;
    let partition = &snapshot.partitions[0];
    let file = &partition.files[0];
    let path = TableRoot::new(&lake.config.location).data_file(&partition.location, &file.name);
    let bytes = lake
        .stores
        .lake
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reader = SerializedFileReader::new(bytes).unwrap();
    let metadata = reader.metadata().file_metadata();
    let schema = parquet_to_arrow_schema(metadata.schema_descr(), None).unwrap();
    let ids: HashMap<String, (String, String)> = schema
        .fields()
        .iter()
        .map(|f| {
            let id = f
                .metadata()
                .get("PARQUET:field_id")
                .cloned()
                .unwrap_or_default();
            (f.name().clone(), (id, f.data_type().to_string()))
        })
        .collect();
    let expected = [
        ("cdc_order", "1", "Utf8"),
        ("id", "7", "Int64"),
        ("region", "8", "Utf8"),
        ("qty", "9", "Int32"),
        ("amount", "10", "Decimal128(10, 2)"),
        ("ts", "11", "Timestamp(µs)"),
    ];
    for (name, id, data_type) in expected {
        let (found_id, found_type) = &ids[name];
        assert_eq!(found_id, id, "{name}'s field id");
        assert!(
            found_type.starts_with(data_type.split('(').next().unwrap()),
            "{name} is {found_type}, expected {data_type}"
        );
    }
    assert_eq!(ids.len(), expected.len(), "{ids:?}");
}
