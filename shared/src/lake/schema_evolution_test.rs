//! Unit tests of `schema_evolution`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Decimal128Array, Float32Array, Int8Array, Int32Array, NullArray, StringArray,
};
use arrow::datatypes::{Decimal128Type, Float64Type, Int64Type, TimeUnit};

use super::*;

fn schema(fields: &[(&str, DataType)]) -> Schema {
    Schema::new(
        fields
            .iter()
            .map(|(name, t)| Field::new(*name, t.clone(), true))
            .collect::<Vec<_>>(),
    )
}

fn one_column(name: &str, t: DataType) -> Schema {
    schema(&[(name, t)])
}

/// The merged type of column `c` when the table has `table` and the file has `file`.
fn merged(table: DataType, file: DataType) -> Result<DataType, SchemaError> {
    let s = evolve(&one_column("c", table), &one_column("c", file), "f.parquet")?;
    Ok(s.field(0).data_type().clone())
}

// ---- is_widening -------------------------------------------------------------------------------

#[test]
fn integer_widenings_are_transitive() {
    use DataType::{Int8, Int16, Int32, Int64};
    let ladder = [Int8, Int16, Int32, Int64];
    for (i, from) in ladder.iter().enumerate() {
        for (j, to) in ladder.iter().enumerate() {
            assert_eq!(is_widening(from, to), i <= j, "{from} -> {to}");
        }
    }
    assert!(is_widening(&DataType::Int8, &DataType::Int64));
}

#[test]
fn float_null_and_identity_widenings() {
    assert!(is_widening(&DataType::Float32, &DataType::Float64));
    assert!(!is_widening(&DataType::Float64, &DataType::Float32));
    for t in [
        DataType::Utf8,
        DataType::Int32,
        DataType::Date32,
        DataType::Decimal128(10, 2),
        DataType::Null,
    ] {
        assert!(is_widening(&DataType::Null, &t), "Null -> {t}");
        assert!(is_widening(&t, &t), "{t} -> {t}");
    }
    assert!(!is_widening(&DataType::Int32, &DataType::Null));
}

#[test]
fn decimal_widening_needs_room_for_integer_and_fraction_digits() {
    let d = DataType::Decimal128;
    assert!(is_widening(&d(10, 2), &d(12, 4)));
    assert!(is_widening(&d(10, 2), &d(38, 2)));
    assert!(!is_widening(&d(10, 2), &d(10, 3)), "loses an integer digit");
    assert!(!is_widening(&d(10, 2), &d(12, 1)), "loses a fraction digit");
    assert!(!is_widening(&d(12, 4), &d(10, 2)));
}

#[test]
fn cross_family_changes_are_not_widenings() {
    let pairs = [
        (DataType::Int32, DataType::Utf8),
        (DataType::Int64, DataType::Float64),
        (DataType::Int32, DataType::Decimal128(20, 0)),
        (
            DataType::Date32,
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        (DataType::Int64, DataType::Int32),
        (DataType::Utf8, DataType::LargeUtf8),
    ];
    for (from, to) in pairs {
        assert!(!is_widening(&from, &to), "{from} -> {to}");
    }
}

// ---- evolve ------------------------------------------------------------------------------------

#[test]
fn evolve_widens_the_table_to_the_wider_file_type() {
    assert_eq!(
        merged(DataType::Int8, DataType::Int64).unwrap(),
        DataType::Int64
    );
    assert_eq!(
        merged(DataType::Int16, DataType::Int32).unwrap(),
        DataType::Int32
    );
    assert_eq!(
        merged(DataType::Float32, DataType::Float64).unwrap(),
        DataType::Float64
    );
    assert_eq!(
        merged(DataType::Decimal128(10, 2), DataType::Decimal128(12, 2)).unwrap(),
        DataType::Decimal128(12, 2)
    );
    assert_eq!(
        merged(DataType::Null, DataType::Utf8).unwrap(),
        DataType::Utf8
    );
}

#[test]
fn evolve_keeps_the_table_type_for_a_narrower_file() {
    assert_eq!(
        merged(DataType::Int64, DataType::Int32).unwrap(),
        DataType::Int64
    );
    assert_eq!(
        merged(DataType::Int64, DataType::Int8).unwrap(),
        DataType::Int64
    );
    assert_eq!(
        merged(DataType::Float64, DataType::Float32).unwrap(),
        DataType::Float64
    );
    assert_eq!(
        merged(DataType::Utf8, DataType::Null).unwrap(),
        DataType::Utf8
    );
    assert_eq!(
        merged(DataType::Decimal128(18, 4), DataType::Decimal128(10, 2)).unwrap(),
        DataType::Decimal128(18, 4)
    );
}

#[test]
fn evolve_merges_decimals_both_ways() {
    // (10,2): 8 integer digits, 2 fraction; (8,4): 4 + 4 -> (12,4) holds both.
    assert_eq!(
        merged(DataType::Decimal128(10, 2), DataType::Decimal128(8, 4)).unwrap(),
        DataType::Decimal128(12, 4)
    );
    assert_eq!(
        merged(DataType::Decimal128(8, 4), DataType::Decimal128(10, 2)).unwrap(),
        DataType::Decimal128(12, 4)
    );
    // (38,0) and (10,5): 38 + 5 digits do not fit in 38.
    let err = merged(DataType::Decimal128(38, 0), DataType::Decimal128(10, 5)).unwrap_err();
    assert!(matches!(err, SchemaError::Incompatible { .. }), "{err}");
}

#[test]
fn evolve_appends_new_columns_keeps_missing_ones_and_makes_everything_nullable() {
    let table = Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("gone", DataType::Date32, true),
    ]);
    let incoming = Schema::new(vec![
        Field::new("email", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("id", DataType::Int64, false),
        Field::new("age", DataType::Int16, true),
    ]);
    let evolved = evolve(&table, &incoming, "f.parquet").unwrap();
    assert_eq!(
        evolved,
        schema(&[
            ("id", DataType::Int64),
            ("name", DataType::Utf8),
            ("gone", DataType::Date32),
            ("email", DataType::Utf8),
            ("age", DataType::Int16),
        ])
    );
}

#[test]
fn evolve_of_an_identical_schema_is_unchanged() {
    let table = schema(&[("id", DataType::Int64), ("name", DataType::Utf8)]);
    assert_eq!(evolve(&table, &table, "f").unwrap(), table);
    assert_eq!(evolve(&Schema::empty(), &table, "f").unwrap(), table);
}

#[test]
fn incompatible_changes_stop_the_table_with_a_fix() {
    let cases = [
        (DataType::Utf8, DataType::Int32),
        (DataType::Int32, DataType::Utf8),
        (DataType::Int64, DataType::Float64),
        (DataType::Float64, DataType::Int64),
        (
            DataType::Date32,
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        (DataType::Int32, DataType::Decimal128(20, 0)),
        (DataType::Boolean, DataType::Int8),
    ];
    for (table_type, file_type) in cases {
        let err = evolve(
            &one_column("amount", table_type.clone()),
            &one_column("amount", file_type.clone()),
            "dms/sales/orders/20240105-1.parquet",
        )
        .unwrap_err();
        match &err {
            SchemaError::Incompatible {
                file,
                column,
                table_type: t,
                file_type: f,
            } => {
                assert_eq!(file, "dms/sales/orders/20240105-1.parquet");
                assert_eq!(column, "amount");
                assert_eq!(t, &table_type);
                assert_eq!(f, &file_type);
            }
            other => panic!("unexpected {other}"),
        }
        let message = err.to_string();
        for needle in [
            "dms/sales/orders/20240105-1.parquet",
            "`amount`",
            &table_type.to_string(),
            &file_type.to_string(),
            "table stops",
            "nothing is lost",
            "DMS transformation",
            "re-create the table",
        ] {
            assert!(message.contains(needle), "{needle:?} missing in: {message}");
        }
    }
}

#[test]
fn duplicate_incoming_columns_are_rejected() {
    let incoming = schema(&[("a", DataType::Int32), ("a", DataType::Utf8)]);
    let err = evolve(&Schema::empty(), &incoming, "f").unwrap_err();
    assert!(
        matches!(err, SchemaError::DuplicateColumn { ref column, .. } if column == "a"),
        "{err}"
    );
}

// ---- conform -----------------------------------------------------------------------------------

#[test]
fn conform_casts_narrower_columns_and_preserves_values() {
    let target: SchemaRef = Arc::new(schema(&[
        ("id", DataType::Int64),
        ("small", DataType::Int64),
        ("ratio", DataType::Float64),
        ("price", DataType::Decimal128(12, 4)),
    ]));
    let batch = RecordBatch::try_from_iter(vec![
        (
            "price",
            Arc::new(
                Decimal128Array::from(vec![Some(1250), None, Some(-1)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ) as ArrayRef,
        ),
        (
            "id",
            Arc::new(Int32Array::from(vec![Some(1), Some(i32::MIN), None])) as _,
        ),
        ("small", Arc::new(Int8Array::from(vec![-128, 0, 127])) as _),
        (
            "ratio",
            Arc::new(Float32Array::from(vec![0.5, 1.25, -2.0])) as _,
        ),
    ])
    .unwrap();
    let out = conform(&batch, &target).unwrap();
    assert_eq!(out.schema(), target);
    let id = out.column(0).as_primitive::<Int64Type>();
    assert_eq!(
        id.iter().collect::<Vec<_>>(),
        vec![Some(1), Some(i64::from(i32::MIN)), None]
    );
    let small = out.column(1).as_primitive::<Int64Type>();
    assert_eq!(small.values().to_vec(), vec![-128, 0, 127]);
    let ratio = out.column(2).as_primitive::<Float64Type>();
    assert_eq!(ratio.values().to_vec(), vec![0.5, 1.25, -2.0]);
    let price = out.column(3).as_primitive::<Decimal128Type>();
    assert_eq!(
        price.iter().collect::<Vec<_>>(),
        vec![Some(125_000), None, Some(-100)]
    );
}

#[test]
fn an_older_batch_conforms_to_an_evolved_schema_with_nulls() {
    let old = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
        ("name", Arc::new(StringArray::from(vec!["a", "b"])) as _),
    ])
    .unwrap();
    let incoming = schema(&[("id", DataType::Int64), ("email", DataType::Utf8)]);
    let target: SchemaRef = Arc::new(evolve(&old.schema(), &incoming, "new.parquet").unwrap());
    let out = conform(&old, &target).unwrap();
    assert_eq!(out.num_columns(), 3);
    assert_eq!(out.schema().field(2).name(), "email");
    assert_eq!(out.column(2).null_count(), 2);
    assert_eq!(out.column(1).as_string::<i32>().value(1), "b");
    assert_eq!(out.column(0).as_primitive::<Int64Type>().value(1), 2);
}

#[test]
fn conform_fills_null_type_columns() {
    let batch =
        RecordBatch::try_from_iter(vec![("maybe", Arc::new(NullArray::new(3)) as ArrayRef)])
            .unwrap();
    let target: SchemaRef = Arc::new(schema(&[("maybe", DataType::Utf8)]));
    let out = conform(&batch, &target).unwrap();
    assert_eq!(out.column(0).data_type(), &DataType::Utf8);
    assert_eq!(out.column(0).null_count(), 3);
}

#[test]
fn conform_rejects_unexpected_columns_and_narrowing() {
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int32Array::from(vec![1])) as ArrayRef),
        ("extra", Arc::new(StringArray::from(vec!["x"])) as _),
    ])
    .unwrap();
    let target: SchemaRef = Arc::new(schema(&[("id", DataType::Int32)]));
    let err = conform(&batch, &target).unwrap_err();
    assert!(
        matches!(err, SchemaError::UnexpectedColumn { ref column } if column == "extra"),
        "{err}"
    );
    assert!(err.to_string().contains("`extra`"));

    let narrow: SchemaRef = Arc::new(schema(&[("id", DataType::Int8), ("extra", DataType::Utf8)]));
    let err = conform(&batch, &narrow).unwrap_err();
    assert!(
        matches!(err, SchemaError::NotWidening { ref column, .. } if column == "id"),
        "{err}"
    );
}

#[test]
fn conform_keeps_the_row_count_of_a_batch_without_target_columns() {
    let batch = RecordBatch::try_from_iter(vec![(
        "id",
        Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef,
    )])
    .unwrap();
    let target: SchemaRef = Arc::new(schema(&[("id", DataType::Int32), ("x", DataType::Utf8)]));
    let out = conform(&batch, &target).unwrap();
    assert_eq!(out.num_rows(), 3);
    assert_eq!(out.column(1).len(), 3);
}
