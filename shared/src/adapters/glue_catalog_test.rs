//! Unit tests of `adapters::glue_catalog`.

use std::collections::BTreeMap;

use super::*;
use crate::ports::catalog::{PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE};

fn column(name: &str, hive_type: &str) -> CatalogColumn {
    CatalogColumn {
        name: name.to_owned(),
        hive_type: hive_type.to_owned(),
    }
}

fn orders() -> TableDefinition {
    TableDefinition {
        database: "sales".to_owned(),
        name: "orders".to_owned(),
        columns: vec![column("id", "bigint"), column("amount", "decimal(12,2)")],
        partition_keys: vec![column("region", "string")],
        location: "s3://lake/sales/orders/".to_owned(),
        serde: PARQUET_SERDE.to_owned(),
        input_format: PARQUET_INPUT_FORMAT.to_owned(),
        output_format: PARQUET_OUTPUT_FORMAT.to_owned(),
        parameters: BTreeMap::from([("classification".to_owned(), "parquet".to_owned())]),
    }
}

#[test]
fn a_table_input_read_back_as_a_table_gives_the_definition() {
    let wanted = orders();
    let input = table_input(&wanted).expect("table input");
    let table = Table::builder()
        .name(input.name())
        .set_storage_descriptor(input.storage_descriptor().cloned())
        .set_partition_keys(Some(input.partition_keys().to_vec()))
        .set_parameters(input.parameters().cloned())
        .build()
        .expect("table");
    assert_eq!(input.table_type(), Some(EXTERNAL_TABLE));
    assert_eq!(definition("sales", &table), wanted);
}

#[test]
fn a_partition_has_the_table_format_at_its_own_location() {
    let table = orders();
    let partition = CatalogPartition {
        values: vec!["eu".to_owned()],
        location: "s3://lake/sales/orders/region=eu/v2/".to_owned(),
    };
    let input = partition_input(&table, &partition).expect("partition input");
    let storage = input.storage_descriptor().expect("storage descriptor");
    assert_eq!(input.values(), ["eu"]);
    assert_eq!(storage.location(), Some(partition.location.as_str()));
    assert_eq!(
        storage.columns(),
        glue_columns(&table.columns).expect("columns")
    );
    assert_eq!(
        storage
            .serde_info()
            .and_then(SerDeInfo::serialization_library),
        Some(PARQUET_SERDE)
    );
}

#[test]
fn batches_are_sent_only_when_non_empty_and_within_the_limit() {
    assert_eq!(needs_call("BatchCreatePartition", 0), Ok(false));
    assert_eq!(
        needs_call("BatchCreatePartition", MAX_PARTITIONS_PER_CALL),
        Ok(true)
    );
    let refused = needs_call("BatchCreatePartition", MAX_PARTITIONS_PER_CALL + 1);
    assert!(
        matches!(&refused, Err(CatalogError::Refused { code, .. }) if code == TOO_MANY_PARTITIONS),
        "{refused:?}"
    );
}

#[test]
fn a_failure_without_detail_has_an_unknown_code() {
    let failure = partition_failure(&["eu".to_owned()], None);
    assert_eq!(failure.code, "Unknown");
    assert!(!failure.already_exists() && !failure.not_found());
    let detail = ErrorDetail::builder()
        .error_code("AlreadyExistsException")
        .error_message("Partition already exists.")
        .build();
    assert!(partition_failure(&["eu".to_owned()], Some(&detail)).already_exists());
}
