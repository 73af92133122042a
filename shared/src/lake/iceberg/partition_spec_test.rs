//! Unit tests of the partition spec and partition tuples. Partition values are produced by the
//! real renderer (`partitioning::assign_partitions`) and the expected tuple by the `iceberg`
//! crate's own transform functions, so the conversion is checked against both ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Field, Schema as ArrowSchema};
use arrow::record_batch::RecordBatch;
use iceberg::spec::{Datum, PartitionSpecBuilder, PrimitiveType, Type};
use iceberg::transform::create_transform_function;

use super::*;
use crate::lake::iceberg::schema::table_schema;
use crate::lake::partitioning::assign_partitions;
use crate::lake::snapshot::SnapshotColumn;
use crate::lake::table_config::StorageMode;

const TS: &str = "ts";

fn field(column: &str, transform: PartitionTransform, name: Option<&str>) -> PartitionField {
    PartitionField {
        column: column.to_owned(),
        transform,
        name: name.map(str::to_owned),
    }
}

/// A schema of `id bigint` and one more column of `hive_type`.
fn schema_with(column: &str, hive_type: &str) -> Schema {
    let columns = [("id", "bigint"), (column, hive_type)]
        .iter()
        .map(|(name, hive_type)| SnapshotColumn {
            name: (*name).to_owned(),
            hive_type: (*hive_type).to_owned(),
        })
        .collect::<Vec<_>>();
    table_schema(&columns, StorageMode::Current, &["id".to_owned()]).unwrap()
}

/// The partition values the lake renders for each row of `column`.
fn rendered(
    column: &str,
    array: ArrayRef,
    fields: &[PartitionField],
    style: DatePartitionStyle,
) -> Vec<PartitionValues> {
    let schema = ArrowSchema::new(vec![Field::new(column, array.data_type().clone(), true)]);
    let batch = RecordBatch::try_new(Arc::new(schema), vec![array]).unwrap();
    let assignment = assign_partitions(&batch, fields, style).unwrap();
    assignment
        .row_partition
        .iter()
        .map(|&i| assignment.partitions[i as usize].clone())
        .collect()
}

/// The crate's transform of `value` (null stays null).
fn crate_transform(transform: Transform, value: Option<Datum>) -> Option<Literal> {
    let function = create_transform_function(&transform).unwrap();
    value
        .and_then(|datum| function.transform_literal(&datum).unwrap())
        .map(|datum| Literal::Primitive(datum.literal().clone()))
}

const MICROS_PER_HOUR: i64 = 3_600_000_000;

fn timestamps() -> Vec<Option<i64>> {
    vec![
        Some(1_704_438_489_000_000), // 2024-01-05 07:08:09
        Some(951_782_400_000_000),   // 2000-02-29 00:00:00
        Some(-MICROS_PER_HOUR),      // 1969-12-31 23:00:00
        Some(-40_000 * 24 * MICROS_PER_HOUR + 5),
        Some(0),
        None,
    ]
}

#[test]
fn the_spec_maps_each_transform_and_names_its_fields() {
    let columns = [
        ("id", "bigint"),
        ("a", "timestamp"),
        ("b", "timestamp"),
        ("c", "date"),
        ("d", "timestamp"),
    ]
    .iter()
    .map(|(name, hive_type)| SnapshotColumn {
        name: (*name).to_owned(),
        hive_type: (*hive_type).to_owned(),
    })
    .collect::<Vec<_>>();
    let schema = table_schema(&columns, StorageMode::Current, &["id".to_owned()]).unwrap();
    let fields = [
        field("id", PartitionTransform::Identity, None),
        field("a", PartitionTransform::Year, None),
        field("b", PartitionTransform::Month, Some("b_named")),
        field("c", PartitionTransform::Day, None),
        field("d", PartitionTransform::Hour, None),
    ];
    let spec = partition_spec(&fields, &schema).unwrap();
    let bound = PartitionSpecBuilder::new_from_unbound(spec, Arc::new(schema.clone()))
        .unwrap()
        .build()
        .unwrap();

    let described: Vec<(i32, i32, String, Transform)> = bound
        .fields()
        .iter()
        .map(|f| (f.source_id, f.field_id, f.name.clone(), f.transform))
        .collect();
    assert_eq!(
        described,
        [
            (7, 1000, "id".into(), Transform::Identity),
            (8, 1001, "a_year".into(), Transform::Year),
            (9, 1002, "b_named".into(), Transform::Month),
            (10, 1003, "c_day".into(), Transform::Day),
            (11, 1004, "d_hour".into(), Transform::Hour),
        ]
    );
}

#[test]
fn a_partition_column_missing_from_the_schema_is_refused() {
    let schema = schema_with(TS, "timestamp");
    let err = partition_spec(&[field("nope", PartitionTransform::Day, None)], &schema).unwrap_err();
    assert!(
        matches!(&err, IcebergError::UnknownColumn { column, role: "partition" } if column == "nope"),
        "{err}"
    );
}

#[test]
fn date_transforms_of_timestamps_give_the_crates_transform_in_both_styles() {
    let schema = schema_with(TS, "timestamp");
    let array: ArrayRef = Arc::new(TimestampMicrosecondArray::from(timestamps()));
    let transforms = [
        PartitionTransform::Year,
        PartitionTransform::Month,
        PartitionTransform::Day,
        PartitionTransform::Hour,
    ];
    let styles = [DatePartitionStyle::Nested, DatePartitionStyle::Dt];
    for t in transforms {
        for style in styles {
            for name in [None, Some("named")] {
                let fields = [field(TS, t, name)];
                let values = rendered(TS, array.clone(), &fields, style);
                for (value, micros) in values.iter().zip(timestamps()) {
                    let tuple = partition_tuple(&fields, style, &schema, value).unwrap();
                    let expected =
                        crate_transform(super::transform(t), micros.map(Datum::timestamp_micros));
                    assert_eq!(
                        tuple.fields(),
                        [expected],
                        "{t:?} {style:?} {name:?} {}",
                        value.path()
                    );
                }
            }
        }
    }
}

#[test]
fn date_transforms_of_dates_give_the_crates_transform() {
    let schema = schema_with("d", "date");
    let days = vec![Some(19_727), Some(-1), Some(0), Some(-719_000), None];
    let array: ArrayRef = Arc::new(Date32Array::from(days.clone()));
    for t in [
        PartitionTransform::Year,
        PartitionTransform::Month,
        PartitionTransform::Day,
    ] {
        for style in [DatePartitionStyle::Nested, DatePartitionStyle::Dt] {
            let fields = [field("d", t, None)];
            let values = rendered("d", array.clone(), &fields, style);
            for (value, day) in values.iter().zip(&days) {
                let tuple = partition_tuple(&fields, style, &schema, value).unwrap();
                let expected = crate_transform(super::transform(t), day.map(Datum::date));
                assert_eq!(
                    tuple.fields(),
                    [expected],
                    "{t:?} {style:?} {}",
                    value.path()
                );
            }
        }
    }
}

/// Checks that identity partitions of `array` (a column of `hive_type`) give the column's values.
fn assert_identity(hive_type: &str, array: ArrayRef, expected: Vec<Option<Literal>>) {
    let schema = schema_with("v", hive_type);
    let fields = [field("v", PartitionTransform::Identity, None)];
    let values = rendered("v", array, &fields, DatePartitionStyle::Nested);
    let tuples: Vec<Option<Literal>> = values
        .iter()
        .map(|value| {
            let tuple = partition_tuple(&fields, DatePartitionStyle::Nested, &schema, value);
            tuple.unwrap().fields()[0].clone()
        })
        .collect();
    assert_eq!(tuples, expected, "{hive_type}");
}

#[test]
fn identity_values_parse_back_into_the_columns_type() {
    assert_identity(
        "int",
        Arc::new(Int32Array::from(vec![Some(-5), Some(i32::MAX), None])),
        vec![Some(Literal::int(-5)), Some(Literal::int(i32::MAX)), None],
    );
    assert_identity(
        "bigint",
        Arc::new(Int64Array::from(vec![Some(i64::MIN), Some(42)])),
        vec![Some(Literal::long(i64::MIN)), Some(Literal::long(42))],
    );
    assert_identity(
        "string",
        Arc::new(StringArray::from(vec![Some("a/b=c%"), Some(""), None])),
        vec![Some(Literal::string("a/b=c%")), None, None],
    );
    assert_identity(
        "date",
        Arc::new(Date32Array::from(vec![Some(19_727), Some(-1)])),
        vec![Some(Literal::date(19_727)), Some(Literal::date(-1))],
    );
    assert_identity(
        "boolean",
        Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        vec![Some(Literal::bool(true)), Some(Literal::bool(false)), None],
    );
    assert_identity(
        "timestamp",
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(1_704_438_489_123_450),
            Some(-1),
        ])),
        vec![
            Some(Literal::timestamp(1_704_438_489_123_450)),
            Some(Literal::timestamp(-1)),
        ],
    );
}

#[test]
fn identity_decimals_keep_the_columns_scale() {
    let array = Decimal128Array::from(vec![Some(1250), Some(-5), Some(0), None])
        .with_precision_and_scale(10, 2)
        .unwrap();
    assert_identity(
        "decimal(10,2)",
        Arc::new(array),
        vec![
            Some(Literal::decimal(1250)),
            Some(Literal::decimal(-5)),
            Some(Literal::decimal(0)),
            None,
        ],
    );
    let schema = schema_with("v", "decimal(10,2)");
    let Type::Primitive(decimal @ PrimitiveType::Decimal { .. }) = schema
        .field_by_name("v")
        .unwrap()
        .field_type
        .as_ref()
        .clone()
    else {
        panic!("not a decimal")
    };
    assert_eq!(
        identity_literal("1.5", &decimal),
        Some(Literal::decimal(150))
    );
    assert_eq!(identity_literal("1.555", &decimal), None);
    assert_eq!(identity_literal("1e3", &decimal), None);
}

#[test]
fn several_fields_take_their_own_keys_in_order() {
    let schema = schema_with(TS, "timestamp");
    let fields = [
        field("id", PartitionTransform::Identity, None),
        field(TS, PartitionTransform::Day, None),
    ];
    let values = PartitionValues(vec![
        ("id".into(), Some("7".into())),
        ("year".into(), Some("2024".into())),
        ("month".into(), Some("01".into())),
        ("day".into(), Some("05".into())),
    ]);
    let tuple = partition_tuple(&fields, DatePartitionStyle::Nested, &schema, &values).unwrap();
    assert_eq!(
        tuple.fields(),
        [Some(Literal::long(7)), Some(Literal::date(19_727))]
    );
}

#[test]
fn values_that_do_not_match_partition_by_are_refused() {
    let schema = schema_with(TS, "timestamp");
    let fields = [field(TS, PartitionTransform::Month, None)];
    let cases = [
        vec![("dt".to_owned(), Some("2024-01".to_owned()))],
        vec![("year".to_owned(), Some("2024".to_owned()))],
        vec![
            ("year".to_owned(), Some("2024".to_owned())),
            ("month".to_owned(), Some("13".to_owned())),
        ],
        vec![
            ("year".to_owned(), Some("2024".to_owned())),
            ("month".to_owned(), Some("01".to_owned())),
            ("day".to_owned(), Some("01".to_owned())),
        ],
    ];
    for case in cases {
        let values = PartitionValues(case);
        let err =
            partition_tuple(&fields, DatePartitionStyle::Nested, &schema, &values).unwrap_err();
        assert!(
            matches!(&err, IcebergError::PartitionValue { .. }),
            "{}: {err}",
            values.path()
        );
    }
}
