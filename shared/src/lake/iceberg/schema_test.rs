//! Unit tests of the Iceberg schema: stable field ids, types, identifier fields, the arrow schema
//! of data files, promotions and the sort order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arrow::datatypes::{DataType, TimeUnit};
use iceberg::spec::{NullOrder, PrimitiveType, SortDirection, Type};

use super::*;

pub(crate) fn columns(spec: &[(&str, &str)]) -> Vec<SnapshotColumn> {
    spec.iter()
        .map(|(name, hive_type)| SnapshotColumn {
            name: (*name).to_owned(),
            hive_type: (*hive_type).to_owned(),
        })
        .collect()
}

fn key(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn ids(schema: &Schema) -> Vec<(String, i32)> {
    schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| (f.name.clone(), f.id))
        .collect()
}

#[test]
fn field_ids_stay_the_same_when_a_column_is_appended() {
    let before = columns(&[("id", "bigint"), ("name", "string")]);
    let after = columns(&[
        ("id", "bigint"),
        ("name", "string"),
        ("price", "decimal(10,2)"),
    ]);
    let old = table_schema(&before, StorageMode::Current, &key(&["id"])).unwrap();
    let new = table_schema(&after, StorageMode::Current, &key(&["id"])).unwrap();

    assert_eq!(
        ids(&old),
        [
            ("id".into(), 7),
            ("name".into(), 8),
            ("cdc_order".into(), 1)
        ]
    );
    assert_eq!(
        ids(&new),
        [
            ("id".into(), 7),
            ("name".into(), 8),
            ("price".into(), 9),
            ("cdc_order".into(), 1)
        ]
    );
}

#[test]
fn mode_columns_have_fixed_ids_after_the_source_columns() {
    let cols = columns(&[("id", "int")]);
    let scd2 = table_schema(&cols, StorageMode::Scd2, &key(&["id"])).unwrap();
    let history = table_schema(&cols, StorageMode::History, &key(&["id"])).unwrap();

    assert_eq!(
        ids(&scd2),
        [
            ("id".into(), 7),
            ("cdc_order".into(), 1),
            ("valid_from".into(), 3),
            ("valid_to".into(), 4),
            ("is_current".into(), 5),
            ("is_deleted".into(), 6)
        ]
    );
    assert_eq!(
        ids(&history),
        [
            ("id".into(), 7),
            ("cdc_op".into(), 2),
            ("cdc_order".into(), 1)
        ]
    );
}

#[test]
fn hive_types_map_to_iceberg_types() {
    let cols = columns(&[
        ("a", "boolean"),
        ("b", "tinyint"),
        ("c", "smallint"),
        ("d", "int"),
        ("e", "bigint"),
        ("f", "float"),
        ("g", "double"),
        ("h", "decimal(12,3)"),
        ("i", "string"),
        ("j", "varchar(10)"),
        ("k", "binary"),
        ("l", "date"),
        ("m", "timestamp"),
    ]);
    let schema = table_schema(&cols, StorageMode::Current, &key(&["d"])).unwrap();
    let types: Vec<Type> = schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| (*f.field_type).clone())
        .collect();
    let expected = [
        PrimitiveType::Boolean,
        PrimitiveType::Int,
        PrimitiveType::Int,
        PrimitiveType::Int,
        PrimitiveType::Long,
        PrimitiveType::Float,
        PrimitiveType::Double,
        PrimitiveType::Decimal {
            precision: 12,
            scale: 3,
        },
        PrimitiveType::String,
        PrimitiveType::String,
        PrimitiveType::Binary,
        PrimitiveType::Date,
        PrimitiveType::Timestamp,
        PrimitiveType::String,
    ];
    assert_eq!(
        types,
        expected
            .into_iter()
            .map(Type::Primitive)
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_primary_key_is_the_identifier_and_required() {
    let cols = columns(&[("region", "string"), ("id", "bigint"), ("note", "string")]);
    let schema = table_schema(&cols, StorageMode::Current, &key(&["region", "id"])).unwrap();

    let mut identifiers: Vec<i32> = schema.identifier_field_ids().collect();
    identifiers.sort_unstable();
    assert_eq!(identifiers, [7, 8]);
    assert!(schema.field_by_name("region").unwrap().required);
    assert!(schema.field_by_name("id").unwrap().required);
    assert!(!schema.field_by_name("note").unwrap().required);
    assert!(!schema.field_by_name("cdc_order").unwrap().required);
}

#[test]
fn history_and_scd2_identify_a_version_by_key_and_cdc_order() {
    let cols = columns(&[("id", "bigint")]);
    for mode in [StorageMode::History, StorageMode::Scd2] {
        let schema = table_schema(&cols, mode, &key(&["id"])).unwrap();
        let mut identifiers: Vec<i32> = schema.identifier_field_ids().collect();
        identifiers.sort_unstable();
        assert_eq!(identifiers, [1, 7], "{mode:?}");
        assert!(schema.field_by_name("cdc_order").unwrap().required);
    }
}

#[test]
fn a_primary_key_column_missing_from_the_columns_is_refused() {
    let cols = columns(&[("id", "bigint")]);
    let err = table_schema(&cols, StorageMode::Current, &key(&["missing"])).unwrap_err();
    assert!(
        matches!(&err, IcebergError::UnknownColumn { column, .. } if column == "missing"),
        "{err}"
    );
}

#[test]
fn the_file_arrow_schema_carries_field_ids_and_iceberg_arrow_types() {
    let cols = columns(&[("id", "tinyint"), ("at", "timestamp"), ("blob", "binary")]);
    let schema = table_schema(&cols, StorageMode::Current, &key(&["id"])).unwrap();
    let arrow = file_arrow_schema(&schema).unwrap();

    let described: Vec<(String, DataType, bool, String)> = arrow
        .fields()
        .iter()
        .map(|f| {
            (
                f.name().clone(),
                f.data_type().clone(),
                f.is_nullable(),
                f.metadata()["PARQUET:field_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("id".into(), DataType::Int32, false, "7".into()),
            (
                "at".into(),
                DataType::Timestamp(TimeUnit::Microsecond, None),
                true,
                "8".into()
            ),
            ("blob".into(), DataType::LargeBinary, true, "9".into()),
            ("cdc_order".into(), DataType::Utf8, true, "1".into()),
        ]
    );
}

#[test]
fn iceberg_promotions_are_allowed() {
    let previous = columns(&[
        ("a", "tinyint"),
        ("b", "int"),
        ("c", "float"),
        ("d", "decimal(10,2)"),
    ]);
    let next = columns(&[
        ("a", "int"),
        ("b", "bigint"),
        ("c", "double"),
        ("d", "decimal(14,2)"),
        ("e", "string"),
    ]);
    check_promotions(&previous, &next).unwrap();
}

#[test]
fn a_change_iceberg_cannot_promote_names_the_column_and_both_types() {
    let refused = [
        ("decimal(10,2)", "decimal(12,3)"),
        ("decimal(12,2)", "decimal(10,2)"),
        ("bigint", "int"),
        ("int", "double"),
        ("string", "int"),
        ("date", "timestamp"),
    ];
    for (from, to) in refused {
        let err = check_promotions(
            &columns(&[("id", "int"), ("v", from)]),
            &columns(&[("id", "int"), ("v", to)]),
        )
        .unwrap_err();
        match &err {
            IcebergError::IncompatibleType {
                column,
                from: f,
                to: t,
            } => assert_eq!((column.as_str(), f.as_str(), t.as_str()), ("v", from, to)),
            other => panic!("{from} -> {to}: {other}"),
        }
        assert!(!err.is_retryable());
        let text = err.to_string();
        assert!(
            text.contains("`v`") && text.contains(from) && text.contains(to),
            "{text}"
        );
    }
}

#[test]
fn a_column_that_left_its_position_is_refused() {
    let err = check_promotions(
        &columns(&[("id", "int"), ("v", "int")]),
        &columns(&[("id", "int"), ("w", "int"), ("v", "int")]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, IcebergError::ColumnMoved { column, position: 1 } if column == "v"),
        "{err}"
    );
}

#[test]
fn the_sort_order_is_the_key_ascending_nulls_first_then_cdc_order() {
    let cols = columns(&[("name", "string"), ("region", "string"), ("id", "bigint")]);
    let schema = table_schema(&cols, StorageMode::Current, &key(&["region", "id"])).unwrap();
    let order = sort_order(&schema, &key(&["region", "id"])).unwrap();

    assert_eq!(order.order_id, 1);
    let fields: Vec<(i32, SortDirection, NullOrder)> = order
        .fields
        .iter()
        .map(|f| (f.source_id, f.direction, f.null_order))
        .collect();
    assert_eq!(
        fields,
        [
            (8, SortDirection::Ascending, NullOrder::First),
            (9, SortDirection::Ascending, NullOrder::First),
            (1, SortDirection::Ascending, NullOrder::First),
        ]
    );
}
